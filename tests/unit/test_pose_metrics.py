"""The benchmark's motion metrics on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core import pose_metrics as pm
from genhmr_core.rotations import axis_angle_to_matrix


def _body(frames: int = 6, joints: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(frames, joints, 3)) * 0.3


def test_runs_split_at_gaps_and_drop_short_ones():
    valid = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], bool)
    assert pm.runs(valid) == [slice(0, 2), slice(3, 6), slice(8, 9)]
    assert pm.runs(valid, min_length=3) == [slice(3, 6)]
    assert pm.runs(np.zeros(4, bool)) == []


def test_procrustes_undoes_a_similarity_but_not_a_mirror():
    target = _body()
    rotation = axis_angle_to_matrix(np.array([0.3, -1.2, 0.5]))
    moved = 1.7 * target @ rotation.T + np.array([0.4, -2.0, 5.0])
    np.testing.assert_allclose(pm.procrustes(moved, target), target, atol=1e-9)
    assert pm.pa_mpjpe(moved, target, np.ones(len(target), bool)) < 1e-9
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert pm.pa_mpjpe(mirrored, target, np.ones(len(target), bool)) > 0.05


def test_mpjpe_aligns_the_roots_and_only_counts_valid_frames():
    target = _body()
    pred = target + np.array([3.0, 1.0, -2.0])  # a shift only
    pred[:, 2] += np.array([0.1, 0.0, 0.0])  # one joint 10 cm off in every frame
    valid = np.ones(len(target), bool)
    # the roots (joints 0, 1) are exact, so joint 2 alone is off: 0.1 / 8 joints
    assert pm.mpjpe(pred, target, valid, roots=(0, 1)) == pytest.approx(0.1 / 8)
    pred[3] += 9.0  # a wild frame that does not count
    pred[3, 2] += 1.0
    valid[3] = False
    assert pm.mpjpe(pred, target, valid, roots=(0, 1)) == pytest.approx(0.1 / 8)
    assert np.isnan(pm.mpjpe(pred, target, np.zeros_like(valid), roots=(0,)))


def test_acceleration_error_of_a_constant_offset_is_zero_and_of_a_spike_is_known():
    frames = 10
    t = np.arange(frames, dtype=float)
    target = np.zeros((frames, 3, 3))
    target[:, 2, 0] = 0.01 * t ** 2  # joint 2 accelerates: second difference 0.02
    valid = np.ones(frames, bool)
    pred = target + 0.5  # offset in every joint: no acceleration error
    assert pm.accel_error(pred, target, valid, roots=(0,)) == pytest.approx(0.0, abs=1e-12)
    spiked = target.copy()
    spiked[5, 2, 1] += 0.03  # one joint off in one frame
    # the stencils centred on frames 4, 5, 6 see +0.03, -0.06, +0.03 on one joint of three,
    # out of 8 stencils
    expected = (0.03 + 0.06 + 0.03) / (8 * 3)
    assert pm.accel_error(spiked, target, valid, roots=(0,)) == pytest.approx(expected)
    assert pm.acceleration(target[:, 2], valid) == pytest.approx(0.02)


def test_motion_metrics_never_difference_across_a_gap():
    path = np.zeros((8, 3))
    path[4:] = 5.0  # the person reappears 5 m away after a gap
    valid = np.ones(8, bool)
    valid[3] = False
    assert pm.largest_step(path, valid) == pytest.approx(0.0)
    assert pm.jerk(path, valid) == pytest.approx(0.0)
    assert pm.largest_step(path, np.ones(8, bool)) == pytest.approx(np.sqrt(75))
    assert np.isnan(pm.largest_step(path, np.eye(8, dtype=bool)[0]))


def test_jerk_of_a_cubic_path():
    t = np.arange(12, dtype=float)[:, None] * np.array([1.0, 0.0, 0.0])
    assert pm.jerk(0.001 * t ** 3, np.ones(12, bool)) == pytest.approx(0.006)
    assert pm.jerk(0.4 * t ** 2, np.ones(12, bool)) == pytest.approx(0.0, abs=1e-9)


def test_facing_yaw_and_flips():
    up = np.array([0.0, -1.0, 0.0])  # camera axes: y down
    frames = 12
    angle = np.radians(10.0) * np.arange(frames)  # a steady turn, 10 degrees a frame
    across = np.stack([np.cos(angle), np.zeros(frames), np.sin(angle)], axis=1) * 0.15
    left, right = across, -across
    yaw = pm.facing_yaw(left, right, up)
    turns = np.degrees(np.abs(np.diff(np.unwrap(yaw))))
    np.testing.assert_allclose(turns, 10.0, atol=1e-9)
    valid = np.ones(frames, bool)
    assert pm.facing_flips(yaw, valid) == 0
    left[6], right[6] = right[6].copy(), left[6].copy()  # one frame faces backwards
    yaw = pm.facing_yaw(left, right, up)
    assert pm.facing_flips(yaw, valid) == 2  # out and back
    valid[6] = False
    assert pm.facing_flips(yaw, valid) == 0


def test_masked_joints_neither_count_nor_steer_the_alignment():
    target = _body(frames=7, joints=8)
    rotation = axis_angle_to_matrix(np.array([0.2, 0.9, -0.4]))
    pred = 1.3 * target @ rotation.T + 2.0
    pred[:, 5] += np.array([0.0, 0.4, 0.0])  # one joint far off in every frame
    valid = np.ones(7, bool)
    mask = np.ones((7, 8), bool)
    mask[:, 5] = False  # ...where the truth is not trusted
    assert pm.pa_mpjpe(pred, target, valid) > 0.01
    assert pm.pa_mpjpe(pred, target, valid, mask) < 1e-9
    shifted = target + 1.0
    shifted[:, 5, 0] += 0.2
    assert pm.mpjpe(shifted, target, valid, roots=(0, 1), mask=mask) < 1e-12
    assert pm.mpjpe(shifted, target, valid, roots=(0, 1)) == pytest.approx(0.2 / 8)


def test_acceleration_error_counts_a_joint_only_where_all_three_frames_are_trusted():
    frames = 9
    target = np.zeros((frames, 3, 3))
    pred = target.copy()
    pred[4, 2, 0] = 0.05  # a spike on joint 2 at frame 4
    valid = np.ones(frames, bool)
    mask = np.ones((frames, 3), bool)
    assert pm.accel_error(pred, target, valid, roots=(0,)) > 0
    mask[4, 2] = False  # untrusted there: the three stencils that see frame 4 drop joint 2
    assert pm.accel_error(pred, target, valid, roots=(0,), mask=mask) == pytest.approx(0.0)
    assert np.isnan(pm.accel_error(pred, target, valid, (0,), np.zeros((frames, 3), bool)))


def test_joint_errors_show_where_the_error_sits_and_average_to_pa_mpjpe():
    """One joint 10 cm off in two frames of five: the per-joint errors put the whole error on
    it (the alignment spreads a little onto the others), and their count-weighted mean is
    PA-MPJPE's."""
    rng = np.random.default_rng(4)
    target = _body(frames=5, joints=10)
    pred = target.copy()
    pred[[1, 3], 7] += np.array([0.1, 0.0, 0.0])
    valid = np.array([True, True, True, True, False])
    mask = rng.random((5, 10)) > 0.1
    means, counts = pm.pa_joint_errors(pred, target, valid, mask)
    assert counts.tolist() == mask[:4].sum(axis=0).tolist()
    assert int(np.nanargmax(means)) == 7
    assert means[7] > 3 * np.nanmax(np.delete(means, 7))
    assert (np.nan_to_num(means) * counts).sum() / counts.sum() == pytest.approx(
        pm.pa_mpjpe(pred, target, valid, mask), rel=1e-12)
    never = np.zeros((5, 10), bool)
    never[:, :4] = True
    means, counts = pm.pa_joint_errors(pred, target, valid, never)
    assert np.isnan(means[4:]).all() and (counts[4:] == 0).all()
