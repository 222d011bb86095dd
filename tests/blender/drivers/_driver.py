"""Helpers shared by the Blender driver scripts (run inside a process that imports bpy)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import bpy

PACKAGE = "bl_ext.user_default.genhmr"


def emit(result: dict[str, Any]) -> None:
    """The one line the pytest side parses."""
    sys.stdout.write("GENHMR_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def skip_exit_handlers_on_42() -> None:
    """End the driver now on Blender 4.2 (call it after :func:`emit`).

    The bpy 4.2 module (not Blender itself) crashes in its C exit handlers after a glTF export
    or with Rigify's classes registered: SpaceType teardown frees a Python class after Python
    has finalized. The result line is out; leave without the handlers."""
    if bpy.app.version < (5, 0):
        sys.stdout.flush()
        os._exit(0)


def enable() -> None:
    """Enable the extension installed by the session fixture (drivers/install.py)."""
    bpy.ops.preferences.addon_enable(module=PACKAGE)
    assert PACKAGE in bpy.context.preferences.addons, "GenHMR extension not enabled"


def module(name: str) -> Any:
    """A sub-module of the installed extension, e.g. ``module('genhmr_blender.rig.build')``."""
    return sys.modules[f"{PACKAGE}.{name}"]


def data_counts() -> dict[str, int]:
    """Sizes of the data-block collections an import could touch."""
    d = bpy.data
    return {"objects": len(d.objects), "armatures": len(d.armatures), "actions": len(d.actions),
            "collections": len(d.collections), "cameras": len(d.cameras),
            "movieclips": len(d.movieclips), "meshes": len(d.meshes),
            "materials": len(d.materials), "shape_keys": len(d.shape_keys)}


def strips_of(editor: bpy.types.SequenceEditor) -> Any:
    """The editor's top-level strips: ``strips`` from Blender 4.4, ``sequences`` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def fcurves_of(obj: bpy.types.Object) -> list:
    """F-curves of the object's assigned action, on legacy (<4.4) and slotted actions."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return []
    if hasattr(anim.action, "fcurves"):
        return list(anim.action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.animdata_get_channelbag_for_assigned_slot(anim)
    return list(bag.fcurves) if bag is not None else []


def analyze_clip_part(video: str, jobs: str, first_video_frame: int,
                      frames: int) -> tuple[set[str], str]:
    """Point the extension at the real backend (``GENHMR_BACKEND_PYTHON``, else this Python),
    put ``frames`` video frames from ``first_video_frame`` on a movie strip at scene frame
    ``first_video_frame + 1`` and Analyze them (blocking, job folder ``JOBS/job``): the
    operator's result and the result file's path. What the edit drivers start from."""
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    prefs.backend_python = os.environ.get("GENHMR_BACKEND_PYTHON", sys.executable)
    editor = bpy.context.scene.sequence_editor_create()
    strip = strips_of(editor).new_movie("walk", video, channel=1, frame_start=1)
    strip.frame_offset_start = first_video_frame
    strip.frame_final_duration = frames
    editor.active_strip = strip
    analyzed = bpy.ops.genhmr.analyze(out_dir=os.path.join(jobs, "job"), timeout=600)
    return analyzed, bpy.context.window_manager.genhmr.result_path
