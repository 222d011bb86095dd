"""Take the frame-to-frame tremor out of a solved body's pose.

Refinement fits every frame to that frame's 2D keypoints, and the detector's keypoints shake by
a few pixels from one frame to the next; its smoothness term keeps the joints' accelerations
small but leaves a tremor in the pose itself (Pose2Sim: the product's jerk is 2.8 times the
triangulated truth's, 23 against 8 mm/frame³). Raising that term's weight makes it worse, not
better (it trades the pose against the camera-space motion of the whole body: PA-MPJPE 63.4 ->
64.5 -> 66.4 mm at 2x / 4x), while a short Gaussian over each bone's orientation takes the
tremor out and leaves the motion (numbers in docs/generative.md, "A tremor left after
refinement").

Rotations are averaged as matrices (the Gaussian's weighted sum) and put back onto rotations
by the nearest orthogonal matrix (SVD): for neighbours a few degrees apart, the same as
averaging on the sphere. The pelvis's and the 21 body bones' orientations change (taken in the
world, the camera's turns out); the pelvis's place stays, and joints and keypoints follow by
forward kinematics. The job runs it first of the world-space steps, before the depth smoothing
and the foot lock: run after the lock it undid the pins (planted feet sliding twice as far,
a running foot under the floor in 30 % of frames).
"""

from __future__ import annotations

import numpy as np

from .posed_skeleton import carry_keypoints, forward_kinematics
from .rotations import matrix_to_axis_angle
from .skeleton import NUM_BODY_JOINTS, PARENTS


def nearest_rotations(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the rotation nearest each matrix (Frobenius norm; SVD, reflections ruled
    out)."""
    u, _, vt = np.linalg.svd(matrices)
    flip = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= flip[..., None]
    return u @ vt


def smooth_rotations(matrices: np.ndarray, valid: np.ndarray, sigma_frames: float
                     ) -> np.ndarray:
    """(F, ..., 3, 3) rotations smoothed over time with a Gaussian of ``sigma_frames`` within
    each run of ``valid`` frames (others neither count nor change). The window is kept
    symmetric about every frame, so it narrows towards a run's ends (the end frames stay as
    they are): a one-sided window would pull the first and last frames towards the middle,
    a lag of most of a frame's motion (centimetres for a swinging foot)."""
    matrices = np.asarray(matrices, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    out = matrices.copy()
    if sigma_frames <= 0:
        return out
    radius = max(1, int(np.ceil(3 * sigma_frames)))
    kernel = np.exp(-0.5 * (np.arange(radius + 1) / sigma_frames) ** 2)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):  # runs [first, stop)
        for f in range(first, stop):
            reach = min(radius, f - first, stop - 1 - f)
            if reach == 0:
                continue
            window = matrices[f - reach:f + reach + 1]
            weights = kernel[np.abs(np.arange(-reach, reach + 1))]
            out[f] = np.tensordot(weights, window, axes=1) / weights.sum()
        run = slice(first, stop)
        out[run] = nearest_rotations(out[run])
    return out


def smooth_pose(rest_joints: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                transl: np.ndarray, keypoints3d: np.ndarray, valid: np.ndarray, fps: float,
                sigma_s: float, camera_rotation: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One person's ``(global_orient, body_pose, joints3d, keypoints3d)`` with the
    orientation of the pelvis and of every body bone in the world smoothed over ``sigma_s``
    seconds. Result-file arrays: axis-angles, camera space per frame, ``camera_rotation``
    (F, 3, 3) each frame's camera turn (None: a fixed camera), ``valid`` the frames that were
    solved. The pelvis stays where it is; keypoints move rigidly with their joints.

    Why the bones' orientations in the world, the pelvis's included, and not the joints' local
    rotations under the pelvis as solved (the first way tried): the solve's rotations carry
    turns that cancel along the chain (the pelvis turned one way, the thighs and spine back the
    other, the legs pointing where the picture wants them; joints turn by up to 50 degrees
    between frames on Pose2Sim while the keypoints barely move). Smoothed under an unsmoothed
    pelvis they no longer cancel: Pose2Sim's jerk went 25.6 -> 45.1 mm/frame³. The pelvis's
    own orientation is taken in the world (the camera's turns taken out), so a turning or
    shaking camera is not mistaken for the body's tremor.
    """
    joints, rots = forward_kinematics(rest_joints, global_orient, body_pose, transl)
    bones = slice(0, 1 + NUM_BODY_JOINTS)  # the pelvis and the 21 body joints
    turn = (np.tile(np.eye(3), (len(rots), 1, 1)) if camera_rotation is None
            else np.asarray(camera_rotation, dtype=np.float64))
    world = np.einsum("fji,fbjk->fbik", turn, rots[:, bones])  # camera^T @ bone
    smoothed = np.einsum("fij,fbjk->fbik", turn,
                         smooth_rotations(world, valid, sigma_s * fps))
    children = np.arange(1, 1 + NUM_BODY_JOINTS)
    parents = np.asarray(PARENTS)[children]
    local = np.einsum("fbji,fbjk->fbik", smoothed[:, parents], smoothed[:, children])
    new_orient = matrix_to_axis_angle(smoothed[:, 0])
    new_pose = matrix_to_axis_angle(local)
    new_joints, new_rots = forward_kinematics(rest_joints, new_orient, new_pose, transl)
    return (new_orient, new_pose, new_joints,
            carry_keypoints(keypoints3d, joints, rots, new_joints, new_rots))
