"""When feet are planted (``genhmr_core.contacts``): known answers on synthetic walkers."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.contacts import (
    CONTACT_INDEX,
    ContactConfig,
    foot_contacts,
    image_speed,
    sliding_mm_per_frame,
    support_heights,
)
from genhmr_core.ground import Ground
from genhmr_core.keypoints import KEYPOINT_INDEX, NUM_KEYPOINTS

FPS = 30.0
FLOOR = Ground(normal=np.array([0.0, -1.0, 0.0]), offset=-1.6, levels=(0.0, 2.0),
               support=(100, 50), estimated=True)
LEFT = [0, 1]  # heel, toe columns of the (F, 4) contacts
RIGHT = [2, 3]


def _walker(frames: int = 72, stance: int = 18, support: float = 0.0, jitter_px: float = 1.5,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World keypoints (F, K, 3), image keypoints (F, K, 3) and, per frame, which foot is
    planted (0 left, 1 right) for a person 360 px tall who alternates feet every ``stance``
    frames (18 at 30 fps: 0.6 s, a normal walking stance): the planted foot rests on the level
    ``support`` m above the floor and stays still in the image; the other is lifted up to 15 cm
    and moves forward at 1.5 heights per second."""
    rng = np.random.default_rng(seed)
    world = np.zeros((frames, NUM_KEYPOINTS, 3))
    image = np.zeros((frames, NUM_KEYPOINTS, 3))
    image[..., 2] = 1.0
    image[:, :, 1] = np.linspace(100.0, 460.0, NUM_KEYPOINTS)  # 360 px tall, head to toe
    world[:, :, 1] = 1.6 - support - 1.0  # the body above the support
    planted = (np.arange(frames) // stance) % 2
    position = np.zeros(2)  # each foot's image x
    for f in range(frames):
        swing = 1 - planted[f]
        position[swing] += 1.5 * 360.0 / FPS
        phase = (f % stance) / stance
        for side, names in enumerate((("left_heel", "left_foot_index"),
                                      ("right_heel", "right_foot_index"))):
            lift = 0.15 * np.sin(np.pi * phase) if side == swing else 0.0
            for name in names:
                k = KEYPOINT_INDEX[name]
                world[f, k] = [position[side] / 360.0, 1.6 - support - lift, 5.0]
                image[f, k, :2] = [position[side] + 50.0 * side, 460.0 - 100 * lift]
    image[..., :2] += rng.normal(0.0, jitter_px, image[..., :2].shape)
    return world, image, planted


def test_a_walker_plants_one_foot_at_a_time():
    world, image, planted = _walker()
    contact = foot_contacts(world, image, np.ones(len(world), bool), FPS, FLOOR)
    assert contact.shape == (len(world), 4) and contact.dtype == np.float32
    mid = [f for f in range(len(world)) if 5 <= f % 18 <= 12]  # away from the hand-overs
    left_down = [f for f in mid if planted[f] == 0]
    right_down = [f for f in mid if planted[f] == 1]
    assert contact[left_down][:, LEFT].min() > 0.8 and contact[left_down][:, RIGHT].max() < 0.2
    assert contact[right_down][:, RIGHT].min() > 0.8 and contact[right_down][:, LEFT].max() < 0.2


def test_someone_on_a_box_is_planted_on_the_box():
    """Standing still on a level 2 m above the floor: in contact with it, not "in the air"."""
    world, image, _ = _walker(support=2.0, stance=1000)  # never changes feet: left planted
    contact = foot_contacts(world, image, np.ones(len(world), bool), FPS, FLOOR)
    assert contact[5:-5, LEFT].min() > 0.8
    np.testing.assert_allclose(support_heights(np.array([2.03, 0.01, 1.2]), FLOOR.levels),
                               [2.0, 0.0, 0.0])


def test_unseen_frames_have_no_contact_and_speed_needs_two_frames():
    world, image, _ = _walker()
    valid = np.ones(len(world), bool)
    valid[20:25] = False
    contact = foot_contacts(world, image, valid, FPS, FLOOR)
    assert (contact[20:25] == 0).all() and contact[27:31, RIGHT].min() > 0.8  # right planted
    one = np.zeros(len(world), bool)
    one[3] = True
    assert np.isnan(image_speed(image[:, list(CONTACT_INDEX)], one, FPS, 360.0)).all()


def test_sliding_counts_only_planted_points():
    points = np.zeros((5, 4, 3))
    points[:, 0, 0] = np.arange(5) * 0.01  # the left heel slides 10 mm per frame
    points[:, 2, 2] = np.arange(5) * 0.5  # the right heel moves 0.5 m per frame, in the air
    contact = np.zeros((5, 4))
    contact[:, 0] = 1.0
    assert sliding_mm_per_frame(points, contact) == pytest.approx(10.0)
    assert np.isnan(sliding_mm_per_frame(points, np.zeros((5, 4))))


def test_a_panning_camera_is_not_read_as_moving_feet():
    """The same walker filmed by a camera panning 60 degrees in 2.4 s (a fast pan following a
    runner, ~15 px per frame): in the raw pixels
    the planted foot sweeps across the picture; turned back into the first frame's camera it
    stands still again and the contacts match the fixed camera's."""
    from genhmr_core.rotations import axis_angle_to_matrix

    world, image, _ = _walker(jitter_px=0.0)
    K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
    turn = axis_angle_to_matrix(np.radians(np.linspace(0.0, 60.0, len(world)))[:, None]
                                * np.array([0.0, 1.0, 0.0]))
    rays = np.concatenate([image[..., :2], np.ones(image.shape[:2] + (1,))], -1) @ \
        np.linalg.inv(K).T
    seen = np.einsum("fij,fnj->fni", turn, rays) @ K.T
    panned = image.copy()
    panned[..., :2] = seen[..., :2] / seen[..., 2:]
    valid = np.ones(len(world), bool)
    fixed = foot_contacts(world, image, valid, FPS, FLOOR)
    naive = foot_contacts(world, panned, valid, FPS, FLOOR)
    steady = foot_contacts(world, panned, valid, FPS, FLOOR, camera_K=K, camera_rotation=turn)
    np.testing.assert_allclose(steady, fixed, atol=1e-3)
    assert naive.max() < 0.5  # the pan reads as every foot moving
    with pytest.raises(ValueError, match="camera_K"):
        foot_contacts(world, panned, valid, FPS, FLOOR, camera_rotation=turn)


def test_thresholds_are_configurable():
    world, image, _ = _walker(jitter_px=0.0)
    strict = foot_contacts(world, image, np.ones(len(world), bool), FPS, FLOOR,
                           ContactConfig(max_speed=0.0, speed_softness=0.01))
    assert strict.max() < 0.5  # nothing is slower than 0 body heights per second
