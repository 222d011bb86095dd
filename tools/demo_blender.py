"""Headless-Blender half of the demo: install the built extension, import a result, save a .blend.

    python tools/demo_blender.py --extension dist/genhmr-X.zip --result out/demo/result.npz \
        --blend out/demo.blend [--joints out/demo/blender_joints2d.npy] [--summary out.json]

Runs in a Python that has the ``bpy`` wheel. Blender's user folders point at a fresh temporary
directory, so the artist's own Blender configuration is never touched. Besides the .blend it can
export every rig joint projected through the scene camera, in video pixels (P, F, J, 2; NaN where
a person is not seen): drawn on the contact sheet, it shows the keyframed rig lines up with the
footage exactly as the backend's solution does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

EXTENSION_MODULE = "bl_ext.user_default.genhmr"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extension", type=Path, required=True, help="extension .zip")
    parser.add_argument("--result", type=Path, required=True, help="result.npz from the backend")
    parser.add_argument("--blend", type=Path, required=True, help=".blend file to write")
    parser.add_argument("--joints", type=Path, default=None,
                        help="write rig joints projected through the camera here (.npy)")
    parser.add_argument("--summary", type=Path, default=None, help="timings as JSON")
    return parser.parse_args()


def _isolate_user_folders() -> str:
    """Blender reads these at start-up, i.e. when ``bpy`` is first imported."""
    user = tempfile.mkdtemp(prefix="genhmr_blender_user_")
    for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
        os.environ[f"BLENDER_USER_{name}"] = os.path.join(user, name.lower())
    return user


def _look_through_camera(bpy) -> None:
    """Make every 3D view of the saved file look through the footage camera."""
    for screen in bpy.data.screens:
        for area in screen.areas:
            if area.type == "VIEW_3D":
                for space in area.spaces:
                    if space.type == "VIEW_3D":
                        space.region_3d.view_perspective = "CAMERA"


def _project_rig_joints(bpy, result, frame_offset: int):
    """(P, F, J, 2) pixel positions of every rig bone head as the Blender camera sees it."""
    import numpy as np
    from bpy_extras.object_utils import world_to_camera_view

    from genhmr_core.skeleton import JOINT_NAMES

    scene = bpy.context.scene
    cam = scene.camera
    width, height = (int(v) for v in result.image_size)
    out = np.full((result.num_people, result.num_frames, len(JOINT_NAMES), 2), np.nan)
    rigs = [bpy.data.objects[f"GenHMR_person_{int(t)}"] for t in result.track_ids]
    for f, video_frame in enumerate(result.frame_indices):
        if not result.valid[:, f].any():
            continue
        scene.frame_set(int(video_frame) + frame_offset)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        cam_eval = cam.evaluated_get(depsgraph)
        for p, rig in enumerate(rigs):
            if not result.valid[p, f]:
                continue
            rig_eval = rig.evaluated_get(depsgraph)
            for j, name in enumerate(JOINT_NAMES):
                head = rig_eval.matrix_world @ rig_eval.pose.bones[name].head
                ndc = world_to_camera_view(scene, cam_eval, head)
                out[p, f, j] = (ndc.x * width, (1.0 - ndc.y) * height)
    return out


def main() -> int:
    args = _args()
    user_dir = _isolate_user_folders()
    t0 = time.perf_counter()
    import bpy
    import numpy as np

    timings: dict[str, float] = {"start_blender": time.perf_counter() - t0}

    t = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    status = bpy.ops.extensions.package_install_files(
        filepath=str(args.extension.resolve()), repo="user_default", enable_on_install=True)
    if "FINISHED" not in status or EXTENSION_MODULE not in bpy.context.preferences.addons:
        print(f"demo: could not install {args.extension} ({status})", file=sys.stderr)
        return 1
    timings["install_extension"] = time.perf_counter() - t

    from genhmr_core.result_format import load_result

    result = load_result(args.result)
    frame_offset = 1  # Blender scenes start at frame 1: it shows the video's first frame
    t = time.perf_counter()
    status = bpy.ops.genhmr.import_result(filepath=str(args.result.resolve()),
                                          frame_offset=frame_offset)
    if "FINISHED" not in status:
        print(f"demo: import failed ({status})", file=sys.stderr)
        return 1
    timings["import_and_keyframe"] = time.perf_counter() - t

    _look_through_camera(bpy)
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    args.blend.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    bpy.ops.wm.save_as_mainfile(filepath=str(args.blend.resolve()), check_existing=False)
    timings["save_blend"] = time.perf_counter() - t

    if args.joints is not None:
        t = time.perf_counter()
        joints = _project_rig_joints(bpy, result, frame_offset)
        np.save(args.joints, joints)
        timings["project_rig_joints"] = time.perf_counter() - t

    rigs = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    summary = {"blend": str(args.blend), "rigs": [o.name for o in rigs],
               "frame_range": [scene.frame_start, scene.frame_end],
               "fps": scene.render.fps, "camera": scene.camera.name if scene.camera else None,
               "seconds": {k: round(v, 3) for k, v in timings.items()},
               "blender_user_dir": user_dir}
    if args.summary is not None:
        args.summary.write_text(json.dumps(summary, indent=2))
    print(f"demo: {len(rigs)} rigs keyframed over frames {scene.frame_start}-{scene.frame_end}, "
          f"saved {args.blend}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
