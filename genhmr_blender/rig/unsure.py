"""Showing where the solve is unsure: timeline markers and bone colours by confidence.

Markers: one per stretch where a person's confidence (mean over the animated joints) is below
the threshold, at its first frame, named ``<rig> unsure (<n> f)``; re-marking replaces a rig's
own markers and leaves every other marker alone.

Colours: a ``frame_change_post`` handler colours each GenHMR rig's animated bones by their
keyed confidence at the current frame (red, yellow at the threshold, green), so scrubbing shows
which limbs to distrust. Only rigs that carry the confidence curves are touched.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.app.handlers import persistent

from .._core import confidence, skeleton
from .fcurves import fcurves_of
from .keyframes import CONFIDENCE_PROPERTY, read_channel

_POSED_NAMES = [skeleton.JOINT_NAMES[j] for j in confidence.POSED_JOINTS]


def _marker_prefix(rig_name: str) -> str:
    return f"{rig_name} unsure"


def mark_unsure(scene: bpy.types.Scene, rig_name: str, scene_frames: np.ndarray,
                person_confidence: np.ndarray, threshold: float) -> list[str]:
    """Replace ``rig_name``'s markers by one per unsure stretch of ``person_confidence``
    (at ``scene_frames``, solved frames only). Returns the new markers' names."""
    prefix = _marker_prefix(rig_name)
    for marker in [m for m in scene.timeline_markers if m.name.startswith(prefix)]:
        scene.timeline_markers.remove(marker)
    frames = np.asarray(scene_frames, dtype=np.int64)
    names = []
    for first, last in confidence.unsure_stretches(person_confidence, np.ones(len(frames), bool),
                                                   threshold):
        name = f"{prefix} ({int(frames[last] - frames[first] + 1)} f)"
        scene.timeline_markers.new(name, frame=int(frames[first]))
        names.append(name)
    return names


def keyed_confidence(rig: bpy.types.Object) -> tuple[np.ndarray, np.ndarray] | None:
    """(scene frames, values) of a rig's person-level confidence keys; None without them."""
    anim = rig.animation_data
    if anim is None or anim.action is None or CONFIDENCE_PROPERTY not in rig:
        return None
    for fc in fcurves_of(rig):
        if fc.data_path == f'["{CONFIDENCE_PROPERTY}"]':
            frames, values = read_channel(fc)
            return frames.round().astype(np.int64), values
    return None


def threshold_of(scene: bpy.types.Scene) -> float:
    settings = getattr(scene, "genhmr", None)
    return float(settings.unsure_threshold) if settings is not None else \
        confidence.DEFAULT_THRESHOLD


def colour_bones(scene: bpy.types.Scene) -> int:
    """Colour every GenHMR rig's animated bones by their confidence now; returns how many
    bones changed colour."""
    threshold = threshold_of(scene)
    done = 0
    for obj in scene.objects:
        if obj.type != "ARMATURE" or CONFIDENCE_PROPERTY not in obj:
            continue
        for name in _POSED_NAMES:
            pb = obj.pose.bones.get(name)
            if pb is None or CONFIDENCE_PROPERTY not in pb:
                continue
            rgb = confidence.bone_colour(float(pb[CONFIDENCE_PROPERTY]), threshold).tolist()
            colour = pb.color
            # This runs on every frame change: write only what changed.
            if colour.palette == "CUSTOM" and all(
                    abs(a - b) < 1e-3 for a, b in zip(colour.custom.normal, rgb, strict=True)):
                continue
            colour.palette = "CUSTOM"
            colour.custom.normal = rgb
            colour.custom.select = [min(1.0, c + 0.25) for c in rgb]
            colour.custom.active = [min(1.0, c + 0.45) for c in rgb]
            done += 1
    return done


@persistent
def _on_frame_change(scene: bpy.types.Scene, _depsgraph: object = None) -> None:
    colour_bones(scene)


def register() -> None:
    if _on_frame_change not in bpy.app.handlers.frame_change_post:
        bpy.app.handlers.frame_change_post.append(_on_frame_change)


def unregister() -> None:
    if _on_frame_change in bpy.app.handlers.frame_change_post:
        bpy.app.handlers.frame_change_post.remove(_on_frame_change)
