"""Helpers for the body-mesh drivers: evaluated vertices and an independent skinning model."""

from __future__ import annotations

import bpy
import numpy as np
from synthetic_result import forward_kinematics

from genhmr_core import scene_space


def evaluated_local_vertices(obj: bpy.types.Object) -> np.ndarray:
    """Object-space vertices (V, 3) after modifiers and shape keys (armature space here)."""
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = ev.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
    finally:
        ev.to_mesh_clear()
    return co.reshape(-1, 3).astype(np.float64)


def evaluated_world_vertices(obj: bpy.types.Object) -> np.ndarray:
    """World-space vertices (V, 3) of ``obj`` after its modifiers and shape keys, as now."""
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mw = np.array(ev.matrix_world, dtype=np.float64)
    return evaluated_local_vertices(obj) @ mw[:3, :3].T + mw[:3, 3]


def lbs_world(body, betas: np.ndarray, rest_joints: np.ndarray, global_orient: np.ndarray,
              body_pose: np.ndarray, transl: np.ndarray, camera_height: float,
              scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Linear-blend-skinned vertices (F, V, 3) and posed joints (F, J, 3), in Blender world
    space, computed in camera space from the fixture's own forward kinematics; ``scale``: the
    person's uniform size (``JobResult.body_scale``)."""
    verts = scale * body.shaped(betas)[0]
    joints, world = forward_kinematics(rest_joints, global_orient, body_pose, transl)
    dense = body.dense_weights()  # (V, J)
    # Each joint's transform applied to every vertex, blended: R_j (v - rest_j) + joint_j.
    local = verts[None, :, None, :] - rest_joints[None, None]  # (1, V, J, 3)
    out = []
    for f in range(joints.shape[0]):
        per_joint = np.einsum("jab,vjb->vja", world[f], local[0]) + joints[f][None]
        out.append(np.einsum("vj,vja->va", dense, per_joint))
    posed = np.stack(out)
    return (scene_space.camera_to_world(posed, camera_height),
            scene_space.camera_to_world(joints, camera_height))
