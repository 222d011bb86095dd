"""The retarget itself: source world rotations in, target world rotations and root path out.

Everything is in world space (metres, Z up), so rolls, axis conventions and object transforms
of either armature never enter: a target bone turns in the world exactly as the source bone it
follows turns away from its rest,

    R_target(t) = R_source(t) · R_source_rest⁻¹ · C · R_target_rest,

where ``C`` is the rest-pose correction: the smallest turn that lays the target's rest limb
along the source's (an A-posed character's arm onto our T-pose, a foot pointing down onto ours).
With it a mapped limb points where the source's points in every frame, whatever the two rest
poses; "use current pose as rest match" replaces ``R_target_rest`` by the pose the artist set up
to match our rest pose and drops ``C``.

Limb directions run from a bone's head to the head of the next mapped bone along the body (the
next in its chain, else the first bone of the next mapped joint), the same way on both sides, so
split or oddly-pointing bones (Rigify's two-piece thighs, control bones whose tail points
anywhere) do not matter; only leaves (hand, toe, head) use their own tail.

Root motion: the hips follow the source's pelvis with every displacement scaled by the ratio of
leg lengths (hip to knee to ankle), so a shorter character takes the same steps in proportion
and keeps its feet on its floor: in the rest pose both stand, and excursions from it scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .mapping import BoneMap

# Along which joint a joint's limb continues (pelvis up the spine, the collar out to the arm).
MAIN_CHILD: dict[str, str] = {
    "pelvis": "spine1", "spine1": "spine2", "spine2": "spine3", "spine3": "neck",
    "neck": "head",
    **{f"{s}_{a}": f"{s}_{b}" for s in ("left", "right")
       for a, b in (("collar", "shoulder"), ("shoulder", "elbow"), ("elbow", "wrist"),
                    ("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"))}}
MAX_CORRECTION_DEG = 100.0  # a larger "correction" means a control bone, not a limb: skip it
_MIN_LIMB = 0.01  # metres


@dataclass(frozen=True)
class Skeleton:
    """Rest geometry of one side, world space: per bone (source: per joint) the rest rotation
    (3, 3, rotation only), head and tail."""

    rest_rotation: Mapping[str, np.ndarray]
    head: Mapping[str, np.ndarray]
    tail: Mapping[str, np.ndarray]


class RootMode:
    """Where the horizontal root motion goes."""

    HIPS = "HIPS"  # all of it on the hips bone
    ROOT_BONE = "ROOT_BONE"  # on the bone the hips hang from (Unreal's root); hips keep height
    OBJECT = "OBJECT"  # on the armature object
    IN_PLACE = "IN_PLACE"  # dropped: the character moves on the spot

    ALL = (HIPS, ROOT_BONE, OBJECT, IN_PLACE)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) turning direction ``a`` onto ``b``."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = float(np.linalg.norm(axis)), float(np.dot(a, b))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        helper = np.eye(3)[int(np.argmin(np.abs(a)))]  # half turn about any perpendicular
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def _next_mapped(joint: str, bone_map: BoneMap) -> str | None:
    """The first joint down the limb from ``joint`` that drives a bone."""
    child = MAIN_CHILD.get(joint)
    while child is not None and not bone_map.get(child):
        child = MAIN_CHILD.get(child)
    return child


def limb_directions(bone_map: BoneMap, source: Skeleton, target: Skeleton
                    ) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """Per target bone: (its joint, source rest direction, target rest direction), both
    world-space and unnormalised; zero vectors where a direction is undefined."""
    out: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    for joint, bones in bone_map.items():
        nxt = _next_mapped(joint, bone_map)
        if nxt is not None:
            src_dir = source.head[nxt] - source.head[joint]
        else:
            src_dir = source.tail[joint] - source.head[joint]
        for i, bone in enumerate(bones):
            if i + 1 < len(bones):
                tgt_dir = target.head[bones[i + 1]] - target.head[bone]
            elif nxt is not None:
                tgt_dir = target.head[bone_map[nxt][0]] - target.head[bone]
            else:
                tgt_dir = target.tail[bone] - target.head[bone]
            out[bone] = (joint, np.asarray(src_dir, float), np.asarray(tgt_dir, float))
    return out


def rest_corrections(bone_map: BoneMap, source: Skeleton, target: Skeleton
                     ) -> dict[str, np.ndarray]:
    """``C`` per target bone (see the module docstring); identity where a direction is
    undefined or the turn is larger than :data:`MAX_CORRECTION_DEG`."""
    out: dict[str, np.ndarray] = {}
    for bone, (_joint, src_dir, tgt_dir) in limb_directions(bone_map, source, target).items():
        out[bone] = np.eye(3)
        if np.linalg.norm(src_dir) < _MIN_LIMB or np.linalg.norm(tgt_dir) < _MIN_LIMB:
            continue
        turn = swing(tgt_dir, src_dir)
        angle = np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1, 1)))
        if angle <= MAX_CORRECTION_DEG:
            out[bone] = turn
    return out


def target_rotations(bone_map: BoneMap, source_rotations: Mapping[str, np.ndarray],
                     source: Skeleton, target: Skeleton,
                     corrections: Mapping[str, np.ndarray] | None = None
                     ) -> dict[str, np.ndarray]:
    """World rotations (F, 3, 3) of every mapped target bone.

    ``source_rotations[joint]`` is (F, 3, 3). Without ``corrections`` they are computed by
    :func:`rest_corrections`; pass identities for "use current pose as rest match".
    """
    if corrections is None:
        corrections = rest_corrections(bone_map, source, target)
    out: dict[str, np.ndarray] = {}
    for joint, bones in bone_map.items():
        delta = np.asarray(source_rotations[joint]) @ source.rest_rotation[joint].T
        for bone in bones:
            out[bone] = delta @ (corrections[bone] @ target.rest_rotation[bone])
    return out


def leg_length(head: Mapping[str, np.ndarray], hip: str, knee: str, ankle: str) -> float:
    return float(np.linalg.norm(head[knee] - head[hip]) + np.linalg.norm(head[ankle] - head[knee]))


def leg_scale(bone_map: BoneMap, source: Skeleton, target: Skeleton) -> float:
    """Target leg length over source leg length (mean of both legs; 1 when unmapped)."""
    ratios = []
    for side in ("left", "right"):
        joints = [f"{side}_{j}" for j in ("hip", "knee", "ankle")]
        if not all(bone_map.get(j) for j in joints):
            continue
        src = leg_length(source.head, *joints)
        tgt = leg_length(target.head, *(bone_map[j][0] for j in joints))
        if src > _MIN_LIMB:
            ratios.append(tgt / src)
    return float(np.mean(ratios)) if ratios else 1.0


@dataclass(frozen=True)
class RootPath:
    """Where the hips go (F, 3, world) and, when a root bone or the object carries it, the
    travel across the floor (F, 3, world displacement from the first frame; zeros otherwise)."""

    hips: np.ndarray
    travel: np.ndarray
    scale: float


def root_path(pelvis: np.ndarray, source_floor: float, source_standing_height: float,
              target_rest_hips: np.ndarray, scale: float, mode: str = RootMode.HIPS
              ) -> RootPath:
    """The target's hips path for the source's pelvis path ``pelvis`` (F, 3, world).

    Height: when the source's pelvis is ``source_standing_height`` above its floor (standing in
    its rest pose) the target's hips are at their rest height (the character modelled standing
    on its floor); every change from there is scaled. Across the floor: the target starts where
    it stands and travels the source's path scaled (``IN_PLACE``: it does not). With
    ``ROOT_BONE`` or ``OBJECT`` the travel is also returned on its own, for the root bone or the
    object to carry (the hips then ride along and keep only their sway relative to it).
    """
    if mode not in RootMode.ALL:
        raise ValueError(f"unknown root motion mode {mode!r}")
    pelvis = np.asarray(pelvis, dtype=np.float64).reshape(-1, 3)
    travel = np.zeros_like(pelvis)
    if len(pelvis):
        travel[:, :2] = scale * (pelvis[:, :2] - pelvis[0, :2])
    hips = np.empty_like(pelvis)
    hips[:, :2] = np.asarray(target_rest_hips)[:2]
    hips[:, 2] = target_rest_hips[2] + scale * (pelvis[:, 2] - source_floor
                                                 - source_standing_height)
    if mode != RootMode.IN_PLACE:
        hips[:, :2] += travel[:, :2]
    if mode in (RootMode.HIPS, RootMode.IN_PLACE):
        travel = np.zeros_like(travel)
    return RootPath(hips=hips, travel=travel, scale=scale)


def limb_angle_errors(source_dirs: Sequence[np.ndarray], target_dirs: Sequence[np.ndarray]
                      ) -> np.ndarray:
    """Angles in degrees between paired direction vectors (..., 3) (for checks and reports)."""
    a = np.asarray(source_dirs, dtype=np.float64)
    b = np.asarray(target_dirs, dtype=np.float64)
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def planted_weights(planted: np.ndarray, ramp: int = 3) -> np.ndarray:
    """How strongly to pin a foot (F,) from per-frame "planted" flags: 1 through each planted
    stretch, easing towards 0 over its last ``ramp`` frames (at most half the stretch) so the
    foot leaves its pin without a pop (a stretch starts at the foot's own place, so it needs no
    easing in)."""
    planted = np.asarray(planted, dtype=bool)
    weights = planted.astype(np.float64)
    f = 0
    while f < len(planted):
        if not planted[f]:
            f += 1
            continue
        end = f
        while end + 1 < len(planted) and planted[end + 1]:
            end += 1
        # a short stretch keeps its middle fully pinned; one running to the last frame has
        # nothing to let go into
        n = 0 if end == len(planted) - 1 else min(ramp, (end - f) // 2)
        for k in range(n):  # the last n frames: (n-k)/(n+1) ... 1/(n+1)
            weights[end - k] = (k + 1) / (n + 1)
        f = end + 1
    return weights


def stretch_starts(planted: np.ndarray) -> np.ndarray:
    """Index (F,) of the first frame of the planted stretch each frame belongs to (-1: none)."""
    planted = np.asarray(planted, dtype=bool)
    out = np.full(len(planted), -1)
    for f in range(len(planted)):
        if planted[f]:
            out[f] = out[f - 1] if f and planted[f - 1] else f
    return out


