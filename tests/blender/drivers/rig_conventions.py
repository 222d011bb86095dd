"""Check the conventions that make a GenHMR rig editable by hand.

Usage: python rig_conventions.py RESULT.npz

* The root's location channels are the world's axes: its rest frame, and what raising the hips
  by the Y channel does to the pelvis in the world.
* Paste Flipped Pose: Blender's flip rule (swap left/right names with its own flip_name,
  negate location X, negate the quaternion's Y and Z) applied to a posed frame gives the mirror
  image of the pose in the world (each joint at its partner's place, X negated).
"""

import sys

import bpy
import numpy as np
from _driver import emit, enable

enable()
bpy.ops.genhmr.import_result(filepath=sys.argv[1], with_mesh=False)
rig = bpy.data.objects["GenHMR_person_3"]
scene = bpy.context.scene
scene.frame_set(scene.frame_start + 1)
names = [b.name for b in rig.pose.bones]


def heads() -> dict[str, np.ndarray]:
    bpy.context.view_layer.update()
    return {n: np.array(rig.matrix_world @ rig.pose.bones[n].head) for n in names}


channels = {n: (rig.pose.bones[n].location.copy(), rig.pose.bones[n].rotation_quaternion.copy())
            for n in names}
posed = heads()
rig.animation_data.action = None  # edit the pose by hand from here (as the pose stays)

# Raising the hips: the pelvis location's Y channel.
pelvis = rig.pose.bones["pelvis"]
pelvis.location[1] += 0.1
raised = heads()["pelvis"] - posed["pelvis"]
pelvis.location[1] -= 0.1

# Paste Flipped Pose, by Blender's rule.
flip = {n: bpy.utils.flip_name(n) for n in names}
for n in names:
    loc, quat = channels[flip[n]]
    pb = rig.pose.bones[n]
    pb.location = (-loc.x, loc.y, loc.z)
    pb.rotation_quaternion = (quat.w, quat.x, -quat.y, -quat.z)
flipped = heads()
mirror = np.diag([-1.0, 1.0, 1.0])
error = max(float(np.linalg.norm(flipped[n] - mirror @ posed[flip[n]])) for n in names)
moved = max(float(np.linalg.norm(posed[n] - posed["pelvis"])) for n in names)
emit({"pelvis_rest": [list(r) for r in rig.data.bones["pelvis"].matrix_local.to_3x3()],
      "raised": raised.tolist(), "paired": sum(flip[n] != n for n in names),
      "flip_error_m": error, "pose_extent_m": moved,
      "asymmetric_pose": max(float(np.linalg.norm(posed[n] - mirror @ posed[flip[n]]))
                             for n in names)})
