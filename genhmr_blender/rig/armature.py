"""One armature per tracked person, built from the person's rest joints.

Bones carry the 55 SMPL-X joint names and hierarchy. Heads sit at the rest joints (armature
space, Z up, facing -Y); tails point at the joint's main child so the rig reads naturally in the
viewport, and leaves continue their parent's direction. Bone rolls are left to Blender: the pose
maths reads each bone's actual rest orientation back (``matrix_local``), so any roll is correct.

Two conventions make the rig pleasant to edit by hand:

* The root (pelvis) bone points straight up with no roll, so its location channels are the
  world's axes (X: the character's left, Y: up, Z: forward): raising the hips in the Graph
  Editor is one curve, not a diagonal of three.
* Left and right bones are exact mirror images (mirrored heads and tails, roll 0 on both sides,
  and ``left_``/``right_`` names Blender's flip rules know), so X-Axis Mirror and Paste Flipped
  Pose work. The tests check both.
"""

from __future__ import annotations

import bpy
import numpy as np

from .._core import scene_space, skeleton

# Where a joint with several children points its tail.
_MAIN_CHILD = {"spine3": "neck", "left_wrist": "left_middle1", "right_wrist": "right_middle1"}
# The root points straight up (world-aligned location channels), as long as to its main child.
_ROOT_UP = ("pelvis", "spine1")
# Leaf bones with a fixed direction (armature space) instead of following their parent.
_LEAF_DIRECTION = {"head": (0.0, 0.0, 1.0), "jaw": (0.0, -1.0, -0.5),
                   "left_eye_smplhf": (0.0, -1.0, 0.0), "right_eye_smplhf": (0.0, -1.0, 0.0),
                   "left_foot": (0.0, -1.0, 0.0), "right_foot": (0.0, -1.0, 0.0)}
_LEAF_LENGTH = {"head": 0.2, "jaw": 0.06, "left_eye_smplhf": 0.02, "right_eye_smplhf": 0.02,
                "left_foot": 0.08, "right_foot": 0.08}
MIN_BONE = 0.01


def bone_tails(heads: np.ndarray) -> np.ndarray:
    """Tail positions (J, 3) for bones whose heads are ``heads`` (armature space)."""
    names, parents = skeleton.JOINT_NAMES, skeleton.PARENTS
    index = skeleton.JOINT_INDEX
    tails = np.empty_like(heads)
    for j, name in enumerate(names):
        if name == _ROOT_UP[0]:
            length = float(np.linalg.norm(heads[index[_ROOT_UP[1]]] - heads[j]))
            tails[j] = heads[j] + np.array([0.0, 0.0, max(length, 10 * MIN_BONE)])
            continue
        kids = skeleton.children(j)
        target = None
        if name in _MAIN_CHILD:
            target = heads[index[_MAIN_CHILD[name]]]
        elif len(kids) == 1:
            target = heads[kids[0]]
        if target is not None and np.linalg.norm(target - heads[j]) > MIN_BONE:
            tails[j] = target
            continue
        if name in _LEAF_DIRECTION:
            direction = np.asarray(_LEAF_DIRECTION[name])
            length = _LEAF_LENGTH[name]
        else:  # continue the parent's direction (fingertips)
            p = parents[j]
            direction = heads[j] - heads[p] if p >= 0 else np.array([0.0, 0.0, 1.0])
            length = max(0.5 * float(np.linalg.norm(direction)), MIN_BONE * 2)
        norm = float(np.linalg.norm(direction))
        direction = direction / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])
        tails[j] = heads[j] + direction * length
    return tails


def build_armature(name: str, rest_joints: np.ndarray, collection: bpy.types.Collection,
                   view_layer: bpy.types.ViewLayer) -> bpy.types.Object:
    """Create and link an armature object; returns it in object mode, at the world origin."""
    data = bpy.data.armatures.new(name)
    data.display_type = "OCTAHEDRAL"
    obj = bpy.data.objects.new(name, data)
    obj.show_in_front = True  # stay visible over the footage in camera view
    collection.objects.link(obj)
    heads = scene_space.rest_joints_in_armature(rest_joints)
    tails = bone_tails(heads)

    previous_active = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = data.edit_bones
        created = []
        for j, bone_name in enumerate(skeleton.JOINT_NAMES):
            eb = edit_bones.new(bone_name)
            eb.head = heads[j].tolist()
            eb.tail = tails[j].tolist()
            eb.roll = 0.0
            created.append(eb)
        for j, parent in enumerate(skeleton.PARENTS):
            if parent >= 0:
                created[j].parent = created[parent]
                created[j].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active
    for pbone in obj.pose.bones:
        pbone.rotation_mode = "QUATERNION"
    return obj


def bone_rest_rotations(obj: bpy.types.Object) -> np.ndarray:
    """(J, 3, 3) rest orientation of each bone in armature space, in JOINT_NAMES order."""
    bones = obj.data.bones
    out = np.empty((skeleton.NUM_JOINTS, 3, 3))
    for j, name in enumerate(skeleton.JOINT_NAMES):
        out[j] = np.array(bones[name].matrix_local.to_3x3())
    return out
