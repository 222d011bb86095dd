#!/usr/bin/env python3
"""Benchmark the body models on this machine's CPU: asset load, posing with the full skinned
body against the FK-only skeleton (the baseline, measured in the same run), and the per-person
shape estimate.

    python tools/bench_body.py [--repeats 5] [--smplx-dir FOLDER]

Without ``--smplx-dir`` a generated file of the SMPL-X format (tests/fixtures) stands in for the
user's model: same sizes, so the same cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "backend", ROOT / "tests" / "fixtures"):
    sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genhmr_core.keypoints import NUM_KEYPOINTS  # noqa: E402
from genhmr_core.rotations import axis_angle_to_matrix  # noqa: E402


def _best(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smplx-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    from genhmr.body import load_default_body, load_smplx_body
    from genhmr.body.default_body import load_default_asset
    from genhmr.fitting import estimate_betas

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    t_asset = _best(load_default_asset, args.repeats)
    print(f"default body asset load (numpy, validated): {1000 * t_asset:.1f} ms")

    smplx_dir = args.smplx_dir
    if smplx_dir is None:
        from make_smplx_model import write_smplx_model

        smplx_dir = Path(tempfile.mkdtemp(prefix="genhmr_bench_smplx_"))
        write_smplx_model(smplx_dir)
        print(f"SMPL-X: generated stand-in file in {smplx_dir}")
    bodies = {"default": load_default_body(), "smplx": load_smplx_body(smplx_dir)}

    rng = np.random.default_rng(0)
    print("\nposing, ms per call (ratio = full body / FK-only skeleton of the same shape)")
    print(f"{'body':8s} {'batch':>5s} {'skeleton':>9s} {'full body':>10s} {'ratio':>6s}")
    for name, body in bodies.items():
        skeleton = body.skeleton()
        for batch in (1, 16, 64):
            aa = rng.normal(0, 0.3, (batch, 22, 3))
            rot = torch.as_tensor(axis_angle_to_matrix(aa), dtype=torch.float32)
            transl = torch.zeros(batch, 3)
            with torch.no_grad():
                t_fk = _best(lambda r=rot, t=transl, s=skeleton: s(r, t), args.repeats)
                t_full = _best(lambda r=rot, t=transl, b=body: b(None, r, t), args.repeats)
            print(f"{name:8s} {batch:5d} {1000 * t_fk:9.2f} {1000 * t_full:10.2f} "
                  f"{t_full / t_fk:6.1f}")

    print("\nshape from bone lengths (one track of 200 frames)")
    for name, body in bodies.items():
        aa = rng.normal(0, 0.3, (200, 22, 3))
        with torch.no_grad():
            kp = body(None, torch.as_tensor(axis_angle_to_matrix(aa), dtype=torch.float32))
        world = kp.keypoints.numpy() + rng.normal(0, 0.01, (200, NUM_KEYPOINTS, 3))
        conf = np.full((200, NUM_KEYPOINTS), 0.9)
        t_shape = _best(lambda b=body, w=world, c=conf: estimate_betas(b, w, c), args.repeats)
        print(f"{name:8s} {1000 * t_shape:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
