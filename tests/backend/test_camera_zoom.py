"""A lens that zooms during the clip (``genhmr.camera_motion``, ``genhmr.focal_from_turns``).

Known answers: a real frame seen by a camera turned by known rotations through a lens whose
focal length changes by a known amount (a turn through a zoom maps the image by
``K_z R K^-1``, whatever each point's depth), with a stand-in person crossing it; a fixed lens
must keep exactly one focal length, even when it is tracked with a wrong one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genhmr.camera import intrinsics
from genhmr.camera_motion import (
    MAX_LOG_FOCAL_STEP,
    CameraMotionConfig,
    estimate_camera_motion,
    fit_rotation_zoom,
    rays,
    refine_zoom,
    refit,
    zoom_candidates,
    zoomed,
)
from genhmr.focal_from_turns import refocused
from genhmr.synthetic.turned_camera import turned_frames
from scipy.spatial.transform import Rotation

POSE2SIM_CAM01 = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"
TRUE_FOCAL = 1400.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(Rotation.from_matrix(a @ np.swapaxes(b, -1, -2)).magnitude())


def _pan(frames: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return Rotation.from_euler("yxz", np.hstack([12 * t, -4 * t, 2 * np.sin(3 * t)]),
                               degrees=True).as_matrix()


def _seen(points: np.ndarray, rotation: np.ndarray, K: np.ndarray, zoom: float) -> np.ndarray:
    """Pixels (N, 2) of ``points`` (N, 2, seen with ``K``) after the camera turns by
    ``rotation`` and its lens zooms by ``zoom``."""
    moved = rays(points, K) @ rotation.T @ zoomed(K, zoom).T
    return moved[:, :2] / moved[:, 2:]


@pytest.fixture(scope="module")
def lab_image(media_dir: Path, video_iter) -> np.ndarray:
    path = media_dir / POSE2SIM_CAM01
    if not path.is_file():
        pytest.fail(f"{path} is missing; run `bash tools/setup.sh`", pytrace=False)
    return next(iter(video_iter(path, 0, 1)))[1]


# -- pure maths ---------------------------------------------------------------------------------
def test_two_points_tell_the_focal_length_of_a_turned_zoomed_frame():
    """The angle between two rays survives a turn, not a zoom: the quadratic's root is the
    zoomed frame's focal length exactly."""
    K = intrinsics(1920, 1080, 1500.0)
    rng = np.random.default_rng(0)
    before = rng.uniform([0, 0], [1920, 1080], (40, 2))
    turn = Rotation.from_euler("yxz", [5.0, 2.0, -1.0], degrees=True).as_matrix()
    after = _seen(before, turn, K, 1.23)
    a = rays(before, K)
    centred = after - K[:2, 2]
    found = zoom_candidates(a[:20], a[20:], centred[:20], centred[20:])
    near = np.nanmin(np.abs(found - 1.23 * 1500.0), axis=1)
    assert np.median(near) < 1e-6 * 1500.0


def test_turn_and_zoom_from_matches_ignore_points_that_move_on_their_own():
    K = intrinsics(1280, 720, 1000.0)
    rng = np.random.default_rng(1)
    before = rng.uniform([0, 0], [1280, 720], (200, 2))
    turn = Rotation.from_euler("yxz", [4.0, -2.0, 1.0], degrees=True).as_matrix()
    for zoom in (0.8, 1.0, 1.1):
        after = _seen(before, turn, K, zoom)
        after[:60] += rng.uniform(-40, 40, (60, 2))  # 30 % outliers: people walking
        rotation, found, inliers = fit_rotation_zoom(before, after, K, 1.0, 200, rng)
        assert abs(found - zoom) < 1e-6 and _angle_deg(rotation, turn) < 1e-5
        assert inliers[60:].all() and inliers[:60].sum() < 5


def test_refining_the_zoom_converges_from_a_few_per_cent_off():
    K = intrinsics(1280, 720, 1000.0)
    rng = np.random.default_rng(2)
    before = rng.uniform([0, 0], [1280, 720], (150, 2))
    turn = Rotation.from_euler("yx", [8.0, 3.0], degrees=True).as_matrix()
    after = _seen(before, turn, K, 1.07) + rng.normal(0.0, 0.3, (150, 2))
    rotation, focal = refine_zoom(rays(before, K), after, 1000.0, K[:2, 2])
    assert focal == pytest.approx(1070.0, rel=2e-4) and _angle_deg(rotation, turn) < 0.01


def test_refining_the_zoom_takes_bounded_steps_from_far_off():
    """Read from a focal length twice the zoomed frame's (as the search for a fixed lens tries,
    0.33-3x), one Gauss-Newton step moves the focal length by at most x/÷ 1.22
    (MAX_LOG_FOCAL_STEP): undamped steps could overshoot until it overflowed. Given the steps,
    it still arrives."""
    K = intrinsics(1280, 720, 1000.0)
    rng = np.random.default_rng(3)
    before = rng.uniform([0, 0], [1280, 720], (150, 2))
    turn = Rotation.from_euler("yx", [8.0, 3.0], degrees=True).as_matrix()
    after = _seen(before, turn, K, 1.07) + rng.normal(0.0, 0.3, (150, 2))
    _, one_step = refine_zoom(rays(before, K), after, 2140.0, K[:2, 2], iterations=1)
    assert 2140.0 / np.exp(MAX_LOG_FOCAL_STEP) - 1e-6 <= one_step < 2140.0
    rotation, focal = refine_zoom(rays(before, K), after, 2140.0, K[:2, 2], iterations=30)
    assert focal == pytest.approx(1070.0, rel=2e-4) and _angle_deg(rotation, turn) < 0.01


# -- known turns and zooms of a real image ------------------------------------------------------
def test_a_zoom_while_panning_is_read_frame_by_frame(lab_image: np.ndarray) -> None:
    """A 12-degree pan with tilt and roll through a lens zooming 1.0 -> 1.5x over 40 frames, a
    stand-in person crossing: every frame's focal length within 0.3 % (measured 0.02 %), the
    turns within 0.05 degrees (measured 0.01)."""
    height, width = lab_image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    truth, zoom = _pan(40), np.linspace(1.0, 1.5, 40)
    frames, boxes = turned_frames(lab_image, K, truth, walker=True, zooms=zoom)
    motion = estimate_camera_motion(frames, K, boxes)
    assert motion.zoomed and motion.zooms()[0] == 1.0
    np.testing.assert_allclose(motion.focal_px(K), TRUE_FOCAL * zoom, rtol=3e-3)
    assert _angle_deg(motion.rotations, truth).max() < 0.05
    # the same points read again with the same lens: the same zoom and turns
    again = refit(motion, K)
    assert again.zoomed and np.abs(again.zooms() / motion.zooms() - 1).max() < 1e-4
    assert _angle_deg(again.rotations, motion.rotations).max() < 0.01


def test_a_zoom_on_a_tripod_zooms_without_turning(lab_image: np.ndarray) -> None:
    height, width = lab_image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    zoom = np.concatenate([np.ones(5), np.linspace(1.0, 1.2, 20)])
    frames, boxes = turned_frames(lab_image, K, np.tile(np.eye(3), (25, 1, 1)), walker=True,
                                  zooms=zoom)
    motion = estimate_camera_motion(frames, K, boxes)
    assert motion.is_still() and motion.zoomed
    assert motion.static[:5].all() and (motion.zooms()[:5] == 1.0).all()
    np.testing.assert_allclose(motion.zooms(), zoom, rtol=2e-3)


def test_a_fixed_lens_keeps_one_focal_length_even_tracked_with_a_wrong_one(
        lab_image: np.ndarray) -> None:
    """Read with a focal length 30 % short, the turn-and-zoom fit takes part of the pan for a
    zoom (over 0.5 %); a fixed lens of another focal length explains it, so the clip keeps one
    focal length, and its turns are exactly the turn-only reading's (the product before zoom
    was read)."""
    height, width = lab_image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    truth = _pan(40)
    frames, boxes = turned_frames(lab_image, K, truth, walker=True)
    short = intrinsics(width, height, 0.7 * TRUE_FOCAL)
    motion = estimate_camera_motion(frames, short, boxes)
    spread = np.abs(np.log(motion.zoom_lens.zooms()))
    assert np.sort(spread)[-3] > np.log(1.005)  # the zoom fit alone would say "zoom"
    assert not motion.zoomed and np.array_equal(motion.zooms(), np.ones(40))
    turn_only = estimate_camera_motion(frames, short, boxes, CameraMotionConfig(zoom=False))
    np.testing.assert_array_equal(motion.rotations, turn_only.rotations)
    # the turns then tell the focal length, as without zoom, and the lens stays fixed
    again, K_found, found = refocused(motion, short)
    assert found is not None and found.believed and not again.zoomed
    assert K_found[0, 0] == pytest.approx(TRUE_FOCAL, rel=0.03)
    # with the true lens nothing was ever read as a zoom
    exact = estimate_camera_motion(frames, K, boxes)
    assert np.abs(np.log(exact.zoom_lens.zooms())).max() < np.log(1.002)


@pytest.mark.slow
@pytest.mark.parametrize(("orientation", "tolerance", "max_turn_error_deg"),
                         [("portrait", 0.03, 1.0), ("landscape", 0.05, 1.5)])
def test_a_wide_pan_tells_the_focal_length_of_a_zoom_lens(lab_image: np.ndarray,
                                                          orientation: str, tolerance: float,
                                                          max_turn_error_deg: float) -> None:
    """A 40-degree pan through a lens zooming 1.0 -> 1.5x, tracked from a focal length 40 %
    long: the turns, each frame's zoom set free, tell the first frame's focal length (measured
    +1.5 % on the portrait Pose2Sim frame, +3.4 % on it turned landscape), and every frame's
    focal length and turn follow (the turns within 1 degree; landscape 1.3). HD frames are
    tracked at full resolution for this (``camera_motion.work_shrink``): at 960 px along the
    longer side the portrait's focal is 5.8 % off and the landscape's is not found."""
    image = lab_image if orientation == "portrait" else np.ascontiguousarray(
        lab_image.transpose(1, 0, 2))
    height, width = image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL)
    truth = Rotation.from_euler("y", np.linspace(0.0, 40.0, 60)[:, None],
                                degrees=True).as_matrix()
    zoom = np.linspace(1.0, 1.5, 60)
    frames, boxes = turned_frames(image, K, truth, walker=True, zooms=zoom)
    long = intrinsics(width, height, 1.4 * TRUE_FOCAL)
    motion, K_found, found = refocused(estimate_camera_motion(frames, long, boxes), long)
    assert found is not None and found.believed and motion.zoomed
    assert K_found[0, 0] == pytest.approx(TRUE_FOCAL, rel=tolerance)
    np.testing.assert_allclose(motion.focal_px(K_found), TRUE_FOCAL * zoom, rtol=tolerance)
    assert _angle_deg(motion.rotations, truth).max() < max_turn_error_deg


# -- the job ------------------------------------------------------------------------------------
def _job_camera(video: Path, boxes: list[np.ndarray], focal_px: float | None
                ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """The job's camera stage (``pipeline._camera_rotation``) on a video, one tracked person
    per frame at ``boxes``, the lens given (``focal_px``) or not."""
    from genhmr import pipeline
    from genhmr.perception import Tracks
    from genhmr.video import probe

    info = probe(video)
    frames = len(boxes)
    tracks = Tracks(frame_indices=np.arange(frames), valid=np.ones((1, frames), bool),
                    keypoints2d=np.zeros((1, frames, 25, 3)),
                    world_keypoints=np.zeros((1, frames, 25, 3)),
                    boxes=np.stack([b[0] for b in boxes])[None],
                    landmarks2d=np.zeros((1, frames, 33, 3)),
                    world_landmarks=np.zeros((1, frames, 33, 3)))
    options = pipeline.JobOptions(video=str(video), out_dir=str(video.parent))
    K = intrinsics(info.width, info.height, focal_px)
    return pipeline._camera_rotation(options, info, tracks, K, pipeline._Clock(),
                                     lambda progress: None, lambda: False,
                                     focal_known=focal_px is not None)


def test_a_job_writes_each_frames_focal_length_only_when_the_lens_zoomed(
        lab_image: np.ndarray, tmp_path: Path) -> None:
    """From the video file (Motion-JPEG, as a job reads it): a pan through a zoom gives the
    rotations and every frame's focal length (within 0.5 %); the same pan through a fixed lens
    gives none (the result keeps one focal length), nor does a tripod with a fixed lens."""
    from genhmr.synthetic.world_clip import write_video

    image = lab_image[::2, ::2].copy()  # half size: quicker, and a job's picture all the same
    height, width = image.shape[:2]
    K = intrinsics(width, height, TRUE_FOCAL / 2)
    truth, zoom = _pan(30), np.linspace(1.0, 1.3, 30)
    for name, zooms, turns in (("zoom", zoom, truth), ("fixed", None, truth),
                               ("tripod", None, np.tile(np.eye(3), (30, 1, 1)))):
        frames, boxes = turned_frames(image, K, turns, walker=True, zooms=zooms)
        video = write_video(iter(frames), tmp_path / name / "clip.avi", 30.0)
        rotations, K_job, focal_px = _job_camera(video, boxes, TRUE_FOCAL / 2)
        np.testing.assert_array_equal(K_job, K)
        if name == "tripod":
            assert rotations is None and focal_px is None
            continue
        assert rotations.shape == (30, 3, 3) and _angle_deg(rotations, turns).max() < 0.1
        if name == "fixed":
            assert focal_px is None
        else:
            assert focal_px.shape == (30,) and focal_px.dtype == np.float32
            np.testing.assert_allclose(focal_px, K[0, 0] * zoom, rtol=5e-3)
