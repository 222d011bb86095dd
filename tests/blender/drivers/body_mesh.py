"""Import a result with a body: the skinned mesh per person, measured against numpy.

Usage: python body_mesh.py RESULT.npz

1. Through the import operator (defaults: mesh on, preserve volume on): structure of each mesh
   (counts, vertex groups, modifier, parent, shape keys), its evaluated rest pose against
   ``body.shaped(betas)`` (at the person's ``body_scale``) in armature space, and its posed
   frames against linear blend skinning (loosely: dual quaternions differ from it by design).
2. ``build_result`` with ``preserve_volume=False``: posed frames against linear blend skinning
   (tightly: the same maths).
3. A failure while building the second mesh leaves ``bpy.data`` as it was.
"""

import sys
import time

import bpy
import numpy as np
from _driver import data_counts, emit, enable, fcurves_of, module
from _mesh_eval import evaluated_local_vertices, evaluated_world_vertices, lbs_world

from genhmr_core import result_format, scene_space, skeleton


def structure(obj: bpy.types.Object, rig: bpy.types.Object, betas: np.ndarray) -> dict:
    me = obj.data
    keys = me.shape_keys.key_blocks if me.shape_keys else []
    mods = [m for m in obj.modifiers if m.type == "ARMATURE"]
    dense = np.zeros((len(me.vertices), skeleton.NUM_JOINTS))
    for v in me.vertices:
        for g in v.groups:
            dense[v.index, g.group] = g.weight
    uv_error = None
    if len(me.uv_layers):
        uv = np.empty(len(me.loops) * 2, dtype=np.float32)
        me.uv_layers[0].data.foreach_get("uv", uv)
        uv_error = float(np.abs(uv.reshape(-1, 3, 2) - BODY.uvs).max())
    loops = np.empty(len(me.loops), dtype=np.int32)
    me.loops.foreach_get("vertex_index", loops)
    return {
        "vertices": len(me.vertices), "polygons": len(me.polygons),
        "faces_equal": loops.shape == (BODY.faces.size,)
        and bool(np.array_equal(loops.reshape(-1, 3), BODY.faces)),
        "triangles": all(p.loop_total == 3 for p in me.polygons),
        "smooth": all(p.use_smooth for p in me.polygons),
        "groups": [g.name for g in obj.vertex_groups],
        "max_weight_error": float(np.abs(dense - BODY.dense_weights()).max()),
        "modifiers": [(m.type, m.object.name if m.object else None,
                       m.use_deform_preserve_volume) for m in mods],
        "parent": obj.parent.name if obj.parent else None,
        "parent_inverse_identity": np.allclose(np.array(obj.matrix_parent_inverse), np.eye(4)),
        "matrix_world_equals_rig": np.allclose(np.array(obj.matrix_world),
                                               np.array(rig.matrix_world)),
        "shape_keys": [k.name for k in keys],
        "shape_values": [k.value for k in keys][1:],
        "betas": betas.tolist(),
        "slider_ranges": [[k.slider_min, k.slider_max] for k in keys][1:],
        "materials": [m.name for m in me.materials if m],
        "uv_layers": len(me.uv_layers), "uv_error": uv_error,
        "in_collection": obj.name in COLL.objects,
    }


def visibility(obj: bpy.types.Object) -> list[list]:
    """(frame, hidden) keys of the body's ``hide_viewport`` channel."""
    curves = [fc for fc in fcurves_of(obj) if fc.data_path == "hide_viewport"]
    return [[round(k.co.x), bool(k.co.y)] for fc in curves for k in fc.keyframe_points]


def rest_error(obj: bpy.types.Object, rig: bpy.types.Object, betas: np.ndarray, p: int
               ) -> float:
    """Evaluated mesh in the rest pose vs body.shaped(betas) mapped to armature space (m), at a
    frame where the person is tracked (outside it the body is keyed hidden)."""
    scene.frame_set(int(RES.frame_indices[np.flatnonzero(RES.valid[p])[0]]) + 1)
    rig.data.pose_position = "REST"
    try:
        got = evaluated_local_vertices(obj)
    finally:
        rig.data.pose_position = "POSE"
    want = scene_space.rest_joints_in_armature(RES.body_scales()[p] * BODY.shaped(betas)[0])
    return float(np.abs(got - want).max())


def posed_errors(mesh_name: str, p: int) -> dict:
    """Per valid frame: max and mean distance (m) between Blender's and numpy's LBS vertices."""
    obj = bpy.data.objects[mesh_name]
    lbs, _ = lbs_world(BODY, RES.betas[p], RES.rest_joints[p], RES.global_orient[p],
                       RES.body_pose[p], RES.transl[p], HEIGHT, RES.body_scales()[p])
    worst = mean = 0.0
    frames = np.flatnonzero(RES.valid[p])
    for f in frames:
        scene.frame_set(int(RES.frame_indices[f]) + 1)
        d = np.linalg.norm(evaluated_world_vertices(obj) - lbs[f], axis=1)
        worst, mean = max(worst, float(d.max())), max(mean, float(d.mean()))
    return {"max": worst, "mean": mean, "frames": len(frames)}


enable()
path = sys.argv[1]
RES = result_format.load_result(path)
BODY = RES.body
scene = bpy.context.scene
out: dict = {"before": data_counts()}

t0 = time.perf_counter()
status = bpy.ops.genhmr.import_result(filepath=path, frame_offset=1)
out["import_seconds"] = time.perf_counter() - t0
out["status"] = sorted(status)
out["after"] = data_counts()
COLL = next(c for c in bpy.data.collections if c.name.startswith("GenHMR "))
HEIGHT = next(o for o in COLL.objects if o.type == "CAMERA").location.z
people = {}
for p, track in enumerate(RES.track_ids):
    rig = bpy.data.objects[f"GenHMR_person_{int(track)}"]
    obj = bpy.data.objects.get(f"GenHMR_person_{int(track)}_body")
    if obj is None:
        people[rig.name] = None
        continue
    people[rig.name] = {**structure(obj, rig, RES.betas[p]),
                        "visibility_keys": visibility(obj),
                        "expected_visibility": [
                            [f, h] for f, h in scene_space.visibility_keys(
                                RES.frame_indices + 1, RES.valid[p])],
                        "rest_error": rest_error(obj, rig, RES.betas[p], p),
                        "dqs_vs_lbs": posed_errors(obj.name, p)}
out["people"] = people
out["bone_names"] = list(skeleton.JOINT_NAMES)

# Linear blend skinning in Blender, built directly (the operator has no option for it).
build = module("genhmr_blender.rig.build")
report = build.build_result(bpy.context, RES, build.BuildOptions(
    frame_offset=1, preserve_volume=False, collection_name="GenHMR LBS",
    load_background=False))
out["lbs_report"] = {"meshes": report.meshes, "mesh_seconds": report.mesh_seconds,
                     "seconds": report.seconds, "warnings": report.warnings}
out["lbs"] = {name: posed_errors(name, p) for p, name in enumerate(report.meshes)}
out["lbs_preserve_volume"] = [bpy.data.objects[n].modifiers[0].use_deform_preserve_volume
                              for n in report.meshes]

# A failure while building the second person's mesh removes everything built so far.
mesh_mod = module("genhmr_blender.rig.mesh")
real = mesh_mod.build_body_mesh
calls = []


def failing(*args, **kw):
    calls.append(1)
    if len(calls) == 2:
        raise RuntimeError("injected mesh failure")
    return real(*args, **kw)


mesh_mod.build_body_mesh = failing
before = data_counts()
try:
    build.build_result(bpy.context, RES, build.BuildOptions(load_background=False))
    raised = ""
except RuntimeError as exc:
    raised = str(exc)
mesh_mod.build_body_mesh = real
out["failure"] = {"raised": raised, "calls": len(calls), "before": before, "after": data_counts()}

# The same result without meshes, as a new collection (not an update of the first import):
# armatures only.
before = data_counts()
report = build.build_result(bpy.context, RES, build.BuildOptions(
    with_mesh=False, load_background=False, collection_name="GenHMR without meshes"))
after = data_counts()
out["without_mesh"] = {"meshes": report.meshes,
                       "added": {k: after[k] - before[k] for k in after}}
emit(out)
