"""Where a planted foot has crept in the picture: the frames a new pin starts in a stretch.

Why: foot locking (:mod:`genhmr_core.foot_lock`) holds a planted foot at one place for its whole
contact stretch. A person standing and talking shuffles: a foot turns or slides a few
centimetres over a second or two without ever lifting, so the contact rule (height and image
speed, :mod:`genhmr_core.contacts`) keeps it planted throughout, and the single pin then holds
it where it stood at the median of the stretch while the real foot has moved (Pose2Sim
Demo_MultiPerson's woman: her left foot moves 11-13 cm over the clip, in contact in every
frame). The solve's 3D feet cannot tell such a creep from its own depth noise (a split where
the solved foot drifted followed that noise and made truly planted feet slide 2-5x more,
docs/world_space.md, section 5), but the detector's 2D keypoint can: it is steady to about 1 %
of the person's height, so a foot whose smoothed image position has left the place it was
pinned at by more than ``limit`` person heights has moved, and gets a new pin from there on.
"""

from __future__ import annotations

import numpy as np

from .temporal import gaussian_smooth


def drift_breaks(points2d: np.ndarray, planted: np.ndarray, valid: np.ndarray,
                 height_px: float, limit: float, sigma_frames: float) -> np.ndarray:
    """(F,) bool: the frames where a new pin starts inside a planted stretch.

    ``points2d`` (F, N, 2+): the foot's image points (heel and toe; steady pixels when the
    camera turned), their mean being where the foot is; ``planted`` (F,) the frames it is
    pinned; ``height_px`` the person's height in pixels; ``limit`` how far (person heights) the
    smoothed foot may creep from where its current pin started before a new one starts;
    ``sigma_frames`` the smoothing (Gaussian sigma, frames) that takes the detector's jitter
    out first. A break is never set on a stretch's first frame."""
    planted = np.asarray(planted, dtype=bool) & np.asarray(valid, dtype=bool)
    breaks = np.zeros(len(planted), dtype=bool)
    centre = np.asarray(points2d, dtype=np.float64)[..., :2].mean(axis=1)
    seen = planted & np.isfinite(centre).all(axis=1)
    if limit <= 0:
        return breaks
    reach = limit * max(float(height_px), 1.0)
    for start, end in _runs(planted):
        # smoothed within the stretch only: the stance before a step is another place
        smooth = gaussian_smooth(np.nan_to_num(centre[start:end]), seen[start:end],
                                 sigma_frames)
        anchor = None
        for f in np.flatnonzero(seen[start:end]):
            if anchor is None:
                anchor = smooth[f]
            elif np.linalg.norm(smooth[f] - anchor) > reach:
                breaks[start + f] = True
                anchor = smooth[f]
    return breaks


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))
