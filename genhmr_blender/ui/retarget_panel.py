"""The "Retarget" sub-panel of the GenHMR sidebar tab (3D viewport).

Select the character's armature: pick the GenHMR rig to take the motion from, Auto Map (or
load a preset), check or edit the table, choose where the root motion goes, Retarget.
"""

import bpy

from ..retarget import armatures


class GENHMR_UL_bone_pairs(bpy.types.UIList):
    """Rows of the mapping table: GenHMR joint -> the character's bone."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname,
                  index=0):
        target = data.id_data
        row = layout.row(align=True)
        row.prop(item, "joint", text="")
        row.prop_search(item, "bone", target.data, "bones", text="", icon="BONE_DATA")


class GENHMR_PT_retarget(bpy.types.Panel):
    bl_idname = "GENHMR_PT_retarget"
    bl_label = "Retarget"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "GenHMR"
    bl_parent_id = "GENHMR_PT_view3d"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads this class attribute

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return obj is not None and obj.type == "ARMATURE"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        target = context.active_object
        if armatures.is_genhmr_rig(target):
            layout.label(text="Select your character's armature", icon="INFO")
            layout.label(text="to take this rig's motion.", icon="BLANK1")
            return
        s = target.genhmr_retarget
        layout.prop(s, "source")
        row = layout.row(align=True)
        row.operator("genhmr.retarget_auto_map", icon="AUTO")
        row.operator("genhmr.retarget_preset_load", text="", icon="PRESET")
        row.operator("genhmr.retarget_preset_save", text="", icon="ADD")
        if s.mapped_from:
            layout.label(text=f"Mapping: {s.mapped_from}", icon="BONE_DATA")
        row = layout.row()
        row.template_list("GENHMR_UL_bone_pairs", "", s, "pairs", s, "active_pair", rows=6)
        col = row.column(align=True)
        col.operator("genhmr.retarget_pair_edit", text="", icon="ADD").action = "ADD"
        col.operator("genhmr.retarget_pair_edit", text="", icon="REMOVE").action = "REMOVE"
        col = layout.column()
        col.prop(s, "root_mode")
        if s.root_mode == "ROOT_BONE":
            col.prop_search(s, "root_bone", target.data, "bones")
        row = col.row(align=True)
        if len(s.rest_match):
            row.label(text="Rest match: captured pose", icon="ARMATURE_DATA")
            row.operator("genhmr.retarget_capture_rest", text="", icon="X").clear = True
        else:
            row.operator("genhmr.retarget_capture_rest", icon="ARMATURE_DATA").clear = False
        row = col.row(align=True)
        row.prop(s, "foot_lock")
        sub = row.row()
        sub.active = s.foot_lock
        sub.prop(s, "contact_threshold", slider=True)
        col.prop(s, "range_mode")
        col.prop(s, "action_mode")
        layout.operator("genhmr.retarget", icon="ACTION")


CLASSES = (GENHMR_UL_bone_pairs, GENHMR_PT_retarget)
