"""Draw a genhmr-mot-truth/1 file's boxes and ids on its frames, as a contact sheet PNG.

Usage:
    python tools/annotation/draw_truth.py benchmarks/truth/demo_mp4.json VIDEO OUT.png \
        [--frames 0 10 20] [--cols 4] [--width 640] [--gallery]

Person boxes are drawn in a colour per id with the id (and the visible fraction when below 1);
ignore regions are drawn as thin grey boxes labelled "ign". ``--gallery`` instead writes one row
of box crops per person id (frame number under each crop), which makes identity switches easy to
spot. The clip itself is not in the repository (see benchmarks/truth/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend"))
from genhmr.video import read_frames

PALETTE = [(0, 0, 255), (0, 200, 0), (255, 0, 255), (0, 165, 255), (255, 80, 0), (0, 255, 255),
           (160, 0, 255), (255, 200, 0), (80, 80, 255), (0, 120, 120), (200, 200, 255), (0, 90, 0)]


def draw_frame(image: np.ndarray, truth: dict, frame: int, width: int) -> np.ndarray:
    """Return ``image`` resized to ``width`` with the truth of ``frame`` drawn on it."""
    scale = width / image.shape[1]
    out = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def corners(box: list[float]) -> tuple[tuple[int, int], tuple[int, int]]:
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        return (x0, y0), (x1, y1)

    for region in truth.get("ignore", []):
        if region["frame"] == frame:
            p, q = corners(region["box"])
            cv2.rectangle(out, p, q, (160, 160, 160), 1)
            cv2.putText(out, "ign", (p[0] + 2, q[1] - 3), 0, 0.35, (160, 160, 160), 1)
    for row in truth["boxes"]:
        if row["frame"] != frame:
            continue
        colour = PALETTE[row["id"] % len(PALETTE)]
        p, q = corners(row["box"])
        cv2.rectangle(out, p, q, colour, 2)
        label = str(row["id"])
        if row.get("visible", 1.0) < 1.0:
            label += f" ({row['visible']:.2g})"
        cv2.putText(out, label, (p[0] + 2, p[1] + 14), 0, 0.5, (0, 0, 0), 3)
        cv2.putText(out, label, (p[0] + 2, p[1] + 14), 0, 0.5, colour, 1)
    cv2.putText(out, f"frame {frame}", (5, out.shape[0] - 8), 0, 0.6, (0, 0, 0), 3)
    cv2.putText(out, f"frame {frame}", (5, out.shape[0] - 8), 0, 0.6, (255, 255, 255), 1)
    return out


def contact_sheet(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    """Tile same-sized images into rows of ``cols`` (black padding at the end)."""
    blank = np.zeros_like(tiles[0])
    tiles = tiles + [blank] * (-len(tiles) % cols)
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)


def id_gallery(images: dict[int, np.ndarray], truth: dict, height: int = 110) -> np.ndarray:
    """One row per person id: every annotated box of that id, cropped and scaled to ``height``."""
    rows = []
    for pid in sorted({row["id"] for row in truth["boxes"]}):
        crops = []
        for row in sorted(truth["boxes"], key=lambda r: r["frame"]):
            if row["id"] != pid or row["frame"] not in images:
                continue
            x0, y0, x1, y1 = (int(v) for v in row["box"])
            crop = images[row["frame"]][y0:y1, x0:x1]
            crop = cv2.resize(crop, (max(1, crop.shape[1] * height // crop.shape[0]), height))
            crop = np.pad(crop, ((0, 16), (0, 2), (0, 0)))
            cv2.putText(crop, str(row["frame"]), (2, height + 12), 0, 0.4, (255, 255, 255), 1)
            crops.append(crop)
        strip = np.hstack(crops)
        cv2.putText(strip, f"id {pid}", (2, 14), 0, 0.5, (0, 255, 255), 1)
        rows.append(strip)
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truth", type=Path)
    parser.add_argument("video")
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, nargs="*", help="default: every annotated frame")
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--width", type=int, default=640, help="width of one tile in pixels")
    parser.add_argument("--gallery", action="store_true", help="write per-id crop rows instead")
    args = parser.parse_args()

    truth = json.loads(args.truth.read_text())
    wanted = args.frames or truth["frames"]
    images = {i: f for i, f in read_frames(args.video, min(wanted), max(wanted) + 1)
              if i in set(wanted)}
    if args.gallery:
        cv2.imwrite(str(args.out), id_gallery(images, truth))
        print(f"{args.out}: identity gallery")
        return
    tiles = [draw_frame(images[f], truth, f, args.width) for f in wanted if f in images]
    if not tiles:
        raise SystemExit("no frames read from the video")
    cv2.imwrite(str(args.out), contact_sheet(tiles, args.cols))
    print(f"{args.out}: {len(tiles)} frames")


if __name__ == "__main__":
    main()
