"""Fix people by hand: split the active rig at the current frame, merge another rig into the
active one, delete the active rig (each one undo step; see ``rig/people.py``).

A merge is the one edit that can do more than move keys: two pieces of one person, solved again
as one track by the backend, are bridged over the frames between them (``genhmr merge``,
``rig/rerange.py``). So ``genhmr.merge_people`` is a backend operator (modal from the panel,
blocking from scripts, like ``genhmr.refine_range``) when the rigs' analysis can be re-entered;
otherwise it merges the keys as they are and says why.
"""

import os

import bpy
from bpy.props import BoolProperty, StringProperty

from .. import backend_env, warm_backend
from ..job import JobState, MergeJob
from ..job_folder import merge_obstacle
from ..preferences import backend_python
from ..rig import people, rerange
from ._active import OnActive, active_person
from ._backend_op import OnPersonJob


class _OnPerson(OnActive):
    active = staticmethod(active_person)
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
        rig, frame = active_person(context), context.scene.frame_current

        def edit() -> str:
            twin = people.split(context.scene, rig, frame)
            return f"{rig.name} split at frame {frame}: from there on it is {twin.name}"
        return self.run(context, edit)


class GENHMR_OT_merge_people(OnPersonJob, bpy.types.Operator):
    """Merge another GenHMR rig into the active one (one person cut into two tracks): the
    backend solves the joined track again, bridging the frames between the pieces, and the
    active rig takes the new motion; the other is deleted. Without the analysis or a backend,
    the active rig takes the other's keys where it has none"""

    bl_idname = "genhmr.merge_people"
    bl_label = "Merge Person into Active"
    bl_options = {"UNDO"}  # noqa: RUF012 - one undo step; no redo panel (redo would re-solve)

    other: StringProperty(
        name="Merge In", description="The GenHMR rig to merge into the active one (two pieces "
                                     "of one track are never in view together, so it is "
                                     "picked here rather than by selection)")
    from_dialog: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})  # set by invoke: OK runs modal

    # Plain attributes (see BackendOperator): the running merge.
    _names = ("", "")  # (kept rig, merged-in rig)
    _plan = None  # (backend python, job folder, keep's track, other's track, frame offset)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        keep = active_person(context)
        chosen = [o for o in context.selected_objects if people.is_person(o) and o != keep]
        if chosen and not self.other:
            self.other = chosen[0].name
        self.from_dialog = True
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop_search(self, "other", context.scene, "objects", icon="ARMATURE_DATA")

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime = context.window_manager.genhmr
        runtime.error = ""
        keep = active_person(context)
        other = bpy.data.objects.get(self.other)
        if not people.is_person(other) or other == keep:
            self.report({"ERROR"}, f"GenHMR: choose another GenHMR rig to merge into {keep.name}")
            return {"CANCELLED"}
        reason = self._plan_solve(context, keep, other)
        if reason is not None:
            return self._merge_keys(context, keep, other, reason)
        if self.from_dialog and not bpy.app.background and context.window is not None:
            return self._run_modal(context)
        return super().execute(context)

    def _plan_solve(self, context: bpy.types.Context, keep: bpy.types.Object,
                    other: bpy.types.Object) -> str | None:
        """Make ready for the backend to merge and solve again (``_plan``); or why it cannot."""
        self._plan = None
        try:
            path, offset = rerange.job_of(keep)
            other_path, other_offset = rerange.job_of(other)
        except rerange.RangeError:
            return "the rigs do not know their analysis (imported by an older version)"
        if (os.path.abspath(other_path), other_offset) != (os.path.abspath(path), offset):
            return f"{keep.name} and {other.name} come from different analyses"
        reason = merge_obstacle(path, [
            (rig.name, int(rig[rerange.reimport.TRACK]), people.keyed_frames(rig) - offset)
            for rig in (keep, other)])
        if reason is not None:
            return reason
        try:
            python, _origin = backend_python(context)
        except backend_env.BackendNotConfigured as exc:
            return str(exc)
        self._plan = (python, os.path.dirname(path), int(keep[rerange.reimport.TRACK]),
                      int(other[rerange.reimport.TRACK]), offset)
        self._names = (keep.name, other.name)
        return None

    def _merge_keys(self, context: bpy.types.Context, keep: bpy.types.Object,
                    other: bpy.types.Object, reason: str) -> set[str]:
        """The merge in Blender alone (``rig/people.py``), saying why."""
        name = other.name
        try:
            gained = people.merge(context.scene, keep, other)
        except people.PeopleError as exc:
            self.report({"ERROR"}, f"GenHMR: {exc}")
            return {"CANCELLED"}
        message = (f"{name} merged into {keep.name} ({gained} frames gained); merged the keys "
                   f"as they are: {reason}")
        context.window_manager.genhmr.status = message
        self.report({"INFO"}, f"GenHMR: {message}")
        return {"FINISHED"}

    def _start(self, context: bpy.types.Context) -> bool:
        runtime = context.window_manager.genhmr
        runtime.error = ""
        runtime.progress = 0.0
        python, job_dir, keep, other, _offset = self._plan
        client = warm_backend.client_for(python, os.path.join(job_dir, "backend-refine.log"))
        return self._launch(context, MergeJob(client, job_dir, keep, other), python,
                            f"Merging {self._names[1]} into {self._names[0]}, solving again")

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        runtime = context.window_manager.genhmr
        ended = self._ended(context, state, "merge", "the rigs are unchanged")
        if ended is not None:
            return ended
        keep_name, other_name = self._names
        keep, other = bpy.data.objects.get(keep_name), bpy.data.objects.get(other_name)
        if not people.is_person(keep):
            self._fail(context, f"GenHMR: {keep_name} was deleted during the merge")
            return {"CANCELLED"}
        applied = self._apply_result(
            context, state, "merge", lambda result: rerange.apply_merge(
                context.scene, keep, other if people.is_person(other) else None, result,
                self._plan[4]),
            rerange.RangeError)
        if applied is None:
            return {"CANCELLED"}
        first, last, count = applied
        context.scene.frame_set(context.scene.frame_current)
        summary = (f"{other_name} merged into {keep_name} and solved again: frames {first}-"
                   f"{last} ({count} keyed) in {state.elapsed_s:.1f} s")
        runtime.status = summary
        self.report({"INFO"}, f"GenHMR: {summary}")
        return {"FINISHED"}


class GENHMR_OT_delete_person(_OnPerson, bpy.types.Operator):
    """Delete the active GenHMR rig with its body, markers and unused animation (a ghost)"""

    bl_idname = "genhmr.delete_person"
    bl_label = "Delete Person"

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = active_person(context)

        def edit() -> str:
            name = rig.name
            people.delete(context.scene, rig)
            return f"deleted {name}"
        return self.run(context, edit)


CLASSES = (GENHMR_OT_split_person, GENHMR_OT_merge_people, GENHMR_OT_delete_person)
