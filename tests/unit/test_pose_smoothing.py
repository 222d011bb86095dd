"""Pose smoothing: the tremor out, the motion and the picture kept (known answers)."""

from __future__ import annotations

import numpy as np

from genhmr_core.keypoints import keypoint_attachments
from genhmr_core.pose_smoothing import nearest_rotations, smooth_pose, smooth_rotations
from genhmr_core.posed_skeleton import forward_kinematics
from genhmr_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS, builtin_rest_joints

FPS = 30.0
SIGMA_S = 1 / 30


def _posed(go: np.ndarray, pose: np.ndarray, transl: np.ndarray):
    rest = builtin_rest_joints()
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    return rest, joints, keypoints


def _walk(frames: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A body facing the camera 4 m away, its arms and legs swinging once a second."""
    t = np.arange(frames) / FPS
    go = np.tile([np.pi, 0.0, 0.0], (frames, 1))
    pose = np.zeros((frames, NUM_BODY_JOINTS, 3))
    swing = 0.5 * np.sin(2 * np.pi * t)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pose[:, JOINT_INDEX[f"{side}_hip"] - 1, 0] = sign * swing
        pose[:, JOINT_INDEX[f"{side}_knee"] - 1, 0] = 0.3 + 0.3 * np.sin(2 * np.pi * t) ** 2
        pose[:, JOINT_INDEX[f"{side}_shoulder"] - 1, 0] = -sign * swing
        pose[:, JOINT_INDEX[f"{side}_elbow"] - 1, 1] = sign * 0.4
    transl = np.tile([0.0, 0.2, 4.0], (frames, 1))
    return go, pose, transl


def _jerk(keypoints: np.ndarray) -> float:
    rel = keypoints - keypoints[:, :1]
    return float(np.linalg.norm(np.diff(rel, 3, axis=0), axis=-1).mean())


def test_nearest_rotations_and_smoothing_a_steady_turn():
    rng = np.random.default_rng(0)
    turns = axis_angle_to_matrix(rng.normal(0, 1.0, (20, 3)))
    np.testing.assert_allclose(nearest_rotations(turns), turns, atol=1e-9)
    noisy = nearest_rotations(turns + rng.normal(0, 0.2, turns.shape))
    assert np.allclose(np.linalg.det(noisy), 1.0)
    np.testing.assert_allclose(noisy @ np.swapaxes(noisy, -1, -2), np.tile(np.eye(3), (20, 1, 1)),
                               atol=1e-9)
    # a turn at a steady rate is left as it is, to its ends and around a gap (the window
    # stays symmetric), and the unseen frame is not touched
    slow = axis_angle_to_matrix(np.outer(np.linspace(0, 1.5, 40), [0.0, 1.0, 0.0]))
    valid = np.ones(40, bool)
    valid[20] = False
    out = smooth_rotations(slow, valid, 2.0)
    np.testing.assert_allclose(out, slow, atol=1e-9)
    # ... while a shaken one comes back near it
    shaken = slow @ axis_angle_to_matrix(rng.normal(0, 0.05, (40, 3)))
    error = np.linalg.norm(shaken - slow, axis=(1, 2))
    assert np.linalg.norm(smooth_rotations(shaken, valid, 2.0) - slow,
                          axis=(1, 2))[valid].mean() < 0.6 * error[valid].mean()
    np.testing.assert_array_equal(smooth_rotations(shaken, valid, 2.0)[20], shaken[20])
    np.testing.assert_array_equal(smooth_rotations(slow, valid, 0.0), slow)


def test_tremor_is_taken_out_and_the_motion_kept():
    """Every bone of a walking body shaken by ~3 degrees a frame (what refinement leaves):
    smoothed over 1/30 s the tremor drops several times and the body comes back nearer the
    true walk, which smoothing alone barely changes."""
    go, pose, transl = _walk()
    rest, _, true_keypoints = _posed(go, pose, transl)
    rng = np.random.default_rng(1)
    shaken = matrix_to_axis_angle(axis_angle_to_matrix(pose)
                                  @ axis_angle_to_matrix(rng.normal(0, 0.05, pose.shape)))
    _, joints, keypoints = _posed(go, shaken, transl)
    valid = np.ones(len(go), bool)
    orient, new_pose, new_joints, new_keypoints = smooth_pose(rest, go, shaken, transl,
                                                              keypoints, valid, FPS, SIGMA_S)
    assert _jerk(new_keypoints) < _jerk(keypoints) / 3
    before = np.linalg.norm(keypoints - true_keypoints, axis=-1).mean()
    after = np.linalg.norm(new_keypoints - true_keypoints, axis=-1).mean()
    assert after < 0.7 * before
    # the arrays agree with each other: the joints are the new pose's, the pelvis stays put
    fk, _ = forward_kinematics(rest, orient, new_pose, transl)
    np.testing.assert_allclose(fk, new_joints, atol=1e-9)
    np.testing.assert_allclose(new_joints[:, 0], joints[:, 0], atol=1e-12)
    # the clean walk itself moves by a centimetre at most (its quickest turns rounded off)
    _, _, _, kept = smooth_pose(rest, go, pose, transl, true_keypoints, valid, FPS, SIGMA_S)
    assert np.abs(kept - true_keypoints).max() < 0.015
    # 0 = off
    off = smooth_pose(rest, go, shaken, transl, keypoints, valid, FPS, 0.0)
    np.testing.assert_allclose(off[3], keypoints, atol=1e-9)


def test_turns_that_cancel_along_a_chain_are_no_tremor():
    """The solve turns the pelvis by up to +-30 degrees about the vertical from frame to frame
    and the thighs and spine back by as much: they keep their orientation in the world, only
    the hips' places swing about the pelvis. Smoothing the bones' orientations steadies the
    hips and leaves the legs pointing where they pointed. Smoothing the joints' own rotations
    under the pelvis as solved (the first way tried) breaks the pairing and shakes the legs."""
    frames = 40
    go, pose, transl = _walk(frames)
    pose[:] = pose[:1]  # standing still
    rest = builtin_rest_joints()
    rng = np.random.default_rng(3)
    turn = axis_angle_to_matrix(np.outer(rng.uniform(-0.5, 0.5, frames), [0.0, 1.0, 0.0]))
    wobbly_go = matrix_to_axis_angle(axis_angle_to_matrix(go) @ turn)
    wobbly = pose.copy()
    for name in ("left_hip", "right_hip", "spine1"):
        j = JOINT_INDEX[name] - 1
        wobbly[:, j] = matrix_to_axis_angle(np.swapaxes(turn, -1, -2)
                                            @ axis_angle_to_matrix(pose[:, j]))
    joints, rots = forward_kinematics(rest, wobbly_go, wobbly, transl)
    _, keypoints = _posed(wobbly_go, wobbly, transl)[1:]
    hip = JOINT_INDEX["left_hip"]

    def thigh_turns(r: np.ndarray) -> float:
        """How far the thigh turns from frame to frame (radians, mean)."""
        step = np.swapaxes(r[1:, hip], -1, -2) @ r[:-1, hip]
        return float(np.arccos(np.clip((np.trace(step, axis1=1, axis2=2) - 1) / 2, -1, 1)
                               ).mean())

    assert thigh_turns(rots) < 1e-6  # steady legs under a wobbling pelvis
    valid = np.ones(frames, bool)
    orient, new_pose, smoothed, _ = smooth_pose(rest, wobbly_go, wobbly, transl, keypoints,
                                                valid, FPS, SIGMA_S)
    assert thigh_turns(forward_kinematics(rest, orient, new_pose, transl)[1]) < 1e-6
    hips_shake = np.linalg.norm(np.diff(joints[:, hip], axis=0), axis=1).mean()
    assert np.linalg.norm(np.diff(smoothed[:, hip], axis=0), axis=1).mean() < 0.5 * hips_shake
    local = smooth_rotations(axis_angle_to_matrix(wobbly), valid, SIGMA_S * FPS)
    _, shaken = forward_kinematics(rest, wobbly_go, matrix_to_axis_angle(local), transl)
    assert thigh_turns(shaken) > 0.1


def test_a_turning_camera_is_not_smoothed_away():
    """A body standing still in the world, filmed by a camera that shakes by degrees from
    frame to frame: in the camera's axes the body turns with every shake, in the world it
    does not, so nothing is smoothed."""
    frames = 40
    go, pose, transl = _walk(frames)
    pose[:] = pose[:1]
    rng = np.random.default_rng(2)
    camera = axis_angle_to_matrix(rng.normal(0, 0.05, (frames, 3)))  # world -> this camera
    go_cam = matrix_to_axis_angle(camera @ axis_angle_to_matrix(go))
    transl_cam = np.einsum("fij,fj->fi", camera, transl)
    rest, _, keypoints = _posed(go_cam, pose, transl_cam)
    valid = np.ones(frames, bool)
    out = smooth_pose(rest, go_cam, pose, transl_cam, keypoints, valid, FPS, SIGMA_S,
                      camera_rotation=camera)
    np.testing.assert_allclose(out[3], keypoints, atol=1e-6)
    # told nothing of the camera, the shake would be taken for the body's
    still = smooth_pose(rest, go_cam, pose, transl_cam, keypoints, valid, FPS, SIGMA_S)
    assert np.abs(still[3] - keypoints).max() > 0.01
