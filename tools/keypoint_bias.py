#!/usr/bin/env python3
"""Per-keypoint error on Pose2Sim, split into its systematic part and the rest (issue #12).

    . ~/.cache/genhmr/env.sh
    PYTHONPATH=.:backend $GENHMR_PYTHON tools/keypoint_bias.py [--jobs out/bench_report]

For the Pose2Sim jobs that ``benchmarks/report.py --jobs DIR`` left (``pose2sim_cam01..04/
generative``), every scored frame of every matched person is aligned to the truth as
PA-MPJPE aligns it (a similarity over the 16 body points the truth trusts in that frame), and
each keypoint's residual is expressed in the truth body's own axes (x to the subject's left,
y up the spine, z the way the hips face). Per keypoint and method (MediaPipe's own landmarks,
stage 1 + refinement, the product) the table gives the residual's RMS and its mean (the
*bias*: the same offset frame after frame).

Why: PA-MPJPE mixes two kinds of error. A bias that is the same for the left and right point
of a pair and in every view says that our keypoint is attached somewhere else on the body than
MediaPipe's landmark of that name (``genhmr_core.keypoints``' attachments), which a better
attachment removes for every clip; what is left is pose error. Comparing the refined and the
product columns shows what the world-space steps (foot locking) do to each point. A bias read
here must not be fitted here (this is the benchmark): it says where to look, and the fix must
come from data that is not the benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def residuals(jobs: Path, methods: tuple[str, ...]) -> dict[str, dict[int, list[np.ndarray]]]:
    """method -> keypoint -> residuals (3,) in metres, body axes, over every scored frame."""
    from genhmr import job_store
    from genhmr.synthetic.noise import torso_frames

    from benchmarks import pose2sim_3d
    from benchmarks.methods import mediapipe_bodies, solved_bodies
    from benchmarks.scoring import BODY_POINTS
    from genhmr_core.pose_metrics import procrustes
    from genhmr_core.result_format import load_result

    points = list(BODY_POINTS)
    out: dict[str, dict[int, list[np.ndarray]]] = {m: {j: [] for j in points} for m in methods}
    for v, view in enumerate(pose2sim_3d.VIEWS):
        folder = jobs / f"pose2sim_{view}" / "generative"
        tracks = job_store.load_tracks(folder)
        solve = load_result(folder / job_store.SOLVE_FILE)
        truth = pose2sim_3d.view_truth(v, tracks.valid.shape[1])
        for method in methods:
            if method == "mediapipe":
                bodies = mediapipe_bodies(tracks, solve.intrinsics())
            elif method == "refined":
                bodies = solved_bodies(solve, tracks)
            else:
                bodies = solved_bodies(load_result(folder / job_store.RESULT_FILE), tracks)
            for person, who in pose2sim_3d.match_people(bodies, truth).items():
                frames = np.flatnonzero(bodies.valid[person] & truth.known[:, who])
                ours = bodies.keypoints[person, frames][:, points]
                true = truth.keypoints[frames, who][:, points]
                use = (truth.trusted[frames, who][:, points] & np.isfinite(ours).all(axis=-1)
                       & np.isfinite(true).all(axis=-1))
                keep = use.sum(axis=1) >= 8  # as PA-MPJPE: enough trusted points to align
                ours, true, use = (np.nan_to_num(a[keep]) for a in (ours, true, use))
                aligned = procrustes(ours, true, use.astype(np.float64))
                # the truth body's axes as columns (left, up, forward), one frame per row
                axes = torso_frames(truth.keypoints[frames[keep], who])[:, 0]
                local = np.einsum("fba,fkb->fka", axes, aligned - true)
                for k, joint in enumerate(points):
                    out[method][joint].extend(local[use[:, k].astype(bool), k])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_report")
    parser.add_argument("--methods", nargs="+", default=["mediapipe", "refined", "product"],
                        choices=["mediapipe", "refined", "product"])
    args = parser.parse_args()
    from genhmr_core.keypoints import KEYPOINT_NAMES

    found = residuals(args.jobs, tuple(args.methods))
    print("mm; per method the residual's RMS and its mean (left, up, forward)")
    print("| keypoint | " + " | ".join(f"{m} RMS | {m} bias" for m in args.methods) + " |")
    print("|---|" + "---:|---:|" * len(args.methods))
    for joint in next(iter(found.values())):
        cells = []
        for method in args.methods:
            r = 1000 * np.asarray(found[method][joint])
            rms = float(np.sqrt((r**2).sum(axis=1).mean()))
            bias = r.mean(axis=0)
            cells.append(f"{rms:.0f} | ({bias[0]:.0f}, {bias[1]:.0f}, {bias[2]:.0f})")
        print(f"| {KEYPOINT_NAMES[joint]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
