"""Creeping planted feet (``genhmr_core.foot_drift``): known answers on synthetic 2D tracks."""

from __future__ import annotations

import numpy as np

from genhmr_core.foot_drift import drift_breaks

HEIGHT_PX = 400.0
FRAMES = 90


def _foot(creep_px: float, jitter_px: float = 0.0, seed: int = 0) -> np.ndarray:
    """(F, 2, 2) heel and toe pixels of a foot that moves ``creep_px`` to the right, evenly
    over the clip, with the detector's jitter (``jitter_px`` std) on top."""
    rng = np.random.default_rng(seed)
    heel = np.stack([300.0 + np.linspace(0.0, creep_px, FRAMES), np.full(FRAMES, 500.0)], -1)
    points = np.stack([heel, heel + [40.0, 5.0]], axis=1)
    return points + rng.normal(0.0, jitter_px, points.shape)


def test_a_foot_creeping_in_contact_gets_a_new_pin_each_time_it_has_moved_the_limit():
    """0.12 person heights of creep at a limit of 0.05: two new pins, the first after
    about 0.05 of the height (38 of the 90 frames), never on the stretch's first frame."""
    seen = np.ones(FRAMES, bool)
    breaks = drift_breaks(_foot(0.12 * HEIGHT_PX, jitter_px=2.0), seen, HEIGHT_PX, limit=0.05,
                          sigma_frames=6.0)
    frames = np.flatnonzero(breaks)
    assert len(frames) == 2, frames
    assert 30 <= frames[0] <= 45 and not breaks[0]


def test_the_detectors_jitter_alone_moves_no_pin():
    """A foot standing still, its keypoints jittering by 1 % of the person's height a frame
    (about what MediaPipe's do): smoothed over 0.2 s at 30 fps, never 5 %."""
    seen = np.ones(FRAMES, bool)
    for seed in range(5):
        foot = _foot(0.0, jitter_px=0.01 * HEIGHT_PX, seed=seed)
        assert not drift_breaks(foot, seen, HEIGHT_PX, 0.05, 6.0).any()
    assert not drift_breaks(_foot(100.0), seen, HEIGHT_PX, 0.0, 6.0).any()  # off


def test_each_stance_is_its_own_place():
    """Two stances 60 px apart with a step between them, each its own stretch (as the lock
    calls it): the second starts its own pin (no break at its first frame, which the step's
    jump would give if the stances were smoothed as one), and frames not seen never break."""
    foot = _foot(0.0)
    foot[45:] += [60.0, 0.0]  # the step
    seen = np.ones(FRAMES, bool)
    seen[20] = False
    foot[20] = np.nan
    for start, end in ((0, 38), (45, FRAMES)):  # the swing, 38-44, is not planted
        breaks = drift_breaks(foot[start:end], seen[start:end], HEIGHT_PX, 0.05, 6.0)
        assert not breaks.any(), np.flatnonzero(breaks)
