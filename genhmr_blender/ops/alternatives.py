"""Alternatives for a frame range of the active rig: sample K other readings, step through them
in the viewport, accept one or discard them all (issue #14, "pick alternatives").

The flow, and why each step is (or is not) an undo step:

* **Sample Alternatives** (one undo step) asks the warm backend for K readings of the range
  (``resample``: stage 1 at a temperature, each refined as a re-run would be;
  ``genhmr.alternatives``). The job folder is not changed. The rig keeps its own motion and
  records the choice (``rig/alternatives.py``): which alternatives, and its own keys over the
  range.
* **Previous / Next** (not undo steps: looking is not editing) key the range with the next
  alternative, or the rig's own motion (number 0), from its result file. Scrub or play to judge.
* **Accept** (one undo step) makes the shown alternative the analysis's motion: the backend
  writes it into the job folder as a new revision (``accept``), the import records it, the keys
  stay. Undo brings back the rig's own keys and the revision before (and the choice, so another
  alternative can be accepted instead).
* **Discard** (one undo step) puts the rig's own keys back and ends the choice.

While a rig is choosing, its other edits (re-run, split, merge, delete) wait: they would start
from the analysis while the rig shows an alternative nobody accepted.

Headless (``bpy.app.background``), sampling and accepting run blocking, so scripts and tests
can call ``bpy.ops.genhmr.sample_alternatives(frame_start=..., frame_end=..., seed=0)``.
"""

import os
import random

import bpy
from bpy.props import FloatProperty, IntProperty

from .. import backend_env, warm_backend
from .._core import alternatives as layout
from ..job import AcceptJob, JobState, ResampleJob
from ..preferences import backend_python
from ..rig import alternatives, rerange
from ._active import active_person
from ._backend_op import OnPersonJob
from .refine_range import RangeChoice

# The options an artist sets in the panel (scene settings) and scripts pass.
_SETTINGS = {"range_mode": "rerun_range", "around": "rerun_around",
             "count": "alternatives_count", "temperature": "alternatives_variety"}


class GENHMR_OT_sample_alternatives(RangeChoice, OnPersonJob, bpy.types.Operator):
    """Sample other readings of a frame range of the active GenHMR rig (the knee forward or
    back, the arm in front or behind), to step through and accept one; the rig keeps its
    motion until then"""

    bl_idname = "genhmr.sample_alternatives"
    bl_label = "Sample Alternatives"
    bl_options = {"UNDO"}  # noqa: RUF012 - the choice starts as one undo step
    settings = _SETTINGS

    count: IntProperty(name="Alternatives", default=layout.DEFAULT_ALTERNATIVES, min=1,
                       max=layout.MAX_ALTERNATIVES, options={"SKIP_SAVE"},
                       description="How many other readings to offer")
    temperature: FloatProperty(name="Variety", default=layout.DEFAULT_TEMPERATURE, min=0.1,
                               max=3.0, options={"SKIP_SAVE"},
                               description="Sampling temperature: higher gives readings that "
                                           "differ more (and are less likely)")
    seed: IntProperty(name="Seed", default=-1, min=-1, options={"SKIP_SAVE"},
                      description="The same seed gives the same alternatives; -1 = new ones "
                                  "each time")

    _range = None  # (first, last) scene frames
    _offset = 0
    _job_dir = ""
    _revision = 0

    def _start(self, context: bpy.types.Context) -> bool:
        request = self._request(context)
        if request is None:
            return False
        rig, job_dir, first, last = request.rig, request.job_dir, request.first, request.last
        offset, python = request.offset, request.python
        seed = self.seed if self.seed >= 0 else random.randrange(2**31)
        options = {"count": int(self.count), "temperature": float(self.temperature),
                   "seed": int(seed)}
        client = warm_backend.client_for(python, os.path.join(job_dir, "backend-refine.log"))
        self._revision = rerange.job_revision(rig)
        job = ResampleJob(client, job_dir, int(rig[rerange.reimport.TRACK]), first - offset,
                          last - offset, options, revision=self._revision)
        self._range, self._rig_name = (first, last), rig.name
        self._offset, self._job_dir = offset, job_dir
        return self._launch(context, job, python,
                            f"Sampling alternatives for {rig.name}, frames {first}-{last}")

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        rig = self._rig_when_ended(context, state, "sampling", "the rig is unchanged")
        if isinstance(rig, set):
            return rig
        if not state.alternatives:
            self._fail(context, "GenHMR: the backend offered no alternatives")
            return {"CANCELLED"}
        offset = self._offset
        # The backend clips the range to the person's track: record what it sampled.
        first = int(state.done.get("frame_start", self._range[0] - offset)) + offset
        last = int(state.done.get("frame_end", self._range[1] - offset)) + offset
        alternatives.begin(rig, self._job_dir, str(state.done.get("set", "")), first, last,
                           offset, self._revision, state.alternatives)
        count = len(state.alternatives)
        summary = (f"{rig.name}: {count} alternatives for frames {first}-{last} in "
                   f"{state.elapsed_s:.1f} s; step through them, then Accept or Discard")
        return self._succeeded(context, summary)


def _choosing_rig(context: bpy.types.Context) -> bpy.types.Object | None:
    rig = active_person(context)
    return rig if alternatives.pending(rig) is not None else None


class GENHMR_OT_show_alternative(bpy.types.Operator):
    """Show another alternative on the active rig's range (0 = its own motion); not an undo
    step: only Accept or Discard changes the animation"""

    bl_idname = "genhmr.show_alternative"
    bl_label = "Show Alternative"
    bl_options = {"INTERNAL"}  # noqa: RUF012 - looking is not editing: no undo step

    step: IntProperty(name="Step", default=1, options={"SKIP_SAVE"},
                      description="Move this many alternatives on (wrapping round)")
    index: IntProperty(name="Alternative", default=-1, min=-1, options={"SKIP_SAVE"},
                       description="Show this one (0 = the rig's own motion); -1 = use Step")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _choosing_rig(context) is None:
            cls.poll_message_set("The active rig has no alternatives (sample them first)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _choosing_rig(context)
        state = alternatives.pending(rig)
        count = len(state["candidates"])
        index = self.index if self.index >= 0 else (state["shown"] + self.step) % (count + 1)
        try:
            alternatives.show(context.scene, rig, index)
        except alternatives.AlternativesError as exc:
            self.report({"ERROR"}, f"GenHMR: {exc}")
            return {"CANCELLED"}
        context.scene.frame_set(context.scene.frame_current)
        what = "its own motion" if index == 0 else f"alternative {index} of {count}"
        context.window_manager.genhmr.status = f"{rig.name}: {what}"
        return {"FINISHED"}


class GENHMR_OT_accept_alternative(OnPersonJob, bpy.types.Operator):
    """Keep the alternative the active rig shows: it becomes the analysis's motion for the
    range (later re-runs start from it)"""

    bl_idname = "genhmr.accept_alternative"
    bl_label = "Accept"
    bl_options = {"UNDO"}  # noqa: RUF012 - one undo step
    choosing = True

    _collection = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not super().poll(context):
            return False
        if alternatives.shown(active_person(context)) == 0:
            cls.poll_message_set("Show one of the alternatives first (the rig shows its own "
                                 "motion)")
            return False
        return True

    def _start(self, context: bpy.types.Context) -> bool:
        runtime = context.window_manager.genhmr
        runtime.error = ""
        rig = active_person(context)
        state = alternatives.pending(rig)
        try:
            python, _origin = backend_python(context)
        except backend_env.BackendNotConfigured as exc:
            return self._fail(context, f"GenHMR: {exc}")
        client = warm_backend.client_for(
            python, os.path.join(state["job_dir"], "backend-refine.log"))
        job = AcceptJob(client, state["job_dir"], int(state["shown"]), state["set"] or None,
                        revision=int(state["revision"]))
        self._rig_name = rig.name
        self._collection = rerange.import_collection(rig).name
        return self._launch(context, job, python, f"Keeping alternative {state['shown']}")

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        rig = self._rig_when_ended(context, state, "accept", "the choice is still open")
        if isinstance(rig, set):
            return rig
        choice = alternatives.pending(rig)
        count = self._apply_result(
            context, state, "alternative", lambda result: rerange.apply_range(
                context.scene, rig, result, choice["first"], choice["last"],
                choice["offset"]), rerange.RangeError)
        if count is None:
            return {"CANCELLED"}
        alternatives.end(context.scene, rig, restore=False)
        rerange.set_job_revision(self._collection, state.revision)
        context.scene.frame_set(context.scene.frame_current)
        summary = (f"{rig.name}: alternative {choice['shown']} kept for frames "
                   f"{choice['first']}-{choice['last']}")
        return self._succeeded(context, summary)


class GENHMR_OT_discard_alternatives(bpy.types.Operator):
    """Put the active rig's own motion back and forget its alternatives"""

    bl_idname = "genhmr.discard_alternatives"
    bl_label = "Discard"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - one undo step

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return GENHMR_OT_show_alternative.poll(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _choosing_rig(context)
        alternatives.end(context.scene, rig, restore=True)
        context.scene.frame_set(context.scene.frame_current)
        context.window_manager.genhmr.status = f"{rig.name}: alternatives discarded"
        return {"FINISHED"}


CLASSES = (GENHMR_OT_sample_alternatives, GENHMR_OT_show_alternative,
           GENHMR_OT_accept_alternative, GENHMR_OT_discard_alternatives)
