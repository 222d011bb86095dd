"""Export a GenHMR rig with genhmr.export_motion as FBX, BVH and glTF, re-import each file with
Blender's importers and compare; then the operator's errors.

Usage: python export_motion.py RESULT.npz OUT_DIR

The exported rig is person 7 of the synthetic result: it is keyed hidden outside its track, and
the current frame is one where it is hidden (the exporters must still see its poses). Three of
its bones are made non-deforming (FBX and glTF write only deform bones) and a small cube skinned
to it stands for a character mesh. Measured before export, per frame of the exported range:
each bone's world rotation relative to its world rest orientation (independent of the bone axes
an importer chooses) and the pelvis's and left wrist's world positions; after re-import the
same, frame for frame. A second BVH after moving, turning and scaling the armature object and
keying the wrist bone's location checks the file is written in world space.
"""

import math
import os
import sys

import bpy
from _driver import (
    PACKAGE,
    data_counts,
    emit,
    enable,
    fcurves_of,
    module,
    skip_exit_handlers_on_42,
)

IMPORTERS = {"FBX": ("io_scene_fbx", "import_scene", "fbx"),
             "BVH": ("io_anim_bvh", "import_anim", "bvh"),
             "GLTF": ("io_scene_gltf2", "import_scene", "gltf")}
EXT = {"FBX": ".fbx", "BVH": ".bvh", "GLTF": ".glb"}
BONES = ("pelvis", "spine3", "left_knee", "right_elbow", "left_wrist", "head")
NON_DEFORM = ("jaw", "left_eye_smplhf", "right_eye_smplhf")


def ensure_io_addons() -> None:
    import addon_utils  # only importable once bpy is

    for module, group, name in IMPORTERS.values():
        try:
            getattr(getattr(bpy.ops, group), name).get_rna_type()
        except KeyError:
            addon_utils.enable(module, default_set=True)


def motion(obj: bpy.types.Object, frames: list[int]) -> list[dict]:
    """Per frame: {bone: world rotation relative to rest (quaternion)}, pelvis position."""
    out = []
    bpy.context.view_layer.update()  # matrix_world after any change to the object
    rest = {b: (obj.matrix_world @ obj.data.bones[b].matrix_local).to_quaternion() for b in BONES}
    for f in frames:
        bpy.context.scene.frame_set(f)
        rot = {b: (obj.matrix_world @ obj.pose.bones[b].matrix).to_quaternion()
               @ rest[b].inverted() for b in BONES}
        pelvis = obj.matrix_world @ obj.pose.bones["pelvis"].head
        wrist = obj.matrix_world @ obj.pose.bones["left_wrist"].head
        out.append({"rot": rot, "pelvis": pelvis.copy(), "wrist": wrist.copy()})
    return out


def angle(a, b) -> float:
    """Degrees between two rotations (q and -q are the same one); |a - b| = 2 sin(angle / 4)
    keeps small angles exact where acos of a dot product near 1 would not."""
    d = min((a - b).magnitude, (a + b).magnitude)
    return math.degrees(4.0 * math.asin(min(1.0, d / 2.0)))


def state(scene: bpy.types.Scene, rig: bpy.types.Object) -> dict:
    vl = bpy.context.view_layer
    return {"range": [scene.frame_start, scene.frame_end], "frame": scene.frame_current,
            "active": vl.objects.active.name if vl.objects.active else None,
            "mode": bpy.context.mode,
            "selected": sorted(o.name for o in vl.objects if o.select_get()),
            "rig_hidden": [rig.hide_viewport, rig.hide_get()],
            "muted": sorted(fc.data_path for fc in fcurves_of(rig) if fc.mute),
            "counts": data_counts(), "collections": sorted(c.name for c in bpy.data.collections)}


enable()
ensure_io_addons()
path, out_dir = sys.argv[1], sys.argv[2]
bpy.ops.genhmr.import_result(filepath=path, frame_offset=11)
scene = bpy.context.scene
vl = bpy.context.view_layer
rig = bpy.data.objects["GenHMR_person_7"]
for name in NON_DEFORM:
    rig.data.bones[name].use_deform = False
deform_bones = sum(b.use_deform for b in rig.data.bones)

# a small cube skinned to the left knee, parented to the rig like a character mesh
mesh = bpy.data.meshes.new("cube")
mesh.from_pydata([(x, y, z) for x in (-0.05, 0.05) for y in (-0.05, 0.05) for z in (0.3, 0.4)],
                 [], [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4),
                      (1, 5, 7, 3)])
cube = bpy.data.objects.new("skinned_cube", mesh)
rig.users_collection[0].objects.link(cube)
cube.parent = rig
cube.vertex_groups.new(name="left_knee").add(range(8), 1.0, "REPLACE")
cube.modifiers.new("Armature", "ARMATURE").object = rig

keys = sorted({round(k.co.x) for fc in fcurves_of(rig) if fc.data_path.startswith("pose.bones")
               for k in fc.keyframe_points})
frames = list(range(keys[0], keys[-1] + 1))
reference = motion(rig, frames)

# the artist's state: rig active in Pose Mode, another object selected, a frame where the rig
# is hidden (keyed), the scene range wider than the rig's keys
scene.frame_set(20)
vl.objects.active = rig
bpy.ops.object.mode_set(mode="POSE")
scene.frame_set(12)
ground = next(o for o in scene.objects if o.name.endswith(" ground"))
for o in vl.objects:
    o.select_set(o is ground)
before = state(scene, rig)

exports = {}
for fmt, ext in EXT.items():
    target = os.path.join(out_dir, f"person_7{ext}")
    status = bpy.ops.genhmr.export_motion(filepath=target, format=fmt)
    exports[fmt] = {"status": sorted(status), "exists": os.path.isfile(target), "path": target,
                    "unchanged": state(scene, rig) == before}
after = state(scene, rig)


def fbx_scales(path: str) -> dict:
    """The FBX file's unit (UnitScaleFactor, centimetres per unit) and every model's scale."""
    from io_scene_fbx import parse_fbx

    found: dict = {"unit": [], "scales": []}

    def walk(elem) -> None:
        if elem.id == b"P" and elem.props and elem.props[0] == b"UnitScaleFactor":
            found["unit"].append(elem.props[4])
        if elem.id == b"P" and elem.props and elem.props[0] == b"Lcl Scaling":
            found["scales"].append(list(elem.props[4:7]))
        for child in elem.elems:
            walk(child)

    walk(parse_fbx.parse(path)[0])
    return found


fbx_file = fbx_scales(exports["FBX"]["path"])

# BVH of a placed character: the armature object moved, turned and scaled (as an FBX import
# is), and a bone other than the root translating (position channels kept for it)
scene.frame_set(20)
bpy.ops.object.mode_set(mode="OBJECT")
rig.location, rig.rotation_euler, rig.scale = (1.0, -2.0, 0.5), (1.5708, 0.0, 0.4), (2, 2, 2)
wrist = rig.pose.bones["left_wrist"]
for f, x in ((keys[0], 0.0), (keys[-1], 0.05)):
    wrist.location = (x, 0.0, -x)
    wrist.keyframe_insert("location", frame=f)
placed = motion(rig, frames)
exports["BVH_placed"] = {"path": os.path.join(out_dir, "placed.bvh")}
vl.objects.active = rig
bpy.ops.genhmr.export_motion(filepath=exports["BVH_placed"]["path"], format="BVH")
channels = {}
for key in ("BVH", "BVH_placed"):
    with open(exports[key]["path"]) as fh:
        channels[key] = [int(line.split()[1]) for line in fh if "CHANNELS" in line]

# errors: a mesh active, an armature without animation, a folder that does not exist
errors = {}
scene.frame_set(20)
bpy.ops.object.mode_set(mode="OBJECT")
still = bpy.data.objects.new("still_rig", rig.data)
scene.collection.objects.link(still)
cases = {"mesh": (ground, os.path.join(out_dir, "mesh.fbx")),
         "no_animation": (still, os.path.join(out_dir, "still.fbx")),
         "bad_folder": (rig, os.path.join(out_dir, "missing", "person_7.fbx"))}
for case, (obj, target) in cases.items():
    vl.objects.active = obj
    counts = data_counts()
    try:
        status, message = sorted(bpy.ops.genhmr.export_motion(filepath=target, format="FBX")), ""
    except RuntimeError as exc:  # bpy.ops raises when the operator reports an ERROR
        status, message = ["CANCELLED"], str(exc)
    errors[case] = {"status": status, "message": message, "written": os.path.exists(target),
                    "unchanged": data_counts() == counts}

# the sub-panel shows for an armature only and offers the operator; File > Export has it
panel_cls = bpy.types.GENHMR_PT_export
ui = {"parent": panel_cls.bl_parent_id, "calls": []}


class Recorder:
    def label(self, text="", **kw):
        ui["calls"].append(f"label:{text}")

    def operator(self, idname, **kw):
        ui["calls"].append(f"operator:{idname}")


for case, obj in {"armature": rig, "mesh": ground}.items():
    vl.objects.active = obj
    ui[f"poll_{case}"] = panel_cls.poll(bpy.context)
vl.objects.active = rig
module("genhmr_blender.ui.panel").draw_export(Recorder(), bpy.context)
ui["export_menu"] = [f.__name__ for f in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize()
                     if f.__module__.startswith(PACKAGE)]

# re-import each file into an empty scene and measure the same things
fps = scene.render.fps
reimports = {}
for key, info in exports.items():
    fmt = key.split("_")[0]
    ref = placed if key == "BVH_placed" else reference
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ensure_io_addons()
    bpy.context.scene.render.fps = fps  # glTF keys are times: frames at the exported rate
    module, group, name = IMPORTERS[fmt]
    getattr(getattr(bpy.ops, group), name)(filepath=info["path"])
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    arm = arms[0]
    got = sorted({round(k.co.x) for fc in fcurves_of(arm) for k in fc.keyframe_points})
    again = motion(arm, [got[0] + i for i in range(len(frames))])
    pairs = list(zip(ref, again, strict=True))
    max_deg = max(angle(a["rot"][b], n["rot"][b]) for a, n in pairs for b in BONES)
    max_mm = max((a[j] - n[j]).length for a, n in pairs for j in ("pelvis", "wrist"))
    meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.parent == arm]
    reimports[key] = {
        "armatures": len(arms), "bones": len(arm.data.bones),
        "bone_names": sorted(b.name for b in arm.data.bones),
        "frames": len(got), "span": got[-1] - got[0] + 1,
        "scale": list(arm.matrix_world.to_scale()),
        "max_deg": max_deg, "max_mm": 1000 * max_mm,
        "meshes": len(meshes),
        "skinned": [any(m.type == "ARMATURE" and m.object == arm for m in o.modifiers)
                    for o in meshes],
    }

emit({"frames": len(frames), "deform_bones": deform_bones, "bones": 55,
      "exports": exports, "before": before, "after": after, "errors": errors,
      "reimports": reimports, "ui": ui, "placed_channels": channels, "fbx_file": fbx_file})
skip_exit_handlers_on_42()
