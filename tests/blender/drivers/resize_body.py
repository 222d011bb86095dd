"""A person's body given a new size on a kept rig (``rig.reshape``, as after a merge that
sized the person on the floor again).

Usage: python resize_body.py RESULT.npz

Imports the result, then reshapes the first person's rig to 1.2 times their size: bones at
the scaled rest joints, the body's Basis and every shape key scaled with them, the evaluated
rest mesh ``1.2 * body.shaped(betas)``. Reshaping again at the same size leaves the mesh's
coordinates alone (an artist's sculpted shape key survives).
"""

import sys

import bpy
import numpy as np
from _driver import emit, enable, module
from _mesh_eval import evaluated_local_vertices

from genhmr_core import result_format, scene_space, skeleton

enable()
RES = result_format.load_result(sys.argv[1])
BODY = RES.body
status = bpy.ops.genhmr.import_result(filepath=sys.argv[1], frame_offset=1)
rig = bpy.data.objects[f"GenHMR_person_{int(RES.track_ids[0])}"]
body = bpy.data.objects[f"{rig.name}_body"]
reshape, mesh = module("genhmr_blender.rig.reshape"), module("genhmr_blender.rig.mesh")


def rest_mesh_error(size: float) -> float:
    bpy.context.scene.frame_set(int(RES.frame_indices[np.flatnonzero(RES.valid[0])[0]]) + 1)
    rig.data.pose_position = "REST"
    try:
        got = evaluated_local_vertices(body)
    finally:
        rig.data.pose_position = "POSE"
    want = scene_space.rest_joints_in_armature(size * BODY.shaped(RES.betas[0])[0])
    return float(np.abs(got - want).max())


out = {"status": sorted(status), "size_before": body.get(mesh.SIZE_PROPERTY),
       "error_before": rest_mesh_error(1.0)}
reshape.reshape(rig, 1.2 * RES.rest_joints[0], RES.betas[0], BODY, 1.2)
heads = np.array([rig.data.bones[n].head_local for n in skeleton.JOINT_NAMES])
out["bone_error"] = float(np.abs(
    heads - scene_space.rest_joints_in_armature(1.2 * RES.rest_joints[0])).max())
out["size_after"] = body.get(mesh.SIZE_PROPERTY)
out["error_after"] = rest_mesh_error(1.2)
# an artist's sculpt on a shape key, then the same size again: kept
key = body.data.shape_keys.key_blocks[BODY.shape_names[0]]
key.data[0].co.x += 0.05
sculpted = float(key.data[0].co.x)
reshape.reshape(rig, 1.2 * RES.rest_joints[0], RES.betas[0], BODY, 1.2)
out["sculpt_kept"] = abs(float(body.data.shape_keys.key_blocks[BODY.shape_names[0]]
                               .data[0].co.x) - sculpted) < 1e-7
# ... and a new size writes the coordinates again: the sculpt goes with the old size
reshape.reshape(rig, RES.rest_joints[0], RES.betas[0], BODY, 1.0)
out["rewritten_at_new_size"] = abs(float(body.data.shape_keys.key_blocks[BODY.shape_names[0]]
                                         .data[0].co.x) - sculpted) > 0.01
out["error_back"] = rest_mesh_error(1.0)
emit(out)
