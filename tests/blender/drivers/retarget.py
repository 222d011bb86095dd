"""Retarget a GenHMR rig onto characters built in code and measure it against the source.

Usage: python retarget.py RESULT.npz KIND [KIND ...]
KIND: mixamo, mixamo_scaled (object scale 0.01), ue5, ue4, generic, metarig, rigify
(the rig Rigify generates, measured on its deform bones), plus the checks named
root_modes, rest_match, presets, errors, replace and foot_lock.

Per character: the mapping found, keys written, and per frame the angle between each mapped
limb (hip->knee, knee->ankle, shoulder->elbow, elbow->wrist) on the source and on the target,
the foot heights' changes (target vs source times the leg scale) and the distance the hips
travel; objects and constraints before and after (nothing may be left behind).
"""

import itertools
import os
import sys
from pathlib import Path

import bpy
import numpy as np
import target_rigs
from _driver import emit, enable, fcurves_of, module, skip_exit_handlers_on_42
from mathutils import Vector

enable()
armatures = module("genhmr_blender.retarget.armatures")
path, kinds = sys.argv[1], sys.argv[2:]
status = bpy.ops.genhmr.import_result(filepath=path, with_mesh=False)
source = bpy.data.objects["GenHMR_person_3"]
scene = bpy.context.scene

LIMBS = [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
         for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"),
                      ("elbow", "wrist"))]
RIGIFY_DEF = {"hip": "DEF-thigh", "knee": "DEF-shin", "ankle": "DEF-foot",
              "shoulder": "DEF-upper_arm", "elbow": "DEF-forearm", "wrist": "DEF-hand"}


def call(operator, **kw) -> list[str]:
    """An operator's result; in background mode an ERROR report raises, which is CANCELLED
    with that message for the artist."""
    try:
        return sorted(operator(**kw))
    except RuntimeError as exc:
        return ["CANCELLED", str(exc).strip()]


def activate(obj: bpy.types.Object) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def build(kind: str, x: float) -> tuple[bpy.types.Object, dict[str, str]]:
    """The character and, per GenHMR joint, the bone whose head marks that joint on it."""
    if kind in ("rigify", "metarig"):
        meta = target_rigs.rigify_metarig(name=f"meta_{kind}", location=(x, 0, 0))
        obj = meta if kind == "metarig" else target_rigs.rigify_generated(meta)
    elif kind == "mixamo_scaled":
        obj = target_rigs.mixamo_rig(name="MixamoScaled", location=(x, 0, 0),
                                     object_scale=0.01)
    else:
        obj = getattr(target_rigs, f"{kind}_rig")(location=(x, 0, 0))
    activate(obj)
    marks = {}
    if kind == "rigify":
        for joint, bone in RIGIFY_DEF.items():
            marks[f"left_{joint}"], marks[f"right_{joint}"] = f"{bone}.L", f"{bone}.R"
    return obj, marks


def measure(obj: bpy.types.Object, marks: dict[str, str], frames: range) -> dict:
    joints = sorted({j for limb in LIMBS for j in limb})
    s = obj.genhmr_retarget
    bone_map = {}
    for pair in s.pairs:
        bone_map.setdefault(pair.joint, []).append(pair.bone)
    marks = {j: marks.get(j) or bone_map[j][0] for j in joints}
    hips = bone_map["pelvis"][0]
    angles, src_feet, tgt_feet, src_pelvis, tgt_hips = [], [], [], [], []
    for f in frames:
        scene.frame_set(f)
        hs = armatures.pose_heads(source, [*joints, "pelvis"])
        ht = armatures.pose_heads(obj, [*marks.values(), hips])
        row = []
        for a, b in LIMBS:
            u, v = hs[b] - hs[a], ht[marks[b]] - ht[marks[a]]
            cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
            row.append(float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
        angles.append(row)
        src_feet.append([hs["left_ankle"][2], hs["right_ankle"][2]])
        tgt_feet.append([ht[marks["left_ankle"]][2], ht[marks["right_ankle"]][2]])
        src_pelvis.append(hs["pelvis"])
        tgt_hips.append(ht[hips])
    def leg(obj, names):
        b = obj.data.bones
        return sum((b[y].head_local - b[x].head_local).length for x, y in itertools.pairwise(names))
    leg_ratio = (leg(obj, [bone_map[j][0] for j in ("left_hip", "left_knee", "left_ankle")])
                 * obj.matrix_world.to_scale().z
                 / leg(source, ["left_hip", "left_knee", "left_ankle"]))
    src_feet, tgt_feet = np.array(src_feet), np.array(tgt_feet)
    src_pelvis, tgt_hips = np.array(src_pelvis), np.array(tgt_hips)
    return {"max_limb_deg": np.max(angles, 0).round(3).tolist(), "leg_ratio": leg_ratio,
            "src_feet": src_feet.tolist(), "tgt_feet": tgt_feet.tolist(),
            "src_travel": float(np.linalg.norm(src_pelvis[-1, :2] - src_pelvis[0, :2])),
            "tgt_travel": float(np.linalg.norm(tgt_hips[-1, :2] - tgt_hips[0, :2])),
            "tgt_hips_xy": tgt_hips[:, :2].tolist(),
            "object_xy": [list(obj.matrix_world.translation)[:2]]}


def retarget_onto(obj: bpy.types.Object, **settings) -> dict:
    """Auto Map and Retarget; pinning planted feet as GENHMR_TEST_FOOT_LOCK says (default on)
    unless ``settings`` say otherwise, as the pure direction checks need it off."""
    activate(obj)
    auto = bpy.ops.genhmr.retarget_auto_map()
    settings.setdefault("foot_lock", os.environ.get("GENHMR_TEST_FOOT_LOCK", "1") == "1")
    for key, value in settings.items():
        setattr(obj.genhmr_retarget, key, value)
    before = {"objects": len(bpy.data.objects),
              "constraints": sum(len(pb.constraints) for pb in obj.pose.bones)}
    done = bpy.ops.genhmr.retarget(source=source.name)
    after = {"objects": len(bpy.data.objects),
             "constraints": sum(len(pb.constraints) for pb in obj.pose.bones)}
    curves = fcurves_of(obj)
    keys = sorted({round(k.co.x) for fc in curves for k in fc.keyframe_points})
    return {"auto": sorted(auto), "status": sorted(done), "before": before, "after": after,
            "mapped_from": obj.genhmr_retarget.mapped_from,
            "joints": sorted({p.joint for p in obj.genhmr_retarget.pairs}),
            "action": obj.animation_data.action.name, "key_frames": keys,
            "paths": sorted({fc.data_path for fc in curves})}


start, end = (round(v) for v in source.animation_data.action.frame_range)
frames = range(start, end + 1)
out: dict = {"import": sorted(status), "frames": [start, end], "rigs": {}}
CHECKS = ("root_modes", "rest_match", "presets", "errors", "replace", "foot_lock")
for i, kind in enumerate(k for k in kinds if k not in CHECKS):
    obj, marks = build(kind, 2.0 + 1.5 * i)
    result = retarget_onto(obj)
    result.update(measure(obj, marks, frames))
    out["rigs"][kind] = result

if "root_modes" in kinds:
    modes = {}
    for j, mode in enumerate(("ROOT_BONE", "OBJECT", "IN_PLACE")):
        obj, marks = build("ue5", -2.0 - 1.5 * j)
        result = retarget_onto(obj, root_mode=mode)
        result.update(measure(obj, marks, frames))
        scene.frame_set(end)
        result["root_bone_xy_end"] = list(obj.pose.bones["root"].head)[:2]
        scene.frame_set(start)
        result["root_bone_xy_start"] = list(obj.pose.bones["root"].head)[:2]
        modes[mode] = result
    out["root_modes"] = modes

if "rest_match" in kinds:
    # The artist poses the A-posed character into our T-pose and captures it as the match.
    obj, marks = build("mixamo", 6.0)
    scene.frame_set(start)
    for side, x in (("Left", 1.0), ("Right", -1.0)):
        pb = obj.pose.bones[f"mixamorig:{side}Arm"]
        pb.rotation_mode = "QUATERNION"
        # armature space = world turned (the object is not rotated): arm up to horizontal
        turn = (pb.tail - pb.head).rotation_difference(Vector((x, 0.0, 0.0))).to_matrix()
        m = pb.matrix.copy()
        new = (turn @ m.to_3x3()).to_4x4()
        new.translation = m.translation
        pb.matrix = new
        bpy.context.view_layer.update()
    bpy.ops.genhmr.retarget_auto_map()
    captured = bpy.ops.genhmr.retarget_capture_rest()
    arm_dir = {}
    for side in ("Left", "Right"):
        a = obj.pose.bones[f"mixamorig:{side}Arm"]
        arm_dir[side] = list((a.tail - a.head).normalized())
    result = retarget_onto(obj)
    result.update(measure(obj, marks, frames))
    out["rest_match"] = {"captured": sorted(captured), "arm_dir": arm_dir,
                         "matches": len(obj.genhmr_retarget.rest_match), **result}

if "presets" in kinds:
    obj, _ = build("generic", -6.0)
    activate(obj)
    bpy.ops.genhmr.retarget_auto_map()
    s = obj.genhmr_retarget
    s.pairs[0].bone = s.pairs[0].bone  # a hand edit keeps the table as it is
    table = [(p.joint, p.bone) for p in s.pairs]
    s.active_pair = 0  # a row added after the active one takes its joint (a chain)
    bpy.ops.genhmr.retarget_pair_edit(action="ADD")
    added = [(p.joint, p.bone) for p in s.pairs]
    bpy.ops.genhmr.retarget_pair_edit(action="REMOVE")
    rows = {"added": added[:3], "back": [(p.joint, p.bone) for p in s.pairs] == table}
    saved = bpy.ops.genhmr.retarget_preset_save(name="Hero rig")
    folder = Path(bpy.utils.extension_path_user(module("genhmr_blender.preferences").ADDON_ID,
                                                path="retarget_presets"))
    s.pairs.clear()
    loaded = bpy.ops.genhmr.retarget_preset_load(preset="user:Hero rig")
    builtin = call(bpy.ops.genhmr.retarget_preset_load, preset="builtin:Mixamo")
    out["presets"] = {"saved": sorted(saved), "loaded": sorted(loaded),
                      "files": sorted(p.name for p in folder.glob("*.json")),
                      "folder": str(folder),
                      "addon_folder": str(Path(module("genhmr_blender").__file__).parents[1]),
                      "round_trip": table == [(p.joint, p.bone) for p in s.pairs]
                      if loaded == {"FINISHED"} else False,
                      "builtin_on_generic": builtin, "rows": rows}
    # reload the user preset to compare after the built-in attempt
    bpy.ops.genhmr.retarget_preset_load(preset="user:Hero rig")
    out["presets"]["round_trip"] = table == [(p.joint, p.bone) for p in s.pairs]

if "errors" in kinds:
    errors = {}
    obj, _ = build("generic", -8.0)
    bpy.ops.genhmr.retarget_auto_map()
    s = obj.genhmr_retarget
    keys_before = len(fcurves_of(obj))
    elbow = next(p for p in s.pairs if p.joint == "left_elbow")
    elbow.bone = ""
    errors["unmapped"] = call(bpy.ops.genhmr.retarget, source=source.name)
    elbow.bone = "LowerArm.L"
    hip = next(p for p in s.pairs if p.joint == "left_hip")
    knee = next(p for p in s.pairs if p.joint == "left_knee")
    hip.bone, knee.bone = knee.bone, hip.bone
    errors["loop"] = call(bpy.ops.genhmr.retarget, source=source.name)
    errors["not_a_rig"] = call(bpy.ops.genhmr.retarget, source=obj.name)
    errors["keys_unchanged"] = len(fcurves_of(obj)) == keys_before
    activate(source)
    errors["poll_on_genhmr_rig"] = bpy.ops.genhmr.retarget.poll()
    bpy.ops.mesh.primitive_cube_add()
    errors["poll_on_mesh"] = bpy.ops.genhmr.retarget.poll()
    out["errors"] = errors

if "replace" in kinds:
    # Re-bake frames 10-15 from the other person into the current action: keys outside the
    # range stay as they were, inside they change, and no key is lost or doubled.
    obj, _ = build("mixamo", 10.0)
    retarget_onto(obj)
    def keys(o):
        return {(fc.data_path, fc.array_index): [tuple(k.co) for k in fc.keyframe_points]
                for fc in fcurves_of(o)}
    first = keys(obj)
    action = obj.animation_data.action.name
    obj.genhmr_retarget.action_mode = "REPLACE"
    status = call(bpy.ops.genhmr.retarget, source="GenHMR_person_7", frame_start=10,
                  frame_end=15)
    second = keys(obj)
    inside = outside = changed = 0
    for channel, before in first.items():
        after = dict(second[channel])
        for frame, value in before:
            if 10 <= frame <= 15:
                inside += 1
                changed += abs(after[frame] - value) > 1e-6
            else:
                outside += abs(after[frame] - value) > 1e-9
    out["replace"] = {"status": status, "same_action": obj.animation_data.action.name == action,
                      "same_channels": set(first) == set(second),
                      "same_key_counts": all(len(first[c]) == len(second[c]) for c in first),
                      "outside_changed": outside, "inside": inside, "inside_changed": changed}

if "foot_lock" in kinds:
    # Planted-foot sliding of the character's ankles with and without pinning, over
    # consecutive frames where the source's heel or toe contact is above 0.5.
    def planted(side: str) -> bool:
        return max(source[f"contact_{side}_heel"], source[f"contact_{side}_foot_index"]) > 0.5

    lock = {}
    for j, on in enumerate((True, False)):
        obj, marks = build("mixamo", 8.0 + 1.5 * j)
        result = retarget_onto(obj, foot_lock=on)
        steps, flags, prev = [], 0, {}
        for f in frames:
            scene.frame_set(f)
            for side in ("Left", "Right"):
                now = planted(side.lower())
                head = np.array(obj.matrix_world @ obj.pose.bones[f"mixamorig:{side}Foot"].head)
                if now and prev.get(side, (False,))[0]:
                    steps.append(float(np.linalg.norm((head - prev[side][1])[:2])))
                flags += now
                prev[side] = (now, head)
        result.update(measure(obj, marks, frames))
        lock["on" if on else "off"] = {**result, "slide_mm": 1000 * float(np.mean(steps)),
                                       "steps": len(steps), "planted_flags": flags}
    out["foot_lock"] = lock

emit(out)
skip_exit_handlers_on_42()
