"""Re-run refinement on a frame range of the active GenHMR rig (the artist's inner loop).

The artist scrubs, finds a stretch that looks wrong and re-runs refinement on just that range:
from the preview range, the selected keyframes, the current frame +- N, or (scripts) explicit
frames. The backend (kept warm between re-runs, :mod:`..warm_backend`) re-enters the analysis's
job folder at the revision the scene shows (after an undo, an earlier one), refines that range
of this person and rewrites the result as a new revision; then only the rig's keys inside the
range are replaced (:mod:`..rig.rerange`) and the import records the new revision, in one undo
step. Failure or Cancel leaves the rig exactly as it was.

Headless (``bpy.app.background``) ``bpy.ops.genhmr.refine_range(frame_start=..., frame_end=...)``
runs blocking, so scripts and tests can call it.
"""

import dataclasses
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty

from .. import backend_env, warm_backend
from .._core import protocol, skeleton
from ..job import JobState, RefineJob
from ..preferences import backend_python
from ..properties import RERUN_RANGES
from ..rig import rerange
from ..rig.fcurves import fcurves_of
from ._active import active_person
from ._backend_op import OnPersonJob

# The options an artist sets in the panel (scene settings ``rerun_*``) and scripts pass.
_SETTINGS = {"range_mode": "rerun_range", "around": "rerun_around", "steps": "rerun_steps",
             "smoothing": "rerun_smoothing", "min_confidence": "rerun_min_confidence",
             "keep_selected_bones": "rerun_keep_selected"}
_BODY_JOINTS = frozenset(skeleton.JOINT_NAMES[1:1 + skeleton.NUM_BODY_JOINTS])


def _selected_key_frames(rig: bpy.types.Object) -> tuple[int, int] | None:
    frames = []
    for fc in fcurves_of(rig):
        for point in fc.keyframe_points:
            if point.select_control_point:
                frames.append(point.co[0])
    return (round(min(frames)), round(max(frames))) if frames else None


def _selected_bones(rig: bpy.types.Object) -> set[str]:
    """Names of the rig's selected pose bones (``PoseBone.select`` from 5.0, ``Bone`` before)."""
    out = set()
    for pb in rig.pose.bones:
        selected = getattr(pb, "select", None)
        if selected is None:
            selected = pb.bone.select
        if selected:
            out.add(pb.name)
    return out


@dataclasses.dataclass
class RangeRequest:
    """What a backend job on a range of the active rig needs, resolved."""

    rig: bpy.types.Object
    job_dir: str
    first: int  # scene frames, inclusive
    last: int
    offset: int  # the scene frame of video frame 0
    python: str  # the backend interpreter


class RangeChoice:
    """Mixin of the operators that work on a frame range of the active rig (re-run,
    alternatives): the range from the preview range, the selected keys, the current frame
    +- N, or (scripts) explicit frames; the scene's settings named in ``settings`` fill what
    the caller did not set."""

    settings: dict[str, str] = {}  # noqa: RUF012 - operator property -> scene setting

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """From the panel: the scene's settings, unless the caller set them."""
        scene_settings = context.scene.genhmr
        for prop, setting in self.settings.items():
            if not self.properties.is_property_set(prop):
                setattr(self, prop, getattr(scene_settings, setting))
        return super().invoke(context, event)

    def _request(self, context: bpy.types.Context) -> RangeRequest | None:
        """The active rig's range, job folder and backend; None (reported) when one of them
        cannot be had: a rig from an older import, a bad range, no backend, a folder gone."""
        runtime = context.window_manager.genhmr
        runtime.error = ""
        runtime.progress = 0.0
        rig = active_person(context)
        try:
            path, offset = rerange.job_of(rig)
            first, last = self._frames(context, rig)
            python, _origin = backend_python(context)
        except (rerange.RangeError, backend_env.BackendNotConfigured) as exc:
            self._fail(context, f"GenHMR: {exc}")
            return None
        job_dir = os.path.dirname(path)
        if not os.path.isdir(job_dir):
            self._fail(context, f"GenHMR: the analysis folder {job_dir} is gone (moved or "
                                "deleted); analyse the video again")
            return None
        return RangeRequest(rig=rig, job_dir=job_dir, first=first, last=last, offset=offset,
                            python=python)

    # SKIP_SAVE throughout: invoke fills what the caller did not set from the scene settings.
    range_mode: EnumProperty(name="Range", items=RERUN_RANGES, default="PREVIEW",
                             options={"SKIP_SAVE"})
    frame_start: IntProperty(name="Start", options={"SKIP_SAVE"},
                             description="First scene frame (scripts; with Frame End)")
    frame_end: IntProperty(name="End", options={"SKIP_SAVE"},
                           description="Last scene frame (scripts; with Frame Start)")
    around: IntProperty(name="Around", default=10, min=1, max=500, options={"SKIP_SAVE"},
                        description="Frames before and after the current one")

    def _frames(self, context: bpy.types.Context, rig: bpy.types.Object) -> tuple[int, int]:
        scene = context.scene
        props = self.properties
        if props.is_property_set("frame_start") and props.is_property_set("frame_end"):
            first, last = self.frame_start, self.frame_end
        elif self.range_mode == "SELECTED":
            picked = _selected_key_frames(rig)
            if picked is None:
                raise rerange.RangeError(f"no keys of {rig.name} are selected")
            first, last = picked
        elif self.range_mode == "AROUND":
            first, last = scene.frame_current - self.around, scene.frame_current + self.around
        elif scene.use_preview_range:
            first, last = scene.frame_preview_start, scene.frame_preview_end
        else:
            first, last = scene.frame_start, scene.frame_end
        if last < first:
            raise rerange.RangeError(f"empty range {first}-{last}")
        return int(first), int(last)


class GENHMR_OT_refine_range(RangeChoice, OnPersonJob, bpy.types.Operator):
    """Re-run refinement on a frame range of the active GenHMR rig: only keys inside the range
    change, and its ends fade into the neighbouring frames"""

    bl_idname = "genhmr.refine_range"
    bl_label = "Re-run on Range"
    bl_options = {"UNDO"}  # noqa: RUF012 - one undo step; no redo panel (redo would re-run)
    settings = _SETTINGS

    steps: IntProperty(name="Steps", default=0, min=0, max=1000, options={"SKIP_SAVE"},
                       description="Refinement steps; 0 = as in the analysis")
    smoothing: FloatProperty(name="Smoothing", default=1.0, min=0.0, max=100.0,
                             options={"SKIP_SAVE"},
                             description="Temporal smoothing relative to the analysis's "
                                         "(2 = twice as smooth, 0 = none)")
    min_confidence: FloatProperty(
        name="Keypoint Confidence", default=protocol.DEFAULT_KEYPOINT_CONFIDENCE, min=0.0,
        max=0.95, options={"SKIP_SAVE"},
        description="Ignore detector keypoints less sure than this (raise it where a hidden "
                    "limb was guessed wrongly)")
    keep_selected_bones: BoolProperty(
        name="Keep Selected Bones", default=False, options={"SKIP_SAVE"},
        description="Bones selected in Pose Mode keep their keys (bones you fixed by hand); "
                    "the rest of the body is refined around them")

    _range = None  # (first, last) scene frames of the running re-run
    _collection = ""  # the rig's import, which records the job folder's revision
    _keep: set[str] = set()  # noqa: RUF012 - replaced per run

    def _start(self, context: bpy.types.Context) -> bool:
        request = self._request(context)
        if request is None:
            return False
        rig, job_dir, first, last = request.rig, request.job_dir, request.first, request.last
        offset, python = request.offset, request.python
        self._keep = _selected_bones(rig) if self.keep_selected_bones else set()
        options = {
            "steps": self.steps or None, "smoothing": float(self.smoothing),
            "min_confidence": float(self.min_confidence),
            "keep_joints": sorted(self._keep & _BODY_JOINTS),
        }
        client = warm_backend.client_for(python, os.path.join(job_dir, "backend-refine.log"))
        job = RefineJob(client, job_dir, int(rig[rerange.reimport.TRACK]), first - offset,
                        last - offset, options, revision=rerange.job_revision(rig))
        self._range, self._rig_name = (first, last), rig.name
        self._collection = rerange.import_collection(rig).name
        self._offset = offset
        return self._launch(context, job, python, f"Re-running {rig.name}, frames {first}-{last}")

    def _finish(self, context: bpy.types.Context, state: JobState) -> set[str]:
        rig = self._rig_when_ended(context, state, "re-run", "the rig is unchanged")
        if isinstance(rig, set):
            return rig
        first, last = self._range
        count = self._apply_result(
            context, state, "re-run", lambda result: rerange.apply_range(
                context.scene, rig, result, first, last, self._offset, self._keep),
            rerange.RangeError)
        if count is None:
            return {"CANCELLED"}
        rerange.set_job_revision(self._collection, state.revision)
        context.scene.frame_set(context.scene.frame_current)
        summary = (f"{rig.name}: frames {first}-{last} re-refined ({count} keyed) in "
                   f"{state.elapsed_s:.1f} s")
        return self._succeeded(context, summary)


CLASSES = (GENHMR_OT_refine_range,)


def unregister() -> None:
    warm_backend.shutdown()
