"""Fix people by hand: split the active rig at the current frame, merge another rig into the
active one, delete the active rig (each one undo step; see ``rig/people.py``).

Each edit is also made in the analysis's job folder by the backend (protocol ``split``,
``merge``, ``drop``), so a later re-run of refinement, merge or re-import sees the people as the
artist fixed them: a split-off person is a person of the analysis (its own track id, re-runs
work on it), a deleted ghost does not come back when the result is imported again. A merge also
solves the joined track again, bridging the frames between the pieces (``rig/rerange.py``).
So these are backend operators (modal from the panel, blocking from scripts, like
``genhmr.refine_range``), using the warm backend, when the rigs' analysis can be re-entered;
otherwise (the folder gone, a result imported on its own, no backend set up) the edit is made
on the rigs alone and the message says why. A failed or cancelled backend edit changes nothing.
Each request names the job folder's revision the scene shows and the edit records the one it
made on the import (``rig/rerange.py``), so undo and redo reach the analysis too.
"""

import os
from collections.abc import Callable

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty

from .. import backend_env, job_folder, warm_backend
from .._core import result_format
from ..backend_client import BackendClient
from ..job import DropJob, JobState, MergeJob, RefineJob, SplitJob
from ..preferences import backend_python
from ..rig import people, rerange
from ._active import active_person
from ._backend_op import OnPersonJob


def _video_frames(rig: bpy.types.Object, offset: int) -> np.ndarray:
    """The video frames ``rig`` has keys on (scene frames less the import's offset)."""
    return people.keyed_frames(rig) - offset


class _PersonEdit(OnPersonJob):
    """What split, merge and delete share: plan the edit in the job folder (or say why it
    cannot be), run it on the warm backend, then apply it to the rigs; or make it locally."""

    bl_options = {"UNDO"}  # noqa: RUF012 - one undo step; no redo panel (redo would re-run)

    what = ""  # "split", "merge", "delete": for messages
    # Plain attributes (see BackendOperator): the running edit.
    _plan = None  # (backend python, job folder, frame offset)
    _revision = 0  # the job folder's revision the rigs show
    _collection = ""  # their import, which records it
    _names: tuple[str, ...] = ()  # the rigs edited, active first
    _elapsed = 0.0  # seconds the backend job took

    def _prepare(self, context: bpy.types.Context) -> str | None:
        """Check the request (raise ``PeopleError`` for bad input) and plan the backend edit
        (:meth:`_plan_job`); the reason it cannot go through the backend, or None."""
        raise NotImplementedError

    def _local(self, context: bpy.types.Context, reason: str) -> str:
        """Make the edit on the rigs alone (``reason``: why not in the job folder); the message
        (raise ``PeopleError`` when it cannot be made)."""
        raise NotImplementedError

    def _job(self, client: BackendClient, job_dir: str, offset: int) -> RefineJob:
        """The backend job (``job.SplitJob``...) for the planned edit."""
        raise NotImplementedError

    def _apply(self, context: bpy.types.Context, result: result_format.JobResult) -> str:
        """The backend made the edit (``result``: the job's new result): make it on the rigs;
        the message. Raise ``rerange.RangeError`` before changing anything when the result does
        not fit."""
        raise NotImplementedError

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._begin(context, modal=True)

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._begin(context, modal=False)

    def _begin(self, context: bpy.types.Context, modal: bool) -> set[str]:
        """Local edit, or the backend job: modal when asked from the UI, else blocking."""
        runtime = context.window_manager.genhmr
        runtime.error = ""
        try:
            reason = self._prepare(context)
            if reason is not None:
                message = self._local(context, reason)
        except people.PeopleError as exc:
            self.report({"ERROR"}, f"GenHMR: {exc}")
            return {"CANCELLED"}
        if reason is not None:
            return self._succeeded(context, message)
        if modal and self._interactive(context):
            return self._run_modal(context)
        return super().execute(context)

    def _interactive(self, context: bpy.types.Context) -> bool:
        """Whether a window's event loop will drive a modal run (not in background Blender,
        where a modal operator would never get its timer events; tests drive it by hand)."""
        return not bpy.app.background and context.window is not None

    def _plan_job(self, context: bpy.types.Context, rigs: list[bpy.types.Object],
                  obstacle: Callable[[str, int], str | None]) -> str | None:
        """Make ready for the backend to edit the rigs' people (``_plan``), or say why it
        cannot: ``obstacle(result path, frame offset)`` checks the job folder (at
        ``self._revision``, set here first)."""
        self._plan = None
        self._names = tuple(rig.name for rig in rigs)
        try:
            places = [rerange.job_of(rig) for rig in rigs]
        except rerange.RangeError:
            return "the rigs do not know their analysis (imported by an older version)"
        path, offset = places[0]
        if any((os.path.abspath(p), o) != (os.path.abspath(path), offset) for p, o in places):
            return f"{' and '.join(self._names)} come from different analyses"
        self._revision = rerange.job_revision(rigs[0])
        self._collection = rerange.import_collection(rigs[0]).name
        reason = obstacle(path, offset)
        if reason is not None:
            return reason
        try:
            python, _origin = backend_python(context)
        except backend_env.BackendNotConfigured as exc:
            return str(exc)
        self._plan = (python, os.path.dirname(path), offset)
        return None

    def _start(self, context: bpy.types.Context) -> bool:
        runtime = context.window_manager.genhmr
        runtime.error = ""
        runtime.progress = 0.0
        python, job_dir, offset = self._plan
        client = warm_backend.client_for(python, os.path.join(job_dir, "backend-refine.log"))
        job = self._job(client, job_dir, offset)
        return self._launch(context, job, python, job.state.status)

    def _rig(self, index: int = 0) -> bpy.types.Object:
        """A rig of the running edit; ``rerange.RangeError`` when it went meanwhile."""
        rig = bpy.data.objects.get(self._names[index])
        if not people.is_person(rig):
            raise rerange.RangeError(f"{self._names[index]} was deleted during the {self.what}")
        return rig

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        unchanged = "the rigs are unchanged" if len(self._names) > 1 else "the rig is unchanged"
        ended = self._ended(context, state, self.what, unchanged)
        if ended is not None:
            return ended
        self._elapsed = state.elapsed_s
        message = self._apply_result(context, state, self.what,
                                     lambda result: self._apply(context, result),
                                     rerange.RangeError, people.PeopleError)
        if message is None:
            return {"CANCELLED"}
        rerange.set_job_revision(self._collection, state.revision)
        context.scene.frame_set(context.scene.frame_current)
        return self._succeeded(context, message)


def _track(rig: bpy.types.Object) -> int:
    return int(rig[rerange.reimport.TRACK])


def _has(result: result_format.JobResult, track: int) -> bool:
    return track in result.track_ids.tolist()


class GENHMR_OT_split_person(_PersonEdit, bpy.types.Operator):
    """Split the active GenHMR rig at the current frame: a new person takes the keys from
    this frame on (for a track that followed two people); the analysis is split too, so the
    new person can be re-run"""

    bl_idname = "genhmr.split_person"
    bl_label = "Split at Current Frame"
    what = "split"

    _frame = 0  # the scene frame split at
    _new_track = -1  # the split-off person's track id in the analysis

    def _prepare(self, context: bpy.types.Context) -> str | None:
        rig, frame = active_person(context), context.scene.frame_current
        people.check_split(rig, frame)
        self._frame = frame

        def obstacle(path: str, offset: int) -> str | None:
            reason = job_folder.split_obstacle(path, rig.name, _track(rig),
                                               _video_frames(rig, offset), frame - offset,
                                               self._revision)
            if reason is None:  # an id neither the analysis nor the file has
                known = job_folder.track_ids(path, self._revision)
                self._new_track = max(people.next_track(context.scene),
                                      max(known, default=-1) + 1)
            return reason
        return self._plan_job(context, [rig], obstacle)

    def _local(self, context: bpy.types.Context, reason: str) -> str:
        rig = active_person(context)
        twin = people.split(context.scene, rig, self._frame)
        return (f"{rig.name} split at frame {self._frame}: from there on it is {twin.name} "
                f"(in Blender only: {reason})")

    def _job(self, client: BackendClient, job_dir: str, offset: int) -> SplitJob:
        rig = self._rig()
        job = SplitJob(client, job_dir, _track(rig), self._frame - offset, self._new_track,
                       self._revision)
        job.state.status = f"Splitting {rig.name} at frame {self._frame}"
        return job

    def _apply(self, context: bpy.types.Context, result: result_format.JobResult) -> str:
        rig = self._rig()
        if not (_has(result, _track(rig)) and _has(result, self._new_track)):
            raise rerange.RangeError(f"the analysis has no persons {_track(rig)} and "
                                     f"{self._new_track} after the split")
        twin = people.split(context.scene, rig, self._frame, self._new_track)
        return f"{rig.name} split at frame {self._frame}: from there on it is {twin.name}"


class GENHMR_OT_merge_people(_PersonEdit, bpy.types.Operator):
    """Merge another GenHMR rig into the active one (one person cut into two tracks): the
    backend solves the joined track again, bridging the frames between the pieces, and the
    active rig takes the new motion; the other is deleted. Without the analysis or a backend,
    the active rig takes the other's keys where it has none"""

    bl_idname = "genhmr.merge_people"
    bl_label = "Merge Person into Active"
    what = "merge"

    other: StringProperty(
        name="Merge In", description="The GenHMR rig to merge into the active one (two pieces "
                                     "of one track are never in view together, so it is "
                                     "picked here rather than by selection)")
    from_dialog: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})  # set by invoke: OK runs modal

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
        return self._begin(context, modal=self.from_dialog)

    def _prepare(self, context: bpy.types.Context) -> str | None:
        keep = active_person(context)
        other = bpy.data.objects.get(self.other)
        if not people.is_person(other) or other == keep:
            raise people.PeopleError(f"choose another GenHMR rig to merge into {keep.name}")
        return self._plan_job(context, [keep, other], lambda path, offset: (
            job_folder.merge_obstacle(path, [(rig.name, _track(rig), _video_frames(rig, offset))
                                             for rig in (keep, other)], self._revision)))

    def _local(self, context: bpy.types.Context, reason: str) -> str:
        keep, other = active_person(context), bpy.data.objects[self.other]
        name = other.name
        gained = people.merge(context.scene, keep, other)
        return (f"{name} merged into {keep.name} ({gained} frames gained); merged the keys "
                f"as they are: {reason}")

    def _job(self, client: BackendClient, job_dir: str, offset: int) -> MergeJob:
        keep, other = (bpy.data.objects[n] for n in self._names)
        job = MergeJob(client, job_dir, _track(keep), _track(other), self._revision)
        job.state.status = f"Merging {other.name} into {keep.name}, solving again"
        return job

    def _apply(self, context: bpy.types.Context, result: result_format.JobResult) -> str:
        keep_name, other_name = self._names
        keep, other = self._rig(), bpy.data.objects.get(other_name)
        first, last, count = rerange.apply_merge(
            context.scene, keep, other if people.is_person(other) else None, result,
            self._plan[2])
        return (f"{other_name} merged into {keep_name} and solved again: frames {first}-"
                f"{last} ({count} keyed) in {self._elapsed:.1f} s")


class GENHMR_OT_delete_person(_PersonEdit, bpy.types.Operator):
    """Delete the active GenHMR rig with its body, markers and unused animation (a ghost); the
    analysis drops the person too, so importing it again does not bring the ghost back"""

    bl_idname = "genhmr.delete_person"
    bl_label = "Delete Person"
    what = "delete"

    def _prepare(self, context: bpy.types.Context) -> str | None:
        rig = active_person(context)
        return self._plan_job(context, [rig], lambda path, offset: job_folder.edit_obstacle(
            path, [(rig.name, _track(rig), _video_frames(rig, offset))],
            revision=self._revision))

    def _local(self, context: bpy.types.Context, reason: str) -> str:
        rig = active_person(context)
        name = rig.name
        people.delete(context.scene, rig)
        return f"deleted {name} in Blender only: {reason}"

    def _job(self, client: BackendClient, job_dir: str, offset: int) -> DropJob:
        rig = self._rig()
        job = DropJob(client, job_dir, _track(rig), self._revision)
        job.state.status = f"Removing {rig.name} from the analysis"
        return job

    def _apply(self, context: bpy.types.Context, result: result_format.JobResult) -> str:
        rig = self._rig()
        track, name = _track(rig), rig.name
        if _has(result, track):
            raise rerange.RangeError(f"the analysis still has person {track}")
        people.delete(context.scene, rig)
        return f"deleted {name}, and person {track} from the analysis"


CLASSES = (GENHMR_OT_split_person, GENHMR_OT_merge_people, GENHMR_OT_delete_person)
