"""Draw retargeted motion as stick figures on our skeleton: a quick visual check of every
source's retargeting (docs/images/motion_sources.png).

    python tools/render_motion_preview.py [--dataset PATH.npz] --out docs/images/motion_sources.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from genhmr.motion.clip import MotionDataset
from genhmr.motion.retarget import POSE_PARENTS, pose_joint_positions
from genhmr.motion.sources.common import target_rest_joints

CLIPS = ("cmu/01_01", "cmu/01_03", "boxing/Boxing_Toes", "deepmimic/walk", "deepmimic/cartwheel",
         "deepmimic/getup_faceup", "climbing/seq_0", "climbing/seq_2", "anny/walk_cycle")
LEFT = {1, 4, 7, 10, 13, 16, 18, 20}
CELL = 150


def draw(positions: np.ndarray, title: str, frames: int = 6) -> np.ndarray:
    """One row: ``frames`` evenly spaced poses seen from the front-left (3/4 view)."""
    row = np.full((CELL + 22, CELL * frames, 3), 255, np.uint8)
    cv2.putText(row, title, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    yaw = np.radians(35.0)
    view = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    for k, t in enumerate(np.linspace(0, len(positions) - 1, frames).astype(int)):
        p = (positions[t] - positions[t, 0] * [1, 0, 1]) @ view.T
        uv = np.stack([CELL * k + CELL / 2 + p[:, 0] * 60, 22 + CELL - 8 - p[:, 1] * 60], 1)
        for j in range(1, len(p)):
            color = (220, 90, 40) if j in LEFT else (30, 120, 200)  # BGR: left blue
            a, b = uv[j].astype(int), uv[POSE_PARENTS[j]].astype(int)
            cv2.line(row, tuple(a), tuple(b), color, 2, cv2.LINE_AA)
        cv2.circle(row, tuple(uv[15].astype(int)), 6, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.putText(row, f"{t / 30:.1f}s", (CELL * k + 4, CELL + 18), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (90, 90, 90), 1, cv2.LINE_AA)
    return row


def main() -> None:
    cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=cache / "datasets" / "motion.npz")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = MotionDataset.load(args.dataset)
    names = list(data.clip_names)
    rest = target_rest_joints()
    rows = []
    missing = [name for name in CLIPS if name not in names]
    if missing:
        print(f"not in {args.dataset} (built with other --registry sources?): {missing}")
    for name in (n for n in CLIPS if n in names):
        clip = data.clip(names.index(name))
        pos = pose_joint_positions(clip.rotations, rest, clip.root_position)
        rows.append(draw(pos, f"{name} (left side blue)"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.concatenate(rows))
    print(args.out)


if __name__ == "__main__":
    main()
