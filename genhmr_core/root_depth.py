"""A person's distance from the camera, smoothed over time along their viewing rays.

Why: the 3D stage places each frame's body at a depth that is poorly constrained by one view
(depth trades against pose and size), so from the side the rigs jitter back and forth: on
demo.mp4 the pelvis moves 5-7 cm in depth from one frame to the next at the median and up to
1.2 m where a person is half hidden, giving root speeds of 20-40 m/s. A person cannot move like
that, and the image pins where they are *across* the picture, not how far away. So only the
depth is smoothed, along each frame's own viewing ray through the pelvis: the pelvis keeps its
pixel, the body keeps its pose, and it moves nearer or farther as a whole.

Method, per person: the log of the depth (a relative measure: 10 cm matters more at 3 m than at
15 m); frames far from the rolling median (0.3 s) by more than 3 robust standard deviations (and
5 %) are outliers and get no weight; the rest are averaged with a Gaussian over time (sigma
``sigma_s``), each frame weighted by how much of the person the detector saw (a half-hidden
person's size, hence depth, is the least reliable).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .temporal import gaussian_smooth, rolling_median

MAD_TO_SIGMA = 1.4826


@dataclasses.dataclass(frozen=True)
class DepthSmoothing:
    sigma_s: float = 0.15  # Gaussian over time; 0 turns smoothing off
    outlier_window_s: float = 0.3
    outlier_sigmas: float = 3.0
    min_outlier: float = 0.05  # relative depth change never counted as an outlier below this


def visibility_weights(keypoints2d: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(F,) share of the 17 body keypoints (COCO) the detector saw with confidence, squared."""
    conf = np.asarray(keypoints2d, dtype=np.float64)[:, :17, 2]
    return np.mean(conf >= threshold, axis=1) ** 2


def smooth_depth(root: np.ndarray, valid: np.ndarray, fps: float,
                 weights: np.ndarray | None = None,
                 config: DepthSmoothing | None = None) -> np.ndarray:
    """(F, 3) the camera-space pelvis ``root`` (F, 3) moved along its rays to the smoothed
    depth (see the module docstring); invalid frames and frames with no usable neighbour are
    returned unchanged."""
    config = config or DepthSmoothing()
    root = np.asarray(root, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool) & (root[:, 2] > 1e-6)
    if config.sigma_s <= 0 or valid.sum() < 3:
        return root.copy()
    log_depth = np.log(np.where(valid, root[:, 2], 1.0))
    median = rolling_median(log_depth, valid,
                            max(1, round(config.outlier_window_s * fps / 2)))
    residual = np.where(valid, log_depth - median, 0.0)
    spread = MAD_TO_SIGMA * float(np.median(np.abs(residual[valid])))
    limit = max(config.outlier_sigmas * spread, float(np.log1p(config.min_outlier)))
    trusted = valid & (np.abs(residual) <= limit)
    w = trusted.astype(np.float64) * (1.0 if weights is None else np.asarray(weights, float))
    smoothed = gaussian_smooth(log_depth, valid, config.sigma_s * fps, weights=w)
    usable = valid & (gaussian_smooth(w, valid, config.sigma_s * fps) > 0)
    scale = np.where(usable, np.exp(smoothed - log_depth), 1.0)
    return root * scale[:, None]
