"""A posed body's distance from its keypoints' pixels (``camera.translation_from_keypoints``)."""

from __future__ import annotations

import numpy as np
from genhmr.camera import intrinsics, project, translation_from_keypoints


def _body(frames: int, seed: int = 0) -> np.ndarray:
    """(F, 25, 3) a person-sized cloud of points around the origin (a body before it is
    placed), y down as in camera axes."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(frames, 25, 3)) * np.array([0.2, 0.45, 0.15])
    return points


def test_recovers_the_translation_of_exact_pixels() -> None:
    K = intrinsics(1920, 1080)
    body = _body(5)
    truth = np.array([[0.3, 0.2, 4.0], [-1.0, 0.4, 7.5], [0.0, 0.0, 2.5], [2.0, -0.3, 9.0],
                      [0.5, 0.9, 3.0]])
    uv = project(body + truth[:, None], K)
    t, ok = translation_from_keypoints(body, uv, np.ones((5, 25)), K)
    assert ok.all()
    np.testing.assert_allclose(t, truth, atol=1e-6)


def test_a_wrong_keypoint_hardly_moves_the_body() -> None:
    K = intrinsics(1920, 1080)
    body = _body(1, seed=3)
    truth = np.array([[0.2, 0.1, 5.0]])
    uv = project(body + truth[:, None], K)
    uv[0, 7] += np.array([250.0, -180.0])  # a wrist put on someone else
    t, ok = translation_from_keypoints(body, uv, np.ones((1, 25)), K)
    plain, _ = translation_from_keypoints(body, uv, np.ones((1, 25)), K, iterations=1)
    assert ok.all()
    assert abs(t[0, 2] - 5.0) < 0.05
    assert abs(plain[0, 2] - 5.0) > 2 * abs(t[0, 2] - 5.0)  # reweighting is what helps


def test_unseen_frames_and_missing_points_are_reported_not_guessed() -> None:
    K = intrinsics(1280, 720)
    body = _body(3, seed=1)
    truth = np.array([0.0, 0.3, 3.5])
    uv = project(body + truth, K)
    weight = np.ones((3, 25))
    weight[1] = 0.0  # not seen
    weight[2, 3:] = 0.0  # three points only
    uv[0, 10:] = np.nan  # missing pixels do not count either
    t, ok = translation_from_keypoints(body, uv, weight, K)
    assert ok.tolist() == [True, False, False]
    np.testing.assert_allclose(t[0], truth, atol=1e-6)
    np.testing.assert_array_equal(t[1:], 0.0)
