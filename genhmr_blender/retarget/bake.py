"""Bake a GenHMR rig's motion onto another armature: solve per frame, write keys in bulk.

The maths is :mod:`genhmr_core.retarget.motion` (world rotations and the root path). Turning
world rotations into the target's pose channels is left to Blender (``PoseBone.matrix``), one
hierarchy level at a time with a depsgraph update in between, so bone rolls, inherit flags,
scaled objects and constraint-driven parents (Rigify's MCH bones) are all handled by Blender's
own evaluation rather than re-implemented. A final check compares the evaluated pose with the
wanted one and sweeps again where a constraint made a bone depend on a later level.

Nothing is left behind: no helper objects or constraints; the target's pose is reset to rest
for the solve (unmapped bones such as fingers and twist bones stay at rest), the scene frame is
restored, and keys go into one new action (the previous one kept with a fake user so saving the
file does not drop it) or replace the baked channels of the current action inside the range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Euler, Matrix, Vector

from .._core import retarget
from ..rig.fcurves import new_action, new_fcurve
from ..rig.keyframes import write_channel
from . import armatures

RootMode = retarget.motion.RootMode
MAX_SWEEPS = 3
SWEEP_TOLERANCE_DEG = 0.5


class RetargetError(ValueError):
    """The retarget cannot run; the message says why in one sentence for the artist."""


@dataclass
class RetargetOptions:
    frame_start: int
    frame_end: int
    root_mode: str = RootMode.HIPS
    root_bone: str = ""  # ROOT_BONE mode: the bone that carries the travel ("" = hips' parent)
    # "Use current pose as rest match": armature-space rotations (3, 3) per target bone.
    rest_match: dict[str, np.ndarray] | None = None
    new_action: bool = True
    action_name: str = ""


@dataclass
class RetargetReport:
    frames: int
    bones: int
    scale: float
    action: str
    seconds: float
    sweeps: int
    warnings: list[str] = field(default_factory=list)


def _rotation_keys(pb: bpy.types.PoseBone) -> tuple[str, int]:
    if pb.rotation_mode == "QUATERNION":
        return "rotation_quaternion", 4
    if pb.rotation_mode == "AXIS_ANGLE":
        pb.rotation_mode = "QUATERNION"  # keys as quaternions; the artist's choice otherwise
        return "rotation_quaternion", 4
    return "rotation_euler", 3


def _levels(obj: bpy.types.Object, bones: list[str]) -> list[list[str]]:
    """Bones grouped by depth in the hierarchy, shallowest first."""
    def depth(name: str) -> int:
        return len(obj.data.bones[name].parent_recursive)
    by_depth: dict[int, list[str]] = {}
    for b in bones:
        by_depth.setdefault(depth(b), []).append(b)
    return [by_depth[d] for d in sorted(by_depth)]


def _switch_rigify_to_fk(obj: bpy.types.Object, bones: list[str]) -> list[str]:
    """Rigify limbs follow their FK controls only with IK_FK = 1."""
    if not any("_fk" in b for b in bones):
        return []
    switched = [pb.name for pb in obj.pose.bones if "IK_FK" in pb and pb["IK_FK"] != 1.0]
    for name in switched:
        obj.pose.bones[name]["IK_FK"] = 1.0
    return [f"switched {len(switched)} Rigify limbs to FK"] if switched else []


def _write(action: bpy.types.Action, obj: bpy.types.Object, path: str, index: int, group: str,
           frames: np.ndarray, values: np.ndarray, keep_outside: bool) -> None:
    """Key one channel; with ``keep_outside`` keys of an existing channel outside the baked
    frames stay (re-baking a range of a longer animation)."""
    fc = new_fcurve(action, obj, path, index, group)
    points = fc.keyframe_points
    if len(points):
        old = np.empty(2 * len(points))
        points.foreach_get("co", old)
        old = old.reshape(-1, 2)
        outside = (old[:, 0] < frames[0]) | (old[:, 0] > frames[-1]) if keep_outside else \
            np.zeros(len(old), bool)
        if hasattr(points, "clear"):
            points.clear()
        else:  # 4.2
            while len(points):
                points.remove(points[-1], fast=True)
        merged = np.concatenate([old[outside], np.stack([frames, values], -1)])
        merged = merged[np.argsort(merged[:, 0], kind="stable")]
        frames, values = merged[:, 0], merged[:, 1]
    write_channel(fc, frames, values)


def bake_retarget(context: bpy.types.Context, source: bpy.types.Object, target: bpy.types.Object,
             bone_map: dict[str, tuple[str, ...]], options: RetargetOptions) -> RetargetReport:
    """Solve and key ``target`` over the frame range; raises :class:`RetargetError` before
    touching anything when it cannot run."""
    t0 = time.perf_counter()
    if not armatures.is_genhmr_rig(source):
        raise RetargetError("the source is not a GenHMR rig")
    if target is None or target.type != "ARMATURE":
        raise RetargetError("select the armature to retarget onto")
    if target == source:
        raise RetargetError("the target is the source rig itself; select another armature")
    try:
        bone_map = retarget.mapping.check(bone_map, armatures.target_bones(target))
    except retarget.mapping.MappingError as exc:
        raise RetargetError(f"the bone mapping cannot be used: {exc}") from None
    if options.frame_end < options.frame_start:
        raise RetargetError("the frame range is empty")
    hips = bone_map["pelvis"][0]
    root_bone = ""
    if options.root_mode == RootMode.ROOT_BONE:
        parent = target.data.bones[hips].parent
        root_bone = options.root_bone or (parent.name if parent else "")
        if not root_bone or root_bone not in target.data.bones:
            raise RetargetError("root motion on a root bone needs a bone above the hips")
    scene = context.scene
    frames = np.arange(options.frame_start, options.frame_end + 1)
    joints = [j for j in retarget.mapping.SOURCE_JOINTS if j in bone_map]
    mapped = [b for j in joints for b in bone_map[j]]

    # Rest geometry of both, world space.
    src_rest = armatures.rest_skeleton(source, list(retarget.mapping.SOURCE_JOINTS))
    tgt_rest = armatures.rest_skeleton(target, mapped)
    corrections = None
    if options.rest_match:
        missing = [b for b in mapped if b not in options.rest_match]
        if missing:
            raise RetargetError("the captured rest match lacks bones mapped since: "
                                + ", ".join(missing[:4]) + "; capture it again")
        obj_rot = armatures.rotation_only(np.array(target.matrix_world)[:3, :3])
        tgt_rest = retarget.motion.Skeleton(
            rest_rotation={b: obj_rot @ options.rest_match[b] for b in mapped},
            head=tgt_rest.head, tail=tgt_rest.tail)
        corrections = {b: np.eye(3) for b in mapped}
    scale = retarget.motion.leg_scale(bone_map, src_rest, tgt_rest)
    src_scale = float(np.linalg.norm(np.array(source.matrix_world)[:3, 2]))
    standing = src_scale * retarget.source.standing_pelvis_height(
        armatures.source_heads_armature(source))

    # Pass 1: the source's world rotations and pelvis at every frame.
    frame_before = scene.frame_current
    rotations = {j: np.empty((len(frames), 3, 3)) for j in joints}
    pelvis = np.empty((len(frames), 3))
    for i, f in enumerate(frames):
        scene.frame_set(int(f))
        for j, r in armatures.pose_rotations(source, joints).items():
            rotations[j][i] = r
        pelvis[i] = armatures.pose_heads(source, ["pelvis"])["pelvis"]
    wanted = retarget.motion.target_rotations(bone_map, rotations, src_rest, tgt_rest,
                                              corrections)
    path = retarget.motion.root_path(pelvis, float(np.array(source.matrix_world)[2, 3]),
                                     standing, tgt_rest.head[hips], scale, options.root_mode)

    # Pass 2: pose the target frame by frame, level by level; collect its channels.
    warnings = _switch_rigify_to_fk(target, mapped)
    anim = target.animation_data or target.animation_data_create()
    old_action = anim.action
    anim.action = None
    for pb in target.pose.bones:
        pb.matrix_basis = Matrix.Identity(4)
    levels = _levels(target, ([root_bone] if root_bone else []) + mapped)
    keyed = ([root_bone] if root_bone else []) + mapped
    channels = {b: _rotation_keys(target.pose.bones[b]) for b in keyed}
    values = {b: np.empty((len(frames), channels[b][1])) for b in keyed}
    locations = {b: np.empty((len(frames), 3)) for b in {hips, *([root_bone] if root_bone else [])}}
    base_world = Matrix(target.matrix_world)
    base_location = np.array(target.location)
    object_travel = options.root_mode == RootMode.OBJECT
    sweeps_used = 0
    try:
        for i in range(len(frames)):
            world = base_world
            if object_travel:
                target.location = (base_location + path.travel[i]).tolist()
                world = Matrix.Translation(path.travel[i].tolist()) @ base_world
            inv = world.inverted()
            inv_rot = inv.to_3x3().normalized()
            for sweep in range(MAX_SWEEPS):
                for level in levels:
                    for b in level:
                        pb = target.pose.bones[b]
                        if b == root_bone:
                            rest = Matrix(target.data.bones[b].matrix_local)
                            move = inv.to_3x3() @ Vector(path.travel[i].tolist())
                            pb.matrix = Matrix.Translation(move) @ rest
                            continue
                        rot = inv_rot @ Matrix(wanted[b][i].tolist())
                        head = (inv @ Matrix.Translation(path.hips[i].tolist()).to_translation()
                                if b == hips else pb.head.copy())
                        m = rot.to_4x4()
                        m.translation = head
                        pb.matrix = m
                    context.view_layer.update()
                sweeps_used = max(sweeps_used, sweep + 1)
                got = armatures.pose_rotations(target, mapped)
                worst = max(_angle_deg(got[b], wanted[b][i]) for b in mapped)
                if worst <= SWEEP_TOLERANCE_DEG:
                    break
            for b in keyed:
                pb = target.pose.bones[b]
                prop, n = channels[b]
                if n == 4:
                    q = pb.matrix_basis.to_quaternion()
                    if i and np.dot(values[b][i - 1], q) < 0:  # the short way between frames
                        q.negate()
                    values[b][i] = q
                else:
                    prev = pb.rotation_euler if i == 0 else _euler(values[b][i - 1],
                                                                  pb.rotation_mode)
                    values[b][i] = pb.matrix_basis.to_euler(pb.rotation_mode, prev)
                if b in locations:
                    locations[b][i] = pb.matrix_basis.to_translation()
    finally:
        scene.frame_set(frame_before)
        anim.action = old_action
        if object_travel:
            target.location = base_location.tolist()

    # Keys, in bulk.
    if options.new_action or old_action is None:
        if old_action is not None:
            old_action.use_fake_user = True  # kept in the file for the artist
        action = new_action(target, options.action_name or f"{target.name}_from_{source.name}")
        keep_outside = False
    else:
        action = old_action
        keep_outside = True
    key_frames = frames.astype(np.float64)
    for b in keyed:
        prop, n = channels[b]
        for axis in range(n):
            _write(action, target, f'pose.bones["{b}"].{prop}', axis, b, key_frames,
                   values[b][:, axis], keep_outside)
        if b in locations:
            for axis in range(3):
                _write(action, target, f'pose.bones["{b}"].location', axis, b, key_frames,
                       locations[b][:, axis], keep_outside)
    if object_travel:
        for axis in range(3):
            _write(action, target, "location", axis, "Object Transforms", key_frames,
                   base_location[axis] + path.travel[:, axis], keep_outside)
    return RetargetReport(frames=len(frames), bones=len(mapped), scale=path.scale,
                          action=action.name, seconds=time.perf_counter() - t0,
                          sweeps=sweeps_used, warnings=warnings)


def _euler(values: np.ndarray, order: str) -> Euler:
    return Euler(values.tolist(), order)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def capture_rest_match(target: bpy.types.Object, bones: list[str]) -> dict[str, np.ndarray]:
    """The target's current pose (armature-space rotations) as the match for our rest pose."""
    return {b: armatures.rotation_only(np.array(target.pose.bones[b].matrix)[:3, :3])
            for b in bones}
