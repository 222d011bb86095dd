"""Add-on preferences: backend interpreter, SMPL-X folder, device, and "Set up backend".

"Set up backend" runs ``backend/install_backend.py --json`` with Blender's own Python 3.11 in a
background process (pip downloads take minutes); a timer drains its JSON progress lines so the
preferences window shows a live bar, and on success the venv's interpreter fills the path.
"""

import json
import os
import sys
from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty

from . import backend_env
from .backend_client import JsonLinesProcess

ADDON_ID = __package__.rpartition(".")[0] or __package__  # the extension's own module name


class _SetupState:
    """Module-level state of the running installer (one per Blender session)."""

    process: JsonLinesProcess | None = None
    fraction: float = 0.0
    message: str = ""
    error: str = ""
    done_python: str = ""

    @classmethod
    def running(cls) -> bool:
        return cls.process is not None and cls.process.returncode is None


def user_dir() -> str | None:
    """The extension's user folder (survives upgrades), or None when not run as an extension."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, create=True)
    except (ValueError, AttributeError, RuntimeError):
        return None


def get_prefs(context: bpy.types.Context | None = None) -> Any:
    """The add-on's preferences, or None when loaded without being enabled (some tests)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def backend_python(context: bpy.types.Context | None = None) -> tuple[str, str]:
    """(interpreter, source) for the backend; raises BackendNotConfigured with advice."""
    prefs = get_prefs(context)
    preference = prefs.backend_python if prefs is not None else ""
    return backend_env.find_backend_python(bpy.path.abspath(preference) if preference else "",
                                           user_dir())


def _decode_installer_line(line: str) -> dict[str, Any]:
    event = json.loads(line)
    if not isinstance(event, dict) or "type" not in event:
        raise ValueError("not an installer event")
    return event


class GENHMR_OT_setup_backend(bpy.types.Operator):
    """Create the backend's Python environment (downloads PyTorch, MediaPipe: several minutes)"""

    bl_idname = "genhmr.setup_backend"
    bl_label = "Set up Backend"

    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not _SetupState.running()

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        folder = user_dir()
        if folder is None:
            self.report({"ERROR"}, "GenHMR must be installed as an extension to set up a backend")
            return {"CANCELLED"}
        prefs = get_prefs(context)
        wheels = bpy.path.abspath(prefs.wheels_dir) if prefs and prefs.wheels_dir else ""
        venv = os.path.join(folder, backend_env.VENV_DIRNAME)
        cmd = backend_env.install_command(
            sys.executable, venv, wheels, prefs.torch_build if prefs else "auto",
            prefs.torch_index if prefs else "")
        proc = JsonLinesProcess(cmd, env=backend_env.child_env_for_installer(),
                                decode=_decode_installer_line,
                                log_path=os.path.join(folder, "setup.log"))
        try:
            proc.start()
        except OSError as exc:
            self.report({"ERROR"}, f"Cannot start the installer: {exc}")
            return {"CANCELLED"}
        _SetupState.process = proc
        _SetupState.fraction, _SetupState.message = 0.0, "Starting..."
        _SetupState.error = _SetupState.done_python = ""
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        proc = _SetupState.process
        finished = False
        for item in proc.drain() if proc is not None else []:
            if isinstance(item, dict):
                finished |= self._apply(context, item)
            elif not isinstance(item, tuple):  # the process has exited
                finished = True
        _tag_preferences_redraw(context)
        if not finished:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        code = proc.returncode if proc is not None else None
        if not _SetupState.done_python and not _SetupState.error:
            _SetupState.error = (f"installer exited with code {code}\n"
                                 f"{proc.stderr_tail() if proc else ''}")
        if _SetupState.error:
            self.report({"ERROR"}, f"Backend set-up failed: {_SetupState.error.splitlines()[0]}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Backend ready: {_SetupState.done_python}")
        return {"FINISHED"}

    @staticmethod
    def _apply(context: bpy.types.Context, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "progress":
            _SetupState.fraction = float(event.get("fraction", 0.0))
            _SetupState.message = f"{event.get('step', '')}: {event.get('message', '')}"
        elif kind == "done":
            _SetupState.fraction, _SetupState.message = 1.0, "Done"
            _SetupState.done_python = str(event["python"])
            prefs = get_prefs(context)
            if prefs is not None:
                prefs.backend_python = _SetupState.done_python
        elif kind == "error":
            _SetupState.error = str(event.get("message", "unknown error"))
        return kind in ("done", "error")


class GENHMR_OT_setup_backend_cancel(bpy.types.Operator):
    """Stop the running backend set-up"""

    bl_idname = "genhmr.setup_backend_cancel"
    bl_label = "Cancel Set-up"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if _SetupState.process is not None:
            _SetupState.process.stop(timeout=10.0)  # the installer stops pip on SIGTERM
            _SetupState.error = "cancelled"
        return {"FINISHED"}


def _tag_preferences_redraw(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


# Shown before "Set up Backend" (measured: docs/licenses.md, "Install size").
_TORCH_SIZE = {"cpu": "about 190 MB to download, 0.8 GB on disk",
               "cuda": "about 4 GB more on disk (NVIDIA libraries)"}


class GENHMR_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_python: StringProperty(
        name="Backend Python", subtype="FILE_PATH",
        description="Python interpreter of the backend environment; empty = $GENHMR_PYTHON or "
                    "the environment made by 'Set up Backend'")
    smplx_dir: StringProperty(
        name="SMPL-X Models", subtype="DIR_PATH",
        description="Folder with your SMPL-X model files (SMPLX_NEUTRAL.npz, ...; optional: "
                    "without it the license-free default body is used)")
    smplx_gender: EnumProperty(
        name="SMPL-X Model",
        items=[("neutral", "Neutral", "SMPLX_NEUTRAL.npz"),
               ("male", "Male", "SMPLX_MALE.npz"),
               ("female", "Female", "SMPLX_FEMALE.npz")],
        default="neutral")
    checkpoint: StringProperty(
        name="Generative Model", subtype="FILE_PATH",
        description="Checkpoint of the generative method (a model.pt from the training "
                    "commands); empty = the model shipped with the add-on")
    device: EnumProperty(
        name="Device",
        items=[("auto", "Auto", "GPU when the backend finds one, else CPU"),
               ("cpu", "CPU", "Always the CPU"),
               ("cuda", "CUDA", "An NVIDIA GPU")],
        default="auto")
    wheels_dir: StringProperty(
        name="Offline Wheels", subtype="DIR_PATH",
        description="Install from this folder of wheels instead of the internet (optional)")

    torch_build: EnumProperty(
        name="Torch Build",
        items=[("auto", "Auto", "The CUDA build only when an NVIDIA GPU is found, else CPU"),
               ("cpu", "CPU Only", "About 190 MB to download, 0.8 GB on disk"),
               ("cuda", "CUDA", "For an NVIDIA GPU: about 4 GB more on disk (NVIDIA libraries)")],
        default="auto", description="Which build of PyTorch the backend environment gets")
    torch_index: StringProperty(
        name="CPU Package Index",
        description="Where the CPU build of PyTorch comes from on Linux (empty: PyTorch's own "
                    "index, download.pytorch.org/whl/cpu)")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_python")
        try:
            python, source = backend_python(context)
            col.label(text=f"Using {python} ({source})", icon="CHECKMARK")
        except backend_env.BackendNotConfigured as exc:
            col.label(text=str(exc), icon="ERROR")
        col.prop(self, "smplx_dir")
        row = col.row()
        row.enabled = bool(self.smplx_dir)
        row.prop(self, "smplx_gender")
        col.prop(self, "checkpoint")
        col.prop(self, "device")
        box = layout.box()
        box.label(text="Backend environment")
        box.prop(self, "wheels_dir")
        box.prop(self, "torch_build")
        if self.wheels_dir:
            box.label(text="PyTorch: whatever build the wheel folder holds", icon="INFO")
        else:
            text = {"auto": f"PyTorch: CPU build ({_TORCH_SIZE['cpu']}), CUDA with an "
                            "NVIDIA GPU",
                    "cpu": f"PyTorch: CPU build, {_TORCH_SIZE['cpu']}",
                    "cuda": f"PyTorch: CUDA build, {_TORCH_SIZE['cuda']}"}[self.torch_build]
            box.label(text=text, icon="INFO")
            if self.torch_build != "cuda":
                box.prop(self, "torch_index")
        if _SetupState.running():
            box.progress(factor=_SetupState.fraction, type="BAR", text=_SetupState.message)
            box.operator(GENHMR_OT_setup_backend_cancel.bl_idname, icon="CANCEL")
        else:
            box.operator(GENHMR_OT_setup_backend.bl_idname, icon="CONSOLE")
            if _SetupState.error:
                for line in _SetupState.error.splitlines()[:6]:
                    box.label(text=line, icon="ERROR")
            elif _SetupState.done_python:
                box.label(text=f"Installed: {_SetupState.done_python}", icon="CHECKMARK")


CLASSES = (GENHMR_OT_setup_backend, GENHMR_OT_setup_backend_cancel, GENHMR_AddonPreferences)


def unregister() -> None:
    if _SetupState.running() and _SetupState.process is not None:
        _SetupState.process.stop(timeout=5.0)
