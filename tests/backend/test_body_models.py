"""The one body-model interface, on both bodies: the user's SMPL-X (here the generated file of
the real format, through the real ``smplx`` code) and the license-free default body asset."""

from __future__ import annotations

import time

import numpy as np
import pytest
import smplx
import torch
from genhmr.body import (
    LbsBody,
    SmplxBody,
    linear_blend_skinning,
    load_default_body,
    load_smplx,
    load_smplx_body,
)
from genhmr.body.default_body import ASSET_PATH, load_default_asset
from genhmr.body.smplx_model import smplx_rest_joints
from genhmr.fitting import estimate_betas
from genhmr.fitting.shape import BONES

from genhmr_core.keypoints import KEYPOINT_INDEX, NUM_KEYPOINTS
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS, NUM_JOINTS


def _rot(aa: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(axis_angle_to_matrix(aa), dtype=torch.float32)


def _typical_poses(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Axis-angle (B, 22, 3): an upright root and moderate random body poses."""
    aa = np.zeros((batch, 1 + NUM_BODY_JOINTS, 3))
    aa[:, 0] = rng.normal(0, 0.3, (batch, 3))
    aa[:, 1:] = rng.normal(0, 0.35, (batch, NUM_BODY_JOINTS, 3))
    return aa


@pytest.fixture(scope="module")
def smplx_body(smplx_model_dir) -> SmplxBody:
    return load_smplx_body(smplx_model_dir)


@pytest.fixture(scope="module")
def default_body() -> LbsBody:
    return load_default_body()


# ---------------------------------------------------------------- SMPL-X through the interface


def test_smplx_body_shapes_and_names(smplx_body):
    out = smplx_body(np.zeros(10), _rot(np.zeros((3, 22, 3))), torch.zeros(3, 3))
    assert out.vertices.shape == (3, 10475, 3)
    assert out.joints.shape == (3, NUM_JOINTS, 3)
    assert out.global_rotations.shape == (3, NUM_JOINTS, 3, 3)
    assert out.keypoints.shape == (3, NUM_KEYPOINTS, 3)
    assert smplx_body.name == "smplx" and smplx_body.mesh.name == "smplx-neutral"
    assert smplx_body.num_betas == 10


def test_smplx_body_matches_the_smplx_layer(smplx_body, smplx_model_dir):
    """Posing through the interface (rotation matrices, all 55 joints, shape) gives smplx's own
    forward pass: vertices with pose correctives, and joints."""
    rng = np.random.default_rng(1)
    aa = rng.normal(0, 0.4, (4, NUM_JOINTS, 3))
    betas = rng.normal(0, 1, (4, 10))
    transl = rng.normal(0, 1, (4, 3))
    ours = smplx_body(betas, _rot(aa), torch.as_tensor(transl, dtype=torch.float32))

    def t(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    layer = load_smplx(smplx_model_dir)
    with torch.no_grad():
        theirs = layer(betas=t(betas), transl=t(transl), global_orient=t(aa[:, 0]),
                       body_pose=t(aa[:, 1:22].reshape(4, -1)), jaw_pose=t(aa[:, 22]),
                       leye_pose=t(aa[:, 23]), reye_pose=t(aa[:, 24]),
                       left_hand_pose=t(aa[:, 25:40].reshape(4, -1)),
                       right_hand_pose=t(aa[:, 40:55].reshape(4, -1)),
                       expression=torch.zeros(4, 10))
    np.testing.assert_allclose(ours.vertices.detach(), theirs.vertices, atol=1e-5)
    np.testing.assert_allclose(ours.joints.detach(), theirs.joints[:, :NUM_JOINTS], atol=1e-5)
    # smplx's extra joints 55.. are the vertices our regressor uses for nose, eyes, ears, feet.
    for ours_name, index in (("nose", 55), ("right_eye", 56), ("left_eye", 57),
                             ("left_foot_index", 60), ("left_heel", 62)):
        np.testing.assert_allclose(ours.keypoints[:, KEYPOINT_INDEX[ours_name]].detach(),
                                   theirs.joints[:, index], atol=1e-5)


def test_smplx_rest_shape_matches_smplx(smplx_body, smplx_model_dir):
    betas = np.linspace(-1.5, 1.5, 10)
    layer = load_smplx(smplx_model_dir)
    np.testing.assert_allclose(smplx_body.rest_joints(betas)[0], smplx_rest_joints(layer, betas),
                               atol=1e-5)
    verts, joints = smplx_body.mesh.shaped(betas)
    np.testing.assert_allclose(verts, smplx_body.rest_vertices(betas)[0], atol=1e-5)
    np.testing.assert_allclose(joints, smplx_rest_joints(layer, betas), atol=1e-5)


def test_our_skinning_matches_smplx_lbs_without_correctives(smplx_body):
    """Our linear blend skinning against smplx's independent ``lbs`` (pose correctives off)."""
    rng = np.random.default_rng(2)
    aa = rng.normal(0, 0.5, (3, NUM_JOINTS, 3))
    betas = torch.as_tensor(rng.normal(0, 1, (3, 10)), dtype=torch.float32)
    rot = _rot(aa)
    layer = smplx_body.layer
    v_ref, _ = smplx.lbs.lbs(betas, rot, layer.v_template, layer.shapedirs,
                             torch.zeros_like(layer.posedirs), layer.J_regressor, layer.parents,
                             layer.lbs_weights, pose2rot=False)
    posed = smplx_body(betas, rot)
    rest_v = smplx_body.rest_vertices(betas)
    rest_j = smplx_body.rest_joints(betas)
    ours = linear_blend_skinning(rest_v, rest_j, posed.joints, posed.global_rotations,
                                 layer.lbs_weights)
    np.testing.assert_allclose(ours.detach(), v_ref, atol=1e-5)


def test_skeleton_fk_matches_the_body(smplx_body, default_body):
    """The fast FK-only skeleton of a shape poses joints exactly like the full body."""
    rng = np.random.default_rng(3)
    for body in (smplx_body, default_body):
        betas = rng.uniform(-0.8, 0.8, body.num_betas)
        rot = _rot(_typical_poses(rng, 5))
        transl = torch.as_tensor(rng.normal(0, 1, (5, 3)), dtype=torch.float32)
        full = body(betas, rot, transl)
        joints, rotations, _ = body.skeleton(betas)(rot, transl)
        np.testing.assert_allclose(joints, full.joints.detach(), atol=1e-5)
        np.testing.assert_allclose(rotations, full.global_rotations.detach(), atol=1e-5)


# ------------------------------------------------------------------------- the default body


def test_default_asset_loads_well_under_a_second():
    t0 = time.perf_counter()
    mesh, _ = load_default_asset()
    seconds = time.perf_counter() - t0
    assert seconds < 0.5, f"asset load took {seconds:.2f} s"
    assert ASSET_PATH.stat().st_size < 8e6
    assert mesh.name == "default" and "CC0" in mesh.license
    assert mesh.uvs.shape == (mesh.faces.shape[0], 3, 2)


def test_default_body_identity_pose_is_the_rest_mesh(default_body):
    betas = np.array([0.5, -0.3, 0.2, 0.1, -0.4])
    transl = torch.tensor([[0.1, -0.2, 3.0]])
    out = default_body(betas, _rot(np.zeros((1, 22, 3))), transl)
    np.testing.assert_allclose(out.vertices[0].detach(),
                               default_body.rest_vertices(betas)[0] + transl, atol=1e-5)
    np.testing.assert_allclose(out.joints[0].detach(),
                               default_body.rest_joints(betas)[0] + transl, atol=1e-5)


def test_default_body_fk_matches_skinning(default_body):
    """Vertices bound to one joint only move rigidly with that joint's FK transform, and every
    joint stays inside the posed mesh region it is skinned to."""
    rng = np.random.default_rng(4)
    betas = rng.uniform(-0.7, 0.7, default_body.num_betas)
    aa = _typical_poses(rng, 6)
    out = default_body(betas, _rot(aa))
    weights = default_body.weights.numpy()
    rest_v = default_body.rest_vertices(betas)[0].numpy()
    rest_j = default_body.rest_joints(betas)[0].numpy()
    checked = 0
    for j in range(1 + NUM_BODY_JOINTS):
        rigid = np.flatnonzero(weights[:, j] > 0.999)
        if rigid.size < 10:
            continue
        checked += 1
        rot = out.global_rotations[:, j].detach().numpy()
        expect = np.einsum("bij,vj->bvi", rot, rest_v[rigid] - rest_j[j]) + \
            out.joints[:, j, None].detach().numpy()
        np.testing.assert_allclose(out.vertices[:, rigid].detach(), expect, atol=1e-4)
        # the joint's distance to the centroid of its own vertices is kept
        d_rest = np.linalg.norm(rest_v[rigid].mean(0) - rest_j[j])
        d_posed = np.linalg.norm(out.vertices[:, rigid].detach().numpy().mean(1)
                                 - out.joints[:, j].detach().numpy(), axis=-1)
        np.testing.assert_allclose(d_posed, d_rest, atol=1e-4)
    assert checked >= 15, f"only {checked} body joints have rigidly bound vertices"


def test_default_body_keypoints_on_the_right_body_parts(default_body):
    """Regressed keypoints (skinned mesh) sit next to the joints they belong to, in T-pose and
    in typical poses, and agree with the rigid keypoints of the fast skeleton."""
    rng = np.random.default_rng(5)
    aa = np.concatenate([np.zeros((1, 22, 3)), _typical_poses(rng, 8)])
    aa[0, 0] = 0.0
    out = default_body(None, _rot(aa))
    kp = out.keypoints.detach().numpy()
    joints = out.joints.detach().numpy()
    near = {"left_shoulder": "left_shoulder", "right_elbow": "right_elbow",
            "left_wrist": "left_wrist", "right_knee": "right_knee", "left_ankle": "left_ankle",
            "right_hip": "right_hip", "left_ear": "head", "nose": "head",
            "left_heel": "left_ankle", "right_foot_index": "right_foot",
            "left_index": "left_index1"}
    for kp_name, joint_name in near.items():
        dist = np.linalg.norm(kp[:, KEYPOINT_INDEX[kp_name]] - joints[:, JOINT_INDEX[joint_name]],
                              axis=-1)
        assert dist.max() < 0.13, (kp_name, dist.max())
    # T-pose: nose in front of the head and above the shoulders; left keypoints at +x
    assert kp[0, KEYPOINT_INDEX["nose"], 2] > joints[0, JOINT_INDEX["head"], 2]
    assert kp[0, KEYPOINT_INDEX["nose"], 1] > kp[0, KEYPOINT_INDEX["left_shoulder"], 1]
    for name in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "ear", "eye"):
        assert kp[0, KEYPOINT_INDEX[f"left_{name}"], 0] > kp[0, KEYPOINT_INDEX[f"right_{name}"], 0]
    _, _, rigid = default_body.skeleton()(_rot(aa), torch.zeros(len(aa), 3))
    gap = np.linalg.norm(rigid.numpy() - kp, axis=-1)
    assert np.median(gap) < 0.02 and gap.max() < 0.08, (np.median(gap), gap.max())


def test_default_body_is_batched_and_differentiable(default_body):
    aa = torch.zeros(2, 22, 3)
    rot = _rot(aa.numpy()).requires_grad_(True)
    betas = torch.zeros(2, default_body.num_betas, requires_grad=True)
    out = default_body(betas, rot)
    out.keypoints.sum().backward()
    assert rot.grad is not None and betas.grad is not None
    assert torch.isfinite(betas.grad).all() and betas.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- shape estimate


@pytest.mark.parametrize("which", ["default", "smplx"])
def test_shape_from_bone_lengths_recovers_the_body(which, request):
    """Metric keypoints of a known shape in many poses (with noise and missing joints) give
    back a shape whose bone lengths match the truth within a few percent."""
    body = request.getfixturevalue(f"{which}_body")
    rng = np.random.default_rng(6)
    truth = np.zeros(body.num_betas)
    truth[:3] = [0.6, -0.5, 0.4] if which == "default" else [1.2, -0.8, 0.5]
    frames = 40
    out = body(truth, _rot(_typical_poses(rng, frames)))
    world = out.keypoints.detach().numpy() + rng.normal(0, 0.01, (frames, NUM_KEYPOINTS, 3))
    conf = rng.uniform(0.7, 1.0, (frames, NUM_KEYPOINTS))
    conf[rng.random((frames, NUM_KEYPOINTS)) < 0.15] = 0.1  # occluded joints
    estimate = estimate_betas(body, world, conf)
    assert np.isfinite(estimate.observed).all()
    # Surface keypoints do not keep their distances when the body bends (torso sides shorten by
    # 4-8 % with the spine flexed), so even the true shape fits the medians only to a few %.
    assert estimate.relative_error < 0.05, estimate.relative_error
    avg = estimate_betas(body, world[:0], conf[:0])  # no evidence: the average body
    np.testing.assert_allclose(avg.betas, 0.0)
    kp_true = body.rest_keypoints(truth)[0].numpy()
    kp_est = body.rest_keypoints(estimate.betas)[0].numpy()
    for a, b, _ in BONES[:8]:  # limbs
        ia, ib = KEYPOINT_INDEX[a], KEYPOINT_INDEX[b]
        true_len = np.linalg.norm(kp_true[ia] - kp_true[ib])
        est_len = np.linalg.norm(kp_est[ia] - kp_est[ib])
        assert abs(est_len - true_len) / true_len < 0.05, (a, b, est_len, true_len)
    lo, hi = body.mesh.shape_limits[:, 0], body.mesh.shape_limits[:, 1]
    assert np.all(estimate.betas >= lo - 1e-6) and np.all(estimate.betas <= hi + 1e-6)
