"""Confidence summaries, unsure stretches and bone colours (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core import confidence


def test_frame_confidence_is_the_mean_over_the_animated_joints() -> None:
    joint = np.zeros((3, 55))
    joint[:, :22] = [[1.0], [0.5], [0.0]]
    joint[:, 22:] = 1.0  # hands, jaw and eyes are not animated: they do not count
    assert confidence.frame_confidence(joint).tolist() == [1.0, 0.5, 0.0]


def test_unsure_stretches_bridge_flickers_and_skip_unsolved_frames() -> None:
    conf = np.array([0.9, 0.2, 0.3, 0.9, 0.2, 0.9, 0.9, 0.9, 0.1, 0.1, 0.9])
    valid = np.ones(11, bool)
    assert confidence.unsure_stretches(conf, valid, 0.5, bridge=2) == [(1, 4), (8, 9)]
    assert confidence.unsure_stretches(conf, valid, 0.5, bridge=0) == [(1, 2), (4, 4),
                                                                        (8, 9)]
    valid[8:10] = False  # not solved there: no pose to doubt
    assert confidence.unsure_stretches(conf, valid, 0.5, bridge=0)[-1] == (4, 4)
    assert confidence.unsure_stretches(conf, valid, 0.05) == []


def test_bone_colours_run_red_yellow_green() -> None:
    red, yellow, green = confidence.bone_colour(np.array([0.1, 0.5, 0.95]), 0.5)
    assert red[0] > 0.8 and red[1] < 0.3
    assert yellow[0] > 0.8 and yellow[1] > 0.7
    assert green[1] > 0.7 and green[0] < 0.3
    ramp = confidence.bone_colour(np.linspace(0, 1, 50), 0.5)
    assert np.all(np.diff(ramp[:, 1]) >= -1e-12)  # greener all the way up
    assert confidence.bone_colour(0.5, 0.5) == pytest.approx(confidence._HALF)
