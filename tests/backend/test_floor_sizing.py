"""A person resized about the camera (``genhmr.floor_sizing``) on the real default body: the
stature changes by the scale, the pelvis stays on its viewing ray, the picture barely moves, and
the result stays its own forward kinematics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.floor_sizing import resize_person, resize_stage1, scaled_betas, stature
from genhmr.repose import pose_again

from genhmr_core.rotations import axis_angle_to_matrix

FRAMES = 12
TRUTH = Path(__file__).resolve().parents[2] / "benchmarks" / "truth"


@pytest.fixture(scope="module")
def body():
    return load_default_body()


def _person(body, betas: np.ndarray) -> SimpleNamespace:
    rng = np.random.default_rng(3)
    skeleton = body.skeleton(betas)
    orient = np.tile([np.pi, 0.0, 0.0], (FRAMES, 1)) + rng.normal(0, 0.1, (FRAMES, 3))
    pose = rng.normal(0, 0.15, (FRAMES, 21, 3))
    transl = np.column_stack([np.linspace(-0.5, 0.5, FRAMES), np.full(FRAMES, 0.3),
                              np.full(FRAMES, 4.0)])
    result = SimpleNamespace(
        betas=betas[None].astype(np.float32),
        rest_joints=skeleton.rest_joints.numpy()[None].astype(np.float32),
        global_orient=orient[None].astype(np.float32), body_pose=pose[None].astype(np.float32),
        transl=transl[None].astype(np.float32),
        joints3d=np.zeros((1, FRAMES, 55, 3), np.float32),
        keypoints3d=np.zeros((1, FRAMES, 25, 3), np.float32))
    pose_again(result, 0, slice(None), skeleton)
    return result


def _pixels(points: np.ndarray) -> np.ndarray:
    return 1500.0 * points[..., :2] / points[..., 2:]


@pytest.mark.parametrize("scale", [0.88, 1.12])
def test_a_resized_person_keeps_their_picture_and_their_ray(body, scale: float) -> None:
    betas = np.array([0.3, -0.2, 0.1, 0.0, 0.0])
    person = _person(body, betas)
    before = SimpleNamespace(**{k: v.copy() for k, v in vars(person).items()})
    reached, new_betas = resize_person(person, 0, body, scale)
    assert reached == pytest.approx(scale, rel=0.01)
    assert stature(body, new_betas) / stature(body, betas) == pytest.approx(reached, rel=1e-4)
    # only the height coefficient moved
    assert np.flatnonzero(np.abs(new_betas - betas) > 1e-6).tolist() == [1]
    pelvis_before = before.joints3d[0, :, 0].astype(np.float64)
    pelvis_after = person.joints3d[0, :, 0].astype(np.float64)
    assert np.allclose(pelvis_after, reached * pelvis_before, atol=1e-4)
    # the picture: the height coefficient is not exactly a uniform scale, so points move a
    # little (a few pixels at 1500 px focal and 4 m), nothing like the body's size change
    moved = np.linalg.norm(_pixels(person.keypoints3d[0]) - _pixels(before.keypoints3d[0]),
                           axis=-1)
    height_px = np.ptp(_pixels(before.keypoints3d[0])[..., 1], axis=-1).mean()
    assert np.median(moved) < 0.01 * height_px
    # its own forward kinematics
    skeleton = body.skeleton(new_betas)
    local = np.concatenate([person.global_orient[0, :, None], person.body_pose[0]], axis=1)
    with torch.no_grad():
        joints, _, _ = skeleton(torch.as_tensor(axis_angle_to_matrix(local), dtype=torch.float32),
                                torch.as_tensor(person.transl[0]))
    assert np.abs(joints.numpy() - person.joints3d[0]).max() < 1e-5
    assert np.allclose(person.rest_joints[0], skeleton.rest_joints.numpy(), atol=1e-6)


def test_stage1_moves_with_the_body(body) -> None:
    betas = np.zeros(5)
    person = _person(body, betas)
    stage1 = SimpleNamespace(betas=betas.astype(np.float32), transl=person.transl[0].copy())
    reached, new_betas = resize_person(person, 0, body, 0.9)
    resize_stage1(stage1, body, new_betas, reached)
    assert np.allclose(stage1.transl, person.transl[0], atol=1e-5)
    assert np.allclose(stage1.betas, new_betas, atol=1e-6)


def test_the_shape_limits_bound_the_size(body) -> None:
    high = float(body.shape_limits[1][1])
    tall, reached = scaled_betas(body, np.array([0.0, high - 0.05, 0, 0, 0]), 1.3)
    assert tall[1] == pytest.approx(high)
    assert 1.0 < reached < 1.05


@pytest.mark.slow
def test_people_in_the_lab_stand_on_one_floor_at_their_sizes(media_dir, tmp_path) -> None:
    """Pose2Sim Demo_MultiPerson cam01, frames 0-44: the man, the woman and the bystander.
    The detector's landmarks draw everybody at about one adult size; without the floor the man
    (legs 1.26 times the woman's in the triangulated truth) stood on a 0.45 m "platform" next
    to her. Sized by the shared floor, all three stand on it, he is the bigger, and the camera
    is about as high as its calibration says (1.90 m)."""
    from genhmr.pipeline import JobOptions, run_job
    from genhmr.tracking_metrics import load_truth

    from genhmr_core.result_format import load_result

    truth = load_truth(TRUTH / "pose2sim_multiperson_cam01.json")
    video = media_dir / truth.clip
    run_job(JobOptions(video=str(video), out_dir=str(tmp_path), start=0, end=45))
    result = load_result(tmp_path / "result.npz")
    assert result.num_people == 3
    for p in range(3):
        assert np.all(result.support_height[p][result.valid[p]] == 0.0), p
    assert 1.7 < -float(result.ground_plane[3]) < 2.2  # 2.12 measured, 2.29 unsized

    def who(p: int) -> int:  # the truth person whose box overlaps this track's most at frame 20
        box = result.boxes[p, 20]
        overlaps = {b.person: _iou(box, b.box) for b in truth.boxes[20]}
        return max(overlaps, key=overlaps.get)

    legs = {who(p): _leg(result.rest_joints[p]) for p in range(3)}
    assert legs[0] > 1.1 * legs[1], legs  # the man over the woman




def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _leg(rest_joints: np.ndarray) -> float:
    """Hip to knee to ankle, both sides' mean (SMPL-X joints 1/2 hips, 4/5 knees, 7/8 ankles)."""
    j = np.asarray(rest_joints, np.float64)
    return float(np.mean([np.linalg.norm(j[h] - j[k]) + np.linalg.norm(j[k] - j[a])
                          for h, k, a in ((1, 4, 7), (2, 5, 8))]))
