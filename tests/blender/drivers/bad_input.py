"""Bad result files and a failure half-way through a build leave bpy.data untouched.

Usage: python bad_input.py GOOD.npz CASE=PATH [CASE=PATH ...]
"""

import sys

import bpy
from _driver import data_counts, emit, enable, module

enable()
good = sys.argv[1]
cases = dict(arg.split("=", 1) for arg in sys.argv[2:])
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.fps = 1234, 567, 25
original_camera = scene.camera
out = {}


def settings() -> list:
    r = scene.render
    return [r.resolution_x, r.resolution_y, r.fps, r.fps_base, scene.frame_start,
            scene.frame_end, scene.camera.name if scene.camera else None]


for name, path in cases.items():
    before, before_settings = data_counts(), settings()
    try:
        bpy.ops.genhmr.import_result(filepath=path)
        message, raised = "", False
    except RuntimeError as exc:  # bpy.ops raise when the operator reports an ERROR
        message, raised = str(exc), True
    out[name] = {"raised": raised, "message": message,
                 "unchanged": data_counts() == before and settings() == before_settings}

# A failure while keyframing the second person: everything built so far must be removed.
keyframes = module("genhmr_blender.rig.keyframes")
real = keyframes.keyframe_person
calls = []


def failing(*args, **kw):
    calls.append(1)
    if len(calls) == 2:
        raise RuntimeError("injected failure")
    return real(*args, **kw)


keyframes.keyframe_person = failing
before, before_settings = data_counts(), settings()
try:
    bpy.ops.genhmr.import_result(filepath=good)
    message, raised = "", False
except RuntimeError as exc:
    message, raised = str(exc), True
keyframes.keyframe_person = real
out["midway_failure"] = {"raised": raised, "message": message, "calls": len(calls),
                         "unchanged": data_counts() == before and settings() == before_settings,
                         "counts": data_counts(), "before": before}

# And the same file imports fine afterwards.
bpy.ops.genhmr.import_result(filepath=good)
out["good_after"] = data_counts()["armatures"]
emit(out)
