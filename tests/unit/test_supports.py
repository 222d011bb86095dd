"""Blocks under raised footprints (genhmr_core.supports), with known answers."""

from __future__ import annotations

import numpy as np

from genhmr_core.supports import SupportConfig, raised_supports


def _scene(frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two people, four foot points each, every point resting: person 0 stands on a 1.2 m box
    with feet at x = 2.0 .. 2.3, y = 3.0 .. 3.1 for frames 0-19, then on the floor far away;
    person 1 walks on the floor."""
    feet = np.zeros((2, frames, 4, 3))
    feet[0, :20, :, 0] = np.array([2.0, 2.1, 2.2, 2.3])
    feet[0, :20, :, 1] = np.array([3.0, 3.1, 3.0, 3.1])
    feet[0, :20, :, 2] = 1.2
    feet[0, 20:, :, :2] = 8.0
    feet[1, :, :, 0] = np.linspace(-3, 3, frames)[:, None]
    support = np.zeros((2, frames))
    support[0, :20] = 1.2
    contact = np.ones((2, frames, 4))
    valid = np.ones((2, frames), bool)
    return feet, support, contact, valid


def test_a_person_on_a_box_gets_a_block_as_tall_as_its_top_under_their_feet() -> None:
    feet, support, contact, valid = _scene()
    (block,) = raised_supports(feet, support, contact, valid)
    assert block.height == 1.2 and block.frames == 20
    margin = SupportConfig().margin
    np.testing.assert_allclose(block.low, (2.0 - margin, 3.0 - margin))
    np.testing.assert_allclose(block.high, (2.3 + margin, 3.1 + margin))


def test_nothing_is_drawn_for_the_floor_lifted_feet_a_stumble_or_unseen_frames() -> None:
    feet, support, contact, valid = _scene()
    assert raised_supports(feet, np.zeros_like(support), contact, valid) == []  # all on floor
    low = support.copy()
    low[0, :20] = 0.1  # under min_height: the floor's unevenness
    feet_low = feet.copy()
    feet_low[0, :20, :, 2] = 0.1
    assert raised_supports(feet_low, low, contact, valid) == []
    lifted = feet.copy()
    lifted[0, :20, :, 2] = 1.5  # the feet 30 cm over the level: not resting on it
    assert raised_supports(lifted, support, contact, valid) == []
    unsure = contact.copy()
    unsure[0, :20] = 0.3  # not in contact
    assert raised_supports(feet, support, unsure, valid) == []
    brief = valid.copy()
    brief[0, 4:20] = False  # seen on it for 4 frames: fewer than min_frames
    assert raised_supports(feet, support, contact, brief) == []


def test_two_boxes_of_one_height_far_apart_are_two_blocks() -> None:
    feet, support, contact, valid = _scene()
    feet[0, 10:20, :, 0] += 5.0  # the second half of the stand on another box 5 m away
    blocks = raised_supports(feet, support, contact, valid)
    assert [b.frames for b in blocks] == [10, 10]
    assert blocks[0].high[0] < blocks[1].low[0]
    # 0.8 m apart (within `join`): one block spanning both footprints
    feet[0, 10:20, :, 0] -= 4.2
    (block,) = raised_supports(feet, support, contact, valid)
    assert block.frames == 20 and block.high[0] - block.low[0] > 1.0
