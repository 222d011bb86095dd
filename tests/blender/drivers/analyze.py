"""The analyze operator's blocking path against stand-in backends and bad set-ups.

Usage: python analyze.py FAKE_PYTHON VIDEO RESULT.npz RECORD.json JOBS_DIR
"""

import os
import sys
import time

import bpy
from _driver import PACKAGE, data_counts, emit, enable, fcurves_of, strips_of

enable()
fake, video, result, record, jobs = sys.argv[1:6]
scene = bpy.context.scene
editor = scene.sequence_editor_create()
strip = strips_of(editor).new_movie("clip", video, channel=1, frame_start=10)
strip.frame_offset_start = 3  # trimmed: the strip shows video frames 3..10
strip.frame_final_duration = 8
editor.active_strip = strip
prefs = bpy.context.preferences.addons[PACKAGE].preferences
runtime = bpy.context.window_manager.genhmr
out = {}


def attempt(name, **kw):
    before = data_counts()
    t0 = time.perf_counter()
    try:
        status = sorted(bpy.ops.genhmr.analyze(out_dir=os.path.join(jobs, name), **kw))
        message = ""
    except RuntimeError as exc:
        status, message = ["ERROR"], str(exc)
    out[name] = {"status": status, "message": message, "unchanged": data_counts() == before,
                 "panel_error": runtime.error, "panel_status": runtime.status,
                 "running": runtime.running, "seconds": time.perf_counter() - t0}


prefs.backend_python = fake
os.environ["FAKE_BACKEND_MODE"] = "crash"
attempt("crash")
os.environ["FAKE_BACKEND_MODE"] = "error"
attempt("error")

prefs.backend_python = "/nonexistent/python3"
attempt("not_configured")
prefs.backend_python = fake
scene.genhmr.source = "FILE"
scene.genhmr.filepath = "/nonexistent/video.mp4"
attempt("missing_video")
scene.genhmr.source = "STRIP"
scene.genhmr.strip_name = "no such strip"
attempt("missing_strip")
scene.genhmr.strip_name = ""

os.environ.update(FAKE_BACKEND_MODE="result", FAKE_BACKEND_RESULT=result,
                  FAKE_BACKEND_RECORD=record)
attempt("result")
arm = bpy.data.objects.get("GenHMR_person_3")
out["result"]["keyed_frames"] = sorted(
    {round(k.co.x) for fc in fcurves_of(arm) for k in fc.keyframe_points}) if arm else None
out["result"]["frame_range"] = [scene.frame_start, scene.frame_end]
out["result"]["clip_frame_start"] = (bpy.data.movieclips[0].frame_start
                                     if bpy.data.movieclips else None)
out["result"]["result_path"] = runtime.result_path
emit(out)
