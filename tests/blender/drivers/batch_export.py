"""The batch CLI's real ``main()`` (genhmr_blender.batch), as ``blender -b ... -- ARGS`` runs it.

Usage: python batch_export.py RESULT.npz OUT_DIR

The extension is installed but not enabled: ``main()`` must enable it itself, from its own
package name. Runs: every person as FBX; person 7 as glTF; bad input (missing result, unknown
person, unknown target, a target while retargeting is or is not available). Then each FBX is
re-imported into an empty scene and measured.
"""

import importlib
import os
import sys

import bpy
from _driver import PACKAGE, emit, fcurves_of, skip_exit_handlers_on_42

assert PACKAGE not in bpy.context.preferences.addons
batch = importlib.import_module(f"{PACKAGE}.genhmr_blender.batch")
result, out_dir = sys.argv[1], sys.argv[2]
runs = {}


def run(name: str, *args: str) -> None:
    try:
        written, message = batch.main(list(args)), ""
    except SystemExit as exc:
        written, message = [], exc.code
    runs[name] = {"written": [os.path.relpath(p, out_dir) for p in written], "message": message}


run("all_fbx", result, os.path.join(out_dir, "fbx"), "--format", "fbx")
enabled = PACKAGE in bpy.context.preferences.addons
spans = {}  # frames from each rig's first to its last bone key
for name in ("GenHMR_person_3", "GenHMR_person_7"):
    frames = [k.co.x for fc in fcurves_of(bpy.data.objects[name])
              if fc.data_path.startswith("pose.bones") for k in fc.keyframe_points]
    spans[name] = round(max(frames) - min(frames)) + 1
run("person_7_gltf", result, os.path.join(out_dir, "glb"), "--format", "GLTF", "--people", "7")
run("missing_result", os.path.join(out_dir, "nope.npz"), os.path.join(out_dir, "x"))
corrupt = os.path.join(out_dir, "corrupt.npz")
with open(corrupt, "wb") as fh:
    fh.write(b"not a result")
run("corrupt_result", corrupt, os.path.join(out_dir, "x"))
objects_before = len(bpy.data.objects)
run("unknown_person", result, os.path.join(out_dir, "x"), "--people", "3,9")
run("bad_format", result, os.path.join(out_dir, "x"), "--format", "OBJ")
run("unknown_target", result, os.path.join(out_dir, "x"), "--target", "Nobody")
untouched = len(bpy.data.objects) == objects_before  # bad input fails before any import
retarget = getattr(bpy.types, "GENHMR_OT_retarget", None)
if retarget is not None:  # the retarget feature is in: a real character to retarget onto
    import target_rigs

    character = target_rigs.mixamo_rig("Character")
    character_deform = sum(b.use_deform for b in character.data.bones)
    run("target", result, os.path.join(out_dir, "target"), "--target", "Character")
    bpy.utils.unregister_class(retarget)  # as in a version without it
else:
    character_deform = 0
    data = bpy.data.armatures.new("Character")
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Character", data))
run("no_retarget", result, os.path.join(out_dir, "x"), "--target", "Character")
if retarget is not None:
    bpy.utils.register_class(retarget)
help_exit = None
try:
    batch.main(["--help"])
except SystemExit as exc:
    help_exit = exc.code

reimported = {}
for rel in runs["all_fbx"]["written"] + runs.get("target", {"written": []})["written"]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=os.path.join(out_dir, rel))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    frames = {round(k.co.x) for fc in fcurves_of(arm) for k in fc.keyframe_points}
    reimported[rel] = {"bones": len(arm.data.bones), "frames": len(frames),
                       "span": max(frames) - min(frames) + 1}

emit({"runs": runs, "enabled_by_main": enabled, "spans": spans, "untouched": untouched,
      "reimported": reimported, "retarget_available": retarget is not None,
      "help_exit": help_exit, "character_deform_bones": character_deform})
skip_exit_handlers_on_42()
