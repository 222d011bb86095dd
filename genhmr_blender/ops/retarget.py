"""Retarget operators: map bones, edit the table, presets, rest match, and the bake.

All of them work on the active armature (the artist's character) and its
``Object.genhmr_retarget`` settings; the source is a GenHMR rig. Errors are one sentence in the
status bar, never a traceback, and a failed bake leaves the character as it was.
"""

import traceback
from pathlib import Path

import bpy
import numpy as np
from bpy.props import EnumProperty, IntProperty, StringProperty

from .._core import retarget
from ..preferences import ADDON_ID
from ..retarget import armatures, bake, settings
from ._active import OnActive

PRESET_FOLDER = "retarget_presets"


def _target(context: bpy.types.Context) -> bpy.types.Object | None:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE" or armatures.is_genhmr_rig(obj):
        return None
    return obj


def _guess_source(context: bpy.types.Context) -> bpy.types.Object | None:
    """The only GenHMR rig in the scene, or the selected one."""
    rigs = [o for o in context.scene.objects if armatures.is_genhmr_rig(o)]
    chosen = [o for o in rigs if o.select_get()]
    pick = chosen or rigs
    return pick[0] if len(pick) == 1 else None


def preset_folder(create: bool = False) -> Path | None:
    """Where the artist's presets go: the extension's user folder, never the add-on's own."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_ID, path=PRESET_FOLDER,
                                                  create=create))
    except (ValueError, AttributeError, RuntimeError):
        return None


def user_presets() -> dict[str, Path]:
    folder = preset_folder()
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.json"))}


class _OnTarget(OnActive):
    active = staticmethod(_target)
    poll_hint = "Select your character's armature (not a GenHMR rig) to retarget onto"


class GENHMR_OT_retarget_auto_map(_OnTarget, bpy.types.Operator):
    """Map GenHMR's joints onto this armature's bones from its rig family or its bone names"""

    bl_idname = "genhmr.retarget_auto_map"
    bl_label = "Auto Map"

    def execute(self, context: bpy.types.Context) -> set[str]:
        target = _target(context)
        bone_map, source = retarget.presets.auto_map(armatures.target_bones(target))
        settings.set_bone_map(target.genhmr_retarget, bone_map, source)
        if target.genhmr_retarget.source is None:
            target.genhmr_retarget.source = _guess_source(context)
        found = retarget.mapping.problems(bone_map, armatures.target_bones(target))
        if found:
            self.report({"WARNING"}, f"GenHMR: mapped {len(bone_map)} joints ({source}); "
                                     f"fix by hand: {found[0]}")
        else:
            self.report({"INFO"}, f"GenHMR: mapped {len(bone_map)} joints ({source})")
        return {"FINISHED"}


class GENHMR_OT_retarget_pair_edit(_OnTarget, bpy.types.Operator):
    """Add a row to the mapping table after the active one (same joint: several rows of one
    joint drive a chain), or remove the active row"""

    bl_idname = "genhmr.retarget_pair_edit"
    bl_label = "Edit Mapping Rows"

    action: EnumProperty(items=[("ADD", "Add", "Add a row"),
                                ("REMOVE", "Remove", "Remove the active row")])

    def execute(self, context: bpy.types.Context) -> set[str]:
        s = _target(context).genhmr_retarget
        row = s.active_pair
        if self.action == "REMOVE":
            if not 0 <= row < len(s.pairs):
                return {"CANCELLED"}
            s.pairs.remove(row)
            s.active_pair = max(0, min(row, len(s.pairs) - 1))
        else:
            pair = s.pairs.add()
            if 0 <= row < len(s.pairs) - 1:
                pair.joint = s.pairs[row].joint
                s.pairs.move(len(s.pairs) - 1, row + 1)
                s.active_pair = row + 1
            else:
                s.active_pair = len(s.pairs) - 1
        s.mapped_from = "edited"
        return {"FINISHED"}


def _preset_items(_self: bpy.types.Operator, _context: bpy.types.Context) -> list[tuple]:
    items = [(f"builtin:{name}", name, "Built-in preset")
             for name in retarget.presets.BUILTIN]
    items += [(f"user:{name}", name, str(path)) for name, path in user_presets().items()]
    return items


class GENHMR_OT_retarget_preset_load(_OnTarget, bpy.types.Operator):
    """Fill the mapping table from a built-in or saved preset"""

    bl_idname = "genhmr.retarget_preset_load"
    bl_label = "Load Mapping Preset"
    bl_property = "preset"

    preset: EnumProperty(name="Preset", items=_preset_items)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        target = _target(context)
        kind, _, name = self.preset.partition(":")
        try:
            if kind == "builtin":
                table = retarget.presets.BUILTIN[name]
            else:
                name, table = retarget.presets.load(user_presets()[name])
        except (KeyError, retarget.presets.PresetError) as exc:
            self.report({"ERROR"}, f"GenHMR: cannot load preset: {exc}")
            return {"CANCELLED"}
        bones = armatures.target_bones(target)
        bone_map = retarget.mapping.resolve(table, bones)
        found = retarget.mapping.problems(bone_map, bones)
        if found:
            self.report({"ERROR"}, f"GenHMR: preset '{name}' does not fit this armature: "
                                   f"{found[0]}")
            return {"CANCELLED"}
        settings.set_bone_map(target.genhmr_retarget, bone_map, name)
        self.report({"INFO"}, f"GenHMR: loaded preset '{name}' ({len(bone_map)} joints)")
        return {"FINISHED"}


class GENHMR_OT_retarget_preset_save(_OnTarget, bpy.types.Operator):
    """Save the mapping table as a named preset (in the extension's user folder)"""

    bl_idname = "genhmr.retarget_preset_save"
    bl_label = "Save Mapping Preset"
    bl_options = {"REGISTER"}  # noqa: RUF012 - writes a file, changes no Blender data

    name: StringProperty(name="Name", default="My Character")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context: bpy.types.Context) -> set[str]:
        bone_map = settings.bone_map_of(_target(context).genhmr_retarget)
        name = self.name.strip()
        safe = "".join(c if c.isalnum() or c in " -_." else "_" for c in name).strip(" .")
        folder = preset_folder(create=True)
        if not bone_map or not safe or folder is None:
            self.report({"ERROR"}, "GenHMR: nothing to save (map the bones and name the "
                                   "preset first)")
            return {"CANCELLED"}
        try:
            path = retarget.presets.save(folder / f"{safe}.json", name, bone_map)
        except OSError as exc:
            self.report({"ERROR"}, f"GenHMR: cannot save the preset: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"GenHMR: saved preset '{name}' to {path}")
        return {"FINISHED"}


class GENHMR_OT_retarget_capture_rest(_OnTarget, bpy.types.Operator):
    """Use the character's current pose as the match for GenHMR's rest T-pose (for rigs whose
    rest pose differs in ways the automatic correction does not cover)"""

    bl_idname = "genhmr.retarget_capture_rest"
    bl_label = "Use Current Pose as Rest Match"

    clear: bpy.props.BoolProperty(name="Clear", default=False,
                                  description="Forget the captured pose (automatic again)")

    def execute(self, context: bpy.types.Context) -> set[str]:
        target = _target(context)
        s = target.genhmr_retarget
        s.rest_match.clear()
        if self.clear:
            self.report({"INFO"}, "GenHMR: rest match cleared; the rest poses are matched "
                                  "automatically")
            return {"FINISHED"}
        bones = [b for bones in settings.bone_map_of(s).values() for b in bones]
        if not bones:
            self.report({"ERROR"}, "GenHMR: map the bones first")
            return {"CANCELLED"}
        for bone, rot in bake.capture_rest_match(target, bones).items():
            item = s.rest_match.add()
            item.bone, item.rotation = bone, rot.reshape(-1).tolist()
        self.report({"INFO"}, f"GenHMR: captured the current pose of {len(bones)} bones as "
                              "the rest match")
        return {"FINISHED"}


def _frame_range(context: bpy.types.Context, source: bpy.types.Object,
                 mode: str) -> tuple[int, int]:
    anim = source.animation_data
    if mode == "SOURCE" and anim is not None and anim.action is not None:
        start, end = anim.action.frame_range
        return round(start), round(end)
    return context.scene.frame_start, context.scene.frame_end


class GENHMR_OT_retarget(_OnTarget, bpy.types.Operator):
    """Bake the GenHMR rig's motion onto the active armature (one undo step)"""

    bl_idname = "genhmr.retarget"
    bl_label = "Retarget"

    source: StringProperty(
        name="Source Rig", description="Name of the GenHMR rig (empty: the one set in the "
                                       "panel, or the only one in the scene)")
    frame_start: IntProperty(name="Start", default=-1,
                             description="First frame (-1: from the panel's Frames choice)")
    frame_end: IntProperty(name="End", default=-1, description="Last frame (-1: automatic)")

    def execute(self, context: bpy.types.Context) -> set[str]:
        target = _target(context)
        s = target.genhmr_retarget
        source = (bpy.data.objects.get(self.source) if self.source
                  else s.source or _guess_source(context))
        if source is None or not armatures.is_genhmr_rig(source):
            self.report({"ERROR"}, "GenHMR: choose the GenHMR rig to take the motion from")
            return {"CANCELLED"}
        s.source = source
        if not s.pairs:
            bone_map, found_by = retarget.presets.auto_map(armatures.target_bones(target))
            settings.set_bone_map(s, bone_map, found_by)
        start, end = _frame_range(context, source, s.range_mode)
        if self.frame_start >= 0:
            start = self.frame_start
        if self.frame_end >= 0:
            end = self.frame_end
        match = ({m.bone: np.array(m.rotation).reshape(3, 3) for m in s.rest_match}
                 if len(s.rest_match) else None)
        options = bake.RetargetOptions(frame_start=start, frame_end=end,
                                       root_mode=s.root_mode, root_bone=s.root_bone,
                                       rest_match=match, new_action=s.action_mode == "NEW",
                                       foot_lock=s.foot_lock,
                                       contact_threshold=s.contact_threshold)
        try:
            report = bake.bake_retarget(context, source, target, settings.bone_map_of(s),
                                        options)
        except bake.RetargetError as exc:
            self.report({"ERROR"}, f"GenHMR: {exc}")
            return {"CANCELLED"}
        except Exception as exc:  # a bug: say so in one line, keep the details in the console
            traceback.print_exc()
            self.report({"ERROR"}, f"GenHMR retarget failed: {exc}")
            return {"CANCELLED"}
        for warning in report.warnings:
            self.report({"WARNING"}, f"GenHMR: {warning}")
        self.report({"INFO"}, f"GenHMR: {report.frames} frames of {source.name} on "
                              f"{target.name} ({report.bones} bones, legs x{report.scale:.2f}) "
                              f"in '{report.action}'")
        return {"FINISHED"}


CLASSES = (GENHMR_OT_retarget_auto_map, GENHMR_OT_retarget_pair_edit,
           GENHMR_OT_retarget_preset_load,
           GENHMR_OT_retarget_preset_save, GENHMR_OT_retarget_capture_rest, GENHMR_OT_retarget)
