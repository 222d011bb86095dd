"""Retarget the demo's people onto a Rigify character and draw both side by side.

    python tools/retarget_preview.py [--blend out/demo.blend] [--extension genhmr-X.zip]
        [--person GenHMR_person_0] [--frames 60,100,140,180] [--out out/retarget_preview.png]
        [--fbx out/retarget_rigify.fbx] [--no-foot-lock]

Runs after ``bash tools/demo.sh`` (it opens the demo's .blend) in a Python with the ``bpy``
wheel, with Blender's user folders in a fresh temporary directory. It does what an artist does
in the Retarget panel: generate a Rigify human (the rig bundled with Blender; no third-party
character may be committed), stand it beside the person, Auto Map, Retarget. The rig has no
mesh, so each deform bone gets a simple tapered stick (parented to the bone) to be seen in a
render. The picture has a column per frame: through the footage camera on top, from the side
(across the camera's line of sight) below, the character stepped back 1.2 m so the two stand
side by side there too; the person's body and the Rigify character in the same pose. Printed:
the mapping found, the frames baked and the time taken, and how far planted feet slide (the
source's, scaled by the leg ratio, against the character's).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from demo_blender import EXTENSION_MODULE, _isolate_user_folders  # noqa: E402


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blend", type=Path, default=ROOT / "out" / "demo.blend")
    parser.add_argument("--extension", type=Path, default=None,
                        help="the extension zip (default: built from this checkout)")
    parser.add_argument("--person", default="", help="rig to retarget (default: the longest)")
    parser.add_argument("--frames", default="auto", help="scene frames, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "retarget_preview.png")
    parser.add_argument("--fbx", type=Path, default=None, help="also export the character")
    parser.add_argument("--tile", type=int, default=480, help="tile size in pixels")
    parser.add_argument("--no-foot-lock", action="store_true",
                        help="do not pin planted feet (to measure what pinning buys)")
    return parser.parse_args()


def _sticks(bpy, rig) -> list:
    """A tapered stick per deform bone, parented to it (a stand-in for the character's skin)."""
    import bmesh
    from mathutils import Matrix

    rig.data.pose_position = "REST"
    bpy.context.view_layer.update()
    made = []
    material = bpy.data.materials.new("character")
    material.diffuse_color = (0.95, 0.55, 0.15, 1.0)
    for bone in rig.data.bones:
        if not bone.use_deform or bone.length < 0.03:
            continue
        mesh = bpy.data.meshes.new(f"stick {bone.name}")
        bm = bmesh.new()
        radius = min(0.06, 0.18 * bone.length)
        bmesh.ops.create_cone(bm, cap_ends=True, segments=10, radius1=radius,
                              radius2=0.6 * radius, depth=bone.length)
        bmesh.ops.rotate(bm, verts=bm.verts, cent=(0, 0, 0),
                         matrix=Matrix.Rotation(-math.pi / 2, 3, "X"))
        bmesh.ops.translate(bm, verts=bm.verts, vec=(0, bone.length / 2, 0))
        bm.to_mesh(mesh)
        bm.free()
        mesh.materials.append(material)
        obj = bpy.data.objects.new(mesh.name, mesh)
        rig.users_collection[0].objects.link(obj)
        obj.parent, obj.parent_type, obj.parent_bone = rig, "BONE", bone.name
        obj.color = material.diffuse_color
        obj.matrix_world = rig.matrix_world @ bone.matrix_local
        made.append(obj)
    rig.data.pose_position = "POSE"
    return made


def _foot_sliding(bpy, source, character, start: int, end: int) -> dict[str, float]:
    """Horizontal ankle travel between consecutive frames while the source's foot is planted:
    the source's scaled by the leg ratio (what a perfect retarget would keep) and the
    character's (Rigify's deform feet)."""
    import numpy as np

    scene = bpy.context.scene
    feet = {"left": ("left_ankle", "DEF-foot.L"), "right": ("right_ankle", "DEF-foot.R")}
    track: dict[str, list] = {side: [] for side in feet}
    for frame in range(start, end + 1):
        scene.frame_set(frame)
        for side, (ours, theirs) in feet.items():
            planted = max(source.get(f"contact_{side}_heel", 0.0),
                          source.get(f"contact_{side}_foot_index", 0.0)) > 0.5
            track[side].append((planted,
                                np.array(source.matrix_world @ source.pose.bones[ours].head),
                                np.array(character.matrix_world
                                         @ character.pose.bones[theirs].head)))
    src_steps, tgt_steps = [], []
    for rows in track.values():
        for (p0, s0, t0), (p1, s1, t1) in itertools.pairwise(rows):
            if p0 and p1:
                src_steps.append(np.linalg.norm((s1 - s0)[:2]))
                tgt_steps.append(np.linalg.norm((t1 - t0)[:2]))
    leg = _leg_ratio(source, character)
    return {"source x leg ratio": 1000 * leg * float(np.mean(src_steps)) if src_steps else 0.0,
            "character": 1000 * float(np.mean(tgt_steps)) if tgt_steps else 0.0,
            "frames": float(len(src_steps))}


def _leg_ratio(source, character) -> float:
    def length(obj, bones: list[str]) -> float:
        b = obj.data.bones
        return sum((b[y].head_local - b[x].head_local).length
                   for x, y in itertools.pairwise(bones)) * obj.matrix_world.to_scale().z
    return (length(character, ["DEF-thigh.L", "DEF-shin.L", "DEF-foot.L"])
            / length(source, ["left_hip", "left_knee", "left_ankle"]))


def main() -> int:
    args = _args()
    _isolate_user_folders()
    import bpy
    import cv2
    import numpy as np

    if not args.blend.is_file():
        print("retarget_preview: run bash tools/demo.sh first (needs out/demo.blend)",
              file=sys.stderr)
        return 1
    import build_extension

    extension = args.extension or build_extension.build(Path(tempfile.mkdtemp()))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=str(extension.resolve()),
                                             repo="user_default", enable_on_install=True)
    if EXTENSION_MODULE not in bpy.context.preferences.addons:
        print(f"retarget_preview: could not install {extension}", file=sys.stderr)
        return 1
    bpy.ops.wm.open_mainfile(filepath=str(args.blend.resolve()))
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    scene = bpy.context.scene
    rigs = [o for o in scene.objects if o.type == "ARMATURE" and o.name.startswith("GenHMR")]
    if args.person:
        source = bpy.data.objects[args.person]
    else:
        source = max(rigs, key=lambda o: o.animation_data.action.frame_range[1]
                     - o.animation_data.action.frame_range[0])
    start, end = (round(v) for v in source.animation_data.action.frame_range)
    scene.frame_set(start)
    camera = scene.camera
    pelvis = source.matrix_world @ source.pose.bones["pelvis"].head
    # Beside the person, seen from the camera: one metre to the camera's right, on the floor.
    right = camera.matrix_world.to_3x3().col[0].normalized()
    right.z = 0.0
    spot = pelvis + right.normalized() * 1.0
    spot.z = 0.0

    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    meta.location = spot
    bpy.context.view_layer.update()
    bpy.ops.pose.rigify_generate()
    character = next(o for o in scene.objects if o.type == "ARMATURE" and o.name == "rig")
    character.matrix_world = meta.matrix_world
    meta.hide_set(True)
    meta.hide_render = True
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = character
    character.select_set(True)
    t = time.perf_counter()
    bpy.ops.genhmr.retarget_auto_map()
    character.genhmr_retarget.foot_lock = not args.no_foot_lock
    status = bpy.ops.genhmr.retarget(source=source.name)
    seconds = time.perf_counter() - t
    s = character.genhmr_retarget
    print(f"retarget_preview: {source.name} -> {character.name} mapped from {s.mapped_from}, "
          f"frames {start}-{end}, {status}, {seconds:.1f} s", file=sys.stderr)
    slide = _foot_sliding(bpy, source, character, start, end)
    print("retarget_preview: planted-foot sliding, mm/frame (mean, frames with the source's "
          "heel or toe contact > 0.5 in both): "
          + ", ".join(f"{k} {v:.1f}" for k, v in slide.items()), file=sys.stderr)
    _sticks(bpy, character)
    if args.fbx is not None:
        bpy.ops.export_scene.fbx(filepath=str(args.fbx), use_selection=True,
                                 object_types={"ARMATURE"}, bake_anim=True,
                                 add_leaf_bones=False, use_armature_deform_only=True)

    frames = ([int(f) for f in args.frames.split(",")] if args.frames != "auto" else
              [int(f) for f in np.linspace(start + 10, end - 10, 5)])
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.film_transparent = False
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGB"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    keep = {source.name, character.name,
            *(o.name for o in scene.objects if o.parent == character)}
    keep |= {o.name for o in scene.objects if o.type == "MESH" and any(
        m.type == "ARMATURE" and m.object == source for m in o.modifiers)}
    for o in scene.objects:
        if o.name not in keep:  # this person's body and the character only
            o.animation_data_clear()  # (visibility is keyed; this file is not saved)
            o.hide_render = True
    world = scene.world or bpy.data.worlds.new("preview")
    scene.world = world
    world.color = (0.55, 0.65, 0.8)
    side_data = bpy.data.cameras.new("side")
    side_data.type = "ORTHO"
    side_data.ortho_scale = 4.0
    side = bpy.data.objects.new("side", side_data)
    scene.collection.objects.link(side)
    columns = []
    home = character.location.copy()
    with tempfile.TemporaryDirectory() as tmp:
        for frame in frames:
            scene.frame_set(frame)
            middle = (source.matrix_world @ source.pose.bones["pelvis"].head
                      + character.matrix_world @ character.pose.bones["torso"].head) / 2
            tiles = []
            for name, cam in (("camera", camera), ("side", side)):
                if name == "side":  # level, looking along the camera's right at the pair
                    across = camera.matrix_world.to_3x3().col[0].copy()
                    across.z = 0
                    across.normalize()
                    cam.location = middle + across * 15.0
                    cam.rotation_euler = (-across).to_track_quat("-Z", "Y").to_euler()
                    # side by side in this view too: the character steps 1.2 m back for it
                    depth = camera.matrix_world.to_3x3().col[2].copy()
                    depth.z = 0
                    character.location += depth.normalized() * 1.2
                else:
                    character.location = home
                render.resolution_x = render.resolution_y = args.tile
                scene.camera = cam
                bpy.context.view_layer.update()
                render.filepath = os.path.join(tmp, f"{name}_{frame}.png")
                bpy.ops.render.render(write_still=True)
                tile = cv2.imread(render.filepath)
                label = f"{name}, frame {frame}"
                cv2.putText(tile, label, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                            (255, 255, 255), 4)
                cv2.putText(tile, label, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
                tiles.append(tile)
            columns.append(np.vstack(tiles))
            character.location = home
    scene.camera = camera
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.hstack(columns))
    print(f"retarget_preview: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
