#!/usr/bin/env python3
"""CPU and wall time per call of each shipped detector network, with 1 and 2 threads.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_onnx_threads.py [--calls 60]

Why: issue #12 counts CPU time summed over every thread, and the detectors are most of a
job's (docs/performance.md, "Where a job's CPU goes now"). A second onnxruntime thread
shortens each call but costs CPU of its own; batching several crops into one call (what
following people does) costs less per crop. This prints both for each network, opened as the
product opens it (``genhmr.detection.onnx_session.cpu_session``: no spinning), on random
input of the network's own shape, so a change of threads, batching or model can be judged
per call before a whole job is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

import numpy as np  # noqa: E402
from genhmr.detection.onnx_session import cpu_session  # noqa: E402

ASSETS = ROOT / "backend/genhmr/detection/assets"
MODELS = ("pose_landmark_full.onnx", "person_ssdlite_int8.onnx", "pose_detection.onnx")


def time_calls(session, feed: dict[str, np.ndarray], calls: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, after a few calls to warm up."""
    for _ in range(5):
        session.run(None, feed)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        session.run(None, feed)
    return (1000 * (time.process_time() - cpu) / calls,
            1000 * (time.perf_counter() - wall) / calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60, help="timed calls per row")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| model | threads | batch | CPU ms | wall ms |\n|---|---:|---:|---:|---:|")
    for name in MODELS:
        for threads in (1, 2):
            session = cpu_session(ASSETS / name, threads)
            model_input = session.get_inputs()[0]
            dynamic = not isinstance(model_input.shape[0], int)
            for batch in ((1, 2) if dynamic else (1,)):
                shape = [batch] + [int(d) for d in model_input.shape[1:]]
                if "uint8" in model_input.type:
                    x = rng.integers(0, 256, shape, dtype=np.uint8)
                else:
                    x = rng.random(shape, dtype=np.float32)
                cpu, wall = time_calls(session, {model_input.name: x}, args.calls)
                print(f"| {name} | {threads} | {batch} | {cpu:.2f} | {wall:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
