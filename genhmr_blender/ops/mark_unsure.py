"""Mark where the solve is unsure: timeline markers from the rigs' keyed confidence."""

import bpy

from ..rig import unsure


class GENHMR_OT_mark_unsure(bpy.types.Operator):
    """Put a timeline marker at each stretch where a GenHMR rig's confidence is below the
    panel's threshold (replacing that rig's earlier markers) and recolour the bones"""

    bl_idname = "genhmr.mark_unsure"
    bl_label = "Mark Unsure"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads this class attribute

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        threshold = unsure.threshold_of(scene)
        rigs = marked = 0
        for obj in scene.objects:
            keyed = unsure.keyed_confidence(obj) if obj.type == "ARMATURE" else None
            if keyed is None:
                continue
            rigs += 1
            marked += len(unsure.mark_unsure(scene, obj.name, *keyed, threshold))
        if not rigs:
            self.report({"WARNING"}, "GenHMR: no rig with confidence keys in this scene "
                                     "(import or analyse a video first)")
            return {"CANCELLED"}
        unsure.colour_bones(scene)
        self.report({"INFO"}, f"GenHMR: {marked} unsure stretches below {threshold:.2f} "
                              f"marked on {rigs} rigs")
        return {"FINISHED"}


CLASSES = (GENHMR_OT_mark_unsure,)
