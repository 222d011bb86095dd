"""The default lens for footage whose focal length is unknown."""

from __future__ import annotations

import numpy as np
import pytest
from genhmr.camera import default_focal_px, focal_for_fov, focal_from_35mm, intrinsics


def test_portrait_and_landscape_get_the_same_lens() -> None:
    """A phone held upright films with the same lens as held sideways: the default focal
    length follows the longer side, not the width."""
    assert default_focal_px(1088, 1920) == pytest.approx(default_focal_px(1920, 1088))
    assert default_focal_px(1088, 1920) > 1.7 * focal_for_fov(1088, 60.0)


def test_default_matches_calibrated_phone_video() -> None:
    """Pose2Sim's portrait phone clips (1088 x 1920) are calibrated at 1,674-1,682 px
    (benchmarks/truth/pose2sim_multiperson_joints3d.npz): the default is within 2 %."""
    assert default_focal_px(1088, 1920) == pytest.approx(1678.0, rel=0.02)


def test_user_focal_wins_and_principal_point_is_centred() -> None:
    K = intrinsics(1088, 1920, focal_px=1234.5)
    np.testing.assert_allclose(K, [[1234.5, 0, 544], [0, 1234.5, 960], [0, 0, 1]])
    assert intrinsics(1768, 994)[0, 0] == pytest.approx(focal_for_fov(1768, 60.0))


def test_35mm_equivalent_lens_in_pixels() -> None:
    """A 35 mm-equivalent lens gives the same angle across the picture's diagonal as across a
    36 x 24 mm frame's: a 43.3 mm lens on a 1920 x 1080 picture is 2,203 px (its diagonal), and
    the Pose2Sim phones' calibrated 1,678 px is a 32.9 mm equivalent."""
    assert focal_from_35mm(43.2666, 1920, 1080) == pytest.approx(2202.9, rel=1e-4)
    assert focal_from_35mm(32.9, 1088, 1920) == pytest.approx(1678.0, rel=0.01)
