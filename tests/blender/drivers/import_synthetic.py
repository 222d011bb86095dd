"""Import a synthetic result through the operator and measure it against the known answer.

Usage: python import_synthetic.py RESULT.npz FRAME_OFFSET [BIG_RESULT.npz]

Checks made in the test: armature per person, 55 bones, keys exactly at the valid frames,
evaluated bone heads vs camera_to_world(joints3d), projection through the Blender camera vs the
pinhole projection with each frame's intrinsics (camera_K, or a zoom's per frame), the
camera's keyed lens, camera background, scene settings. With a second file, also
times a large import.
"""

import sys
import time

import bpy
import numpy as np
from _driver import data_counts, emit, enable, fcurves_of
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
from synthetic_result import project

from genhmr_core import ground, result_format, scene_space, skeleton

enable()
path, offset = sys.argv[1], int(sys.argv[2])
res = result_format.load_result(path)
scene = bpy.context.scene
before = data_counts()

t0 = time.perf_counter()
status = bpy.ops.genhmr.import_result(filepath=path, frame_offset=offset)
import_seconds = time.perf_counter() - t0

coll = next(c for c in bpy.data.collections if c.name.startswith("GenHMR "))
cam = next(o for o in coll.objects if o.type == "CAMERA")
height = cam.location.z
# the scene's placement, computed independently of the add-on: the floor from the feet and the
# bodies (this result has no ground_plane), the footage camera's turn
floor = ground.ground_of_solve(res.keypoints3d, res.global_orient, res.valid,
                               res.camera_rotation)
turn = scene_space.scene_rotations(res.camera_rotation, floor.normal, res.num_frames)
w, h = (int(v) for v in res.image_size)
people = {}
for p, track in enumerate(res.track_ids):
    obj = bpy.data.objects[f"GenHMR_person_{int(track)}"]
    all_curves = fcurves_of(obj)
    confidence_curves = [fc for fc in all_curves if fc.data_path.endswith('["genhmr_confidence"]')]
    curves = [fc for fc in all_curves if fc.data_path.startswith("pose.bones")
              and fc not in confidence_curves]
    hide = {fc.data_path: [[round(k.co.x), bool(k.co.y)] for k in fc.keyframe_points]
            for fc in all_curves if fc.data_path in ("hide_viewport", "hide_render")}
    key_frames = sorted({round(k.co.x) for fc in curves for k in fc.keyframe_points})
    valid_frames = sorted(int(v) + offset for v in res.frame_indices[res.valid[p]])
    want_world = scene_space.camera_to_world(res.joints3d[p], height, turn)
    want_px = project(res.joints3d[p], res.intrinsics())  # each frame's lens (a zoom)
    max_mm = max_px = 0.0
    checked = 0
    for f in np.flatnonzero(res.valid[p]):
        scene.frame_set(int(res.frame_indices[f]) + offset)
        dg = bpy.context.evaluated_depsgraph_get()
        ev = obj.evaluated_get(dg)
        cam_ev = cam.evaluated_get(dg)
        for j, name in enumerate(skeleton.JOINT_NAMES):
            head = ev.matrix_world @ ev.pose.bones[name].head
            max_mm = max(max_mm, 1000 * float(np.abs(np.array(head) - want_world[f, j]).max()))
            ndc = world_to_camera_view(scene, cam_ev, Vector(head))
            px = np.array([ndc.x * w, (1.0 - ndc.y) * h])
            max_px = max(max_px, float(np.abs(px - want_px[f, j]).max()))
        checked += 1
    people[obj.name] = {
        "bones": len(obj.data.bones),
        "bone_names_ok": sorted(b.name for b in obj.data.bones) == sorted(skeleton.JOINT_NAMES),
        "parents_ok": all((b.parent.name if b.parent else None)
                          == (skeleton.JOINT_NAMES[skeleton.PARENTS[j]]
                              if skeleton.PARENTS[j] >= 0 else None)
                          for j, b in enumerate(obj.data.bones[n] for n in skeleton.JOINT_NAMES)),
        "fcurves": len(curves),
        "other_fcurves": sorted(fc.data_path for fc in all_curves if fc not in curves
                                and fc not in confidence_curves
                                and not fc.data_path.startswith('["contact_')),
        "confidence_curves": len(confidence_curves),
        "contacts": {fc.data_path: [[round(k.co.x), round(k.co.y, 5)] for k in fc.keyframe_points]
                     for fc in all_curves if fc.data_path.startswith('["contact_')},
        "contact_props": {name: [obj.id_properties_ui(name).as_dict().get(key)
                                 for key in ("min", "max")]
                          for name in obj.keys()  # noqa: SIM118 (an ID, not a dict)
                          if name.startswith("contact_")},
        "hide_keys": hide,
        "keys_per_curve": sorted({len(fc.keyframe_points) for fc in curves}),
        "key_frames": key_frames,
        "valid_frames": valid_frames,
        "interpolations": sorted({k.interpolation for fc in curves for k in fc.keyframe_points}),
        "max_head_error_mm": max_mm,
        "max_pixel_error": max_px,
        "frames_checked": checked,
        "in_collection": obj.name in coll.objects,
    }

plane = next(o for o in coll.objects if o.type == "MESH" and o.name.endswith(" ground"))
ground = {"name": plane.name, "z": plane.location.z,
          "size": [plane.dimensions.x, plane.dimensions.y],
          "in_collection": plane.name in coll.objects}

bg = cam.data.background_images
out = {
    "status": sorted(status),
    "before": before,
    "after": data_counts(),
    "people": people,
    "ground": ground,
    "camera": {"name": cam.name, "is_scene_camera": scene.camera == cam,
               "sensor_fit": cam.data.sensor_fit, "height": height,
               "backgrounds": len(bg), "bg_source": bg[0].source if len(bg) else None,
               "bg_clip": bg[0].clip.name if len(bg) and bg[0].clip else None,
               "clip_frame_start": bg[0].clip.frame_start if len(bg) and bg[0].clip else None,
               "show_bg": cam.data.show_background_images,
               "rotation_mode": cam.rotation_mode,
               "rotation_keys": sorted({round(k.co.x) for fc in fcurves_of(cam)
                                        if fc.data_path == "rotation_quaternion"
                                        for k in fc.keyframe_points}),
               "lens_keys": [[round(k.co.x), k.co.y] for fc in fcurves_of(cam.data)
                             if fc.data_path == "lens" for k in fc.keyframe_points],
               "sensor_width": cam.data.sensor_width},
    "render": {"resolution": [scene.render.resolution_x, scene.render.resolution_y],
               "fps": scene.render.fps / scene.render.fps_base},
    "frame_range": [scene.frame_start, scene.frame_end],
    "import_seconds": import_seconds,
}

if len(sys.argv) > 3:  # timing of a long import
    big = result_format.load_result(sys.argv[3])
    build = sys.modules["bl_ext.user_default.genhmr.genhmr_blender.rig.build"]
    t0 = time.perf_counter()
    report = build.build_result(bpy.context, big, build.BuildOptions(frame_offset=1))
    out["big"] = {"people": big.num_people, "frames": big.num_frames,
                  "total_seconds": time.perf_counter() - t0, "stages": report.seconds}
emit(out)
