"""Picture of a job's alternatives at one frame: through the camera, from the side, from above.

    python tools/plot_alternatives.py JOB_FOLDER [--frame N] [--out docs/images/alternatives.png]
    python tools/plot_alternatives.py JOB_FOLDER --sample PERSON A:B [--count 4] [--seed 0]

Alternatives (``genhmr.alternatives``) are other readings of the same image evidence: through
the camera they should nearly coincide with the motion the rig has, and differ where the camera
cannot see, in depth. So the picture shows each reading (the rig's motion in black, the
alternatives in colour) over the video frame, then seen from the side (depth to the right,
up) and from above (depth up), in the camera's axes and metres. ``--sample`` first samples
the alternatives (the job folder itself is not changed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from genhmr_core import alternatives as layout
from genhmr_core.keypoints import KEYPOINT_INDEX, PREVIEW_EDGES
from genhmr_core.result_format import JobResult, load_result

COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:red", "tab:brown",
           "tab:pink", "tab:olive")


def _sample(job: Path, person: int, frames: str, count: int, seed: int) -> None:
    from genhmr.alternatives import ResampleOptions, resample_range

    a, b = (int(x) for x in frames.split(":"))
    summary = resample_range(ResampleOptions(job_dir=str(job), person=person, frame_start=a,
                                             frame_end=b, count=count, seed=seed))
    for k, c in enumerate(summary.info.candidates, start=1):
        print(f"alternative {k}: {c.distance_mm:.0f} mm from the motion (up to "
              f"{c.largest_mm:.0f} mm), reprojection {c.reprojection_px:.2f} px")


def _video_frame(job: Path, frame: int) -> np.ndarray | None:
    video = json.loads((job / "job.json").read_text())["options"]["video"]
    capture = cv2.VideoCapture(video)
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, image = capture.read()
    capture.release()
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if ok else None


def _skeleton(ax: plt.Axes, points: np.ndarray, colour: str, width: float, label: str) -> None:
    for i, (a, b) in enumerate(PREVIEW_EDGES):
        pa, pb = points[KEYPOINT_INDEX[a]], points[KEYPOINT_INDEX[b]]
        ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color=colour, lw=width,
                label=label if i == 0 else None, solid_capstyle="round")


def plot(job: Path, frame: int | None, out: Path) -> Path:
    info = layout.read_info(job)
    if info is None:
        raise SystemExit(f"{job} has no alternatives: sample them first (--sample)")
    current = load_result(job / "result.npz")
    readings: list[tuple[str, JobResult]] = [("the rig's motion", current)]
    for k in range(1, info.count + 1):
        readings.append((f"alternative {k}", load_result(layout.candidate_result(job, info, k))))
    p = int(np.flatnonzero(current.track_ids == info.person)[0])
    video_frame = frame if frame is not None else (info.frame_start + info.frame_end) // 2
    f = int(np.flatnonzero(current.frame_indices == video_frame)[0])
    K = current.camera_K.astype(np.float64)

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    image = _video_frame(job, video_frame)
    all_uv = []
    for (label, result), colour in zip(readings, ("black", *COLOURS), strict=False):
        kp = result.keypoints3d[p, f].astype(np.float64)
        uv = (kp @ K.T)[:, :2] / kp[:, 2:]
        all_uv.append(uv)
        width = 2.5 if colour == "black" else 1.5
        _skeleton(axes[0], uv, colour, width, label)
        _skeleton(axes[1], np.stack([kp[:, 2], -kp[:, 1]], -1), colour, width, label)
        _skeleton(axes[2], np.stack([kp[:, 0], kp[:, 2]], -1), colour, width, label)
    uv = np.concatenate(all_uv)
    lo, hi = uv.min(0), uv.max(0)
    pad = 0.25 * (hi - lo).max()
    if image is not None:
        axes[0].imshow(image)
    axes[0].set_xlim(lo[0] - pad, hi[0] + pad)
    axes[0].set_ylim(hi[1] + pad, lo[1] - pad)
    axes[0].set_title(f"through the camera (video frame {video_frame})")
    axes[1].set_title("from the side (depth →, up ↑), m")
    axes[2].set_title("from above (x →, depth ↑), m")
    for ax in axes[1:]:
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].axis("off")
    axes[2].legend(loc="best", fontsize=8)
    fig.suptitle(f"Person {info.person}, alternatives for video frames {info.frame_start}-"
                 f"{info.frame_end} (temperature {info.temperature:g}, seed {info.seed})")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", type=Path)
    parser.add_argument("--frame", type=int, default=None, help="video frame (default: middle)")
    parser.add_argument("--sample", nargs=2, metavar=("PERSON", "A:B"), default=None,
                        help="sample alternatives for this person and video frames first")
    parser.add_argument("--count", type=int, default=layout.DEFAULT_ALTERNATIVES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/images/alternatives.png"))
    args = parser.parse_args()
    if args.sample:
        _sample(args.job, int(args.sample[0]), args.sample[1], args.count, args.seed)
    print(plot(args.job, args.frame, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
