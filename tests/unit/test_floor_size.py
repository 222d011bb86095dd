"""Each person's size from the shared floor (``genhmr_core.floor_size``): known answers on people
drawn at a known wrong size."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.floor_size import FloorSizeConfig, floor_scales

CAMERA_HEIGHT = 2.0
rng = np.random.default_rng(7)


def _feet_of(size_error: float, frames: int = 60, standing_on: float = 0.0) -> np.ndarray:
    """Lowest-foot heights above the floor of a person on a surface ``standing_on`` metres up,
    solved ``size_error`` times their true size (and so that much closer to the camera: their
    feet rise towards it), with a centimetre of noise."""
    below_camera = (CAMERA_HEIGHT - standing_on) * size_error
    return CAMERA_HEIGHT - below_camera + rng.normal(0, 0.01, frames)


def test_a_person_drawn_too_small_is_sized_against_the_others() -> None:
    """The woman drawn at the right size, the man 1/1.2 of his: the floor restores their ratio
    (1.2), and the group keeps its mean size."""
    woman, man = _feet_of(1.0), _feet_of(1 / 1.2)
    levels = (0.0, round(float(np.median(man)), 2))
    scales = floor_scales([woman, man], CAMERA_HEIGHT, levels)
    assert all(s.takes_part for s in scales)
    assert scales[1].scale / scales[0].scale == pytest.approx(1.2, rel=0.01)
    assert scales[0].scale * scales[1].scale == pytest.approx(1.0, rel=1e-6)


def test_the_mean_is_weighted_by_the_frames_each_person_was_seen() -> None:
    often, rarely = _feet_of(1.0, frames=200), _feet_of(1 / 1.2, frames=20)
    levels = (0.0, round(float(np.median(rarely)), 2))
    scales = floor_scales([often, rarely], CAMERA_HEIGHT, levels)
    assert abs(np.log(scales[0].scale)) < abs(np.log(scales[1].scale))
    weighted = (200 * np.log(scales[0].scale) + 20 * np.log(scales[1].scale)) / 220
    assert weighted == pytest.approx(0.0, abs=1e-9)


def test_someone_on_a_box_keeps_their_size() -> None:
    """demo.mp4: the man on a 2 m box has his feet above the camera; no size puts them on the
    floor, so he stands on something, and the woman alone is compared with nobody."""
    woman, man = _feet_of(1.0), _feet_of(1.0, standing_on=2.2)
    scales = floor_scales([woman, man], CAMERA_HEIGHT, (0.0, 2.2))
    assert [s.scale for s in scales] == [1.0, 1.0]
    assert not any(s.takes_part for s in scales)
    assert not np.isfinite(scales[1].raw) or scales[1].raw > FloorSizeConfig().max_ratio


def test_a_platform_beyond_plausible_sizes_is_a_platform() -> None:
    """A person on a 0.8 m stage would need to be 1.67x bigger to stand on the floor: more
    than adults differ, so they keep their size while the two on the floor are compared."""
    a, b = _feet_of(1.0), _feet_of(1 / 1.1)
    on_stage = _feet_of(1.0, standing_on=0.8)
    levels = (0.0, round(float(np.median(b)), 2), 0.8)
    scales = floor_scales([a, b, on_stage], CAMERA_HEIGHT, levels)
    assert scales[2].scale == 1.0 and not scales[2].takes_part
    assert scales[1].scale / scales[0].scale == pytest.approx(1.1, rel=0.01)


def test_the_lowest_level_a_person_uses_decides() -> None:
    """A man on a box who jumps down (demo.mp4) is sized by his frames on the floor."""
    woman = _feet_of(1.0)
    man = np.concatenate([_feet_of(1 / 1.15, frames=40, standing_on=0.0),
                          _feet_of(1 / 1.15, frames=120, standing_on=1.0)])
    low = round(float(np.median(man[:40])), 2)
    high = round(float(np.median(man[40:])), 2)
    scales = floor_scales([woman, man], CAMERA_HEIGHT, (0.0, low, high))
    assert scales[1].frames == 40
    assert scales[1].scale / scales[0].scale == pytest.approx(1.15, rel=0.01)


def test_one_person_or_none_seen_changes_nothing() -> None:
    alone = floor_scales([_feet_of(1 / 1.2)], CAMERA_HEIGHT, (0.0,))
    assert alone[0].scale == 1.0 and not alone[0].takes_part
    never = floor_scales([np.zeros(0), _feet_of(1.0), _feet_of(0.9)], CAMERA_HEIGHT, (0.0,))
    assert never[0].scale == 1.0 and np.isnan(never[0].raw)
    assert never[1].takes_part and never[2].takes_part
    assert floor_scales([_feet_of(1.0), _feet_of(0.9)], float("nan"), (0.0,))[0].scale == 1.0
