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


def drift_breaks(points2d: np.ndarray, seen: np.ndarray, height_px: float, limit: float,
                 sigma_frames: float) -> np.ndarray:
    """(n,) bool over one planted stretch's n frames: where a new pin starts.

    ``points2d`` (n, N, 2+): the foot's image points over the stretch (heel and toe; steady
    pixels when the camera turned), their mean being where the foot is; ``seen`` (n,) the
    frames it was detected in; ``height_px`` the person's height in pixels; ``limit`` how far
    (person heights) the smoothed foot may creep from where its current pin started before a
    new one starts; ``sigma_frames`` the smoothing (Gaussian sigma, frames) that takes the
    detector's jitter out first. Smoothed within the stretch only (the stance before a step is
    another place); a break is never set on the first frame seen."""
    centre = np.asarray(points2d, dtype=np.float64)[..., :2].mean(axis=1)
    seen = np.asarray(seen, dtype=bool) & np.isfinite(centre).all(axis=1)
    breaks = np.zeros(len(seen), dtype=bool)
    if limit <= 0 or not seen.any():
        return breaks
    smooth = gaussian_smooth(np.nan_to_num(centre), seen, sigma_frames)
    reach = limit * max(float(height_px), 1.0)
    anchor = None
    for f in np.flatnonzero(seen):
        if anchor is None:
            anchor = smooth[f]
        elif np.linalg.norm(smooth[f] - anchor) > reach:
            breaks[f] = True
            anchor = smooth[f]
    return breaks
