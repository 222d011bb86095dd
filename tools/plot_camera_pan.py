"""Picture of a camera pan recovered from real footage (docs picture, issue #13).

    python tools/plot_camera_pan.py [--clip demo.mp4] [--frames 60] \\
        [--out docs/images/camera_pan_recovered.jpg]

No real panning clip can be obtained here (demo.mp4 was filmed on a tripod, docs/world_space.md
§1), so the closest real thing: the clip's first real frame seen by a camera that pans 12°,
tilts 4° and rolls 2° over the clip, with a stand-in person crossing (the turned clips of
``tools/bench_camera_motion.py``; a pure rotation maps the image by ``K R K^-1``, so every
frame is an exact render of a turning camera, with sensor noise). ``genhmr.camera_motion``
recovers the turns with the person's boxes masked, as a job does. Top: four frames of the
clip with the recovered horizon (the world's level line through the image centre, from the
recovered rotation) drawn on them; bottom: pan, tilt and roll per frame, true (dashed) and
recovered (solid), and the error of the whole rotation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend"), str(ROOT / "tools")]

from bench_tracking import media_dir  # noqa: E402
from genhmr.camera import intrinsics  # noqa: E402
from genhmr.camera_motion import estimate_camera_motion  # noqa: E402
from genhmr.synthetic.turned_camera import turned_frames  # noqa: E402
from genhmr.video import read_frames  # noqa: E402

PAN, TILT, ROLL = 12.0, -4.0, 2.0  # degrees over the clip (the bench's "pan 12, tilt 4, roll 2")


def true_turns(frames: int) -> np.ndarray:
    """(F, 3, 3) world-to-camera rotations of the pan (yaw, then pitch, then roll)."""
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return Rotation.from_euler("yxz", np.hstack([PAN * t, TILT * t, ROLL * np.sin(3 * t)]),
                               degrees=True).as_matrix()


def angles(rotations: np.ndarray) -> np.ndarray:
    """(F, 3) pan, tilt, roll in degrees (the order :func:`true_turns` composes them in)."""
    return Rotation.from_matrix(rotations).as_euler("yxz", degrees=True)


def horizon(frame: np.ndarray, K: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``frame`` with the level line of the camera's start drawn as this rotation sees it."""
    out = frame.copy()
    width = frame.shape[1]
    # two points far ahead on the start camera's level plane, left and right of its axis
    points = np.array([[-10.0, 0.0, 10.0], [10.0, 0.0, 10.0]]) @ rotation.T
    pixels = (points @ K.T)[:, :2] / (points @ K.T)[:, 2:]
    slope = (pixels[1, 1] - pixels[0, 1]) / (pixels[1, 0] - pixels[0, 0])
    y0 = pixels[0, 1] + slope * (0 - pixels[0, 0])
    y1 = pixels[0, 1] + slope * (width - pixels[0, 0])
    thickness = max(2, width // 400)
    cv2.line(out, (0, round(float(y0))), (width, round(float(y1))), (0, 220, 255), thickness)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="demo.mp4", help="a clip under the media folder")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "docs" / "images" / "camera_pan_recovered.jpg")
    args = parser.parse_args()
    image = next(iter(read_frames(media_dir() / args.clip, 0, 1)))[1]
    K = intrinsics(image.shape[1], image.shape[0])
    truth = true_turns(args.frames)
    frames, boxes = turned_frames(image, K, truth, walker=True)
    motion = estimate_camera_motion(frames, K, boxes)
    error = np.degrees(Rotation.from_matrix(
        motion.rotations @ np.swapaxes(truth, 1, 2)).magnitude())

    shown = np.linspace(0, args.frames - 1, 4).round().astype(int)
    fig = plt.figure(figsize=(12, 5.2))
    grid = fig.add_gridspec(2, 4, height_ratios=[0.8, 1.0])
    for column, f in enumerate(shown):
        axis = fig.add_subplot(grid[0, column])
        picture = horizon(frames[f], K, motion.rotations[f])
        axis.imshow(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB))
        axis.set_title(f"frame {f}", fontsize=9)
        axis.axis("off")
    plot = fig.add_subplot(grid[1, :3])
    found, wanted = angles(motion.rotations), angles(truth)
    for k, (name, colour) in enumerate((("pan", "C0"), ("tilt", "C1"), ("roll", "C2"))):
        plot.plot(wanted[:, k], "--", color=colour, linewidth=1.2, label=f"{name}, true")
        plot.plot(found[:, k], color=colour, linewidth=2.0, alpha=0.7, label=f"{name}, recovered")
    plot.set_xlabel("frame")
    plot.set_ylabel("degrees")
    plot.legend(ncol=3, fontsize=8, loc="upper left")
    plot.grid(alpha=0.3)
    errors = fig.add_subplot(grid[1, 3])
    errors.plot(error, color="k")
    errors.set_xlabel("frame")
    errors.set_ylabel("rotation error, degrees")
    errors.set_title(f"largest {error.max():.3f}°", fontsize=9)
    errors.grid(alpha=0.3)
    fig.suptitle(f"{args.clip}'s first frame, panned {PAN:g}°, tilted {-TILT:g}°, rolled "
                 f"{ROLL:g}° with a stand-in person crossing; the yellow line: the level line "
                 "of the first frame as the recovered turn sees it", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out} (largest rotation error {error.max():.3f} deg)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
