"""Export the active armature's motion as FBX, BVH or glTF (File > Export, the GenHMR panel)."""

from __future__ import annotations

import os
import traceback

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..export import FORMATS, ExportError, export_armature

_FORMAT_ITEMS = [
    ("FBX", "FBX (.fbx)", "Unity, Unreal, Maya, MotionBuilder: skeleton, skinned meshes and the "
                          "baked animation"),
    ("BVH", "BVH (.bvh)", "Skeleton and motion only, Y up, for motion libraries and retargeting "
                          "tools"),
    ("GLTF", "glTF Binary (.glb)", "Web and real-time engines (Godot, three.js): one file with "
                                   "skeleton, meshes and the animation"),
]


def _with_ext(path: str, ext: str) -> str:
    """``path`` with the format's extension (any other export extension replaced)."""
    stem, old = os.path.splitext(path)
    if old.lower() in {f.ext for f in FORMATS.values()}:
        path = stem
    return bpy.path.ensure_ext(path, ext) if path else path


class GENHMR_OT_export_motion(bpy.types.Operator):
    """Export the active armature (a GenHMR rig or a retargeted character) with its animation
    baked, ready for a game engine"""

    bl_idname = "genhmr.export_motion"
    bl_label = "Export Motion"
    bl_options = {"REGISTER"}  # noqa: RUF012 - nothing in the scene changes: no undo step

    filepath: StringProperty(name="File", subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    format: EnumProperty(name="Format", items=_FORMAT_ITEMS, default="FBX")
    frame_range: EnumProperty(
        name="Frames",
        items=[("ACTION", "Action", "The frames of the armature's keys (its action's manual "
                                    "range when set)"),
               ("SCENE", "Scene", "The scene's frame range")],
        default="ACTION")
    with_meshes: BoolProperty(
        name="Skinned Meshes", default=True,
        description="Also write the meshes the armature deforms (FBX and glTF)")

    def check(self, context: bpy.types.Context) -> bool:
        """Keep the file name's extension and the browser's filter in step with the format."""
        ext = FORMATS[self.format].ext
        self.filter_glob = f"*{ext}"
        path = _with_ext(self.filepath, ext)
        if path != self.filepath:
            self.filepath = path
            return True
        return False

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            self.report({"ERROR"}, "Select the armature to export (a GenHMR rig or a "
                                   "retargeted character) and make it active")
            return {"CANCELLED"}
        if not self.filepath:
            folder = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
            self.filepath = os.path.join(folder, bpy.path.clean_name(obj.name))
        self.check(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "format")
        layout.prop(self, "frame_range")
        row = layout.row()
        row.enabled = self.format != "BVH"
        row.prop(self, "with_meshes")

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not self.filepath:
            self.report({"ERROR"}, "No file to export to: set the file path")
            return {"CANCELLED"}
        path = _with_ext(bpy.path.abspath(self.filepath), FORMATS[self.format].ext)
        try:
            report = export_armature(context, context.active_object, path, self.format,
                                     use_scene_range=self.frame_range == "SCENE",
                                     with_meshes=self.with_meshes)
        except ExportError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # a bug: say so in one line, the details go to the console
            traceback.print_exc()
            self.report({"ERROR"}, f"GenHMR export failed: {exc}")
            return {"CANCELLED"}
        n = len(report.meshes)
        meshes = f" and {n} mesh{'es' if n > 1 else ''}" if n else ""
        self.report({"INFO"}, f"GenHMR: wrote {report.bones} bones{meshes}, frames "
                              f"{report.frame_start}-{report.frame_end}, to "
                              f"{os.path.basename(report.path)}")
        return {"FINISHED"}


def menu_export(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(GENHMR_OT_export_motion.bl_idname,
                         text="GenHMR Motion (.fbx/.bvh/.glb)")


CLASSES = (GENHMR_OT_export_motion,)
