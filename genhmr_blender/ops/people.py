"""Fix people by hand: split the active rig at the current frame, merge the selected rig into
the active one, delete the active rig (each one undo step; see ``rig/people.py``)."""

import bpy
from bpy.props import StringProperty

from ..rig import people
from ._active import OnActive


def _active_person(context: bpy.types.Context) -> bpy.types.Object | None:
    obj = context.active_object
    return obj if people.is_person(obj) else None


class _OnPerson(OnActive):
    active = staticmethod(_active_person)
    poll_hint = "Make a GenHMR rig the active object"

    def run(self, context: bpy.types.Context, edit) -> set[str]:
        try:
            message = edit()
        except people.PeopleError as exc:
            self.report({"ERROR"}, f"GenHMR: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"GenHMR: {message}")
        return {"FINISHED"}


class GENHMR_OT_split_person(_OnPerson, bpy.types.Operator):
    """Split the active GenHMR rig at the current frame: a new person takes the keys from
    this frame on (for a track that followed two people)"""

    bl_idname = "genhmr.split_person"
    bl_label = "Split at Current Frame"

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig, frame = _active_person(context), context.scene.frame_current

        def edit() -> str:
            twin = people.split(context.scene, rig, frame)
            return f"{rig.name} split at frame {frame}: from there on it is {twin.name}"
        return self.run(context, edit)


class GENHMR_OT_merge_people(_OnPerson, bpy.types.Operator):
    """Merge another GenHMR rig into the active one (one person cut into two tracks): the
    active rig takes its keys where it has none; the other is deleted"""

    bl_idname = "genhmr.merge_people"
    bl_label = "Merge Person into Active"

    other: StringProperty(
        name="Merge In", description="The GenHMR rig to merge into the active one (two pieces "
                                     "of one track are never in view together, so it is "
                                     "picked here rather than by selection)")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        keep = _active_person(context)
        chosen = [o for o in context.selected_objects if people.is_person(o) and o != keep]
        if chosen and not self.other:
            self.other = chosen[0].name
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop_search(self, "other", context.scene, "objects", icon="ARMATURE_DATA")

    def execute(self, context: bpy.types.Context) -> set[str]:
        keep = _active_person(context)
        other = bpy.data.objects.get(self.other)

        def edit() -> str:
            if not people.is_person(other) or other == keep:
                raise people.PeopleError("choose another GenHMR rig to merge into "
                                         f"{keep.name}")
            name = other.name
            gained = people.merge(context.scene, keep, other)
            return f"{name} merged into {keep.name} ({gained} frames gained)"
        return self.run(context, edit)


class GENHMR_OT_delete_person(_OnPerson, bpy.types.Operator):
    """Delete the active GenHMR rig with its body, markers and unused animation (a ghost)"""

    bl_idname = "genhmr.delete_person"
    bl_label = "Delete Person"

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _active_person(context)

        def edit() -> str:
            name = rig.name
            people.delete(context.scene, rig)
            return f"deleted {name}"
        return self.run(context, edit)


CLASSES = (GENHMR_OT_split_person, GENHMR_OT_merge_people, GENHMR_OT_delete_person)
