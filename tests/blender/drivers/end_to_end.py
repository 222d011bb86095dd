"""The real product path: a VSE movie strip -> Analyze (real backend process, real MediaPipe and
fit) -> keyframed rigs; then a corrupt video through the same operator; then save and reload.

Usage: python end_to_end.py VIDEO CORRUPT_VIDEO JOBS_DIR BLEND_PATH
"""

import os
import sys
import time

import bpy
import numpy as np
from _driver import PACKAGE, data_counts, emit, enable, fcurves_of, module, strips_of
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from genhmr_core import contacts, result_format, scene_space, supports
from genhmr_core.skeleton import JOINT_NAMES

enable()
video, corrupt, jobs, blend = sys.argv[1:5]
prefs = bpy.context.preferences.addons[PACKAGE].preferences
# the dev venv (the backend's own requirements), also when Blender is another version's venv
prefs.backend_python = os.environ.get("GENHMR_BACKEND_PYTHON", sys.executable)
runtime = bpy.context.window_manager.genhmr
scene = bpy.context.scene
editor = scene.sequence_editor_create()
strip = strips_of(editor).new_movie("dance", video, channel=1, frame_start=1)
strip.frame_offset_start = 40  # trimmed: the strip shows video frames 40..55 at scene 41..56
strip.frame_final_duration = 16
editor.active_strip = strip
out = {}

before = data_counts()
t0 = time.perf_counter()
status = sorted(bpy.ops.genhmr.analyze(out_dir=os.path.join(jobs, "good"), timeout=600))
out["good"] = {"status": status, "seconds": time.perf_counter() - t0, "error": runtime.error,
               "status_text": runtime.status, "result_path": runtime.result_path,
               "created": {k: data_counts()[k] - before[k] for k in before}}
res = result_format.load_result(runtime.result_path)
out["good"]["frame_indices"] = [int(v) for v in res.frame_indices]
rigs = [bpy.data.objects[f"GenHMR_person_{int(t)}"] for t in res.track_ids]
cam = scene.camera
width, height = (int(v) for v in res.image_size)
frames_K = res.intrinsics()  # each frame's lens (a zoom changes it)
max_px = 0.0
keyed = []
for p, rig in enumerate(rigs):
    keyed.append(sorted({round(k.co.x) for fc in fcurves_of(rig) for k in fc.keyframe_points}))
    for f in np.flatnonzero(res.valid[p]):
        scene.frame_set(int(res.frame_indices[f]) + 1)  # strip starts at scene frame 1
        dg = bpy.context.evaluated_depsgraph_get()
        ev, cam_ev = rig.evaluated_get(dg), cam.evaluated_get(dg)
        for j, name in enumerate(JOINT_NAMES):
            ndc = world_to_camera_view(scene, cam_ev, ev.matrix_world @ ev.pose.bones[name].head)
            x, K = res.joints3d[p, f, j], frames_K[f]
            want = np.array([K[0, 0] * x[0] / x[2] + K[0, 2], K[1, 1] * x[1] / x[2] + K[1, 2]])
            got = np.array([ndc.x * width, (1.0 - ndc.y) * height])
            max_px = max(max_px, float(np.abs(got - want).max()))
out["good"].update(keyed=keyed, valid=[res.frame_indices[v].tolist() for v in res.valid],
                   method=res.method,
                   max_pixel_error=max_px, rigs=[r.name for r in rigs])

# The skinned bodies follow the people: at each person's middle valid frame, the posed mesh
# projected through the scene camera covers the detector's box of that person.
overlaps = []
for p, rig in enumerate(rigs):
    body = bpy.data.objects[f"{rig.name}_body"]
    f = int(np.flatnonzero(res.valid[p])[res.valid[p].sum() // 2])
    scene.frame_set(int(res.frame_indices[f]) + 1)
    dg = bpy.context.evaluated_depsgraph_get()
    ev, cam_ev = body.evaluated_get(dg), cam.evaluated_get(dg)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    world = np.asarray(ev.matrix_world)
    pts = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
    ndc = np.array([tuple(world_to_camera_view(scene, cam_ev, Vector(v))) for v in pts[::25]])
    x, y = ndc[:, 0] * width, (1.0 - ndc[:, 1]) * height
    x0, y0, x1, y1 = (float(v) for v in res.boxes[p, f])
    ix = max(0.0, min(x1, x.max()) - max(x0, x.min()))
    iy = max(0.0, min(y1, y.max()) - max(y0, y.min()))
    inter = ix * iy
    union = (x1 - x0) * (y1 - y0) + np.ptp(x) * np.ptp(y) - inter
    overlaps.append({"body": body.name, "vertices": len(body.data.vertices),
                     "armature_modifier": any(m.type == "ARMATURE" and m.object == rig
                                              for m in body.modifiers),
                     "iou": inter / union})
out["good"]["bodies"] = overlaps

# What raised people stand on: the blocks, and each person's level and pelvis over the clip.
out["good"]["supports"] = []
for obj in bpy.data.objects:
    if obj.get("genhmr_role") == "support":
        corners = np.array([tuple(obj.matrix_world @ v.co) for v in obj.data.vertices])
        out["good"]["supports"].append({"name": obj.name, "low": corners.min(axis=0).tolist(),
                                        "high": corners.max(axis=0).tolist()})
# resting: a foot point on the person's level, by the rule the blocks are built with
levels, pelvis_xy, resting = [], [], []
height, turn = module("genhmr_blender.rig.build").scene_placement(res)
rule = supports.SupportConfig()
for p, rig in enumerate(rigs):
    on = np.flatnonzero(res.valid[p])
    levels.append([float(res.support_height[p, f]) for f in on])
    feet = scene_space.camera_to_world(res.keypoints3d[p][:, list(contacts.CONTACT_INDEX)],
                                       height, turn)
    on_level = np.abs(feet[..., 2] - res.support_height[p][:, None]) <= rule.near_level
    rests = ((res.foot_contact[p] >= rule.contact) & on_level).any(axis=1)
    resting.append([bool(rests[f]) for f in on])
    xy = []
    for f in on:
        scene.frame_set(int(res.frame_indices[f]) + 1)
        xy.append(list((rig.matrix_world @ rig.pose.bones["pelvis"].head)[:2]))
    pelvis_xy.append(xy)
out["good"].update(levels=levels, pelvis_xy=pelvis_xy, resting=resting)

# A corrupt video through the same path: a clear error, nothing added or changed.
scene.genhmr.source = "FILE"
scene.genhmr.filepath = corrupt
before = data_counts()
frame_range = (scene.frame_start, scene.frame_end)
try:
    status = sorted(bpy.ops.genhmr.analyze(out_dir=os.path.join(jobs, "bad"), timeout=120))
    message = ""
except RuntimeError as exc:
    status, message = ["ERROR"], str(exc)
out["corrupt"] = {"status": status, "message": message, "panel_error": runtime.error,
                  "unchanged": data_counts() == before
                  and (scene.frame_start, scene.frame_end) == frame_range,
                  "running": runtime.running}

bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.wm.open_mainfile(filepath=blend)
out["reloaded"] = {
    "rigs": sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE"),
    "keys": sum(len(fc.keyframe_points) for o in bpy.data.objects if o.type == "ARMATURE"
                for fc in fcurves_of(o)),
    "bodies": sorted(o.name for o in bpy.data.objects if o.type == "MESH"
                     and o.parent is not None and o.parent.type == "ARMATURE"),
}
emit(out)
