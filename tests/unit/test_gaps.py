"""``genhmr_core.gaps``: where a missed frame lies between the seen frames around it, and the
place and facing interpolated across a gap, checked against answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genhmr_core.gaps import (
    gap_ends,
    interpolate_missed,
    interpolate_missed_rotations,
    nearest_seen,
    solved_frames,
    span,
)

VALID = np.array([0, 1, 1, 0, 0, 0, 1, 0], bool)  # missed before, inside and after


def test_gap_ends_name_the_seen_frames_around_each_frame():
    before, after, weight = gap_ends(VALID)
    assert before.tolist() == [1, 1, 2, 2, 2, 2, 6, 6]
    assert after.tolist() == [1, 1, 2, 6, 6, 6, 6, 6]
    np.testing.assert_allclose(weight, [0, 0, 0, 0.25, 0.5, 0.75, 0, 0])
    with pytest.raises(ValueError, match="no seen frame"):
        gap_ends(np.zeros(3, bool))


def test_nearest_seen_is_the_closest_seen_frame_the_earlier_on_a_tie():
    assert nearest_seen(VALID).tolist() == [1, 1, 2, 2, 2, 6, 6, 6]  # frame 4: 2 and 6 tie
    rng = np.random.default_rng(0)
    for _ in range(50):  # the distance-matrix definition it replaces, on random tracks
        valid = rng.random(int(rng.integers(1, 40))) < rng.uniform(0.05, 0.9)
        valid[rng.integers(len(valid))] = True
        seen = np.flatnonzero(valid)
        brute = seen[np.abs(np.arange(len(valid))[:, None] - seen[None]).argmin(1)]
        np.testing.assert_array_equal(nearest_seen(valid), brute)


def test_positions_follow_the_straight_line_and_seen_frames_stay():
    values = np.arange(8, dtype=float)[:, None] * [1.0, -2.0] + 100 * (~VALID)[:, None]
    out = interpolate_missed(values, VALID)
    np.testing.assert_allclose(out[VALID], values[VALID])
    np.testing.assert_allclose(out[3:6], [[3, -6], [4, -8], [5, -10]])
    np.testing.assert_allclose(out[0], values[1])  # held before the first seen frame
    np.testing.assert_allclose(out[7], values[6])  # and after the last


def test_rotations_turn_evenly_the_short_way_round():
    """From 170 degrees about z to -170 (= 190): the short way is 20 degrees through 180, not
    340 back through 0; each missed frame a quarter further along."""
    angles = np.radians([0, 170, 170, 0, 0, 0, -170, 0])
    rotations = Rotation.from_euler("z", angles[:, None]).as_matrix()
    out = interpolate_missed_rotations(rotations, VALID)
    np.testing.assert_allclose(out[VALID], rotations[VALID])
    got = np.degrees(Rotation.from_matrix(out[2:7]).as_euler("zyx")[:, 0]) % 360
    np.testing.assert_allclose(got, [170, 175, 180, 185, 190], atol=0.3)
    np.testing.assert_allclose(out[0], rotations[1], atol=1e-9)


def test_the_frames_to_key_are_the_span_for_the_generative_method_only() -> None:
    valid = np.array([0, 1, 1, 0, 0, 1, 0], bool)
    np.testing.assert_array_equal(span(valid), [0, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(solved_frames(valid, "generative"), span(valid))
    np.testing.assert_array_equal(solved_frames(valid, "fit"), valid)
    assert not span(np.zeros(4, bool)).any()
