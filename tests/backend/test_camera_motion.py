"""How the camera turned, from the background (``genhmr.camera_motion``).

Known answers first: a real frame turned by known rotations (a pure rotation of the camera
maps the image by the homography ``K R K^-1``, whatever the depth of each point), with a
"person" crossing it; then real static footage, which must come out exactly static.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genhmr.camera import intrinsics
from genhmr.camera_motion import (
    CameraMotionConfig,
    background_mask,
    estimate_camera_motion,
    fit_rotation,
    rays,
    shrunk,
    static_camera,
    work_shrink,
)
from genhmr.synthetic.turned_camera import turned_frames
from scipy.spatial.transform import Rotation

POSE2SIM_CAM01 = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F,) angle between rotation matrices, degrees."""
    return np.degrees(Rotation.from_matrix(a @ np.swapaxes(b, -1, -2)).magnitude())


@pytest.fixture(scope="module")
def lab_frames(media_dir: Path, video_iter) -> list[np.ndarray]:
    path = media_dir / POSE2SIM_CAM01
    if not path.is_file():
        pytest.fail(f"{path} is missing; run `bash tools/setup.sh`", pytrace=False)
    return [frame for _, frame in video_iter(path, 0, 100)]


# -- pure maths ---------------------------------------------------------------------------------
def test_rotation_from_rays_ignores_points_that_move_on_their_own():
    K = intrinsics(1280, 720, 1000.0)
    rng = np.random.default_rng(1)
    before = rng.uniform([0, 0], [1280, 720], (200, 2))
    turn = Rotation.from_euler("yxz", [4.0, -2.0, 1.0], degrees=True).as_matrix()
    moved = rays(before, K) @ turn.T
    after = (moved @ K.T)[:, :2] / (moved @ K.T)[:, 2:]
    after[:60] += rng.uniform(-40, 40, (60, 2))  # 30 % outliers: people walking
    rotation, inliers = fit_rotation(before, after, K, 1.0, 200, rng)
    assert _angle_deg(rotation, turn) < 1e-6
    assert inliers[60:].all() and inliers[:60].sum() < 5


def test_background_mask_blanks_padded_boxes():
    mask = background_mask((100, 200), np.array([[50.0, 20.0, 70.0, 60.0]]), pad=0.1)
    # box x 50-70, y 20-60; padded by 10 % of its size: x 48-72, y 16-64
    assert mask[40, 60] == 0 and mask[17, 60] == 0 and mask[40, 49] == 0
    assert mask[10, 60] == 255 and mask[40, 47] == 255 and mask[40, 80] == 255
    assert background_mask((10, 10), np.zeros((0, 4)), pad=0.1).min() == 255


def test_static_camera_is_identities():
    motion = static_camera(4)
    assert motion.rotations.shape == (4, 3, 3) and np.allclose(motion.rotations, np.eye(3))
    assert motion.angles_deg().max() == 0.0


# -- known rotations of a real image ------------------------------------------------------------
def test_recovers_a_known_pan_tilt_and_roll(lab_frames: list[np.ndarray]):
    """A 12-degree pan with tilt and roll over 40 frames, a stand-in person crossing: within
    0.05 degrees everywhere (measured 0.003), no drift at the end."""
    image = lab_frames[0]
    K = intrinsics(image.shape[1], image.shape[0], 1400.0)
    t = np.linspace(0.0, 1.0, 40)[:, None]
    truth = Rotation.from_euler("yxz", np.hstack([12 * t, -4 * t, 2 * np.sin(3 * t)]),
                                degrees=True).as_matrix()
    frames, boxes = turned_frames(image, K, truth, walker=True)
    motion = estimate_camera_motion(frames, K, boxes)
    assert motion.num_frames == 40 and not motion.is_still()
    assert _angle_deg(motion.rotations, truth).max() < 0.05
    assert not motion.static[1:].any()
    np.testing.assert_allclose(motion.rotations[0], np.eye(3))


def test_a_pan_past_the_first_view_takes_new_key_frames(lab_frames: list[np.ndarray]):
    """A 40-degree pan: the first key frame's points leave the picture, new key frames are
    chained on, and the error stays small (under 0.3 degrees at the end; measured 0.02)."""
    image = lab_frames[0]
    K = intrinsics(image.shape[1], image.shape[0], 1400.0)
    truth = Rotation.from_euler("y", np.linspace(0.0, 40.0, 60)[:, None],
                                degrees=True).as_matrix()
    frames, _ = turned_frames(image, K, truth)
    motion = estimate_camera_motion(frames, K)
    assert len(motion.key_frames) >= 2
    assert _angle_deg(motion.rotations, truth).max() < 0.3


def test_a_still_camera_with_a_person_crossing_stays_exactly_still(lab_frames):
    image = lab_frames[0]
    K = intrinsics(image.shape[1], image.shape[0], 1400.0)
    frames, boxes = turned_frames(image, K, np.tile(np.eye(3), (30, 1, 1)), walker=True)
    for people in (boxes, None):  # masked out, or left for RANSAC to reject
        motion = estimate_camera_motion(frames, K, people)
        assert motion.static.all()
        assert np.array_equal(motion.rotations, np.tile(np.eye(3), (30, 1, 1)))


# -- real footage -------------------------------------------------------------------------------
@pytest.mark.slow
def test_tripod_footage_has_no_drift(lab_frames: list[np.ndarray]):
    """Pose2Sim Demo_MultiPerson cam01: a fixed lab camera, three people moving through 100
    frames: exactly no rotation (target: under 0.1 degree of drift)."""
    image = lab_frames[0]
    motion = estimate_camera_motion(lab_frames, intrinsics(image.shape[1], image.shape[0]))
    assert motion.angles_deg().max() < 0.1 and motion.is_still()
    assert motion.static.mean() > 0.95


def test_cancel_is_honoured(lab_frames: list[np.ndarray]):
    image = lab_frames[0]
    with pytest.raises(InterruptedError):
        estimate_camera_motion(lab_frames[:5], intrinsics(image.shape[1], image.shape[0]),
                               should_stop=lambda: True)


def test_no_frames_is_an_error():
    with pytest.raises(ValueError, match="no frames"):
        estimate_camera_motion([], np.eye(3), config=CameraMotionConfig())


def test_frames_are_shrunk_by_whole_factors_to_the_work_side() -> None:
    """HD stays at full resolution, 4K is halved, and a shrunk frame is the block means of the
    frame (a remainder row or column left out), so the work pixels are an exact grid."""
    assert work_shrink((1080, 1920), 1920) == 1
    assert work_shrink((1920, 1088), 1920) == 1
    assert work_shrink((2160, 3840), 1920) == 2
    assert work_shrink((1080, 1921), 1920) == 2
    assert work_shrink((576, 768), 1920) == 1
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    small = shrunk(gray, 2)
    assert small.shape == (3, 4)
    blocks = gray[:6, :8].astype(np.float64).reshape(3, 2, 4, 2).mean(axis=(1, 3))
    assert np.abs(small - blocks).max() <= 0.5  # OpenCV rounds the means
