"""A person resized about the camera (``genhmr.floor_sizing``) on the real default body: the
body is scaled uniformly (``JobResult.body_scale``), the pelvis stays on its viewing ray, the
picture does not move, the proportions stay, and the result stays its own forward kinematics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.floor_sizing import resize_person
from genhmr.repose import pose_again

from genhmr_core.rotations import axis_angle_to_matrix

FRAMES = 12
TRUTH = Path(__file__).resolve().parents[2] / "benchmarks" / "truth"


@pytest.fixture(scope="module")
def body():
    return load_default_body()


class _Person(SimpleNamespace):
    body_scale = None

    @property
    def num_people(self) -> int:
        return len(self.betas)

    def body_scales(self) -> np.ndarray:
        n = len(self.betas)
        return np.ones(n) if self.body_scale is None else np.asarray(self.body_scale, float)


def _person(body, betas: np.ndarray) -> _Person:
    rng = np.random.default_rng(3)
    skeleton = body.skeleton(betas)
    orient = np.tile([np.pi, 0.0, 0.0], (FRAMES, 1)) + rng.normal(0, 0.1, (FRAMES, 3))
    pose = rng.normal(0, 0.15, (FRAMES, 21, 3))
    transl = np.column_stack([np.linspace(-0.5, 0.5, FRAMES), np.full(FRAMES, 0.3),
                              np.full(FRAMES, 4.0)])
    result = _Person(
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


def _legs_over_torso(rest_joints: np.ndarray) -> float:
    j = np.asarray(rest_joints, np.float64)
    legs = np.linalg.norm(j[1] - j[4]) + np.linalg.norm(j[4] - j[7])
    return float(legs / np.linalg.norm(j[16] - j[1]))  # hip to knee to ankle / hip to shoulder


@pytest.mark.parametrize("scale", [0.88, 1.12])
def test_a_resized_person_keeps_their_picture_their_ray_and_their_proportions(body,
                                                                               scale: float):
    betas = np.array([0.3, -0.2, 0.1, 0.0, 0.0])
    person = _person(body, betas)
    before = _Person(**{k: v.copy() for k, v in vars(person).items()})
    resize_person(person, 0, body, scale)
    assert person.body_scales()[0] == pytest.approx(scale)
    np.testing.assert_array_equal(person.betas, before.betas)  # the shape stays
    np.testing.assert_allclose(person.rest_joints[0], scale * body.mesh.shaped(betas)[1], atol=1e-6)
    assert _legs_over_torso(person.rest_joints[0]) == pytest.approx(
        _legs_over_torso(before.rest_joints[0]), rel=1e-5)
    # every point on its own ray, ``scale`` times as far: the picture does not move
    np.testing.assert_allclose(person.joints3d, scale * before.joints3d, atol=1e-5)
    np.testing.assert_allclose(person.keypoints3d, scale * before.keypoints3d, atol=1e-5)
    moved = np.linalg.norm(_pixels(person.keypoints3d[0]) - _pixels(before.keypoints3d[0]),
                           axis=-1)
    assert moved.max() < 0.01  # pixels at 1500 px focal, 4 m away
    # its own forward kinematics, on the body at its size
    skeleton = body.skeleton(betas, scale)
    local = np.concatenate([person.global_orient[0, :, None], person.body_pose[0]], axis=1)
    with torch.no_grad():
        joints, _, _ = skeleton(torch.as_tensor(axis_angle_to_matrix(local), dtype=torch.float32),
                                torch.as_tensor(person.transl[0]))
    assert np.abs(joints.numpy() - person.joints3d[0]).max() < 1e-5


def test_sizes_compose_and_stage1_moves_with_the_body(body) -> None:
    betas = np.zeros(5)
    person = _person(body, betas)
    stage1 = SimpleNamespace(betas=betas.astype(np.float32), transl=person.transl[0].copy(),
                             body_scale=1.0)
    for scale in (1.1, 0.9):
        resize_person(person, 0, body, scale, stage1)
    assert person.body_scales()[0] == pytest.approx(0.99)
    assert stage1.body_scale == pytest.approx(0.99)
    np.testing.assert_allclose(stage1.transl, person.transl[0], atol=1e-5)
    np.testing.assert_allclose(person.rest_joints[0], 0.99 * body.mesh.shaped(betas)[1], atol=1e-6)


def test_a_person_solved_again_takes_the_size_the_others_share(body) -> None:
    """A merge with shape estimation off and the artist's height given: no floor sized anybody,
    everybody shares the known height's scale, and the re-solved person (at size 1) takes it,
    stage 1 too; the person leaving (the merged one) does not count."""
    from genhmr.pipeline import size_like_the_others

    one = _person(body, np.zeros(5))
    people = _Person(**{k: np.concatenate([v, v, v]) for k, v in vars(one).items()})
    for p in (0, 2):
        resize_person(people, p, body, 1.08)
    resize_person(people, 1, body, 0.5)  # about to leave: ignored
    stage1 = SimpleNamespace(transl=one.transl[0].copy(), body_scale=1.0)
    size_like_the_others(people, 0, body, stage1, leaving=1)
    assert people.body_scales()[0] == pytest.approx(1.08)  # already there: unchanged
    people.body_scale[2] = 1.0
    people.rest_joints[2] = one.rest_joints[0]
    people.transl[2] = one.transl[0]
    size_like_the_others(people, 2, body, stage1, leaving=1)
    assert people.body_scales()[2] == pytest.approx(1.08)
    assert stage1.body_scale == pytest.approx(1.08)
    np.testing.assert_allclose(people.keypoints3d[2], 1.08 * one.keypoints3d[0], atol=1e-5)


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
