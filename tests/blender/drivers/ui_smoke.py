"""Draw the panels and preferences into a recording layout (no window exists headless).

Every ``prop``/``prop_search``/``template_ID`` must name a real RNA property and every
``operator`` a registered operator, in each state the panel can be in.
"""

import os
import tempfile

import bpy
from _driver import PACKAGE, emit, enable, module

enable()
problems: list[str] = []
calls: list[str] = []


class Layout:
    """Accepts the UILayout calls the add-on makes and checks their arguments."""

    enabled = True

    def _sub(self, *args, **kw):
        return Layout()

    column = row = box = split = _sub

    def prop(self, data, name, **kw):
        calls.append(f"prop:{name}")
        if name not in data.bl_rna.properties:
            problems.append(f"no property {name} on {data}")

    def prop_search(self, data, name, search_data, search_name, **kw):
        calls.append(f"prop_search:{name}")
        self.prop(data, name)
        if search_name not in search_data.bl_rna.properties:
            problems.append(f"no collection {search_name} on {search_data}")

    def template_ID(self, data, name, **kw):
        self.prop(data, name)

    def operator(self, idname, **kw):
        calls.append(f"operator:{idname}")
        group, name = idname.split(".")
        try:
            rna = getattr(getattr(bpy.ops, group), name).get_rna_type()
        except (AttributeError, KeyError):
            problems.append(f"no operator {idname}")
            rna = None
        return OperatorProperties(idname, rna)

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kw):
        calls.append(f"template_list:{list_type}:{name}")
        if not hasattr(bpy.types, list_type):
            problems.append(f"no UIList {list_type}")
        for holder, prop in ((data, name), (active_data, active_name)):
            if prop not in holder.bl_rna.properties:
                problems.append(f"no property {prop} on {holder}")

    def label(self, text="", **kw):
        calls.append(f"label:{text}")

    def progress(self, factor=0.0, type="BAR", text=""):
        calls.append(f"progress:{factor:.2f}:{text}")

    def separator(self, **kw):
        pass


class OperatorProperties:
    """What ``layout.operator`` returns: setting a property it lacks is a bug."""

    def __init__(self, idname, rna) -> None:
        object.__setattr__(self, "_where", (idname, rna))

    def __setattr__(self, name, value) -> None:
        idname, rna = self._where
        if rna is not None and name not in rna.properties:
            problems.append(f"operator {idname} has no property {name}")


panel = module("genhmr_blender.ui.panel")
ctx = bpy.context
scene, runtime = ctx.scene, ctx.window_manager.genhmr
scene.sequence_editor_create()
states = {}
for source in ("STRIP", "CLIP", "FILE"):
    for mode in ("SOURCE", "CUSTOM"):
        scene.genhmr.source, scene.genhmr.range_mode = source, mode
        calls.clear()
        panel.draw_genhmr(Layout(), ctx)
        states[f"{source}/{mode}"] = list(calls)
runtime.running, runtime.progress, runtime.status = True, 0.42, "Detecting people 4/8"
calls.clear()
panel.draw_genhmr(Layout(), ctx)
states["running"] = list(calls)
runtime.running, runtime.error = False, "The backend stopped unexpectedly.\nLast output: boom"
calls.clear()
panel.draw_genhmr(Layout(), ctx)
states["error"] = list(calls)

prefs = ctx.preferences.addons[PACKAGE].preferences
prefs_cls = type(prefs)
calls.clear()
holder = type("Holder", (), {"layout": Layout()})()
for name in ("backend_python", "smplx_dir", "device", "wheels_dir", "torch_build",
             "torch_index"):
    setattr(holder, name, getattr(prefs, name))
holder.bl_rna = prefs.bl_rna
prefs_cls.draw(holder, ctx)
states["preferences"] = list(calls)

# Range messages: a custom range whose start is after its end, and one before a video whose
# length is not known in Blender (a file path: "to the end" is an internal placeholder).
source = module("genhmr_blender.source")
video = os.path.join(tempfile.mkdtemp(), "clip.mp4")  # only its existence is checked
open(video, "wb").close()
settings = scene.genhmr
settings.source, settings.filepath, settings.range_mode = "FILE", video, "CUSTOM"
range_messages = {}
for name, (first, last) in {"reversed": (50, 10), "before": (scene.frame_start - 20,
                                                             scene.frame_start - 10)}.items():
    settings.frame_start, settings.frame_end = first, last
    try:
        source.resolve_source(scene, settings)
        range_messages[name] = ""
    except source.SourceError as exc:
        range_messages[name] = str(exc)
os.unlink(video)

# The Retarget sub-panel: on a GenHMR rig (a hint), on a character before and after mapping,
# and its mapping table's rows.
def armature(name: str, bones: list[str]) -> bpy.types.Object:
    obj = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    scene.collection.objects.link(obj)
    ctx.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for i, bone in enumerate(bones):
        eb = obj.data.edit_bones.new(bone)
        eb.head, eb.tail = (0.1 * i, 0, 0), (0.1 * i, 0, 0.1)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


retarget_panel = module("genhmr_blender.ui.retarget_panel")
joints = module("genhmr_core.retarget.mapping").SOURCE_JOINTS
rig = armature("GenHMR_person_1", list(joints))
character = armature("Character", ["Hips", "Spine", "Thigh.L"])
for name, active in (("on_rig", rig), ("fresh", character)):
    ctx.view_layer.objects.active = active
    calls.clear()
    retarget_panel.GENHMR_PT_retarget.draw(type("P", (), {"layout": Layout()})(), ctx)
    states[f"retarget/{name}"] = list(calls)
rig["genhmr_role"] = "rig"  # as the import tags a person's rig: the people row shows
ctx.view_layer.objects.active = rig
calls.clear()
panel.draw_genhmr(Layout(), ctx)
states["person_active"] = list(calls)
# The same rig choosing between alternatives (as rig/alternatives.begin records it), showing
# the second of two.
rig["genhmr_alternatives"] = {
    "job_dir": "/tmp/job", "first": 48, "last": 62, "offset": 1, "revision": 0, "shown": 2,
    "candidates": [{"path": f"/tmp/job/alternatives/{k}/result.npz", "distance_mm": 40.0 + k,
                    "largest_mm": 100.0 + k, "reprojection_px": 7.5} for k in (1, 2)],
    "stash": [{"path": "location", "index": 0, "frames": [48.0], "values": [0.0]}]}
calls.clear()
panel.draw_genhmr(Layout(), ctx)
states["person_choosing"] = list(calls)
del rig["genhmr_alternatives"]
ctx.view_layer.objects.active = character
bpy.ops.genhmr.retarget_auto_map()
character.genhmr_retarget.root_mode = "ROOT_BONE"
item = character.genhmr_retarget.rest_match.add()
item.bone = "Hips"
calls.clear()
retarget_panel.GENHMR_PT_retarget.draw(type("P", (), {"layout": Layout()})(), ctx)
states["retarget/mapped"] = list(calls)
calls.clear()
pair = character.genhmr_retarget.pairs[0]
retarget_panel.GENHMR_UL_bone_pairs.draw_item(None, ctx, Layout(), character.genhmr_retarget,
                                              pair, 0, None, "", 0)
states["retarget/row"] = list(calls)
emit({"problems": problems, "states": states, "range_messages": range_messages})
