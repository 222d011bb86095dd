"""Headless-Blender half of the demo: install the built extension, import a result, save a .blend.

    python tools/demo_blender.py --extension dist/genhmr-X.zip --result out/demo/result.npz \
        --blend out/demo.blend [--joints out/demo/blender_joints2d.npy] \
        [--renders out/demo/renders --render-frames 0,40,80] [--world-views out/world.png]
        [--summary out.json]

Runs in a Python that has the ``bpy`` wheel. Blender's user folders point at a fresh temporary
directory, so the artist's own Blender configuration is never touched. Besides the .blend it can
export every rig joint projected through the scene camera, in video pixels (P, F, J, 2; NaN where
a person is not seen): drawn on the contact sheet, it shows the keyframed rig lines up with the
footage exactly as the backend's solution does. It can also render the skinned bodies through
the scene camera (Workbench, transparent background) for a few video frames, one
``frame_<video frame>.png`` each, which the contact sheet lays over the footage. And it can
render the scene in world space, the way an artist checks it: from the side and from above, with
the ground plane, at a few frames (``--world-views``, one picture: a row per view).
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
    parser.add_argument("--renders", type=Path, default=None,
                        help="folder for camera-view renders of the bodies (RGBA PNGs)")
    parser.add_argument("--render-frames", default="auto",
                        help="comma-separated video frames to render (with --renders); 'auto' = "
                             "the frames the contact sheet shows")
    parser.add_argument("--render-scale", type=int, default=50,
                        help="render resolution in percent of the video's")
    parser.add_argument("--world-views", type=Path, default=None,
                        help="write side and top views of the scene at the render frames here "
                             "(.png)")
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


def _render_bodies(bpy, frames: list[int], frame_offset: int, folder: Path, scale: int
                   ) -> list[str]:
    """Render the camera view of the bodies alone (no rigs, no background) for video frames."""
    scene = bpy.context.scene
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.film_transparent = True
    render.resolution_percentage = scale
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGBA"
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_cavity = True
    # the bodies alone: no rigs, no ground plane (the footage shows the real ground)
    hidden = [o for o in scene.objects if not o.hide_render and (
        o.type == "ARMATURE" or (o.type == "MESH" and not o.name.endswith("_body")))]
    for obj in hidden:
        obj.hide_render = True
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for frame in frames:
            scene.frame_set(frame + frame_offset)
            render.filepath = str((folder / f"frame_{frame}.png").resolve())
            bpy.ops.render.render(write_still=True)
            written.append(render.filepath)
    finally:
        for obj in hidden:
            obj.hide_render = False
    return written


def _render_world_views(bpy, frames: list[int], frame_offset: int, out: Path,
                        tile_px: int = 640) -> str:
    """Side view (looking along the footage camera's right, i.e. across the line of sight) and
    top view (looking down) of the bodies and the ground at ``frames``, orthographic, framed on
    where the people go over the clip; one PNG with a row per view and a column per frame."""
    import cv2
    import numpy as np

    scene = bpy.context.scene
    rigs = [o for o in scene.objects if o.type == "ARMATURE"]
    heads = []  # every person's pelvis over the clip, world space
    for frame in range(scene.frame_start, scene.frame_end + 1, 5):
        scene.frame_set(frame)
        heads += [list(r.matrix_world @ r.pose.bones[0].head) for r in rigs
                  if not r.hide_get() and not r.hide_viewport]
    heads = np.array(heads) if heads else np.zeros((1, 3))
    low, high = heads.min(axis=0) - 1.5, heads.max(axis=0) + 1.5
    centre = (low + high) / 2
    render = scene.render
    saved = (scene.camera, render.resolution_x, render.resolution_y,
             render.resolution_percentage, render.film_transparent)
    render.engine = "BLENDER_WORKBENCH"
    render.film_transparent = False
    render.resolution_x = render.resolution_y = tile_px
    render.resolution_percentage = 100
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGB"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    world = scene.world or bpy.data.worlds.new("world views")
    saved_world, scene.world = scene.world, world
    world.color = (0.55, 0.65, 0.8)  # a light background for both views
    hidden = [o for o in scene.objects if o.type == "ARMATURE" and not o.hide_render]
    for obj in hidden:
        obj.hide_render = True
    cam_data = bpy.data.cameras.new("world view")
    cam_data.type = "ORTHO"
    cam = bpy.data.objects.new("world view", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    top_extent = float(max(high[0] - low[0], high[1] - low[1]))
    side_extent = float(max(high[1] - low[1], high[2] - low[2] + 2.0))
    views = {  # (location, rotation (XYZ Euler), ortho scale)
        # level, from the footage camera's right; the floor (edge-on) is drawn as a line
        "side": ((high[0] + 20.0, centre[1], max(high[2], 1.0) / 2), (np.pi / 2, 0, np.pi / 2),
                 side_extent),
        "top": ((centre[0], centre[1], high[2] + 20.0), (0.0, 0.0, 0.0), top_extent),
    }
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, (location, rotation, extent) in views.items():
                cam.location, cam.rotation_euler = location, rotation
                cam_data.ortho_scale = extent
                cam_data.clip_end = 200.0
                tiles = []
                for frame in frames:
                    scene.frame_set(frame + frame_offset)
                    path = os.path.join(tmp, f"{name}_{frame}.png")
                    render.filepath = path
                    bpy.ops.render.render(write_still=True)
                    tile = cv2.imread(path)
                    if name == "side":  # z = 0 in this orthographic, level view
                        row = int(np.rint(tile_px / 2 + location[2] / extent * tile_px))
                        cv2.line(tile, (0, row), (tile_px, row), (40, 110, 40), 2)
                    cv2.putText(tile, f"{name}, video frame {frame}", (10, 30),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 4)
                    cv2.putText(tile, f"{name}, video frame {frame}", (10, 30),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
                    tiles.append(tile)
                rows.append(np.hstack(tiles))
    finally:
        for obj in hidden:
            obj.hide_render = False
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(cam_data)
        scene.world = saved_world
        if saved_world is None:
            bpy.data.worlds.remove(world)
        (scene.camera, render.resolution_x, render.resolution_y,
         render.resolution_percentage, render.film_transparent) = saved
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows))
    return str(out)


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

    renders: list[str] = []
    if args.render_frames == "auto":
        from genhmr.contact_sheet import pick_frames  # same picks as the contact sheet

        frames = [int(result.frame_indices[f]) for f in pick_frames(result.valid, 6)]
    else:
        frames = [int(f) for f in args.render_frames.split(",") if f.strip()]
    if args.renders is not None and frames:
        t = time.perf_counter()
        renders = _render_bodies(bpy, frames, frame_offset, args.renders, args.render_scale)
        timings["render_bodies"] = time.perf_counter() - t
    world_views = ""
    if args.world_views is not None and frames:
        t = time.perf_counter()
        world_views = _render_world_views(bpy, frames, frame_offset, args.world_views)
        timings["render_world_views"] = time.perf_counter() - t

    rigs = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.parent in rigs]
    summary = {"blend": str(args.blend), "rigs": [o.name for o in rigs],
               "bodies": [{"name": o.name, "vertices": len(o.data.vertices),
                           "shape_keys": {k.name: round(k.value, 3)
                                          for k in o.data.shape_keys.key_blocks[1:]}
                           if o.data.shape_keys else {}} for o in meshes],
               "renders": renders, "world_views": world_views,
               "frame_range": [scene.frame_start, scene.frame_end],
               "fps": scene.render.fps, "camera": scene.camera.name if scene.camera else None,
               "seconds": {k: round(v, 3) for k, v in timings.items()},
               "blender_user_dir": user_dir}
    if args.summary is not None:
        args.summary.write_text(json.dumps(summary, indent=2))
    print(f"demo: {len(rigs)} rigs with {len(meshes)} skinned bodies keyframed over frames "
          f"{scene.frame_start}-{scene.frame_end}, saved {args.blend}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
