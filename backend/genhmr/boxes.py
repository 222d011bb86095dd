"""Axis-aligned box geometry (x0, y0, x1, y1 in pixels), shared by detection and tracking."""

from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection areas between boxes a (N, 4) and b (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union."""
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def box_containment(boxes: np.ndarray) -> np.ndarray:
    """(N, N) intersection area over the smaller box's area (1 when one box holds the other)."""
    inter = box_intersection(boxes, boxes)
    area = box_area(boxes)
    smaller = np.minimum(area[:, None], area[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-9), 0.0)


def landmark_box(landmarks_px: np.ndarray, width: int, height: int, pad: float = 0.1,
                 clip: bool = True) -> np.ndarray:
    """The product's person box: the landmarks' extent padded by ``pad`` times its height (or
    half its width, if larger) on every side, clipped to the frame unless ``clip`` is false;
    (4,) float32.

    Every landmark counts, confident or not: the model extrapolates hidden limbs to where the
    body is, which is the extent an artist expects for a partly hidden person."""
    x, y = landmarks_px[:, 0], landmarks_px[:, 1]
    margin = pad * max(float(np.ptp(y)), float(np.ptp(x)) * 0.5, 1.0)
    box = np.array([x.min() - margin, y.min() - margin, x.max() + margin, y.max() + margin])
    if clip:
        box[[0, 2]] = np.clip(box[[0, 2]], 0, width)
        box[[1, 3]] = np.clip(box[[1, 3]], 0, height)
    return box.astype(np.float32)
