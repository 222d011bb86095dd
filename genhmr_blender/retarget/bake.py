"""Bake a GenHMR rig's motion onto another armature: solve per frame, write keys in bulk.

The maths is :mod:`genhmr_core.retarget.motion` (world rotations and the root path). Turning
world rotations into the target's pose channels is left to Blender (``PoseBone.matrix``), one
hierarchy level at a time with a depsgraph update in between, so bone rolls, inherit flags,
scaled objects and constraint-driven parents (Rigify's MCH bones) are all handled by Blender's
own evaluation rather than re-implemented. A final check compares the evaluated pose with the
wanted one and sweeps again where a constraint made a bone depend on a later level.

Planted feet: two rigs of different proportions cannot both follow the source's limb directions
and keep a planted foot still, so where the GenHMR rig's foot contacts (keyed custom properties)
say a foot rests, the leg is bent (two-bone IK, knee in its plane, foot keeping its world
rotation) to hold the ankle where it stood when the contact began, easing out over the
stretch's last frames.

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

from .._core import limb_ik, retarget
from ..rig.fcurves import new_action, new_fcurve
from ..rig.keyframes import read_channel, replace_channel
from . import armatures

RootMode = retarget.motion.RootMode
MAX_SWEEPS = 3
SWEEP_TOLERANCE_DEG = 0.5
MAX_PIN_SHIFT = 0.1  # leg lengths: how far a pin may pull the ankle off the motion


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
    foot_lock: bool = True  # pin the feet where the source's contacts say they are planted
    contact_threshold: float = 0.5


@dataclass
class RetargetReport:
    frames: int
    bones: int
    scale: float
    action: str
    seconds: float
    sweeps: int
    warnings: list[str] = field(default_factory=list)
    pinned_frames: dict[str, int] = field(default_factory=dict)  # per side


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
    if len(fc.keyframe_points) and keep_outside:
        at, old = read_channel(fc)
        outside = (at < frames[0]) | (at > frames[-1])
        frames = np.concatenate([at[outside], frames])
        values = np.concatenate([old[outside], values])
    replace_channel(fc, frames, values)


def _plan(source: bpy.types.Object, target: bpy.types.Object,
          bone_map: dict[str, tuple[str, ...]], options: RetargetOptions) -> tuple:
    """Checks that need nothing evaluated: the mapping, the range, the root bone."""
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
    root_bone = ""
    if options.root_mode == RootMode.ROOT_BONE:
        parent = target.data.bones[bone_map["pelvis"][0]].parent
        root_bone = options.root_bone or (parent.name if parent else "")
        if not root_bone or root_bone not in target.data.bones:
            raise RetargetError("root motion on a root bone needs a bone above the hips")
    if options.rest_match:
        mapped = [b for bones in bone_map.values() for b in bones]
        missing = [b for b in mapped if b not in options.rest_match]
        if missing:
            raise RetargetError("the captured rest match lacks bones mapped since: "
                                + ", ".join(missing[:4]) + "; capture it again")
    return bone_map, root_bone


@dataclass
class _SourceMotion:
    """What pass 1 reads from the GenHMR rig at every frame (world space)."""

    rotations: dict[str, np.ndarray]  # joint -> (F, 3, 3)
    pelvis: np.ndarray  # (F, 3)
    planted: dict[str, np.ndarray] | None  # "left"/"right" -> (F,) bool; None: no contacts


def _read_source(scene: bpy.types.Scene, source: bpy.types.Object, joints: list[str],
                 frames: np.ndarray, threshold: float) -> _SourceMotion:
    contact = {side: [f"contact_{side}_heel", f"contact_{side}_foot_index"]
               for side in ("left", "right")}
    has_contacts = all(name in source for names in contact.values() for name in names)
    rotations = {j: np.empty((len(frames), 3, 3)) for j in joints}
    pelvis = np.empty((len(frames), 3))
    planted = {side: np.zeros(len(frames), bool) for side in contact}
    for i, f in enumerate(frames):
        scene.frame_set(int(f))
        for j, r in armatures.pose_rotations(source, joints).items():
            rotations[j][i] = r
        pelvis[i] = armatures.pose_heads(source, ["pelvis"])["pelvis"]
        if has_contacts:
            for side, names in contact.items():
                planted[side][i] = max(float(source[n]) for n in names) > threshold
    return _SourceMotion(rotations, pelvis, planted if has_contacts else None)


class _Poser:
    """Sets the target's pose bones from world-space wishes at one frame."""

    def __init__(self, context: bpy.types.Context, target: bpy.types.Object) -> None:
        self.context, self.target = context, target
        self.world = Matrix(target.matrix_world)

    def at(self, world: Matrix) -> None:
        self.world = world
        self.inv = world.inverted()
        self.inv_rot = self.inv.to_3x3().normalized()

    def rotate(self, bone: str, rotation: np.ndarray, head_world: np.ndarray | None = None
               ) -> None:
        """World rotation (3, 3); the head stays where its parent put it unless given."""
        pb = self.target.pose.bones[bone]
        m = (self.inv_rot @ Matrix(rotation.tolist())).to_4x4()
        m.translation = (pb.head.copy() if head_world is None
                         else self.inv @ Vector(head_world.tolist()))
        pb.matrix = m

    def move_root(self, bone: str, travel: np.ndarray) -> None:
        rest = Matrix(self.target.data.bones[bone].matrix_local)
        move = self.inv.to_3x3() @ Vector(travel.tolist())
        self.target.pose.bones[bone].matrix = Matrix.Translation(move) @ rest

    def update(self) -> None:
        self.context.view_layer.update()


def _pin_foot(poser: _Poser, leg: tuple[str, str, str], goal_weight: float,
              pin: np.ndarray, foot_rotation: np.ndarray) -> bool:
    """Bend the leg (two-bone IK, knee kept in its plane) so the ankle moves onto the pin by
    ``goal_weight``; the foot keeps its world rotation. A pin farther than
    :data:`MAX_PIN_SHIFT` leg lengths from where the motion puts the ankle is let go (False)
    rather than bending the leg out of the source's pose."""
    thigh, shin, foot = leg
    heads = armatures.pose_heads(poser.target, list(leg))
    leg_length = (np.linalg.norm(heads[shin] - heads[thigh])
                  + np.linalg.norm(heads[foot] - heads[shin]))
    if np.linalg.norm(pin - heads[foot]) > MAX_PIN_SHIFT * leg_length:
        return False
    goal = heads[foot] + goal_weight * (pin - heads[foot])
    knee, ankle = limb_ik.two_bone_ik(heads[thigh], heads[shin], heads[foot], goal)
    rots = armatures.pose_rotations(poser.target, [thigh, shin])
    turn_thigh = retarget.motion.swing(heads[shin] - heads[thigh], knee - heads[thigh])
    carried = turn_thigh @ (heads[foot] - heads[shin])
    turn_shin = retarget.motion.swing(carried, ankle - knee)
    poser.rotate(thigh, turn_thigh @ rots[thigh])
    poser.update()
    poser.rotate(shin, turn_shin @ turn_thigh @ rots[shin])
    poser.update()
    poser.rotate(foot, foot_rotation)
    poser.update()
    return True


def _legs(bone_map: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, str, str]]:
    """Per side the thigh, shin and foot bones, where each joint drives a single bone."""
    out = {}
    for side in ("left", "right"):
        chain = [bone_map.get(f"{side}_{j}", ()) for j in ("hip", "knee", "ankle")]
        if all(len(c) == 1 for c in chain):
            out[side] = (chain[0][0], chain[1][0], chain[2][0])
    return out


def bake_retarget(context: bpy.types.Context, source: bpy.types.Object,
                  target: bpy.types.Object, bone_map: dict[str, tuple[str, ...]],
                  options: RetargetOptions) -> RetargetReport:
    """Solve and key ``target`` over the frame range; raises :class:`RetargetError` before
    touching anything when it cannot run."""
    t0 = time.perf_counter()
    bone_map, root_bone = _plan(source, target, bone_map, options)
    hips = bone_map["pelvis"][0]
    scene = context.scene
    frames = np.arange(options.frame_start, options.frame_end + 1)
    joints = [j for j in retarget.mapping.SOURCE_JOINTS if j in bone_map]
    mapped = [b for j in joints for b in bone_map[j]]
    warnings: list[str] = []

    # Rest geometry of both, world space.
    src_rest = armatures.rest_skeleton(source, list(retarget.mapping.SOURCE_JOINTS))
    tgt_rest = armatures.rest_skeleton(target, mapped)
    corrections = None
    if options.rest_match:
        obj_rot = armatures.rotation_only(np.array(target.matrix_world)[:3, :3])
        tgt_rest = retarget.motion.Skeleton(
            rest_rotation={b: obj_rot @ options.rest_match[b] for b in mapped},
            head=tgt_rest.head, tail=tgt_rest.tail)
        corrections = {b: np.eye(3) for b in mapped}
    scale = retarget.motion.leg_scale(bone_map, src_rest, tgt_rest)
    src_scale = float(np.linalg.norm(np.array(source.matrix_world)[:3, 2]))
    standing = src_scale * retarget.source.standing_pelvis_height(
        armatures.source_heads_armature(source))

    # Pass 1: the source at every frame; the target's wishes from it.
    frame_before = scene.frame_current
    motion = _read_source(scene, source, joints, frames, options.contact_threshold)
    wanted = retarget.motion.target_rotations(bone_map, motion.rotations, src_rest, tgt_rest,
                                              corrections)
    path = retarget.motion.root_path(motion.pelvis, float(np.array(source.matrix_world)[2, 3]),
                                     standing, tgt_rest.head[hips], scale, options.root_mode)
    legs = _legs(bone_map) if options.foot_lock else {}
    if options.foot_lock and motion.planted is None:
        warnings.append("the source has no foot contacts: feet not pinned")
        legs = {}
    pin_weight = {s: retarget.motion.planted_weights(motion.planted[s]) for s in legs}
    pin_start = {s: retarget.motion.stretch_starts(motion.planted[s]) for s in legs}

    # Pass 2: pose the target frame by frame, level by level; collect its channels.
    warnings += _switch_rigify_to_fk(target, mapped)
    anim = target.animation_data or target.animation_data_create()
    old_action = anim.action
    anim.action = None
    for pb in target.pose.bones:
        pb.matrix_basis = Matrix.Identity(4)
    keyed = ([root_bone] if root_bone else []) + mapped
    levels = _levels(target, keyed)
    channels = {b: _rotation_keys(target.pose.bones[b]) for b in keyed}
    values = {b: np.empty((len(frames), channels[b][1])) for b in keyed}
    moved = [hips] + ([root_bone] if root_bone else [])
    locations = {b: np.empty((len(frames), 3)) for b in moved}
    poser = _Poser(context, target)
    base_world = Matrix(target.matrix_world)
    base_location = np.array(target.location)
    object_travel = options.root_mode == RootMode.OBJECT
    sweeps_used = 0
    pins: dict[str, np.ndarray] = {}
    pinned = dict.fromkeys(legs, 0)
    try:
        for i in range(len(frames)):
            world = base_world
            if object_travel:
                target.location = (base_location + path.travel[i]).tolist()
                world = Matrix.Translation(path.travel[i].tolist()) @ base_world
            poser.at(world)
            for sweep in range(MAX_SWEEPS):
                for level in levels:
                    for b in level:
                        if b == root_bone:
                            poser.move_root(b, path.travel[i])
                        else:
                            poser.rotate(b, wanted[b][i], path.hips[i] if b == hips else None)
                    poser.update()
                sweeps_used = max(sweeps_used, sweep + 1)
                got = armatures.pose_rotations(target, mapped)
                if max(_angle_deg(got[b], wanted[b][i]) for b in mapped) <= SWEEP_TOLERANCE_DEG:
                    break
            for side, leg in legs.items():
                if pin_weight[side][i] <= 0:
                    continue
                if pin_start[side][i] == i or not _pin_foot(
                        poser, leg, pin_weight[side][i], pins[side], wanted[leg[2]][i]):
                    # a planted stretch begins, or its pin was let go: pin where it stands
                    pins[side] = armatures.pose_heads(target, [leg[2]])[leg[2]]
                else:
                    pinned[side] += 1
            _collect(target, keyed, channels, values, locations, i)
    finally:
        scene.frame_set(frame_before)
        anim.action = old_action
        if object_travel:
            target.location = base_location.tolist()

    action = _keys(target, source, options, old_action, frames, keyed, channels, values,
                   locations, base_location + path.travel if object_travel else None)
    return RetargetReport(frames=len(frames), bones=len(mapped), scale=path.scale,
                          action=action.name, seconds=time.perf_counter() - t0,
                          sweeps=sweeps_used, warnings=warnings,
                          pinned_frames=pinned)


def _collect(target: bpy.types.Object, keyed: list[str], channels: dict, values: dict,
             locations: dict, i: int) -> None:
    """Frame ``i``'s pose channels of the keyed bones, continuous with the frame before."""
    for b in keyed:
        pb = target.pose.bones[b]
        _prop, n = channels[b]
        if n == 4:
            q = pb.matrix_basis.to_quaternion()
            if i and np.dot(values[b][i - 1], q) < 0:  # the short way between frames
                q.negate()
            values[b][i] = q
        else:
            prev = pb.rotation_euler if i == 0 else _euler(values[b][i - 1], pb.rotation_mode)
            values[b][i] = pb.matrix_basis.to_euler(pb.rotation_mode, prev)
        if b in locations:
            locations[b][i] = pb.matrix_basis.to_translation()


def _keys(target: bpy.types.Object, source: bpy.types.Object, options: RetargetOptions,
          old_action: bpy.types.Action | None, frames: np.ndarray, keyed: list[str],
          channels: dict, values: dict, locations: dict,
          object_path: np.ndarray | None) -> bpy.types.Action:
    """Write every channel in bulk into a new action or, replacing in range, the current one."""
    if options.new_action or old_action is None:
        if old_action is not None:
            old_action.use_fake_user = True  # kept in the file for the artist
        action = new_action(target, options.action_name or f"{target.name}_from_{source.name}")
        keep_outside = False
    else:
        action, keep_outside = old_action, True
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
    if object_path is not None:
        for axis in range(3):
            _write(action, target, "location", axis, "Object Transforms", key_frames,
                   object_path[:, axis], keep_outside)
    return action


def _euler(values: np.ndarray, order: str) -> Euler:
    return Euler(values.tolist(), order)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def capture_rest_match(target: bpy.types.Object, bones: list[str]) -> dict[str, np.ndarray]:
    """The target's current pose (armature-space rotations) as the match for our rest pose."""
    return {b: armatures.rotation_only(np.array(target.pose.bones[b].matrix)[:3, :3])
            for b in bones}
