"""The focal length from a turning camera's background (``genhmr.focal_from_turns``).

Known answers: a real frame turned by known rotations under a known focal length (a pure turn
maps the image by ``K R K^-1``, whatever each point's depth), tracked with a focal length 30 %
short or 40 % long, as the default guess is for many phones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genhmr.camera import intrinsics
from genhmr.camera_motion import estimate_camera_motion, refit
from genhmr.focal_from_turns import estimate_focal, residual_px
from genhmr.synthetic.turned_camera import turned_frames
from scipy.spatial.transform import Rotation

POSE2SIM_CAM01 = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"
TRUE_FOCAL = 1400.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(Rotation.from_matrix(a @ np.swapaxes(b, -1, -2)).magnitude())


@pytest.fixture(scope="module")
def lab_image(media_dir: Path, video_iter) -> np.ndarray:
    path = media_dir / POSE2SIM_CAM01
    if not path.is_file():
        pytest.fail(f"{path} is missing; run `bash tools/setup.sh`", pytrace=False)
    return next(iter(video_iter(path, 0, 1)))[1]


def _pan(frames: int = 40) -> np.ndarray:
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return Rotation.from_euler("yxz", np.hstack([12 * t, -4 * t, 2 * np.sin(3 * t)]),
                               degrees=True).as_matrix()


@pytest.mark.parametrize("start", [0.7, 1.4])
def test_a_pan_tells_the_focal_length_and_the_turns_are_read_again_with_it(
        lab_image: np.ndarray, start: float) -> None:
    """Tracked with the wrong focal length the turns are degrees off (the edges of the picture
    sweep by more or less than its centre); the matches' residual is smallest at the true
    focal length (within 3 %), and the turns read again with it are within 0.35 degrees of the
    truth (the turn read with a focal length off by e is off by about e times the turn: 2 % of
    12.7 degrees is 0.25)."""
    height, width = lab_image.shape[:2]
    K_true = intrinsics(width, height, TRUE_FOCAL)
    truth = _pan()
    frames, boxes = turned_frames(lab_image, K_true, truth, walker=True)
    K_start = intrinsics(width, height, TRUE_FOCAL * start)
    motion = estimate_camera_motion(frames, K_start, boxes)
    assert _angle_deg(motion.rotations, truth).max() > 2.0  # the wrong lens reads wrong turns
    found = estimate_focal(motion.matches, K_start)
    assert found is not None and found.believed, found
    assert found.focal_px == pytest.approx(TRUE_FOCAL, rel=0.03), found
    centre = K_true[:2, 2]
    assert found.residual_px < residual_px(motion.matches, TRUE_FOCAL * start, centre)
    again = refit(motion, intrinsics(width, height, found.focal_px))
    assert _angle_deg(again.rotations, truth).max() < 0.35
    np.testing.assert_array_equal(again.rotations[0], np.eye(3))


def test_refit_with_the_same_lens_gives_the_same_turns(lab_image: np.ndarray) -> None:
    """Fitting again on the kept matches reproduces the pass's own rotations, key frames and
    frames that did not move included (a 40-degree pan takes new key frames)."""
    height, width = lab_image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    truth = Rotation.from_euler("y", np.linspace(0.0, 40.0, 50)[:, None],
                                degrees=True).as_matrix()
    truth[5:9] = truth[4]  # a pause: frames that did not move from their key frame
    frames, _ = turned_frames(lab_image, K, truth)
    motion = estimate_camera_motion(frames, K)
    assert len(motion.key_frames) >= 2 and motion.static.any()
    assert _angle_deg(refit(motion, K).rotations, motion.rotations).max() < 0.01


def test_a_still_camera_or_a_small_wobble_says_nothing(lab_image: np.ndarray) -> None:
    """No turned frames (a tripod), or turns under 2 degrees: no estimate, and the job keeps its
    focal length."""
    height, width = lab_image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    still = np.tile(np.eye(3), (20, 1, 1))
    frames, _ = turned_frames(lab_image, K, still)
    assert estimate_focal(estimate_camera_motion(frames, K).matches, K) is None
    wobble = Rotation.from_euler("y", 0.8 * np.sin(np.linspace(0, 6, 30))[:, None],
                                 degrees=True).as_matrix()
    frames, _ = turned_frames(lab_image, K, wobble)
    assert estimate_focal(estimate_camera_motion(frames, K).matches, K) is None
