"""Split, merge and delete people through the operators, measured against the poses before.

Usage: python people_edits.py RESULT.npz
(make_result: person 3 solved on scene frames 6-17 but 9-10, person 7 on 8-15.)
"""

import sys

import bpy
import numpy as np
from _driver import emit, enable

enable()
bpy.ops.genhmr.import_result(filepath=sys.argv[1], with_mesh=False, frame_offset=1)
scene = bpy.context.scene
frames = range(6, 18)


def pose(name: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per frame: world bone heads (B, 3) and world bone rotations (B, 3, 3)."""
    rig = bpy.data.objects[name]
    out = {}
    for f in frames:
        scene.frame_set(f)
        heads = np.array([rig.matrix_world @ pb.head for pb in rig.pose.bones])
        rots = np.array([(rig.matrix_world.to_3x3() @ pb.matrix.to_3x3()) for pb in
                         rig.pose.bones])
        out[f] = (heads, rots)
    return out


def keyed(name: str) -> list[int]:
    return module_people.keyed_frames(bpy.data.objects[name]).tolist()


def select(active: str, *others: str) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    for name in (active, *others):
        bpy.data.objects[name].select_set(True)
    bpy.context.view_layer.objects.active = bpy.data.objects[active]


def call(op, **kw) -> list[str]:
    try:
        return sorted(op(**kw))
    except RuntimeError as exc:
        return ["CANCELLED", str(exc).strip()]


module_people = sys.modules["bl_ext.user_default.genhmr.genhmr_blender.rig.people"]
three, seven = pose("GenHMR_person_3"), pose("GenHMR_person_7")
out = {"keyed_before": {"3": keyed("GenHMR_person_3"), "7": keyed("GenHMR_person_7")}}

# Split 3 at frame 13: the new person plays the frames from 13 on exactly as 3 did.
select("GenHMR_person_3")
scene.frame_set(13)
out["split"] = call(bpy.ops.genhmr.split_person)
twin = pose("GenHMR_person_8")
out["split_keys"] = {"3": keyed("GenHMR_person_3"), "8": keyed("GenHMR_person_8")}
out["split_error_m"] = max(float(np.abs(twin[f][0] - three[f][0]).max())
                           for f in out["split_keys"]["8"])
scene.frame_set(15)
out["visible_at_15"] = {n: not bpy.data.objects[n].hide_viewport
                        for n in ("GenHMR_person_3", "GenHMR_person_8")}
out["split_outside"] = call(bpy.ops.genhmr.split_person) if scene.frame_set(30) is None \
    else None

# Merge 8 back into 3: the original again.
select("GenHMR_person_3")  # the other piece is never in view with it: named instead
out["merge_back"] = call(bpy.ops.genhmr.merge_people, other="GenHMR_person_8")
out["merge_back_message"] = bpy.context.window_manager.genhmr.status
back = pose("GenHMR_person_3")
out["merge_back_keys"] = keyed("GenHMR_person_3")
out["merge_back_error_m"] = max(float(np.abs(back[f][0] - three[f][0]).max())
                                for f in out["keyed_before"]["3"])

# Merge 7 into 3: 3 gains frames 9-10, where it now turns every bone as 7 did.
select("GenHMR_person_3")
out["merge"] = call(bpy.ops.genhmr.merge_people, other="GenHMR_person_7")
merged = pose("GenHMR_person_3")
out["merged_keys"] = keyed("GenHMR_person_3")
out["gained_rotation_error"] = max(float(np.abs(merged[f][1] - seven[f][1]).max())
                                   for f in (9, 10))
out["gained_pelvis_error_m"] = max(float(np.abs(merged[f][0][0] - seven[f][0][0]).max())
                                   for f in (9, 10))
out["kept_error_m"] = max(float(np.abs(merged[f][0] - three[f][0]).max())
                          for f in out["keyed_before"]["3"])
out["left"] = sorted(o.name for o in bpy.data.objects if o.name.startswith("GenHMR_person"))
out["orphans"] = sorted(b.name for pool in (bpy.data.actions, bpy.data.armatures)
                        for b in pool if b.users == 0)
select("GenHMR_person_3")
out["merge_alone"] = call(bpy.ops.genhmr.merge_people, other="GenHMR_person_3")
out["delete"] = call(bpy.ops.genhmr.delete_person)
out["after_delete"] = sorted(o.name for o in bpy.data.objects
                             if o.name.startswith("GenHMR_person"))
out["markers"] = sorted(m.name for m in scene.timeline_markers)
emit(out)
