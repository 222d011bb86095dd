"""Closed-form starting points for the body fit: root orientation, limb swings, translation.

Gradient-based fitting from a T-pose often lands in wrong local minima (arms through the body,
legs bent backwards). These closed-form estimates from the detector's metric 3D landmarks put the
optimiser close to the answer: Kabsch on the torso for the root, then per-bone "swing" rotations
that point each limb bone at its observed direction, then a linear least-squares translation
that makes the 2D reprojection consistent.
"""

from __future__ import annotations

import numpy as np

from genhmr_core.keypoints import KEYPOINT_INDEX, keypoint_attachments
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS, PARENTS

_TORSO = [KEYPOINT_INDEX[n] for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")]

# (joint whose rotation is solved, keypoint at the joint, keypoint the bone points to)
LIMB_CHAIN: tuple[tuple[str, str, str], ...] = (
    ("left_hip", "left_hip", "left_knee"),
    ("right_hip", "right_hip", "right_knee"),
    ("left_knee", "left_knee", "left_ankle"),
    ("right_knee", "right_knee", "right_ankle"),
    ("left_ankle", "left_ankle", "left_foot_index"),
    ("right_ankle", "right_ankle", "right_foot_index"),
    ("left_shoulder", "left_shoulder", "left_elbow"),
    ("right_shoulder", "right_shoulder", "right_elbow"),
    ("left_elbow", "left_elbow", "left_wrist"),
    ("right_elbow", "right_elbow", "right_wrist"),
)


def rest_keypoints(rest_joints: np.ndarray) -> np.ndarray:
    """Keypoint positions (K, 3) of the rest skeleton."""
    joint, offset = keypoint_attachments()
    return np.asarray(rest_joints)[joint] + offset


def kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Batched weighted rotation R (B, 3, 3) minimising sum w * |R src - dst|^2.

    src, dst (B, N, 3) are centred by the caller; weights (B, N).
    """
    h = np.einsum("bn,bni,bnj->bij", weights, src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    fix = np.broadcast_to(np.eye(3), h.shape).copy()
    fix[:, 2, 2] = d
    return np.swapaxes(vt, 1, 2) @ fix @ np.swapaxes(u, 1, 2)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations (B, 3, 3) taking directions a (B, 3) onto b (B, 3)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    vx = np.zeros(a.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    factor = 1.0 / np.maximum(1.0 + c, 1e-6)
    out = np.eye(3) + vx + (vx @ vx) * factor[..., None, None]
    # Opposite vectors: rotate 180 degrees about any axis perpendicular to a.
    opposite = c < -0.9999
    if np.any(opposite):
        axis = np.cross(a[opposite], np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[small] = np.cross(a[opposite][small], np.array([0.0, 1.0, 0.0]))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        out[opposite] = 2.0 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
    return out


def initial_rotations(rest_joints: np.ndarray, world: np.ndarray, conf: np.ndarray
                      ) -> np.ndarray:
    """Joint-local rotations (F, 22, 3, 3) (root + 21 body joints) from metric 3D keypoints.

    world (F, K, 3): detector 3D keypoints in camera-aligned axes (x right, y down, z forward);
    conf (F, K). Unobserved joints (spine, neck, collars, head) stay at rest relative to their
    parents.
    """
    frames = world.shape[0]
    rest_kp = rest_keypoints(rest_joints)
    src = rest_kp[_TORSO] - rest_kp[_TORSO].mean(0)
    dst = world[:, _TORSO] - world[:, _TORSO].mean(1, keepdims=True)
    w = np.maximum(conf[:, _TORSO], 1e-3)
    local = np.broadcast_to(np.eye(3), (frames, 1 + NUM_BODY_JOINTS, 3, 3)).copy()
    local[:, 0] = kabsch(np.broadcast_to(src, dst.shape), dst, w)
    glob = {0: local[:, 0]}

    def global_of(j: int) -> np.ndarray:
        if j not in glob:
            glob[j] = global_of(PARENTS[j]) @ local[:, j]
        return glob[j]

    for joint_name, kp_from, kp_to in LIMB_CHAIN:
        j = JOINT_INDEX[joint_name]
        a_idx, b_idx = KEYPOINT_INDEX[kp_from], KEYPOINT_INDEX[kp_to]
        parent_g = global_of(PARENTS[j])
        rest_dir = rest_kp[b_idx] - rest_kp[a_idx]
        current = parent_g @ rest_dir
        observed = world[:, b_idx] - world[:, a_idx]
        s = swing(current, observed)
        seen = np.minimum(conf[:, a_idx], conf[:, b_idx]) > 0.3
        s[~seen] = np.eye(3)
        local[:, j] = np.swapaxes(parent_g, 1, 2) @ s @ parent_g
        glob.pop(j, None)
        glob[j] = parent_g @ local[:, j]
    return local


def solve_translation(points: np.ndarray, uv: np.ndarray, conf: np.ndarray, K: np.ndarray,
                      min_depth: float = 0.3) -> np.ndarray:
    """Translations t (F, 3) so that points + t (F, N, 3) project onto uv (F, N, 2).

    The pinhole constraint u (z + tz) = fx (x + tx) + cx (z + tz) is linear in t, so each frame
    is a small weighted least-squares problem. Frames with too little evidence get a depth of
    5 m on the optical axis. ``K``: (3, 3), or (F, 3, 3) for a lens that zoomed.
    """
    frames_K = np.broadcast_to(np.asarray(K, dtype=np.float64), (points.shape[0], 3, 3))
    out = np.tile(np.array([0.0, 0.0, 5.0]), (points.shape[0], 1))
    for f in range(points.shape[0]):
        (fx, _, cx), (_, fy, cy) = frames_K[f, :2]
        w = np.sqrt(np.clip(conf[f], 0, 1))
        if (conf[f] > 0.3).sum() < 3:
            continue
        x, y, z = points[f, :, 0], points[f, :, 1], points[f, :, 2]
        u, v = uv[f, :, 0], uv[f, :, 1]
        a_u = np.stack([np.full_like(u, fx), np.zeros_like(u), cx - u], -1)
        b_u = u * z - fx * x - cx * z
        a_v = np.stack([np.zeros_like(v), np.full_like(v, fy), cy - v], -1)
        b_v = v * z - fy * y - cy * z
        a = np.concatenate([a_u * w[:, None], a_v * w[:, None]])
        b = np.concatenate([b_u * w, b_v * w])
        t, *_ = np.linalg.lstsq(a, b, rcond=None)
        if t[2] + z.mean() > min_depth:
            out[f] = t
    return out
