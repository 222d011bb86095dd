#!/usr/bin/env python3
"""The perception stage's 2D keypoints against Pose2Sim's truth, over noise draws.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_keypoints2d.py [--views cam02] [--noise-seeds 0 1 2 3]

Why: the 3D report (``benchmarks/report.py``) is one run, and perception is chaotic: a change
of a tenth of a pixel somewhere moves which frames a followed region slides on, or which way
round a person's left and right end up. On 2026-12-04 one such event (Pose2Sim cam02's man
turned round for 25 frames) moved the product's PA-MPJPE from 0.80x to 0.88x MediaPipe on its
own. The tracks' keypoints (what the 3D stage reads, after the left/right fix) are scored here
in the picture, against the triangulated truth projected into each view, once per noise draw
(``FrameNoise`` of ``tools/bench_tracking.py``: +-1 grey level on every frame the detector
sees; seed 0 = no noise), over the first ``--frames`` frames of each view (the truth's own
range). Each tracked person is matched to the truth person whose keypoints are nearest
(median over the frames both are seen); per person and draw it prints the mean 2D error (px,
over the truth's trusted points of the body's 25 keypoints, mean per frame then over frames),
its 90th percentile over frames, and the frames off by more than ``--bad-px``. A draw whose
mean is far above the others' is a failure of that draw (a person turned round, or a pose on
somebody else), which one report cannot tell from a change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
from bench_tracking import media_dir, run_perception  # noqa: E402
from genhmr.camera import project  # noqa: E402

from benchmarks.pose2sim_3d import VIEWS, view_truth  # noqa: E402

VIDEO = "pose2sim/Demo_MultiPerson/videos/{view}.mp4"


def score_view(tracks: Any, view: int, bad_px: float) -> list[dict[str, Any]]:
    """Each tracked person matched to a truth person, with their 2D error over the frames both
    are known; people nobody in the truth is near (median > 150 px: the bystander) are left
    out."""
    truth = view_truth(view, tracks.valid.shape[1])
    truth_px = project(truth.keypoints, truth.K)  # (F, people, 25, 2)
    rows = []
    for p in range(tracks.num_people):
        best: tuple[float, int, np.ndarray] | None = None
        for q in range(truth_px.shape[1]):
            both = tracks.valid[p] & truth.known[:, q]
            if both.sum() < 10:
                continue
            error = np.linalg.norm(tracks.keypoints2d[p, both, :, :2] - truth_px[both, q], axis=-1)
            trusted = truth.trusted[both, q]
            per_frame = np.array([error[i][trusted[i]].mean() if trusted[i].any() else np.nan
                                  for i in range(len(error))])
            median = float(np.nanmedian(per_frame))
            if best is None or median < best[0]:
                best = (median, q, per_frame)
        if best is None or best[0] > 150.0:
            continue
        _, q, per_frame = best
        rows.append({"person": truth.names[q], "track": p,
                     "frames": int(np.isfinite(per_frame).sum()),
                     "mean_px": float(np.nanmean(per_frame)),
                     "p90_px": float(np.nanpercentile(per_frame, 90)),
                     "bad_frames": int(np.sum(per_frame > bad_px))})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=VIEWS)
    parser.add_argument("--noise-seeds", nargs="+", type=int, default=[0, 1, 2, 3],
                        help="0: the frames as decoded; others: FrameNoise with that seed")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--bad-px", type=float, default=50.0)
    parser.add_argument("--save-json", type=Path)
    args = parser.parse_args()

    media = media_dir()
    results = []
    print("| view | draw | person | frames | mean px | p90 px | frames > "
          f"{args.bad_px:g} px |\n|---|---:|---|---:|---:|---:|---:|", flush=True)
    for view in args.views:
        for seed in args.noise_seeds:
            perception = run_perception(media / VIDEO.format(view=view), 0, args.frames,
                                        "boxes", "auto", 6, noise_seed=seed or None)
            for row in score_view(perception.tracks, VIEWS.index(view), args.bad_px):
                row.update(view=view, draw=seed)
                results.append(row)
                print(f"| {view} | {seed} | {row['person']} | {row['frames']} | "
                      f"{row['mean_px']:.1f} | {row['p90_px']:.1f} | {row['bad_frames']} |",
                      flush=True)
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
