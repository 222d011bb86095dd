"""Export one animated armature as FBX, BVH or glTF with Blender's own exporters.

The exporters are the add-ons bundled with Blender (``io_scene_fbx``, ``io_anim_bvh``,
``io_scene_gltf2``); this module only chooses their options for game engines and other DCCs,
and makes sure exactly one armature (and the meshes it skins) goes out, over the frames asked
for. Options are passed only when the running Blender's exporter has them (read from its RNA),
so the same call works from 4.2 LTS to 5.0.

Defaults, and why:

* **FBX**: forward -Z, up Y (what Unity and Unreal expect); *Apply Scalings: FBX All*, so the
  file's unit is the scene's (metres) and no object carries a 100x scale: Unity and Unreal
  import the character at its real size with a scale of 1. No leaf bones (extra ``_end`` bones
  that break humanoid mapping); only deform bones when the rig has any (control and mechanism
  bones are of no use in an engine); the animation baked from the evaluated pose (constraints,
  IK and drivers included) on every frame, without simplification (engines compress clips
  themselves; simplifying first only adds error twice); only the armature's assigned action,
  not every action in the file, nor NLA strips.
* **BVH**: Euler rotations in each bone's own order when it has one (XYZ for quaternion
  bones); position channels only on the root unless another bone really translates (then
  they are kept, so the motion stays exact); rewritten into world space, Y up
  (:mod:`.bvh_space`), because Blender writes armature space, Z up, which other readers see
  lying down.
* **glTF**: binary ``.glb`` (one file), Y up (glTF's own convention), the evaluated pose
  sampled on every frame of the range, the clip starting at time 0, only deform bones when the
  rig has any.

While exporting, the scene's frame range is set to the range exported, the exported objects
are made visible (a GenHMR rig keys itself hidden while its person is not tracked, and Blender
does not evaluate a hidden object's pose when frames change), and the active object is put in
Object Mode. All of it, selection included, is put back afterwards, whatever happens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator

import bpy

from . import bvh_space
from .rig.keyframes import read_channel


class ExportError(Exception):
    """Why an export cannot be done, as one sentence for the artist."""


@dataclasses.dataclass(frozen=True)
class Format:
    label: str
    ext: str
    addon: str  # the bundled add-on providing the exporter
    group: str  # bpy.ops.<group>.<name>
    name: str


FORMATS: dict[str, Format] = {
    "FBX": Format("FBX", ".fbx", "io_scene_fbx", "export_scene", "fbx"),
    "BVH": Format("BVH", ".bvh", "io_anim_bvh", "export_anim", "bvh"),
    "GLTF": Format("glTF Binary", ".glb", "io_scene_gltf2", "export_scene", "gltf"),
}


@dataclasses.dataclass
class ExportReport:
    path: str
    format: str
    frame_start: int
    frame_end: int
    bones: int  # bones written
    meshes: list[str]
    seconds: float
    dropped_options: list[str]  # options this Blender's exporter does not have

    @property
    def frames(self) -> int:
        return self.frame_end - self.frame_start + 1


# --- what to export ------------------------------------------------------------------------


def action_fcurves(obj: bpy.types.Object) -> list[bpy.types.FCurve]:
    """F-curves of the object's assigned action: legacy actions (4.2/4.3) and slotted ones."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return []
    if hasattr(anim.action, "fcurves"):  # before 4.4 (and 4.4 .. 4.5 as a legacy proxy)
        return list(anim.action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.animdata_get_channelbag_for_assigned_slot(anim)
    return list(bag.fcurves) if bag is not None else []


def _moved_otherwise(obj: bpy.types.Object) -> bool:
    """Motion that is not in the assigned action: constraints, drivers, NLA strips."""
    anim = obj.animation_data
    return (bool(obj.constraints) or any(pb.constraints for pb in obj.pose.bones)
            or (anim is not None and (bool(anim.drivers) or any(
                t.strips for t in anim.nla_tracks if not t.mute))))


def motion_range(obj: bpy.types.Object, scene: bpy.types.Scene,
                 use_scene: bool = False) -> tuple[int, int]:
    """Frames to export: the action's (its manual range when set, else the span of its bone
    keys, so a GenHMR rig's visibility keys around its track do not add held frames), or the
    scene's with ``use_scene`` or when the motion comes only from constraints, drivers or NLA
    strips."""
    curves = action_fcurves(obj)
    if not curves and not _moved_otherwise(obj):
        raise ExportError(f"'{obj.name}' has no animation to export: no action, constraints, "
                          "drivers or NLA strips")
    if use_scene or not curves:
        return scene.frame_start, scene.frame_end
    action = obj.animation_data.action
    if action.use_frame_range:
        return round(action.frame_start), round(action.frame_end)
    keys = [k.co.x for fc in curves if fc.data_path.startswith("pose.bones")
            for k in fc.keyframe_points] or [k.co.x for fc in curves for k in fc.keyframe_points]
    if not keys:
        raise ExportError(f"'{obj.name}' has no animation to export: its action has no keys")
    return int(min(keys) // 1), int(-(-max(keys) // 1))


def skinned_meshes(obj: bpy.types.Object, view_layer: bpy.types.ViewLayer
                   ) -> list[bpy.types.Object]:
    """Meshes that belong to the rig: its children (at any depth) and any mesh whose Armature
    modifier uses it."""
    out = []
    for o in view_layer.objects:
        if o.type != "MESH":
            continue
        parent = o.parent
        while parent is not None and parent != obj:
            parent = parent.parent
        if parent == obj or any(m.type == "ARMATURE" and m.object == obj for m in o.modifiers):
            out.append(o)
    return out


def _translating_bones(obj: bpy.types.Object) -> bool:
    """Does any bone other than a root move away from its rest offset (location keys that are
    not zero on a disconnected child bone)?"""
    bones = obj.data.bones
    for fc in action_fcurves(obj):
        path = fc.data_path
        if not (path.startswith('pose.bones["') and path.endswith('"].location')):
            continue
        bone = bones.get(path[len('pose.bones["'):-len('"].location')])
        if bone is None or bone.parent is None or bone.use_connect:
            continue
        if any(abs(v) > 1e-6 for v in read_channel(fc)[1]):
            return True
    return False


# --- the exporters -------------------------------------------------------------------------


def exporter(fmt: str) -> tuple[object, set[str]]:
    """Blender's export operator for ``fmt`` and the names of its options; ExportError when
    its add-on is not enabled."""
    spec = FORMATS[fmt]
    op = getattr(getattr(bpy.ops, spec.group), spec.name)
    try:
        props = {p.identifier for p in op.get_rna_type().properties}
    except (KeyError, AttributeError):
        raise ExportError(f"Blender's {spec.label} exporter is not enabled: turn on the add-on "
                          f"'{spec.addon}' in Preferences > Add-ons") from None
    return op, props


def _options(fmt: str, deform_only: bool, bvh_root_only: bool,
             frame_start: int, frame_end: int) -> dict[str, object]:
    if fmt == "FBX":
        return {"use_selection": False, "use_visible": False, "use_active_collection": False,
                "object_types": {"ARMATURE", "MESH"}, "global_scale": 1.0,
                "apply_unit_scale": True, "apply_scale_options": "FBX_SCALE_ALL",
                "axis_forward": "-Z", "axis_up": "Y", "use_space_transform": True,
                "bake_space_transform": False,
                "add_leaf_bones": False, "use_armature_deform_only": deform_only,
                "armature_nodetype": "NULL", "bake_anim": True, "bake_anim_use_all_bones": True,
                "bake_anim_use_nla_strips": False, "bake_anim_use_all_actions": False,
                "bake_anim_force_startend_keying": True, "bake_anim_step": 1.0,
                "bake_anim_simplify_factor": 0.0, "use_custom_props": False,
                "path_mode": "AUTO", "batch_mode": "OFF", "use_metadata": True}
    if fmt == "BVH":
        return {"frame_start": frame_start, "frame_end": frame_end, "global_scale": 1.0,
                "rotate_mode": "NATIVE", "root_transform_only": bvh_root_only}
    return {"export_format": "GLB", "use_selection": False, "use_visible": False,
            "use_renderable": False, "use_active_collection": False, "export_yup": True,
            "export_apply": False, "export_cameras": False, "export_lights": False,
            "export_animations": True, "export_animation_mode": "SCENE",
            "export_frame_range": True, "export_frame_step": 1, "export_force_sampling": True,
            "export_anim_slide_to_zero": True, "export_def_bones": deform_only,
            "export_leaf_bone": False, "export_skins": True, "export_morph": True,
            "export_current_frame": False, "export_anim_single_armature": True}


# --- keeping the scene as it was -----------------------------------------------------------


@contextlib.contextmanager
def _scene_kept(context: bpy.types.Context, frames: tuple[int, int]) -> Iterator[None]:
    """Object Mode and the export's frame range for the duration; then the original range,
    frame, mode, active object and selection."""
    scene, view_layer = context.scene, context.view_layer
    active = view_layer.objects.active
    mode = active.mode if active is not None else "OBJECT"
    selected = [o for o in view_layer.objects if o.select_get()]
    old_range = (scene.frame_start, scene.frame_end)
    frame, subframe = scene.frame_current, scene.frame_subframe
    if mode != "OBJECT":
        try:
            bpy.ops.object.mode_set(mode="OBJECT")
        except RuntimeError as exc:
            raise ExportError(f"Cannot leave {mode.title()} Mode on '{active.name}' to export: "
                              f"{_first_error_line(exc)}") from None
    try:
        scene.frame_start, scene.frame_end = frames
        scene.frame_start = frames[0]  # a start past the old end had pushed the end
        yield
    finally:
        scene.frame_start, scene.frame_end = old_range
        scene.frame_start = old_range[0]
        scene.frame_set(frame, subframe=subframe)
        if view_layer.objects.active != active:
            view_layer.objects.active = active
        if active is not None and active.mode != mode:
            with contextlib.suppress(RuntimeError):
                bpy.ops.object.mode_set(mode=mode)
        if [o for o in view_layer.objects if o.select_get()] != selected:
            for o in view_layer.objects:
                with contextlib.suppress(RuntimeError):
                    o.select_set(o in selected)


@contextlib.contextmanager
def _visible(objects: list[bpy.types.Object], view_layer: bpy.types.ViewLayer) -> Iterator[None]:
    """Show the objects (muting keyed ``hide_viewport``) so that their poses are evaluated on
    every frame the exporter visits; hidden again afterwards."""
    saved = []
    for o in objects:
        muted = [fc for fc in action_fcurves(o) if fc.data_path == "hide_viewport" and not fc.mute]
        saved.append((o, o.hide_viewport, o.hide_get(view_layer=view_layer), muted))
        for fc in muted:
            fc.mute = True
        o.hide_viewport = False
        o.hide_set(False, view_layer=view_layer)
    view_layer.update()
    try:
        yield
    finally:
        for o, hide_viewport, hidden, muted in reversed(saved):
            for fc in muted:
                fc.mute = False
            o.hide_viewport = hide_viewport
            o.hide_set(hidden, view_layer=view_layer)


@contextlib.contextmanager
def _export_collection(objects: list[bpy.types.Object]) -> Iterator[str]:
    """A temporary collection (not linked to any scene) holding exactly the objects to write,
    handed to the FBX and glTF exporters' ``collection`` option: no selection to change. Named
    after the armature: glTF names its scene after it."""
    coll = bpy.data.collections.new(objects[0].name)
    try:
        for o in objects:
            coll.objects.link(o)
        yield coll.name
    finally:
        bpy.data.collections.remove(coll)


# --- the entry point -----------------------------------------------------------------------


def _check_path(path: str) -> None:
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ExportError(f"Cannot write '{path}': the folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ExportError(f"Cannot write '{path}': permission denied")
    if os.path.isdir(path):
        raise ExportError(f"Cannot write '{path}': it is a folder")


def _first_error_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0].removeprefix("Error: ") if lines else type(exc).__name__


def export_armature(context: bpy.types.Context, obj: bpy.types.Object, path: str, fmt: str,
                    frame_start: int | None = None, frame_end: int | None = None,
                    use_scene_range: bool = False, with_meshes: bool = True) -> ExportReport:
    """Write ``obj`` (an armature) and, for FBX and glTF, the meshes it skins to ``path``.

    The frames are ``frame_start`` .. ``frame_end`` when given, else :func:`motion_range`.
    Raises :class:`ExportError` with one sentence when it cannot be done; a file that did not
    exist before is not left behind half-written.
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format '{fmt}': use one of {', '.join(FORMATS)}")
    if obj is None:
        raise ExportError("Nothing to export: make the armature you want to export the active "
                          "object")
    if obj.type != "ARMATURE":
        raise ExportError(f"'{obj.name}' is a {obj.type.lower()}, not an armature: make the rig "
                          "you want to export the active object")
    view_layer, scene = context.view_layer, context.scene
    if view_layer.objects.get(obj.name) != obj:
        raise ExportError(f"'{obj.name}' is not in the current view layer")
    start, end = motion_range(obj, scene, use_scene_range)
    start = start if frame_start is None else frame_start
    end = end if frame_end is None else frame_end
    if end < start:
        raise ExportError(f"The frame range {start}..{end} is empty: its end is before its start")
    path = os.path.abspath(bpy.path.abspath(path))
    _check_path(path)
    op, props = exporter(fmt)

    deforming = [b for b in obj.data.bones if b.use_deform]
    deform_only = bool(deforming) and fmt != "BVH"
    meshes = skinned_meshes(obj, view_layer) if with_meshes and fmt != "BVH" else []
    wanted = _options(fmt, deform_only, not _translating_bones(obj), start, end)
    kwargs = {k: v for k, v in wanted.items() if k in props}
    dropped = sorted(set(wanted) - set(kwargs))

    existed = os.path.exists(path)
    t0 = time.perf_counter()
    try:
        with _visible([obj, *meshes], view_layer), _scene_kept(context, (start, end)):
            if fmt == "BVH":
                with context.temp_override(object=obj, active_object=obj):
                    op(filepath=path, **kwargs)
                scene.frame_set(start)  # the object's placement at the first frame
                bvh_space.to_world_y_up(path, obj.matrix_world.copy())
            else:
                with _export_collection([obj, *meshes]) as coll:
                    op(filepath=path, collection=coll, **kwargs)
    except Exception as exc:
        if not existed and os.path.exists(path):
            os.remove(path)
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"{FORMATS[fmt].label} export of '{obj.name}' failed: "
                          f"{_first_error_line(exc)}") from exc
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise ExportError(f"{FORMATS[fmt].label} exporter wrote nothing to '{path}'")
    bones = len(deforming) if deform_only else len(obj.data.bones)
    return ExportReport(path=path, format=fmt, frame_start=start, frame_end=end, bones=bones,
                        meshes=[m.name for m in meshes], seconds=time.perf_counter() - t0,
                        dropped_options=dropped)
