#!/usr/bin/env python3
"""Detection speed and people found per frame, per tiling mode, on the sample clips.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_detection.py [--frames 40] [--clips demo.mp4:100 vtest.avi:0]
        [--detector boxes|blazepose]

For each clip, decodes ``--frames`` consecutive frames from the given start into memory, then runs
each tiling mode over them in frame order with real timestamps (as the pipeline does; "auto"
depends on that), after one warm-up call. Prints ms/frame, frames/s, landmarker calls/frame,
people/frame, and each mode's time as a ratio to tiling "off" measured in the same run (machines
are noisy; ratios travel better than milliseconds). ``--detector`` picks the product's default
("boxes") or the previous MediaPipe-only detector ("blazepose"). This times the detector alone,
frame by frame; identities, backfill and tracking are scored by ``tools/bench_tracking.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from genhmr.perception import DETECTORS, PerceptionConfig, make_detector  # noqa: E402

MODES = ("off", "auto", "on")


def media_dir() -> Path:
    env = os.environ.get("GENHMR_MEDIA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache/genhmr")) / "media"


def load(path: Path, start: int, count: int) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        sys.exit(f"cannot open {path}: run `bash tools/setup.sh` first")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index >= start:
            frames.append(frame)
        index += 1
    cap.release()
    return frames, fps


def bench(frames: list[np.ndarray], fps: float, start: int, mode: str, detector: str) -> dict:
    with make_detector(PerceptionConfig(detector=detector, tiling=mode)) as det:
        det.detect(frames[0], timestamp_ms=-10_000)  # warm-up, far from the run's timestamps
        people, calls = [], []
        t = time.perf_counter()
        for i, frame in enumerate(frames):
            found = det.detect(frame, timestamp_ms=round((start + i) * 1000 / fps))
            people.append(len(found))
            calls.append(det.calls_last_frame)
        elapsed = time.perf_counter() - t
    n = len(frames)
    return {"ms": 1000 * elapsed / n, "fps": n / elapsed, "calls": float(np.mean(calls)),
            "people": float(np.mean(people)), "min": min(people), "max": max(people)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--clips", nargs="+", default=["demo.mp4:100", "vtest.avi:0"],
                        help="NAME[:START] in the media folder")
    parser.add_argument("--detector", default="boxes", choices=DETECTORS)
    args = parser.parse_args()
    print(f"cpu threads: {os.cpu_count()}, frames per clip: {args.frames}, "
          f"detector: {args.detector}")
    for spec in args.clips:
        name, _, start_text = spec.partition(":")
        start = int(start_text or 0)
        frames, fps = load(media_dir() / name, start, args.frames)
        h, w = frames[0].shape[:2]
        print(f"\n{name} {w}x{h}, frames {start}-{start + len(frames) - 1}")
        print(f"  {'tiling':6} {'ms/frame':>9} {'frames/s':>9} {'calls/f':>8} "
              f"{'people/f':>9} {'min-max':>8} {'x off':>6}")
        results = {mode: bench(frames, fps, start, mode, args.detector) for mode in MODES}
        base = results["off"]["ms"]
        for mode, r in results.items():
            print(f"  {mode:6} {r['ms']:9.1f} {r['fps']:9.2f} {r['calls']:8.2f} "
                  f"{r['people']:9.2f} {r['min']:>4}-{r['max']:<3} {r['ms'] / base:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
