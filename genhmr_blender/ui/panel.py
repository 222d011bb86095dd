"""The "GenHMR" sidebar tab, in the 3D viewport and in the Video Sequencer.

Both panels draw the same thing: the video source, the frame range, options, then either the
Analyze button or, while a job runs, its progress bar and Cancel; then status and errors.
"""

import bpy

from .. import source
from ..preferences import get_prefs
from ..rig import alternatives


def _wrapped_lines(text: str, width: int = 48, limit: int = 8) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        while len(paragraph) > width:
            cut = paragraph.rfind(" ", 0, width)
            cut = cut if cut > 0 else width
            lines.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip()
        lines.append(paragraph)
    return lines[:limit]


def draw_genhmr(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    scene = context.scene
    settings = scene.genhmr
    runtime = context.window_manager.genhmr

    col = layout.column()
    col.enabled = not runtime.running
    col.row().prop(settings, "source", expand=True)
    if settings.source == "STRIP":
        editor = scene.sequence_editor
        if editor is not None:
            collection = "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
            col.prop_search(settings, "strip_name", editor, collection, text="Strip")
        if not settings.strip_name:
            try:
                strip = source.movie_strip(scene)
                col.label(text=f"Active: {strip.name}", icon="SEQUENCE")
            except source.SourceError as exc:
                col.label(text=str(exc), icon="INFO")
    elif settings.source == "CLIP":
        col.template_ID(settings, "clip", open="clip.open")
    else:
        col.prop(settings, "filepath", text="")

    col.separator()
    col.prop(settings, "range_mode")
    if settings.range_mode == "CUSTOM":
        row = col.row(align=True)
        row.prop(settings, "frame_start")
        row.prop(settings, "frame_end")
    col.prop(settings, "method")
    if settings.method == "generative":
        col.prop(settings, "refine_steps")
    col.prop(settings, "tiling")
    col.prop(settings, "max_people")
    col.prop(settings, "estimate_shape")
    col.prop(settings, "camera_motion")
    col.prop(settings, "lens_35mm")
    col.prop(settings, "person_height")
    col.prop(settings, "pose_smoothing")
    col.prop(settings, "depth_smoothing")
    col.prop(settings, "foot_locking")
    if settings.foot_locking:
        col.prop(settings, "contact_threshold")
    prefs = get_prefs(context)
    if prefs is not None:
        col.prop(prefs, "device")

    layout.separator()
    if runtime.running:
        layout.progress(factor=runtime.progress, type="BAR", text=runtime.status or "Working")
        layout.operator("genhmr.cancel", icon="CANCEL")
    else:
        layout.operator("genhmr.analyze", icon="PLAY")
        layout.operator("genhmr.import_result", text="Import Result...", icon="IMPORT")
        row = layout.row(align=True)
        row.prop(settings, "unsure_threshold", slider=True)
        row.operator("genhmr.mark_unsure", text="", icon="MARKER_HLT")
        obj = context.active_object
        if obj is not None and obj.get("genhmr_role") == "rig":  # the artist in the loop
            layout.label(text=obj.name, icon="ARMATURE_DATA")
            choice = alternatives.pending(obj)
            if choice is None:
                _draw_rerun(layout.box(), settings)
            else:
                _draw_choice(layout.box(), choice)
            row = layout.row(align=True)
            row.operator("genhmr.split_person", text="Split")
            row.operator("genhmr.merge_people", text="Merge")
            row.operator("genhmr.delete_person", text="Delete", icon="TRASH")
        if runtime.status and not runtime.error:
            layout.label(text=runtime.status, icon="INFO")
    if runtime.error:
        box = layout.box()
        for i, line in enumerate(_wrapped_lines(runtime.error)):
            box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


def _draw_rerun(box: bpy.types.UILayout, settings: bpy.types.PropertyGroup) -> None:
    """Re-run refinement on a range of the active rig, with its options."""
    box.prop(settings, "rerun_range")
    if settings.rerun_range == "AROUND":
        box.prop(settings, "rerun_around")
    col = box.column(align=True)
    col.prop(settings, "rerun_steps")
    col.prop(settings, "rerun_smoothing")
    col.prop(settings, "rerun_min_confidence")
    box.prop(settings, "rerun_keep_selected")
    box.operator("genhmr.refine_range", icon="FILE_REFRESH")
    row = box.row(align=True)
    row.prop(settings, "alternatives_count", text="")
    row.prop(settings, "alternatives_variety")
    box.operator("genhmr.sample_alternatives", icon="MOD_DATA_TRANSFER")


def _draw_choice(box: bpy.types.UILayout, choice: dict) -> None:
    """The rig is choosing between alternatives: which one shows, step, accept or discard."""
    count, shown = len(choice["candidates"]), int(choice["shown"])
    box.label(text=f"Alternatives, frames {choice['first']}-{choice['last']}",
              icon="MOD_DATA_TRANSFER")
    row = box.row(align=True)
    row.operator("genhmr.show_alternative", text="", icon="TRIA_LEFT").step = -1
    row.label(text="Its own motion" if shown == 0 else f"{shown} of {count}")
    row.operator("genhmr.show_alternative", text="", icon="TRIA_RIGHT").step = 1
    if shown:
        c = choice["candidates"][shown - 1]
        box.label(text=f"Differs {c['distance_mm']:.0f} mm (up to {c['largest_mm']:.0f}); "
                       f"2D error {c['reprojection_px']:.1f} px")
    row = box.row(align=True)
    row.operator("genhmr.accept_alternative", icon="CHECKMARK")
    row.operator("genhmr.discard_alternatives", icon="X")


class _GenhmrSidebar:
    """What both sidebar panels share; Blender needs one Panel class per editor type."""

    bl_label = "GenHMR"
    bl_region_type = "UI"
    bl_category = "GenHMR"

    def draw(self, context: bpy.types.Context) -> None:
        draw_genhmr(self.layout, context)


class GENHMR_PT_view3d(_GenhmrSidebar, bpy.types.Panel):
    bl_idname = "GENHMR_PT_view3d"
    bl_space_type = "VIEW_3D"


class GENHMR_PT_sequencer(_GenhmrSidebar, bpy.types.Panel):
    bl_idname = "GENHMR_PT_sequencer"
    bl_space_type = "SEQUENCE_EDITOR"


def draw_export(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The active armature and the button that exports it (format chosen in the browser)."""
    layout.label(text=context.active_object.name, icon="ARMATURE_DATA")
    layout.operator("genhmr.export_motion", text="Export Motion...", icon="EXPORT")


class GENHMR_PT_export(bpy.types.Panel):
    """Sub-panel of the 3D viewport's GenHMR tab, shown while an armature is active: a GenHMR
    rig or a retargeted character, to FBX / BVH / glTF."""

    bl_idname = "GENHMR_PT_export"
    bl_label = "Export Motion"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "GenHMR"
    bl_parent_id = "GENHMR_PT_view3d"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return obj is not None and obj.type == "ARMATURE"

    def draw(self, context: bpy.types.Context) -> None:
        draw_export(self.layout, context)


CLASSES = (GENHMR_PT_view3d, GENHMR_PT_sequencer, GENHMR_PT_export)
