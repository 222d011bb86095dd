"""Plot each person's confidence over time, as the add-on shows it (docs picture).

    python tools/plot_confidence.py [out/demo/result.npz] [--out docs/images/demo_confidence.png]
        [--threshold 0.5]

One panel per person: the mean confidence over the animated joints (the curve keyed on the
rig object), the spread of the joints' confidences (10th-90th percentile, shaded), the
threshold, and the unsure stretches that get timeline markers (red bands), computed by
``genhmr_core.confidence`` exactly as the add-on does. Frames where the person was not solved
are left blank.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from genhmr_core import confidence
from genhmr_core.result_format import load_result

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", nargs="?", type=Path,
                        default=ROOT / "out" / "demo" / "result.npz")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "docs" / "images" / "demo_confidence.png")
    parser.add_argument("--threshold", type=float, default=confidence.DEFAULT_THRESHOLD)
    args = parser.parse_args()
    result = load_result(args.result)
    frames = np.asarray(result.frame_indices)
    fig, axes = plt.subplots(result.num_people, 1, figsize=(10, 1.9 * result.num_people + 0.6),
                             sharex=True, squeeze=False)
    for p, ax in enumerate(axes[:, 0]):
        valid = np.asarray(result.valid[p], dtype=bool)
        joints = np.where(valid[:, None],
                          result.joint_confidence[p][:, confidence.POSED_JOINTS], np.nan)
        mean = confidence.frame_confidence(np.nan_to_num(joints))
        mean[~valid] = np.nan
        low = high = np.full(len(frames), np.nan)
        if valid.any():  # (unsolved frames stay blank)
            low, high = low.copy(), high.copy()
            low[valid], high[valid] = np.percentile(joints[valid], [10, 90], axis=1)
        ax.fill_between(frames, low, high, color="0.85", label="joints (10-90 %)", step="mid")
        ax.plot(frames, mean, color="tab:blue", lw=1.5, label="person (mean)")
        ax.axhline(args.threshold, color="tab:orange", ls="--", lw=1,
                   label=f"threshold {args.threshold:.2f}")
        stretches = confidence.unsure_stretches(np.nan_to_num(mean, nan=1.0), valid,
                                                args.threshold)
        for first, last in stretches:
            ax.axvspan(frames[first] - 0.5, frames[last] + 0.5, color="tab:red", alpha=0.25)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"track {int(result.track_ids[p])}")
        ax.set_title(f"track {int(result.track_ids[p])}: {int(valid.sum())} solved frames, "
                     f"{len(stretches)} unsure stretches", fontsize=9, loc="left")
    axes[0, 0].legend(loc="lower right", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("video frame")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
