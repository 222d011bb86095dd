"""Pinhole intrinsics for footage whose lens is unknown.

Without metadata we assume a horizontal field of view typical of phones and action cameras
(about 60 degrees). Users who know their lens pass ``focal_px``; a wrong guess mostly changes the
recovered depth, not the pose (the fit is anchored on metric 3D landmarks).
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_HFOV_DEG = 60.0


def default_focal_px(width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> float:
    return float(width) / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))


def intrinsics(width: int, height: int, focal_px: float | None = None) -> np.ndarray:
    """3x3 K with square pixels and the principal point at the image centre."""
    f = float(focal_px) if focal_px else default_focal_px(width)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """OpenCV camera-space points (..., 3) -> pixels (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    z = np.maximum(points[..., 2:3], 1e-6)
    uv = points[..., :2] / z
    return uv * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])
