"""Batch export for technical animators: a result file (+ a character .blend) -> one file per
person, from a shell, without opening Blender's UI::

    blender -b character.blend --python-expr \\
        "import bl_ext.user_default.genhmr.genhmr_blender.batch as b; b.main()" \\
        -- result.npz out_dir --format FBX [--target ARMATURE] [--people 3,7]

(``user_default`` is the extension repository GenHMR was installed into; *Install from Disk*
uses that one.) Everything after ``--`` is for :func:`main`. It imports the result without
meshes, camera settings or ground (only the rigs matter here); with ``--target`` it retargets
each person onto its own copy of that armature (with the meshes the armature deforms) through
``genhmr.retarget`` and exports the copy, else it exports the GenHMR rigs themselves; files
are ``<out_dir>/person_<track id>.<ext>``. The options are those of *Export Motion*
(:mod:`.export`). The .blend is never saved.

Bad input (a missing or corrupt result, no armature of that name, an unknown person) ends the
process with exit status 1 and one line on stderr; argument errors with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys

import bpy

from ._core import result_format
from .export import FORMATS, ExportError, export_armature, motion_range, skinned_meshes
from .ops.import_result import import_result_file
from .rig import reimport
from .rig.build import BuildOptions


class BatchError(Exception):
    """Bad input: the message is the whole story."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genhmr-batch",
        description="Export the people of a GenHMR result as FBX, BVH or glTF, optionally "
                    "retargeted onto an armature of the open .blend.",
        epilog='blender -b character.blend --python-expr "import '
               'bl_ext.user_default.genhmr.genhmr_blender.batch as b; b.main()" -- result.npz '
               "out --format FBX --target Armature")
    parser.add_argument("result", help="GenHMR result file (.npz)")
    parser.add_argument("out_dir", help="folder for the exported files (created if missing)")
    parser.add_argument("--format", type=str.upper, choices=sorted(FORMATS), default="FBX",
                        help="FBX (default), BVH or GLTF (.glb)")
    parser.add_argument("--target", metavar="ARMATURE",
                        help="retarget each person onto a copy of this armature of the .blend "
                             "and export that (default: the GenHMR rigs)")
    parser.add_argument("--people", metavar="IDS", type=_track_ids,
                        help="comma-separated track ids to export, e.g. 3,7 (default: all)")
    parser.add_argument("--frame-offset", type=int, default=1,
                        help="scene frame of the video's first frame (default 1)")
    return parser


def _track_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of track ids: '{text}'") from None


def _argv_after_dashes() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []


def _ensure_enabled() -> None:
    """Enable the extension this module belongs to (``bl_ext.<repo>.genhmr``), whichever
    repository it was installed into, when Blender started without it."""
    package = (__package__ or "").rpartition(".")[0]
    if not package or package in bpy.context.preferences.addons:
        return
    try:
        bpy.ops.preferences.addon_enable(module=package)
    except RuntimeError as exc:
        raise BatchError(f"cannot enable the GenHMR extension '{package}': {exc}") from None


def _operator_exists(group: str, name: str) -> bool:
    try:
        getattr(getattr(bpy.ops, group), name).get_rna_type()
    except (KeyError, AttributeError):
        return False
    return True


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0].removeprefix("Error: ") if lines else type(exc).__name__


def _import_rigs(path: str, frame_offset: int) -> dict[int, bpy.types.Object]:
    """Import the result (updating an earlier import of the same video); its rigs by track."""
    options = BuildOptions(frame_offset=frame_offset, with_mesh=False, set_scene_settings=False,
                           with_ground=False)
    try:
        report = import_result_file(bpy.context, path, options)
    except result_format.ResultFormatError as exc:
        raise BatchError(f"cannot import '{path}': {_first_line(exc)}") from None
    rigs = {int(obj[reimport.TRACK]): obj for obj in map(bpy.data.objects.get, report.armatures)}
    return dict(sorted(rigs.items()))


def _character_copy(target: bpy.types.Object, name: str) -> bpy.types.Object:
    """A copy of ``target`` (own armature data, no action) and of the meshes it deforms,
    linked where the originals are."""
    view_layer = bpy.context.view_layer
    rig = target.copy()
    rig.data = target.data.copy()
    rig.name = name
    if rig.animation_data is not None:
        rig.animation_data.action = None
    for coll in target.users_collection:
        coll.objects.link(rig)
    for mesh in skinned_meshes(target, view_layer):
        twin = mesh.copy()
        if twin.parent == target:
            twin.parent = rig
        for mod in twin.modifiers:
            if mod.type == "ARMATURE" and mod.object == target:
                mod.object = rig
        for coll in mesh.users_collection:
            coll.objects.link(twin)
    return rig


def _retarget(character: bpy.types.Object, source: bpy.types.Object) -> None:
    """Bake ``source``'s motion onto ``character`` over the frames of its bone keys (the same
    frames its own export would have), whatever the character's panel settings say."""
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(obj == character)
    view_layer.objects.active = character
    op = bpy.ops.genhmr.retarget
    start, end = motion_range(source, bpy.context.scene)
    frames = {"frame_start": start, "frame_end": end}
    props = {p.identifier for p in op.get_rna_type().properties}
    try:
        op(source=source.name, **{k: v for k, v in frames.items() if k in props})
    except (RuntimeError, TypeError) as exc:
        raise BatchError(f"retargeting '{source.name}' onto '{character.name}' failed: "
                         f"{_first_line(exc)}") from None


def run(args: argparse.Namespace) -> list[str]:
    """The batch itself; raises BatchError on bad input. Returns the files written."""
    result = os.path.abspath(args.result)
    if not os.path.isfile(result):
        raise BatchError(f"result file not found: '{result}'")
    try:  # read once up front: bad files and unknown people fail before the scene is touched
        tracks = [int(t) for t in result_format.load_result(result).track_ids]
    except result_format.ResultFormatError as exc:
        raise BatchError(str(exc)) from None
    wanted = args.people or tracks
    missing = [str(t) for t in wanted if t not in tracks]
    if missing:
        raise BatchError(f"no person {', '.join(missing)} in the result (people: "
                         f"{', '.join(map(str, tracks)) or 'none'})")
    _ensure_enabled()
    target = None
    if args.target:
        target = bpy.data.objects.get(args.target)
        if target is None or target.type != "ARMATURE":
            names = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
            names = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise BatchError(f"no armature named '{args.target}' in "
                             f"'{bpy.data.filepath or 'the open file'}' "
                             f"(armatures: {names or 'none'})")
        if not _operator_exists("genhmr", "retarget"):
            raise BatchError("retargeting is not available in this version of GenHMR")
    out_dir = os.path.abspath(args.out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder '{out_dir}': {exc.strerror}") from None

    rigs = _import_rigs(result, args.frame_offset)
    written = []
    ext = FORMATS[args.format].ext
    for track in wanted:
        obj = rigs[track]
        if target is not None:
            character = _character_copy(target, f"{target.name}_person_{track}")
            _retarget(character, obj)
            obj = character
        path = os.path.join(out_dir, f"person_{track}{ext}")
        try:
            report = export_armature(bpy.context, obj, path, args.format)
        except ExportError as exc:
            raise BatchError(f"person {track}: {exc}") from None
        print(f"GenHMR batch: wrote {path} ({report.bones} bones, frames "
              f"{report.frame_start}-{report.frame_end})")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> list[str]:
    """Command-line entry point: ``argv`` defaults to the arguments after ``--``. Exits with
    status 1 and one message on bad input (status 2 for argument errors)."""
    args = build_parser().parse_args(_argv_after_dashes() if argv is None else argv)
    try:
        return run(args)
    except BatchError as exc:
        raise SystemExit(f"GenHMR batch: error: {exc}") from None
