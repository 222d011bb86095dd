"""A new pose drawn on part of a followed person is not started as a person
(``person_pose_detector._phantom_of``): known answers on stick figures, modelled on Pose2Sim
cam03, where the box detector boxed only the legs of the man leaning over and the landmark model
drew a small body on them, which then took his legs from him in one of eight noise draws."""

from __future__ import annotations

import numpy as np
from genhmr.detection.person_pose_detector import _phantom_of


def figure(hip_x: float, hip_y: float, height: float, spread: float = 0.1) -> np.ndarray:
    """(33, 3) BlazePose-ordered landmarks of an upright person ``height`` px tall (head top
    to ankles), hips at (hip_x, hip_y); knees half-way down the legs, feet ``spread`` x height
    apart; visibility 1."""
    points = np.zeros((33, 3))
    points[:, 2] = 1.0
    top = hip_y - 0.5 * height
    leg = 0.5 * height
    half = spread * height / 2

    def put(indices: list[int], x: float, y: float) -> None:
        points[indices, 0] = x
        points[indices, 1] = y

    put(list(range(11)), hip_x, top + 0.06 * height)  # the head points
    put([11], hip_x + 0.12 * height, top + 0.18 * height)  # shoulders
    put([12], hip_x - 0.12 * height, top + 0.18 * height)
    put([13, 15, 17, 19, 21], hip_x + 0.14 * height, top + 0.4 * height)  # arms hanging
    put([14, 16, 18, 20, 22], hip_x - 0.14 * height, top + 0.4 * height)
    put([23], hip_x + half, hip_y)
    put([24], hip_x - half, hip_y)
    put([25], hip_x + half, hip_y + 0.5 * leg)  # knees
    put([26], hip_x - half, hip_y + 0.5 * leg)
    put([27, 29, 31], hip_x + half, hip_y + leg)  # ankles, heels, toes
    put([28, 30, 32], hip_x - half, hip_y + leg)
    return points


MAN = figure(500, 800, 900)  # 350 .. 1250 px


def test_a_small_body_drawn_on_his_legs_is_a_phantom():
    # shoulders at his hips, its knees and ankles a few dozen px off his left ones
    small = figure(540, 1000, 480)
    small[[25, 27], 0] = MAN[[25, 27], 0] + 30
    small[[25, 27], 1] = MAN[[25, 27], 1] - 20
    assert _phantom_of(small, MAN)
    # its left and right swapped: still on his leg
    swapped = small.copy()
    swapped[[25, 26, 27, 28]] = small[[26, 25, 28, 27]]
    assert _phantom_of(swapped, MAN)


def test_a_person_behind_him_stands_on_legs_of_her_own():
    """Inside his extent and much shorter (further back, so her feet are higher in the
    picture), her knee 78 px from his: but her ankles are hers."""
    woman = figure(470, 820, 560)
    assert _inside(woman, MAN) >= 0.9
    assert not _phantom_of(woman, MAN)


def _inside(a: np.ndarray, b: np.ndarray) -> float:
    (x0, y0), (x1, y1) = a[:, :2].min(axis=0), a[:, :2].max(axis=0)
    (u0, v0), (u1, v1) = b[:, :2].min(axis=0), b[:, :2].max(axis=0)
    overlap = max(0.0, min(x1, u1) - max(x0, u0)) * max(0.0, min(y1, v1) - max(y0, v0))
    return overlap / ((x1 - x0) * (y1 - y0))


def test_only_a_much_shorter_body_inside_the_other_one_counts():
    on_legs = figure(540, 1000, 480)
    on_legs[[25, 27], :2] = MAN[[25, 27], :2]
    assert _phantom_of(on_legs, MAN)
    # as tall as him (a duplicate is the merge's business, not this rule's)
    tall = figure(500, 820, 880)
    assert not _phantom_of(tall, MAN)
    # the same small body beside him, its extent outside his
    beside = on_legs.copy()
    beside[:, 0] += 300
    beside[[25, 27], :2] = MAN[[25, 27], :2]
    assert not _phantom_of(beside, MAN)
    # its knee on his but the ankle not: not standing on his leg
    knee_only = on_legs.copy()
    knee_only[27, 0] += 200
    knee_only[[28, 26], 0] += 200
    assert not _phantom_of(knee_only, MAN)
    # his knee not seen (low visibility): nothing to stand on
    unseen = MAN.copy()
    unseen[[25, 26], 2] = 0.2
    assert not _phantom_of(on_legs, unseen)
