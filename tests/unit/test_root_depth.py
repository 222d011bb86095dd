"""Depth smoothing along viewing rays (``genhmr_core.root_depth``) and the filters under it
(``genhmr_core.temporal``): known answers on synthetic trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.root_depth import DepthSmoothing, smooth_depth, visibility_weights
from genhmr_core.temporal import gaussian_smooth, rolling_median

FPS = 30.0


def _walk(frames: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A pelvis walking across the picture at 1.4 m/s and slowly nearer (7 m -> 6 m): the true
    path, and the path with per-frame depth noise (6 cm) along each frame's viewing ray."""
    t = np.arange(frames) / FPS
    truth = np.stack([-2.0 + 1.4 * t, np.full(frames, 0.3), 7.0 - t / t[-1]], axis=1)
    noise = 1.0 + np.random.default_rng(seed).normal(0.0, 0.06 / 6.5, frames)
    return truth, truth * noise[:, None]


def _pixels(points: np.ndarray) -> np.ndarray:
    return points[:, :2] / points[:, 2:]


def test_depth_noise_is_removed_and_the_pelvis_keeps_its_pixel():
    truth, noisy = _walk()
    valid = np.ones(len(truth), bool)
    smoothed = smooth_depth(noisy, valid, FPS)
    np.testing.assert_allclose(_pixels(smoothed), _pixels(noisy), atol=1e-12)  # same rays
    error_before = np.abs(noisy[:, 2] - truth[:, 2])
    error_after = np.abs(smoothed[:, 2] - truth[:, 2])
    assert error_after[5:-5].mean() < 0.45 * error_before[5:-5].mean()
    speed = np.linalg.norm(np.diff(smoothed, axis=0), axis=1) * FPS
    assert speed.max() < 2.5  # the truth walks at 1.4-1.5 m/s; the noisy path "runs" at 5+


def test_a_burst_of_wrong_depth_is_an_outlier():
    """Three frames placed 1 m too far (a half-hidden person looks small): ignored."""
    truth, _ = _walk()
    bad = truth.copy()
    bad[40:43] *= (truth[40:43, 2:] + 1.0) / truth[40:43, 2:]
    smoothed = smooth_depth(bad, np.ones(len(truth), bool), FPS)
    assert np.abs(smoothed[:, 2] - truth[:, 2]).max() < 0.05


def test_low_visibility_frames_weigh_less():
    truth, _ = _walk()
    bad = truth.copy()
    bad[:8] *= 1.15  # the first frames half hidden: 15 % too far, a run too long to be outliers
    weights = np.ones(len(truth))
    weights[:8] = 0.01
    plain = smooth_depth(bad, np.ones(len(truth), bool), FPS)
    weighted = smooth_depth(bad, np.ones(len(truth), bool), FPS, weights)
    assert np.abs(weighted[:8, 2] - truth[:8, 2]).max() < 0.5 * np.abs(
        plain[:8, 2] - truth[:8, 2]).max()


def test_gaps_off_and_short_tracks_leave_depth_alone():
    truth, noisy = _walk()
    valid = np.ones(len(truth), bool)
    valid[30:40] = False
    smoothed = smooth_depth(noisy, valid, FPS)
    np.testing.assert_array_equal(smoothed[30:40], noisy[30:40])
    np.testing.assert_array_equal(smooth_depth(noisy, valid, FPS, config=DepthSmoothing(0.0)),
                                  noisy)
    two = np.zeros(len(truth), bool)
    two[:2] = True
    np.testing.assert_array_equal(smooth_depth(noisy, two, FPS), noisy)


def test_visibility_weights():
    kp = np.zeros((2, 25, 3))
    kp[0, :17, 2] = 1.0
    kp[1, :8, 2] = 0.9
    np.testing.assert_allclose(visibility_weights(kp), [1.0, (8 / 17) ** 2])


def test_temporal_filters_known_answers():
    values = np.array([1.0, 1.0, 10.0, 1.0, 1.0, 5.0, 5.0])
    valid = np.array([True, True, True, True, True, False, True])
    med = rolling_median(values, valid, 1)
    np.testing.assert_allclose(med[:5], [1.0, 1.0, 1.0, 1.0, 1.0])
    assert med[5] == pytest.approx(3.0) and med[6] == pytest.approx(5.0)  # invalid 5 skipped
    const = gaussian_smooth(np.full((7, 2), 3.0), valid, 2.0)
    np.testing.assert_allclose(const[valid], 3.0)
    assert (const[~valid] == 0).all()
    weighted = gaussian_smooth(values, valid, 50.0, weights=np.array([1, 1, 0, 1, 1, 0, 1.0]))
    np.testing.assert_allclose(weighted[valid], (4 * 1.0 + 5.0) / 5, rtol=5e-3)  # ~flat kernel
