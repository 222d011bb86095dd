"""The benchmark report's world-space measures (``benchmarks/world_metrics.py``), on data with
known answers."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from benchmarks.world_metrics import (
    contact_precision_recall,
    deepest_mm,
    on_floor,
    rotation_errors_deg,
    share_below,
    sliding_pair,
    trajectory_errors,
    true_contacts,
)


def _pitched_floor(pitch_deg: float, height: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A camera ``height`` above a floor, pitched down: (camera-from-world rotation, the floor's
    normal in camera axes, the plane's offset)."""
    # world: OpenCV-like, y down, floor at y = height under a camera at the origin
    turn = Rotation.from_euler("x", -pitch_deg, degrees=True).as_matrix()
    normal = turn @ np.array([0.0, -1.0, 0.0])
    return turn, normal, -height


def test_on_floor_gives_height_above_a_pitched_floor() -> None:
    turn, normal, offset = _pitched_floor(25.0, 1.9)
    world = np.array([[0.3, 1.9, 4.0], [-1.0, 1.9, 2.5], [0.0, 0.9, 3.0], [0.0, 0.0, 0.0]])
    floor = on_floor(world @ turn.T, normal, offset)
    np.testing.assert_allclose(floor[:, 1], [0.0, 0.0, 1.0, 1.9], atol=1e-9)
    # along the floor, distances are the world's
    np.testing.assert_allclose(np.linalg.norm(floor[0, [0, 2]] - floor[1, [0, 2]]),
                               np.linalg.norm(world[0, [0, 2]] - world[1, [0, 2]]), atol=1e-9)


def test_on_floor_takes_an_unnormalised_plane() -> None:
    turn, normal, offset = _pitched_floor(10.0, 2.0)
    point = np.array([0.2, 1.5, 3.0]) @ turn.T
    np.testing.assert_allclose(on_floor(point, 3.0 * normal, 3.0 * offset)[1], 0.5, atol=1e-9)


def test_sliding_pair_uses_the_same_planted_frames() -> None:
    frames = 10
    truth = np.zeros((frames, 4, 3))
    ours = np.zeros((frames, 4, 3))
    ours[:, :, 0] = 0.004 * np.arange(frames)[:, None]  # ours slides 4 mm/frame
    truth[:, :, 2] = 0.001 * np.arange(frames)[:, None]  # the truth 1 mm/frame
    ours[:, :, 1] = truth[:, :, 1] = np.linspace(0.0, 0.5, frames)[:, None]  # height: ignored
    contact = np.ones((frames, 4))
    contact[5:] = 0.0
    usable = np.ones((frames, 4), bool)
    usable[:, 1:] = False
    ours_mm, truth_mm = sliding_pair(ours, truth, contact, usable)
    assert abs(ours_mm - 4.0) < 1e-9 and abs(truth_mm - 1.0) < 1e-9
    assert np.isnan(sliding_pair(ours, truth, contact, np.zeros((frames, 4), bool))[0])


def test_share_below() -> None:
    assert share_below(np.array([0.0, -0.01, -0.03, 0.2])) == 0.25
    assert np.isnan(share_below(np.array([])))


def test_true_contacts_need_both_low_and_still() -> None:
    fps = 30.0
    frames = 9
    points = np.zeros((frames, 3, 3))
    points[:, 1, 0] = 0.02 * np.arange(frames)  # low but moving 0.6 m/s: sliding, not planted
    points[:, 2, 1] = 0.10  # still but 10 cm up: hovering
    points[5:, 0, 1] = 0.30  # the first point lifts off at frame 5
    planted = true_contacts(points, fps)
    assert planted[:5, 0].all() and not planted[5:, 0].any()
    assert not planted[:, 1].any() and not planted[:, 2].any()
    # the speed threshold is in metres per second: 4 mm/frame is 0.12 m/s at 30 fps
    slow = np.zeros((frames, 1, 3))
    slow[:, 0, 2] = 0.004 * np.arange(frames)
    assert true_contacts(slow, 30.0).all() and not true_contacts(slow, 60.0).any()


def test_contact_precision_recall() -> None:
    truth = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], bool)
    found = np.array([[0.9, 0.6], [0.2, 0.8], [0.1, 0.0], [0.7, 0.7]])
    precision, recall = contact_precision_recall(found, truth, np.ones(4, bool))
    assert precision == 3 / 5 and recall == 3 / 4
    # frames that do not count are left out of both
    precision, recall = contact_precision_recall(found, truth, np.array([1, 1, 1, 0], bool))
    assert precision == 2 / 3 and recall == 2 / 3
    assert np.isnan(contact_precision_recall(np.zeros((4, 2)), truth, np.ones(4, bool))[0])


def test_rotation_errors_deg() -> None:
    truth = Rotation.from_euler("y", np.linspace(0.0, 20.0, 5)[:, None],
                                degrees=True).as_matrix()
    found = Rotation.from_euler("x", 0.5, degrees=True).as_matrix() @ truth
    np.testing.assert_allclose(rotation_errors_deg(found, truth), 0.5, atol=1e-6)
    # None: a camera judged fixed, so the error is how far the truth turned
    np.testing.assert_allclose(rotation_errors_deg(None, truth), np.linspace(0.0, 20.0, 5),
                               atol=1e-6)


def test_trajectory_errors() -> None:
    frames = 20
    truth = np.zeros((frames, 3))
    truth[:, 0] = np.linspace(0.0, 2.0, frames)  # 2 m along the floor
    truth[:, 1] = 0.9
    ours = truth * [0.5, 1.0, 1.0] + [0.0, 0.0, 0.3]  # half as far, 30 cm deeper
    out = trajectory_errors(ours, truth, np.ones(frames, bool))
    assert abs(out["travel_ratio"] - 0.5) < 1e-9
    # the shape error is what is left once each path's middle is taken out: half the spread
    np.testing.assert_allclose(out["shape_error_m"],
                               np.median(np.abs(0.5 * (truth[:, 0] - 1.0))), atol=1e-9)
    moved = trajectory_errors(truth + [0.1, 0.0, 0.0], truth, np.ones(frames, bool))
    assert abs(moved["error_m"] - 0.1) < 1e-9 and moved["shape_error_m"] < 1e-9
    standing = trajectory_errors(truth[:1].repeat(frames, 0), truth[:1].repeat(frames, 0),
                                 np.ones(frames, bool))
    assert np.isnan(standing["travel_ratio"]) and standing["error_m"] == 0.0
    assert np.isnan(trajectory_errors(ours, truth, np.zeros(frames, bool))["error_m"])


def test_deepest_mm() -> None:
    assert abs(deepest_mm(np.array([0.1, -0.004, -0.031, 0.0])) - 31.0) < 1e-9
    assert deepest_mm(np.array([0.0, 0.2])) == 0.0
    assert np.isnan(deepest_mm(np.array([])))
