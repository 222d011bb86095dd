"""Import a result file (``.npz``) as keyframed rigs plus the matching camera."""

import dataclasses
import os
import traceback

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from .._core import result_format
from ..rig.build import BuildOptions, BuildReport, build_result
from ..rig.unsure import threshold_of


def import_result_file(context: bpy.types.Context, path: str,
                       options: BuildOptions) -> BuildReport:
    """Load and build; raises ResultFormatError for bad files before touching the scene."""
    result = result_format.load_result(path)
    return build_result(context, result, dataclasses.replace(
        options, result_path=os.path.abspath(path)))


def report_summary(report: BuildReport) -> str:
    people = len(report.armatures)
    frames = max(report.keyed_frames.values(), default=0)
    bodies = f", {len(report.meshes)} skinned bodies" if report.meshes else ""
    return (f"GenHMR: {people} {'person' if people == 1 else 'people'}{bodies}, up to {frames} "
            f"keyed frames, in collection '{report.collection}'")


class GENHMR_OT_import_result(bpy.types.Operator):
    """Build keyframed SMPL-X armatures and the video camera from a GenHMR result file"""

    bl_idname = "genhmr.import_result"
    bl_label = "Import GenHMR Result"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads this class attribute

    filepath: StringProperty(name="Result File", subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})
    frame_offset: IntProperty(
        name="Frame of Video Start", default=1,
        description="Scene frame that shows the video's first frame (a movie strip's start)")
    set_scene_settings: BoolProperty(
        name="Match Scene to Video", default=True,
        description="Set resolution, frame rate and the active camera from the video")
    set_frame_range: BoolProperty(
        name="Set Frame Range", default=True,
        description="Set the scene frame range to the analysed frames")
    with_mesh: BoolProperty(
        name="Body Meshes", default=True,
        description="Add each person's skinned body mesh (when the result carries a body)")
    preserve_volume: BoolProperty(
        name="Preserve Volume", default=True,
        description="Dual-quaternion skinning: keeps twisting shoulders, forearms and hips from "
                    "collapsing")

    hide_when_unseen: BoolProperty(
        name="Hide When Not Tracked", default=True,
        description="Key each person's visibility so rig and body show only from the first to "
                    "the last frame they were tracked")

    min_confidence: FloatProperty(
        name="Keys Only Where Sure", default=0.0, min=0.0, max=1.0, step=5, precision=2,
        description="Key each bone only on frames where its joint's confidence is at least "
                    "this (the curves interpolate across the rest); 0 = every solved frame")

    with_ground: BoolProperty(
        name="Ground Plane", default=True,
        description="Add a plane for the floor the people stand on (z = 0)")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        path = bpy.path.abspath(self.filepath)
        options = BuildOptions(frame_offset=self.frame_offset,
                               set_scene_settings=self.set_scene_settings,
                               set_frame_range=self.set_frame_range,
                               with_mesh=self.with_mesh,
                               preserve_volume=self.preserve_volume,
                               hide_when_unseen=self.hide_when_unseen,
                               with_ground=self.with_ground,
                               min_confidence=self.min_confidence,
                               unsure_threshold=threshold_of(context.scene))
        try:
            report = import_result_file(context, path, options)
        except result_format.ResultFormatError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # a bug: the build rolled back, say so instead of crashing
            traceback.print_exc()
            self.report({"ERROR"}, f"GenHMR import failed, scene unchanged: {exc}")
            return {"CANCELLED"}
        for warning in report.warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, report_summary(report))
        return {"FINISHED"}


CLASSES = (GENHMR_OT_import_result,)
