"""Analyse a video with the backend process, then import the result as rigs.

Runs modally from the UI and blocking from scripts (:mod:`._backend_op`); the scene is only
touched once the backend has finished, and not at all when it fails or is cancelled.
"""

import os
import tempfile
import threading
import time
import traceback

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from .. import backend_env, source, warm_backend
from .._core import result_format
from ..backend_client import BackendClient
from ..job import AnalysisJob, JobState
from ..preferences import backend_python, get_prefs, user_dir
from ..rig.build import BuildOptions
from ..rig.unsure import threshold_of
from ._backend_op import ACTIVE, BackendOperator, stop_active
from .import_result import import_result_file, report_summary


def jobs_dir() -> str:
    """Parent folder of job folders: the extension's user folder, else the temp folder."""
    base = user_dir()
    return os.path.join(base, "jobs") if base else os.path.join(tempfile.gettempdir(),
                                                                 "genhmr-jobs")


class GENHMR_OT_analyze(BackendOperator, bpy.types.Operator):
    """Find the people in the video, recover their 3D motion, and build keyframed rigs"""

    bl_idname = "genhmr.analyze"
    bl_label = "Analyze Video"
    # One undo step for the whole import; no REGISTER, so no redo panel (redo would re-run).
    bl_options = {"UNDO"}  # noqa: RUF012 - Blender reads this class attribute

    filepath: StringProperty(
        name="Video", subtype="FILE_PATH", options={"SKIP_SAVE"},
        description="Video file to analyse instead of the panel's source (scripts)")
    video_start: IntProperty(
        name="First Video Frame", default=-1, min=-1, options={"SKIP_SAVE"},
        description="First video frame (0-based) instead of the panel's range; -1 = panel")
    video_end: IntProperty(
        name="End Video Frame", default=-1, min=-1, options={"SKIP_SAVE"},
        description="Video frame after the last one to analyse; -1 = panel")
    use_frame_offset: BoolProperty(default=False, options={"SKIP_SAVE"})
    frame_offset: IntProperty(
        name="Frame of Video Start", default=1, options={"SKIP_SAVE"},
        description="Scene frame showing video frame 0 (with use_frame_offset)")
    out_dir: StringProperty(
        name="Job Folder", subtype="DIR_PATH", options={"SKIP_SAVE"},
        description="Where the backend writes its result; empty = a new folder per job")
    _source = None  # source.VideoSource of the running job

    # -- shared -----------------------------------------------------------------------------
    def _start(self, context: bpy.types.Context) -> bool:
        """Resolve everything and start the backend; on failure report and return False."""
        runtime = context.window_manager.genhmr
        runtime.error = ""
        runtime.progress = 0.0
        settings = context.scene.genhmr
        try:
            src = source.resolve_source(context.scene, settings, self.filepath)
            if self.video_start >= 0:
                src.start = self.video_start
            if self.video_end >= 0:
                src.end = self.video_end
            if self.use_frame_offset:
                src.offset = self.frame_offset
            if src.end <= src.start:
                raise source.SourceError(f"Empty frame range {src.start}..{src.end}")
            python, _origin = backend_python(context)
        except (source.SourceError, backend_env.BackendNotConfigured) as exc:
            return self._fail(context, str(exc))
        prefs = get_prefs(context)
        out_dir = bpy.path.abspath(self.out_dir) if self.out_dir else os.path.join(
            jobs_dir(), time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex())
        os.makedirs(out_dir, exist_ok=True)
        options = {
            "start": src.start,
            "end": None if src.end >= source.UNBOUNDED else src.end,
            "device": prefs.device if prefs else "auto",
            "smplx_dir": bpy.path.abspath(prefs.smplx_dir) if prefs and prefs.smplx_dir else "",
            "smplx_gender": prefs.smplx_gender if prefs else "neutral",
            "method": settings.method,
            "checkpoint": bpy.path.abspath(prefs.checkpoint) if prefs and prefs.checkpoint
            else "",
            "refine_steps": settings.refine_steps,
            "estimate_shape": bool(settings.estimate_shape),
            "tiling": settings.tiling,
            "max_people": settings.max_people,
            "camera_motion": bool(settings.camera_motion),
            "lens_35mm": float(settings.lens_35mm) if settings.lens_35mm > 0 else None,
            "person_height_m": float(settings.person_height) if settings.person_height > 0
            else None,
            "pose_smoothing_s": float(settings.pose_smoothing),
            "depth_smoothing_s": float(settings.depth_smoothing),
            "foot_locking": bool(settings.foot_locking),
            "contact_threshold": float(settings.contact_threshold),
        }
        client = BackendClient(backend_env.serve_command(python), env=backend_env.serve_env(),
                               log_path=os.path.join(out_dir, "backend.log"))
        job = AnalysisJob(client, src.path, out_dir, options)
        try:
            job.start()
        except OSError as exc:
            return self._fail(context, f"Cannot start the backend ({python}): {exc}")
        self._job, self._source = job, src
        runtime.running = True
        runtime.status = f"Analyzing {src.label}, frames {src.scene_range[0]}-" + (
            "end" if src.end >= source.UNBOUNDED else f"{src.scene_range[1]}")
        return True

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        """Import on success; report and leave the scene untouched otherwise."""
        runtime = context.window_manager.genhmr
        job, src = self._job, self._source
        self._job = None
        runtime.running = False
        if job is not None:  # the backend is idle or gone; stopping it must not block the UI
            threading.Thread(target=job.close, daemon=True, name="genhmr-close").start()
        ended = self._unsuccessful(context, state, "Cancelled", "GenHMR analysis cancelled",
                                   "GenHMR analysis failed: ")
        if ended is not None:
            return ended
        runtime.result_path = state.result_path
        settings = context.scene.genhmr
        options = BuildOptions(frame_offset=src.offset if src else 1,
                               set_frame_range=settings.range_mode != "SCENE",
                               unsure_threshold=threshold_of(context.scene))
        try:
            report = import_result_file(context, state.result_path, options)
        except result_format.ResultFormatError as exc:
            self._fail(context, f"GenHMR could not read the backend's result: {exc}")
            return {"CANCELLED"}
        except Exception as exc:  # a bug while building: rolled back, say so clearly
            traceback.print_exc()
            self._fail(context, f"GenHMR import failed, scene unchanged: {exc}")
            return {"CANCELLED"}
        summary = report_summary(report)
        runtime.status = summary
        for warning in report.warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, summary)
        return {"FINISHED"}


class GENHMR_OT_cancel(bpy.types.Operator):
    """Stop the running analysis or re-run (the scene is left as it was)"""

    bl_idname = "genhmr.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return ACTIVE["op"] is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        op = ACTIVE["op"]
        if op is not None:
            op.request_cancel()
            context.window_manager.genhmr.status = "Cancelling..."
        return {"FINISHED"}


CLASSES = (GENHMR_OT_analyze, GENHMR_OT_cancel)


@bpy.app.handlers.persistent
def on_load_pre(*_args: object) -> None:
    stop_active()
    warm_backend.shutdown()


def register() -> None:
    bpy.app.handlers.load_pre.append(on_load_pre)


def unregister() -> None:
    if on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(on_load_pre)
    stop_active()
