"""The benchmark report's world-space measures (``benchmarks/world_metrics.py``), on data with
known answers."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from benchmarks.world_metrics import on_floor, share_below, sliding_pair


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
