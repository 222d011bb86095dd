"""Armatures read into the retarget's plain types (world space, metres, rotations only)."""

from __future__ import annotations

import bpy
import numpy as np

from .._core import retarget, skeleton

TargetBone = retarget.mapping.TargetBone
Skeleton = retarget.motion.Skeleton


def is_genhmr_rig(obj: bpy.types.Object | None) -> bool:
    """A rig GenHMR built (by its bones, so renamed objects and older files count too)."""
    if obj is None or obj.type != "ARMATURE":
        return False
    bones = obj.data.bones
    return all(name in bones for name in retarget.mapping.SOURCE_JOINTS)


def rotation_only(matrix: np.ndarray) -> np.ndarray:
    """The rotation of a 3x3 that may carry scale (an armature object scaled 0.01)."""
    u, _s, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def target_bones(obj: bpy.types.Object) -> list[TargetBone]:
    """Every bone in armature space, as :func:`retarget.presets.auto_map` reads them."""
    return [TargetBone(b.name, b.parent.name if b.parent else None,
                       tuple(b.head_local), tuple(b.tail_local)) for b in obj.data.bones]


def rest_skeleton(obj: bpy.types.Object, names: list[str]) -> Skeleton:
    """World-space rest rotations, heads and tails of the named bones."""
    world = np.array(obj.matrix_world)
    rot, head, tail = {}, {}, {}
    for name in names:
        bone = obj.data.bones[name]
        local = np.array(bone.matrix_local)
        rot[name] = rotation_only(world[:3, :3] @ local[:3, :3])
        head[name] = (world @ np.append(np.array(bone.head_local), 1.0))[:3]
        tail[name] = (world @ np.append(np.array(bone.tail_local), 1.0))[:3]
    return Skeleton(rest_rotation=rot, head=head, tail=tail)


def pose_rotations(obj: bpy.types.Object, names: list[str]) -> dict[str, np.ndarray]:
    """World-space rotations (3, 3) of the named pose bones as evaluated now."""
    world = np.array(obj.matrix_world)[:3, :3]
    return {n: rotation_only(world @ np.array(obj.pose.bones[n].matrix)[:3, :3])
            for n in names}


def pose_heads(obj: bpy.types.Object, names: list[str]) -> dict[str, np.ndarray]:
    """World-space heads of the named pose bones as evaluated now."""
    world = np.array(obj.matrix_world)
    return {n: (world @ np.append(np.array(obj.pose.bones[n].head), 1.0))[:3] for n in names}


def source_heads_armature(obj: bpy.types.Object) -> np.ndarray:
    """A GenHMR rig's rest bone heads (55, 3), armature space, in joint order."""
    return np.array([obj.data.bones[n].head_local for n in skeleton.JOINT_NAMES])
