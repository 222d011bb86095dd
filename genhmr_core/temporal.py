"""Filters over time for per-frame values with gaps (frames where a person was not seen).

Plain numpy, shared by the foot contacts and the depth smoothing: every filter takes ``valid``
(F,) and ignores invalid frames (they neither contribute nor receive anything meaningful), and
per-frame ``weights`` where some frames deserve less trust than others.
"""

from __future__ import annotations

import numpy as np


def gaussian_smooth(values: np.ndarray, valid: np.ndarray, sigma_frames: float,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing along axis 0 of (F, ...) over valid frames, each frame counted with
    its weight (normalised, so a constant stays constant and edges are not pulled to 0);
    invalid frames come out as 0."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if sigma_frames <= 0:
        return np.where(valid.reshape((-1,) + (1,) * (values.ndim - 1)), values, 0.0)
    w = valid.astype(np.float64) * (1.0 if weights is None else np.asarray(weights, float))
    shape = (-1,) + (1,) * (values.ndim - 1)
    data = np.where(w.reshape(shape) > 0, values, 0.0) * w.reshape(shape)
    radius = max(1, int(np.ceil(3 * sigma_frames)))
    num = np.zeros_like(data)
    den = np.zeros(len(values))
    for offset in range(-radius, radius + 1):
        k = np.exp(-0.5 * (offset / sigma_frames) ** 2)
        lo, hi = max(0, -offset), min(len(values), len(values) - offset)
        if lo >= hi:
            continue
        num[lo:hi] += k * data[lo + offset:hi + offset]
        den[lo:hi] += k * w[lo + offset:hi + offset]
    out = num / np.maximum(den, 1e-12).reshape(shape)
    return np.where((valid & (den > 0)).reshape(shape), out, 0.0)


def rolling_median(values: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """(F,) median of the valid values within ``radius`` frames of each frame (NaN where no
    valid frame is in reach)."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    out = np.full(len(values), np.nan)
    for f in range(len(values)):
        lo, hi = max(0, f - radius), min(len(values), f + radius + 1)
        window = values[lo:hi][valid[lo:hi]]
        if len(window):
            out[f] = np.median(window)
    return out
