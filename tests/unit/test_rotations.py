"""genhmr_core.rotations against scipy's Rotation (the reference Blender's Python lacks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genhmr_core.rotations import (
    axis_angle_to_matrix,
    make_quaternions_continuous,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
)


def _wxyz(r: Rotation) -> np.ndarray:
    return np.roll(r.as_quat(), 1, axis=-1)  # scipy is (x, y, z, w)


def _same_rotation_quat(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> None:
    """q and -q are the same rotation."""
    dot = np.abs(np.sum(a * b, axis=-1))
    np.testing.assert_allclose(dot, 1.0, atol=atol)


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    axes = rng.normal(size=(n, 3))
    return axes / np.linalg.norm(axes, axis=1, keepdims=True)


def _test_rotvecs() -> np.ndarray:
    """Random rotation vectors plus the hard cases: zero, tiny, near and exactly pi."""
    rng = np.random.default_rng(0)
    axes = _random_axes(rng, 40)
    angles = np.concatenate([
        rng.uniform(0.0, np.pi, 20),
        [0.0, 1e-12, 1e-8, 1e-5, 1e-3],
        [np.pi - 1e-3, np.pi - 1e-6, np.pi - 1e-9, np.pi, np.pi],
        [np.pi / 2, np.pi / 2, 1.0, 2.0, 3.0],
        [np.pi, np.pi, np.pi, np.pi, np.pi],
    ])
    vecs = axes * angles[:, None]
    # Axis-aligned half turns, the classic failure of trace-based conversions.
    special = np.array([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi], [-np.pi, 0, 0],
                        [np.pi / np.sqrt(2), np.pi / np.sqrt(2), 0], [0, 0, 0]])
    return np.concatenate([vecs, special])


ROTVECS = _test_rotvecs()


def test_axis_angle_to_matrix_matches_scipy():
    ours = axis_angle_to_matrix(ROTVECS)
    np.testing.assert_allclose(ours, Rotation.from_rotvec(ROTVECS).as_matrix(), atol=1e-12)


def test_axis_angle_to_matrix_is_a_rotation():
    m = axis_angle_to_matrix(ROTVECS)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)


def test_matrix_to_quaternion_matches_scipy():
    m = Rotation.from_rotvec(ROTVECS).as_matrix()
    q = matrix_to_quaternion(m)
    _same_rotation_quat(q, _wxyz(Rotation.from_matrix(m)))
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    assert np.all(q[:, 0] >= 0.0)  # documented sign convention


def test_quaternion_to_matrix_matches_scipy():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(50, 4))  # not unit: the function normalises
    expected = Rotation.from_quat(np.roll(q, -1, axis=-1)).as_matrix()
    np.testing.assert_allclose(quaternion_to_matrix(q), expected, atol=1e-12)


def test_quaternion_round_trip():
    q = _wxyz(Rotation.from_rotvec(ROTVECS))
    back = matrix_to_quaternion(quaternion_to_matrix(q))
    _same_rotation_quat(back, q)


def test_axis_angle_round_trip_away_from_pi():
    vecs = ROTVECS[np.linalg.norm(ROTVECS, axis=1) < np.pi - 1e-3]
    np.testing.assert_allclose(matrix_to_axis_angle(axis_angle_to_matrix(vecs)), vecs, atol=1e-9)


def test_axis_angle_round_trip_at_and_near_pi():
    """At pi, v and -v are the same rotation; compare rotations, and the angle."""
    vecs = ROTVECS[np.linalg.norm(ROTVECS, axis=1) >= np.pi - 1e-3]
    assert len(vecs) >= 10
    back = matrix_to_axis_angle(axis_angle_to_matrix(vecs))
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), np.linalg.norm(vecs, axis=1),
                               atol=1e-6)
    np.testing.assert_allclose(axis_angle_to_matrix(back), axis_angle_to_matrix(vecs),
                               atol=1e-9)


def test_matrix_to_axis_angle_matches_scipy():
    m = Rotation.from_rotvec(ROTVECS).as_matrix()
    ours = matrix_to_axis_angle(m)
    theirs = Rotation.from_matrix(m).as_rotvec()
    np.testing.assert_allclose(Rotation.from_rotvec(ours).as_matrix(), m, atol=1e-9)
    angles = np.linalg.norm(theirs, axis=1)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), angles, atol=1e-6)
    below_pi = angles < np.pi - 1e-3
    np.testing.assert_allclose(ours[below_pi], theirs[below_pi], atol=1e-9)


def test_angles_in_zero_to_pi():
    rng = np.random.default_rng(2)
    m = Rotation.random(200, random_state=rng).as_matrix()
    angles = np.linalg.norm(matrix_to_axis_angle(m), axis=-1)
    assert np.all(angles >= 0.0) and np.all(angles <= np.pi + 1e-12)


def test_zero_and_tiny_rotations_are_finite():
    for vec in ([0.0, 0.0, 0.0], [1e-15, 0.0, 0.0], [0.0, -1e-10, 1e-10]):
        m = axis_angle_to_matrix(np.array(vec))
        assert np.all(np.isfinite(m))
        np.testing.assert_allclose(m, np.eye(3), atol=1e-9)
        back = matrix_to_axis_angle(m)
        assert np.all(np.isfinite(back))
        np.testing.assert_allclose(back, vec, atol=1e-9)


def test_batched_shapes():
    vecs = np.random.default_rng(3).normal(size=(4, 5, 3))
    m = axis_angle_to_matrix(vecs)
    assert m.shape == (4, 5, 3, 3)
    assert matrix_to_quaternion(m).shape == (4, 5, 4)
    assert quaternion_to_matrix(matrix_to_quaternion(m)).shape == (4, 5, 3, 3)
    assert matrix_to_axis_angle(m).shape == (4, 5, 3)
    np.testing.assert_allclose(matrix_to_axis_angle(m), Rotation.from_rotvec(
        vecs.reshape(-1, 3)).as_rotvec().reshape(4, 5, 3), atol=1e-9)


# --- quaternion continuity ----------------------------------------------------------------------


def test_continuity_flips_signs_for_a_smooth_spin():
    """A full spin about one axis: w >= 0 quaternions jump sign at pi; the fix removes the jump."""
    t = np.linspace(0.0, 4.0 * np.pi, 97)
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    q = matrix_to_quaternion(axis_angle_to_matrix(t[:, None] * axis))
    assert np.any(np.sum(q[1:] * q[:-1], axis=-1) < 0)  # the raw track has jumps
    fixed = make_quaternions_continuous(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) > 0)
    _same_rotation_quat(fixed, q)
    np.testing.assert_array_equal(fixed[0], q[0])  # the first key keeps its sign
    # Continuous: each step is the same small rotation.
    steps = np.linalg.norm(np.diff(fixed, axis=0), axis=-1)
    np.testing.assert_allclose(steps, steps[0], atol=1e-9)


def test_continuity_along_another_axis_and_random_signs():
    rng = np.random.default_rng(4)
    base = _wxyz(Rotation.from_rotvec(np.cumsum(rng.normal(scale=0.05, size=(60, 3)), axis=0)))
    signs = rng.choice([-1.0, 1.0], size=(60, 1))
    noisy = base * signs
    # Time on axis 1, joints on axis 0.
    stacked = np.stack([noisy, -noisy, base])  # (3 joints, 60 frames, 4)
    fixed = make_quaternions_continuous(stacked, axis=1)
    assert fixed.shape == stacked.shape
    for j in range(3):
        assert np.all(np.sum(fixed[j, 1:] * fixed[j, :-1], axis=-1) > 0)
        _same_rotation_quat(fixed[j], base)
    np.testing.assert_array_equal(stacked[0], noisy)  # the input is not modified


@pytest.mark.parametrize("n", [0, 1])
def test_continuity_trivial_lengths(n):
    q = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    np.testing.assert_array_equal(make_quaternions_continuous(q), q)
