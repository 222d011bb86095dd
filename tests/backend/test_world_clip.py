"""Synthetic world-space clips (``genhmr.synthetic.world_clip``): the truth they give the
benchmark is what it says it is (real registry motion, the real lab frame, the fitted noise
model; nothing mocked)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from genhmr.camera import intrinsics
from genhmr.camera_motion import estimate_camera_motion
from genhmr.focal_from_turns import refocused
from genhmr.pipeline import load_body
from genhmr.synthetic.conditioning import BatchedKeypointBody
from genhmr.synthetic.world_clip import (
    ClipSpec,
    SceneCamera,
    leg_scale,
    load_motion,
    make_clip,
    write_video,
)
from genhmr.video import probe, read_frames
from scipy.spatial.transform import Rotation

from benchmarks.world_metrics import on_floor, sliding_mm_per_frame, true_contacts
from genhmr_core.ground import FOOT_POINTS

LAB = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"


@pytest.fixture(scope="module")
def keypoint_body() -> BatchedKeypointBody:
    return BatchedKeypointBody(load_body(""))


@pytest.fixture(scope="module")
def lab(media_dir) -> SceneCamera:
    """The lab's first frame (shrunk to half size for speed) with a camera 1.9 m over the
    floor, pitched 25 degrees down (Pose2Sim cam01's height and pitch)."""
    path = media_dir / LAB
    if not path.is_file():
        pytest.fail(f"{path} missing: run `bash tools/setup.sh`")
    image = next(iter(read_frames(path, 0, 1)))[1][::2, ::2].copy()
    K = np.array([[840.0, 0.0, 272.0], [0.0, 840.0, 480.0], [0.0, 0.0, 1.0]])
    # looking along +y, then pitched down: world-to-camera (OpenCV axes, world Z up)
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    R = Rotation.from_euler("x", 25.0, degrees=True).as_matrix() @ level
    return SceneCamera(image=image, K=K, R=R, t=-R @ np.array([0.0, 0.0, 1.9]))


def _walk(motion_dir, keypoint_body, lab, **changes) -> object:
    spec = dataclasses.replace(ClipSpec("walk", "deepmimic/walk", "fixed", loops=2,
                                        heading_deg=110, distance_m=4.0), **changes)
    return make_clip(spec, load_motion(motion_dir, "deepmimic/walk"), lab, keypoint_body)


def test_the_truth_stands_on_the_floor_and_is_what_the_detector_saw(motion_dir, keypoint_body,
                                                                    lab) -> None:
    clip = _walk(motion_dir, keypoint_body, lab)
    assert clip.num_frames == 76 and 1.55 <= clip.body_height_m <= 1.90
    feet = clip.keypoints[:, list(FOOT_POINTS), 2]
    assert abs(feet.min()) < 1e-9 and (feet.min(axis=1) < 0.05).all()  # walking: a foot down
    # the floor as the product's ground_plane holds it: heights above it are the world's z
    normal, offset = clip.floor_in_first_camera()
    heights = on_floor(clip.to_first_camera(clip.keypoints), normal, offset)[..., 1]
    np.testing.assert_allclose(heights, clip.keypoints[..., 2], atol=1e-9)
    assert abs(-offset - 1.9) < 1e-9
    # the detector's keypoints are the body's, projected, plus the noise model's jitter
    cam = np.einsum("fij,fnj->fni", clip.camera_R, clip.keypoints) + clip.camera_t[:, None]
    pixels = cam[..., :2] / cam[..., 2:] * 840.0 + [272.0, 480.0]
    seen = clip.keypoints2d[..., 2] > 0.5
    error = np.linalg.norm(clip.keypoints2d[..., :2] - pixels, axis=-1)[seen]
    height_px = np.median(clip.boxes[:, 3] - clip.boxes[:, 1])
    assert np.median(error) < 0.04 * height_px
    assert clip.detected.mean() > 0.9
    inside = ((pixels >= clip.boxes[:, None, :2]) & (pixels <= clip.boxes[:, None, 2:]))
    assert inside.all()


def test_a_tall_body_takes_longer_strides_so_its_planted_feet_stay_planted(
        motion_dir, keypoint_body, lab) -> None:
    """Registry root paths fit the average body's legs: a body whose legs are longer would
    slide its planted feet unless the path is scaled with them (``leg_scale``)."""
    clip = _walk(motion_dir, keypoint_body, lab)
    scale = leg_scale(keypoint_body, clip.betas)
    assert abs(leg_scale(keypoint_body, np.zeros_like(clip.betas)) - 1.0) < 1e-12
    normal, offset = clip.floor_in_first_camera()
    feet = on_floor(clip.to_first_camera(clip.keypoints), normal, offset)[:, list(FOOT_POINTS)]
    planted = true_contacts(feet, clip.fps)
    # each foot rests in a good part of the walk, and barely moves while it does
    assert planted[:, :2].any(axis=1).mean() > 0.2 and planted[:, 2:].any(axis=1).mean() > 0.2
    assert sliding_mm_per_frame(feet, planted.astype(float)) < 2.0
    assert abs(scale - 1.0) > 0.01  # the test means something: this shape's legs differ


def test_a_following_camera_pans_about_the_vertical_and_keeps_the_person_in_view(
        motion_dir, keypoint_body, lab) -> None:
    clip = _walk(motion_dir, keypoint_body, lab, camera="follow", heading_deg=30,
                 distance_m=3.8, across_m=1.1, seed=1)
    np.testing.assert_allclose(clip.turn[0], np.eye(3), atol=1e-12)
    angles = np.degrees(Rotation.from_matrix(clip.turn).magnitude())
    assert 15.0 < angles.max() < 40.0
    # a tripod pan about the world's vertical keeps the camera's pitch; 3 degrees of tilt
    # drift in over the clip
    pitch = np.degrees(np.arcsin(clip.camera_R[:, 2, 2]))  # optical axis against the floor
    assert abs(pitch[0] + 25.0) < 1e-6 and np.abs(pitch - pitch[0]).max() < 3.2
    # the pelvis stays near where it started in the picture (the camera follows it)
    pelvis = np.einsum("fij,fj->fi", clip.camera_R, clip.joints[:, 0]) + clip.camera_t
    pixels = pelvis[:, :2] / pelvis[:, 2:] * 840.0
    assert np.abs(pixels[:, 0] - pixels[0, 0]).max() < 0.3 * clip.image_size[0]


def test_the_footage_is_the_lab_turned_with_a_stand_in(motion_dir, keypoint_body, lab,
                                                       tmp_path) -> None:
    clip = _walk(motion_dir, keypoint_body, lab)
    frames = list(clip.frames(lab.image))
    assert len(frames) == clip.num_frames
    # a fixed camera: away from the person's box each frame is the lab's picture plus noise
    x0, y0, x1, y1 = clip.boxes[10].astype(int)
    diff = np.abs(frames[10].astype(int) - lab.image.astype(int))
    outside = np.ones(diff.shape[:2], bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert diff[outside].max() <= 3
    assert diff[~outside].mean() > 20  # the stand-in hides the lab behind the person
    video = write_video(iter(frames), tmp_path / "clip.avi", clip.fps)
    info = probe(video)
    assert (info.width, info.height) == clip.image_size and info.fps == pytest.approx(30.0)
    assert sum(1 for _ in read_frames(video)) == clip.num_frames


def test_a_body_that_leaves_the_picture_is_refused(motion_dir, keypoint_body, lab) -> None:
    with pytest.raises(ValueError, match="leaves the picture"):
        _walk(motion_dir, keypoint_body, lab, heading_deg=0.0, distance_m=2.5)


def test_a_zooming_lens_is_read_from_the_footage_frame_by_frame(motion_dir, keypoint_body,
                                                                 lab) -> None:
    """A followed walk filmed through a lens zooming in to 1.2x (more would push the head out
    of this camera's half-size picture) while it pans 29 degrees: the detector saw the body
    through each frame's focal length, and the product's camera stage, from the footage alone,
    tells every frame's focal length within 3 % and the turns within 1 degree (measured 0.3 %
    and 0.06 degrees), from the true lens or from the product's own guess (60 degrees across
    the longer side, here 1.0 % short: the turns then tell the first frame's focal length)."""
    clip = _walk(motion_dir, keypoint_body, lab, camera="follow", heading_deg=30,
                 distance_m=3.2, across_m=1.0, seed=1, zoom=1.2)
    zoom = clip.zooms()
    assert zoom[0] == 1.0 and zoom[-1] == pytest.approx(1.2) and (np.diff(zoom) >= 0).all()
    cam = np.einsum("fij,fnj->fni", clip.camera_R, clip.keypoints) + clip.camera_t[:, None]
    pixels = cam[..., :2] / cam[..., 2:] * 840.0 * zoom[:, None, None] + [272.0, 480.0]
    seen = clip.keypoints2d[..., 2] > 0.5
    height_px = np.median(clip.boxes[:, 3] - clip.boxes[:, 1])
    assert np.median(np.linalg.norm(clip.keypoints2d[..., :2] - pixels, axis=-1)[seen]) \
        < 0.04 * height_px
    frames = list(clip.frames(lab.image))
    boxes = [box[None] if seen_ else np.zeros((0, 4))
             for box, seen_ in zip(clip.boxes, clip.detected, strict=True)]
    guess = intrinsics(*clip.image_size)
    for K in (clip.K, guess):
        motion, K_found, _ = refocused(estimate_camera_motion(frames, K, boxes), K)
        assert motion.zoomed
        focal = motion.focal_px(K_found) / (840.0 * zoom)
        assert np.abs(focal - 1.0).max() < 0.03, (K[0, 0], focal)
        turn = np.degrees(Rotation.from_matrix(
            motion.rotations @ np.swapaxes(clip.turn, 1, 2)).magnitude())
        assert turn.max() < 1.0, (K[0, 0], turn.max())
