"""Retarget any source skeleton onto SMPL-X body pose (global orientation + 21 body joints).

Two routes, one result (:class:`~genhmr.motion.clip.MotionClip` rotations on our skeleton):

* **Rotation sources** (BVH, DeepMimic): copy each mapped source bone's *global* rotation onto
  its SMPL-X joint, right-multiplied by a rest correction, then take local rotations. Working
  with global rotations makes the two hierarchies' differences harmless (CMU's extra hip and
  neck joints, DeepMimic's single chest for three SMPL-X spine joints). The rest correction is
  the smallest rotation that turns the SMPL-X bone (joint to mapped child, T-pose) onto the
  source bone in the source's own rest pose, so CMU's splayed legs and DeepMimic's hanging arms
  come out as real poses rather than offsets.
* **Position sources** (the climbing set): solve each joint's global rotation from two
  directions: the bone (joint to child) and a second, anatomical one (the hip line for the
  pelvis, the shoulder line for the chest, the bend plane of knee and elbow, the palm plane for
  the wrist). Where a limb is nearly straight its bend plane is undefined, and the joint is
  swung from its parent's frame with no twist instead (blended by bend angle, so nothing pops).

Everything here is in SMPL-X axes (metres, Y up, faces +Z, left +X); loaders convert first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

from genhmr_core.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS

from .clip import NUM_POSE_JOINTS

POSE_JOINT_NAMES = JOINT_NAMES[:NUM_POSE_JOINTS]
POSE_PARENTS = np.array(PARENTS[:NUM_POSE_JOINTS])

# The child that defines each SMPL-X joint's bone direction (the wrist's lies outside the 22).
BONE_CHILD: dict[str, str] = {
    "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
    "left_hip": "left_knee", "right_hip": "right_knee",
    "left_knee": "left_ankle", "right_knee": "right_ankle",
    "left_ankle": "left_foot", "right_ankle": "right_foot",
    "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist",
    "left_wrist": "left_middle1", "right_wrist": "right_middle1",
}  # fmt: skip


class Blend(NamedTuple):
    """A SMPL-X joint that takes a share of two source bones' global rotations (no rest
    correction): ``slerp(global[a], global[b], t)``. For spines with fewer source joints."""

    a: str
    b: str
    t: float


JointMap = dict[str, "str | Blend"]


# ---- rotation helpers ----------------------------------------------------------------------------

def normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The smallest rotation(s) (..., 3, 3) taking direction u onto direction v.

    Antiparallel pairs turn by 180° about an axis perpendicular to u.
    """
    u, v = np.broadcast_arrays(normalize(np.asarray(u, float)), normalize(np.asarray(v, float)))
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.clip((u * v).sum(-1), -1.0, 1.0)
    angle = np.arctan2(sin, cos)
    flip = sin < 1e-8
    # Perpendicular fallback for (anti)parallel vectors: cross with the least aligned basis axis.
    basis = np.eye(3)[np.argmin(np.abs(u), axis=-1)]
    fallback = normalize(np.cross(u, basis))
    axis = np.where(flip[..., None], fallback, axis / np.maximum(sin, 1e-12)[..., None])
    angle = np.where(flip & (cos > 0), 0.0, angle)
    rotvec = axis * angle[..., None]
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(rotvec.shape + (3,))


def frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) whose columns are (primary, secondary ⟂ primary, p × s)."""
    a = normalize(primary)
    b = normalize(secondary - (secondary * a).sum(-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def align(rest_primary: np.ndarray, rest_secondary: np.ndarray, primary: np.ndarray,
          secondary: np.ndarray) -> np.ndarray:
    """The rotation taking the rest frame (two directions) onto the posed frame."""
    rest = frame_from(np.broadcast_to(rest_primary, primary.shape),
                      np.broadcast_to(rest_secondary, secondary.shape))
    return frame_from(primary, secondary) @ np.swapaxes(rest, -1, -2)


def slerp_matrices(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between rotation matrices (..., 3, 3), elementwise."""
    rel = np.swapaxes(a, -1, -2) @ b
    shape = rel.shape
    rotvec = Rotation.from_matrix(rel.reshape(-1, 3, 3)).as_rotvec()
    t = np.broadcast_to(np.asarray(t, float), shape[:-2]).reshape(-1, 1)
    step = Rotation.from_rotvec(rotvec * t).as_matrix().reshape(shape)
    return a @ step


def locals_from_globals(global_rot: np.ndarray) -> np.ndarray:
    """(T, 22, 3, 3) global rotations -> local rotations in the SMPL-X hierarchy."""
    local = global_rot.copy()
    parents = POSE_PARENTS[1:]
    local[:, 1:] = np.swapaxes(global_rot[:, parents], -1, -2) @ global_rot[:, 1:]
    return local


def globals_from_locals(local_rot: np.ndarray) -> np.ndarray:
    out = np.empty_like(local_rot)
    out[:, 0] = local_rot[:, 0]
    for j in range(1, NUM_POSE_JOINTS):
        out[:, j] = out[:, POSE_PARENTS[j]] @ local_rot[:, j]
    return out


def pose_joint_positions(local_rot: np.ndarray, rest_joints: np.ndarray,
                         root_position: np.ndarray | None = None) -> np.ndarray:
    """FK positions (T, 22, 3) of the 22 pose joints on a rest skeleton (numpy)."""
    rest = np.asarray(rest_joints, float)[:NUM_POSE_JOINTS]
    g = globals_from_locals(np.asarray(local_rot, float))
    pos = np.empty(g.shape[:2] + (3,))
    pos[:, 0] = rest[0] if root_position is None else root_position
    for j in range(1, NUM_POSE_JOINTS):
        p = POSE_PARENTS[j]
        pos[:, j] = pos[:, p] + g[:, p] @ (rest[j] - rest[p])
    return pos


# ---- rotation sources ----------------------------------------------------------------------------

@dataclass
class SourceMotion:
    """A source skeleton's motion in SMPL-X axes and metres (already converted by its loader).

    At rest (all local rotations identity) every bone's frame is aligned with the world axes,
    as in BVH and DeepMimic. ``tips`` gives a point beyond leaf joints (a BVH End Site, a foot
    or hand point), so that leaf bones have a direction too.
    """

    names: list[str]
    parents: np.ndarray  # (J,)
    offsets: np.ndarray  # (J, 3) rest offset from the parent; the root's is its rest position
    rotations: np.ndarray  # (T, J, 3, 3) local
    root_position: np.ndarray  # (T, 3) world position of the root joint
    fps: float
    tips: dict[str, np.ndarray] | None = None  # joint name -> offset of a point beyond it

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise KeyError(f"source has no joint {name!r}") from exc

    def rest_positions(self) -> np.ndarray:
        pos = np.array(self.offsets, float)
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] += pos[p]
        return pos

    def global_rotations(self) -> np.ndarray:
        out = np.empty_like(self.rotations)
        for j, p in enumerate(self.parents):
            out[:, j] = self.rotations[:, j] if p < 0 else out[:, p] @ self.rotations[:, j]
        return out

    def positions(self) -> np.ndarray:
        """World joint positions (T, J, 3)."""
        g = self.global_rotations()
        pos = np.empty(self.rotations.shape[:2] + (3,))
        for j, p in enumerate(self.parents):
            pos[:, j] = self.root_position if p < 0 else pos[:, p] + g[:, p] @ self.offsets[j]
        return pos

    def tip_direction(self, name: str) -> np.ndarray | None:
        """Rest direction of a leaf bone: its tip, else its first child."""
        if self.tips and name in self.tips:
            return np.asarray(self.tips[name], float)
        j = self.index(name)
        kids = [k for k, p in enumerate(self.parents) if p == j]
        return np.asarray(self.offsets[kids[0]], float) if kids else None


def rest_corrections(source: SourceMotion, joint_map: JointMap,
                     target_rest: np.ndarray) -> dict[str, np.ndarray]:
    """Per mapped SMPL-X joint, the rotation taking its T-pose bone onto the source's rest bone.

    The pelvis, head and feet keep the identity: their source and SMPL-X rest frames already
    agree (both face +Z, upright) and their "bone" has no reliable direction.
    """
    rest_src = source.rest_positions()
    out: dict[str, np.ndarray] = {}
    for name, mapped in joint_map.items():
        child = BONE_CHILD.get(name)
        if isinstance(mapped, Blend) or child is None:
            continue
        u = target_rest[JOINT_INDEX[child]] - target_rest[JOINT_INDEX[name]]
        mapped_child = joint_map.get(child)
        if isinstance(mapped_child, str):
            v = rest_src[source.index(mapped_child)] - rest_src[source.index(mapped)]
        else:  # the wrist (child outside the 22), or a child the source lacks
            tip = source.tip_direction(mapped)
            if tip is None:
                continue
            v = tip
        if np.linalg.norm(v) < 1e-6:
            continue
        out[name] = rotation_between(u, v)
    return out


def leg_length(positions: np.ndarray, hip: int, knee: int, ankle: int) -> float:
    return float(np.linalg.norm(positions[knee] - positions[hip])
                 + np.linalg.norm(positions[ankle] - positions[knee]))


def retarget_rotations(source: SourceMotion, joint_map: JointMap, target_rest: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local rotations (T, 22, 3, 3), pelvis positions (T, 3) and the animated mask (22,).

    Joints missing from ``joint_map`` keep identity local rotations and are marked not
    animated. The root trajectory is scaled by the ratio of leg lengths so feet stay planted
    on a skeleton of another size.
    """
    if "pelvis" not in joint_map:
        raise ValueError("the joint map must map 'pelvis'")
    unknown = sorted(set(joint_map) - set(POSE_JOINT_NAMES))
    if unknown:
        raise ValueError(f"not SMPL-X pose joints: {unknown}")
    target_rest = np.asarray(target_rest, float)
    src_global = source.global_rotations()
    corrections = rest_corrections(source, joint_map, target_rest)
    frames = src_global.shape[0]
    global_rot = np.empty((frames, NUM_POSE_JOINTS, 3, 3))
    animated = np.zeros(NUM_POSE_JOINTS, dtype=bool)
    for j, name in enumerate(POSE_JOINT_NAMES):
        mapped = joint_map.get(name)
        if mapped is None:
            global_rot[:, j] = global_rot[:, POSE_PARENTS[j]] if j else np.eye(3)
            continue
        animated[j] = True
        if isinstance(mapped, Blend):
            global_rot[:, j] = slerp_matrices(src_global[:, source.index(mapped.a)],
                                              src_global[:, source.index(mapped.b)], mapped.t)
        else:
            global_rot[:, j] = src_global[:, source.index(mapped)] @ corrections.get(
                name, np.eye(3))
    local = locals_from_globals(global_rot)

    pelvis = source.index(joint_map["pelvis"])
    root = source.positions()[:, pelvis] if pelvis else source.root_position
    scale = 1.0
    legs = [(joint_map.get(f"{s}_hip"), joint_map.get(f"{s}_knee"), joint_map.get(f"{s}_ankle"))
            for s in ("left", "right")]
    if all(isinstance(n, str) for leg in legs for n in leg):
        rest_src = source.rest_positions()
        src_len = np.mean([leg_length(rest_src, *(source.index(n) for n in leg)) for leg in legs])
        tgt_len = np.mean([leg_length(target_rest, *(JOINT_INDEX[f"{s}_{k}"]
                                                     for k in ("hip", "knee", "ankle")))
                           for s in ("left", "right")])
        scale = tgt_len / src_len
    return local, root * scale, animated


# ---- position sources ----------------------------------------------------------------------------

def _bend_weight(a: np.ndarray, b: np.ndarray, low_deg: float = 10.0,
                 high_deg: float = 25.0) -> np.ndarray:
    """0 for a straight limb (bend plane undefined) rising to 1 past ``high_deg`` of bend."""
    cos = (normalize(a) * normalize(b)).sum(-1)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.clip((angle - low_deg) / (high_deg - low_deg), 0.0, 1.0)


def _swing_from_parent(parent_global: np.ndarray, rest_dir: np.ndarray,
                       posed_dir: np.ndarray) -> np.ndarray:
    """The joint's global rotation with zero twist relative to its parent: the parent's frame
    swung the shortest way so the bone points along ``posed_dir``."""
    carried = (parent_global @ rest_dir[:, None])[..., 0]
    return rotation_between(carried, posed_dir) @ parent_global


def _hinge_chain(parent_global: np.ndarray, p_root: np.ndarray, p_mid: np.ndarray,
                 p_end: np.ndarray, rest: np.ndarray, i_root: int, i_mid: int, i_end: int,
                 rest_normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Globals of a two-bone limb (thigh+shin or upper arm+forearm) from three positions.

    The bend plane's normal (upper × lower) is the hinge axis; ``rest_normal`` is that axis in
    the T-pose (which way the joint flexes). Near-straight limbs fall back to a twist-free swing
    from the parent, blended by bend angle.
    """
    upper, lower = p_mid - p_root, p_end - p_mid
    u_rest = rest[i_mid] - rest[i_root]
    l_rest = rest[i_end] - rest[i_mid]
    normal = np.cross(upper, lower)
    w = _bend_weight(upper, lower)
    g_upper_bend = align(u_rest, rest_normal, upper, normal)
    g_upper_swing = _swing_from_parent(parent_global, u_rest, upper)
    g_upper = slerp_matrices(g_upper_swing, g_upper_bend, w)
    g_lower_bend = align(l_rest, rest_normal, lower, normal)
    g_lower_swing = _swing_from_parent(g_upper, l_rest, lower)
    g_lower = slerp_matrices(g_lower_swing, g_lower_bend, w)
    return g_upper, g_lower


def rotations_from_positions(points: dict[str, np.ndarray], target_rest: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (T, 22, 3, 3) and the animated mask from joint positions alone.

    ``points`` holds (T, 3) positions for: pelvis, spine (lower back), chest, neck, head,
    left/right collar, shoulder, elbow, wrist, index1, pinky1, hip, knee, ankle, foot (toe
    base). Spine1/2 are interpolated between the pelvis and the chest frame; head yaw, foot roll
    and toes cannot be recovered from positions, so head, foot and the toe joints keep their
    parent's frame (marked not animated).
    """
    rest = np.asarray(target_rest, float)
    idx = JOINT_INDEX
    p = {k: np.asarray(v, float) for k, v in points.items()}
    frames = p["pelvis"].shape[0]
    g = np.empty((frames, NUM_POSE_JOINTS, 3, 3))

    def rest_dir(a: str, b: str) -> np.ndarray:
        return rest[idx[b]] - rest[idx[a]]

    rest_hips = rest[idx["left_hip"]] - rest[idx["right_hip"]]
    rest_up = rest[idx["spine3"]] - rest[idx["pelvis"]]
    g[:, idx["pelvis"]] = align(rest_hips, rest_up, p["left_hip"] - p["right_hip"],
                                p["chest"] - p["pelvis"])
    rest_shoulders = rest[idx["left_shoulder"]] - rest[idx["right_shoulder"]]
    g_chest = align(rest_shoulders, rest_dir("spine3", "neck"),
                    p["left_shoulder"] - p["right_shoulder"], p["neck"] - p["chest"])
    g[:, idx["spine3"]] = g_chest
    g[:, idx["spine1"]] = slerp_matrices(g[:, 0], g_chest, 1 / 3)
    g[:, idx["spine2"]] = slerp_matrices(g[:, 0], g_chest, 2 / 3)
    g[:, idx["neck"]] = align(rest_dir("neck", "head"), rest_shoulders,
                              p["head"] - p["neck"],
                              (g_chest @ rest_shoulders[:, None])[..., 0])
    g[:, idx["head"]] = g[:, idx["neck"]]

    for side, sign in (("left", 1.0), ("right", -1.0)):
        def j(n: str, s: str = side) -> int:
            return idx[f"{s}_{n}"]

        def q(n: str, s: str = side) -> np.ndarray:
            return p[f"{s}_{n}"]

        # Legs: knees flex with the shin going back (-Z), so the hinge axis at rest is +X.
        g_hip, g_knee = _hinge_chain(g[:, 0], q("hip"), q("knee"), q("ankle"), rest, j("hip"),
                                     j("knee"), j("ankle"), np.array([1.0, 0.0, 0.0]))
        g[:, j("hip")], g[:, j("knee")] = g_hip, g_knee
        knee_axis = (g_knee @ np.array([1.0, 0.0, 0.0])[:, None])[..., 0]
        g[:, j("ankle")] = align(rest_dir(f"{side}_ankle", f"{side}_foot"), [1.0, 0.0, 0.0],
                                 q("foot") - q("ankle"), knee_axis)
        g[:, j("foot")] = g[:, j("ankle")]
        # Arms: the collar bone with the chest's forward axis as its second direction.
        forward = (g_chest @ np.array([0.0, 0.0, 1.0])[:, None])[..., 0]
        g[:, j("collar")] = align(rest_dir(f"{side}_collar", f"{side}_shoulder"),
                                  [0.0, 0.0, 1.0], q("shoulder") - q("collar"), forward)
        # Elbows flex with the forearm coming forward (+Z): hinge axis (±X) × Z at rest.
        elbow_axis = np.cross([sign, 0.0, 0.0], [0.0, 0.0, 1.0])
        g_sh, g_el = _hinge_chain(g[:, j("collar")], q("shoulder"), q("elbow"), q("wrist"),
                                  rest, j("shoulder"), j("elbow"), j("wrist"), elbow_axis)
        g[:, j("shoulder")], g[:, j("elbow")] = g_sh, g_el
        # Wrist: towards the knuckles, with the palm's normal as the second direction.
        rest_palm = np.cross(rest[j("index1")] - rest[j("wrist")],
                             rest[j("pinky1")] - rest[j("wrist")])
        palm = np.cross(q("index1") - q("wrist"), q("pinky1") - q("wrist"))
        knuckles = 0.5 * (q("index1") + q("pinky1")) - q("wrist")
        rest_knuckles = 0.5 * (rest[j("index1")] + rest[j("pinky1")]) - rest[j("wrist")]
        g[:, j("wrist")] = align(rest_knuckles, rest_palm, knuckles, palm)

    animated = np.ones(NUM_POSE_JOINTS, dtype=bool)
    for name in ("head", "left_foot", "right_foot"):
        animated[idx[name]] = False
    return locals_from_globals(g), animated
