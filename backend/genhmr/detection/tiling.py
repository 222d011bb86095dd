"""Tile layout and duplicate merging for multi-scale person detection (pure numpy).

Why tiles: the BlazePose detector sees the whole image letterboxed into 224x224 pixels, so a
person under ~100 px tall in a 768-px frame (or a 400-px person in a 1768x994 frame, which is
letterboxed even harder) shrinks below what it can find. Running the landmarker on square
sub-images makes each person larger *relative to the network input*. Pre-upscaling a tile adds
nothing: MediaPipe resamples every input to 224 (detector) / 256 (landmarks) itself.

Overlapping tiles find the same person several times (and a person cut by a tile edge as a
partial body), so candidates are merged greedily: best first, dropping any candidate whose box
overlaps a kept one (IoU) or whose confident keypoints land on a kept one's keypoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from genhmr.boxes import box_containment, box_iou


class Tile(NamedTuple):
    """A crop of the frame, in integer pixels, [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def tile_starts(length: int, side: int, min_overlap: float) -> list[int]:
    """Evenly spread start offsets of windows of ``side`` px covering ``length`` px, with
    neighbours overlapping by at least ``min_overlap * side`` (so anyone narrower than the
    overlap is whole in at least one window)."""
    if side >= length:
        return [0]
    stride = side * (1.0 - min_overlap)
    n = math.ceil((length - side) / max(stride, 1.0)) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def grid(width: int, height: int, side: int, min_overlap: float) -> list[Tile]:
    """Square tiles of ``side`` px (clipped to the frame) covering a width x height frame."""
    side_x, side_y = min(side, width), min(side, height)
    return [
        Tile(x, y, x + side_x, y + side_y)
        for y in tile_starts(height, side_y, min_overlap)
        for x in tile_starts(width, side_x, min_overlap)
    ]


def plan_tiles(
    width: int,
    height: int,
    *,
    fine_fraction: float = 0.5,
    coarse_overlap: float = 0.2,
    fine_overlap: float = 0.33,
    min_side: int = 96,
) -> list[tuple[str, list[Tile]]]:
    """Named tile levels to run after the full-frame pass, coarse to fine.

    * coarse: squares as tall as the short side, sliding along the long side. Skipped for
      near-square frames (it would repeat the full-frame pass). This is what finds a single
      medium-size person in a wide 16:9 frame, which the letterboxed full pass misses.
    * fine: squares of ``fine_fraction`` of the short side (at least ``min_side`` px) on an
      overlapping grid; finds people ~50-150 px tall in SD video.
    """
    short, long = min(width, height), max(width, height)
    levels: list[tuple[str, list[Tile]]] = []
    if long > 1.15 * short:
        levels.append(("coarse", grid(width, height, short, coarse_overlap)))
    fine_side = max(round(short * fine_fraction), min_side)
    if fine_side < short:
        levels.append(("fine", grid(width, height, fine_side, fine_overlap)))
    return levels


def keypoint_overlap(
    a: np.ndarray, b: np.ndarray, *, conf_threshold: float = 0.5, radius: float = 0.1
) -> float:
    """Fraction of keypoints confident in both a and b (K, 3: x, y, conf) that lie within
    ``radius`` x (the smaller person's box height) of each other.

    Box IoU misses the duplicate a tile makes of a person it cuts in half (small box inside a
    big one); matching keypoints catches it without merging two people who merely overlap."""
    both = (a[:, 2] >= conf_threshold) & (b[:, 2] >= conf_threshold)
    if not np.any(both):
        return 0.0
    heights = [np.ptp(p[:, 1]) for p in (a, b)]
    scale = max(min(heights), 1.0)
    dist = np.linalg.norm(a[both, :2] - b[both, :2], axis=1)
    return float(np.mean(dist <= radius * scale))


def _pair_overlap(keypoints: np.ndarray, i: int, k: int,
                  compared: Callable[[int, int], Sequence[int] | None] | None) -> float:
    rows = None if compared is None else compared(i, k)
    a, b = keypoints[i], keypoints[k]
    return keypoint_overlap(a, b) if rows is None else keypoint_overlap(a[rows], b[rows])


def merge_duplicates(
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray | None = None,
    *,
    iou_threshold: float = 0.4,
    keypoint_threshold: float = 0.5,
    containment_threshold: float = 0.55,
    max_keep: int | None = None,
    compared_keypoints: Callable[[int, int], Sequence[int] | None] | None = None,
) -> list[int]:
    """Greedy NMS: indices of the candidates to keep, best score first.

    A candidate is a duplicate of a kept one when their boxes have IoU >= ``iou_threshold``, or
    when their intersection covers ``containment_threshold`` of the smaller box (a phantom pose
    the model hallucinates over a real person: a different shape, so a low IoU; above 1: never),
    or, given ``keypoints`` (N, K, 3), when at least ``keypoint_threshold`` of their shared
    confident keypoints coincide (see :func:`keypoint_overlap`): of the rows
    ``compared_keypoints(i, k)`` names for the pair, or all of them (None)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    containment = box_containment(boxes)
    keep: list[int] = []
    for i in order:
        duplicate = False
        for k in keep:
            if iou[i, k] >= iou_threshold or containment[i, k] >= containment_threshold or (
                keypoints is not None
                and _pair_overlap(keypoints, i, k, compared_keypoints) >= keypoint_threshold
            ):
                duplicate = True
                break
        if not duplicate:
            keep.append(int(i))
            if max_keep is not None and len(keep) >= max_keep:
                break
    return keep
