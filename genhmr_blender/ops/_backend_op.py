"""What the analysis, re-run and merge operators share: a backend job driven without blocking.

From the UI an operator runs modally: a 0.1 s window-manager timer drains the backend client's
queue (never a blocking read), so Blender stays responsive; ESC or the panel's Cancel button asks
the backend to stop. From scripts (``bpy.ops.genhmr.<op>()`` = ``execute``) the same job object
is polled in a blocking loop, which is what headless runs and tests use.

Progress goes to the panel (window-manager properties) and to the status bar
(``WorkSpace.status_text_set``); ``wm.progress_begin`` is not used because it replaces the mouse
cursor with a counter for the whole, possibly long, job.

Subclasses say how to start their job (:meth:`BackendOperator._start`, which sets ``_job``) and
what to do with its end (:meth:`BackendOperator._finish`).
"""

import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import bpy
from bpy.props import FloatProperty

from .._core import result_format
from ..job import JobState
from ..rig import alternatives
from ._active import active_person

_T = TypeVar("_T")

# The one running backend operator, so the Cancel button and file loads can reach it.
ACTIVE: dict[str, "BackendOperator | None"] = {"op": None}


def redraw_panels(context: bpy.types.Context) -> None:
    wm = context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "SEQUENCE_EDITOR", "DOPESHEET_EDITOR", "GRAPH_EDITOR"):
                area.tag_redraw()


class BackendOperator:
    """Mixin for an operator that runs one backend job (modal in the UI, blocking in scripts)."""

    timeout: FloatProperty(
        name="Timeout", default=0.0, min=0.0, options={"SKIP_SAVE"},
        description="Blocking mode only: cancel after this many seconds (0 = no limit)")

    # Plain attributes, not annotations: Blender reads class annotations as RNA properties.
    _timer = None
    _job = None  # the job.AnalysisJob (RefineJob, MergeJob) while running

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return ACTIVE["op"] is None

    def _start(self, context: bpy.types.Context) -> bool:
        """Resolve everything and start ``self._job``; on failure report and return False."""
        raise NotImplementedError

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        """The job ended (done, error or cancelled): apply or report; the operator's result."""
        raise NotImplementedError

    def _launch(self, context: bpy.types.Context, job: Any, python: str, status: str) -> bool:
        """Start ``job`` on the backend ``python``; on success it is the running job and
        ``status`` shows in the panel, else the reason is reported (False)."""
        try:
            job.start()
        except OSError as exc:
            return self._fail(context, f"Cannot start the backend ({python}): {exc}")
        self._job = job
        runtime = context.window_manager.genhmr
        runtime.running = True
        runtime.status = status
        return True

    def _ended(self, context: bpy.types.Context, state: JobState, what: str,
               unchanged: str) -> set[str] | None:
        """The job is over: reset the panel; the operator's result when ``what`` (a re-run, a
        merge) was cancelled or failed, which left ``unchanged`` as it was; None on success."""
        self._job = None
        context.window_manager.genhmr.running = False
        return self._unsuccessful(context, state, f"Cancelled: {unchanged}",
                                  f"GenHMR {what} cancelled; {unchanged}",
                                  f"GenHMR {what} failed, {unchanged}: ")

    def _succeeded(self, context: bpy.types.Context, summary: str) -> set[str]:
        """Say what the finished job did (panel status and the info bar)."""
        context.window_manager.genhmr.status = summary
        self.report({"INFO"}, f"GenHMR: {summary}")
        return {"FINISHED"}

    def _unsuccessful(self, context: bpy.types.Context, state: JobState,
                      cancelled_status: str, cancelled: str, failed: str) -> set[str] | None:
        """A cancelled or failed job reported (``cancelled_status`` in the panel, ``cancelled``
        as a warning, ``failed`` before the error): the operator's result; None when it
        finished with a result to apply."""
        if state.finished == "cancelled":
            context.window_manager.genhmr.status = cancelled_status
            self.report({"WARNING"}, cancelled)
            return {"CANCELLED"}
        if state.finished == "error":
            self._fail(context, f"{failed}{state.error}")
            return {"CANCELLED"}
        return None

    def _apply_result(self, context: bpy.types.Context, state: JobState, what: str,
                      apply: Callable[[Any], _T], *errors: type[Exception]) -> _T | None:
        """Load the finished job's result file and ``apply`` it to the scene; None (reported)
        when the file is bad, ``apply`` raises one of ``errors`` (the message is the artist's),
        or anything else (a bug: its traceback goes to the console, not the artist)."""
        try:
            return apply(result_format.load_result(state.result_path))
        except (result_format.ResultFormatError, *errors) as exc:
            self._fail(context, f"GenHMR: {exc}")
        except Exception as exc:  # a bug: say so instead of a traceback in the artist's face
            traceback.print_exc()
            self._fail(context, f"GenHMR could not apply the {what}: {exc}")
        return None

    def _fail(self, context: bpy.types.Context, message: str) -> bool:
        runtime = context.window_manager.genhmr
        runtime.running = False
        runtime.error = message
        runtime.status = "Failed"
        self.report({"ERROR"}, message)
        return False

    def _update(self, context: bpy.types.Context, state: JobState) -> None:
        runtime = context.window_manager.genhmr
        runtime.progress = state.fraction
        runtime.status = state.status

    # -- blocking (scripts, tests) ------------------------------------------------------------
    def execute(self, context: bpy.types.Context) -> set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        job = self._job
        t0 = time.monotonic()
        last_status = ""
        while True:
            state = job.poll()
            if state.status != last_status:
                last_status = state.status
                print(f"[GenHMR] {state.fraction:4.0%} {state.status}", flush=True)
            if state.finished:
                break
            timed_out = self.timeout and time.monotonic() - t0 > self.timeout
            if timed_out and job.client.job_active:
                job.cancel()
            time.sleep(0.05)
        self._update(context, state)
        return self._finish(context, state)

    # -- modal (UI) -----------------------------------------------------------------------------
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._run_modal(context)

    def _run_modal(self, context: bpy.types.Context) -> set[str]:
        """Start the job and follow it from a timer (also after an operator's dialog, whose OK
        calls ``execute``: an artist's click must not block Blender either)."""
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        ACTIVE["op"] = self
        self._status_bar(context, context.window_manager.genhmr.status)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if job is None:
            return self._stop_modal(context, {"CANCELLED"})
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = job.poll()
        self._update(context, state)
        self._status_bar(context, f"{state.fraction:.0%} {state.status}  (Esc to cancel)")
        redraw_panels(context)
        if not state.finished:
            return {"PASS_THROUGH"}
        return self._stop_modal(context, self._finish(context, state))

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender is closing the operator (file load, quit): stop the backend too."""
        if self._job is not None:
            self._job.cancel()
            self._job.close(timeout=2.0)
            self._job = None
        self._stop_modal(context, {"CANCELLED"})
        context.window_manager.genhmr.running = False

    def request_cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _stop_modal(self, context: bpy.types.Context, result: set[str]) -> set[str]:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        ACTIVE["op"] = None
        self._status_bar(context, None)
        redraw_panels(context)
        return result

    @staticmethod
    def _status_bar(context: bpy.types.Context, text: str | None) -> None:
        workspace = getattr(context, "workspace", None)
        if workspace is not None:
            workspace.status_text_set(None if text is None else f"GenHMR: {text}")


def stop_active() -> None:
    """Cancel and stop a running backend operator (add-on disabled, another file loaded)."""
    op = ACTIVE["op"]
    job = getattr(op, "_job", None) if op is not None else None
    if job is not None:
        job.cancel()
        job.close(timeout=2.0)
        op._job = None
    ACTIVE["op"] = None


class OnPersonJob(BackendOperator):
    """A backend operator on the active GenHMR rig (re-run, merge): enabled while no other job
    runs and a rig is active, and (unless the operator finishes it) while the rig is not in
    the middle of choosing between alternatives: an edit then would start from the analysis
    while the rig shows an alternative nobody accepted."""

    choosing = False  # the operator works on a rig that is choosing (accept)
    _rig_name = ""  # plain attribute (see BackendOperator): the rig the running job works on

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if ACTIVE["op"] is not None:
            cls.poll_message_set("GenHMR is busy with another job")
            return False
        rig = active_person(context)
        if rig is None:
            cls.poll_message_set("Make a GenHMR rig the active object")
            return False
        if (alternatives.pending(rig) is not None) != cls.choosing:
            cls.poll_message_set(f"Accept or discard the alternatives of {rig.name} first"
                                 if not cls.choosing else f"{rig.name} has no alternatives")
            return False
        return True

    def _rig_when_ended(self, context: bpy.types.Context, state: JobState, what: str,
                        unchanged: str) -> bpy.types.Object | set[str]:
        """The job is over (see ``_ended``): the rig it worked on, to apply its result to; or
        the operator's result when the job was cancelled or failed, or the artist deleted the
        rig while it ran (reported)."""
        ended = self._ended(context, state, what, unchanged)
        if ended is not None:
            return ended
        rig = bpy.data.objects.get(self._rig_name)
        if rig is None:
            self._fail(context, f"GenHMR: {self._rig_name} was deleted during the {what}")
            return {"CANCELLED"}
        return rig
