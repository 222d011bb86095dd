"""Bulk keyframing: ``keyframe_points.add(n)`` + ``foreach_set`` (never per-key inserts).

Frame mapping: a result covers video frames ``frame_indices`` (0-based). The caller passes
``frame_offset`` = the scene frame that shows video frame 0 (a VSE movie strip's ``frame_start``;
1 for a clip imported on its own), so video frame ``v`` is keyed at scene frame
``frame_offset + v``. Frames where the person was not solved (``valid == False``) get no key.

Interpolation is LINEAR: the keys are dense per-frame samples, so the curve shape between keys
only matters across gaps (frames where the person was not seen) and for sub-frame evaluation
(motion blur). Linear interpolation never overshoots there, whereas Bezier auto handles on noisy
per-frame data can swing past the measured poses. Quaternion channels interpolated linearly are
normalised by Blender (nlerp), which is accurate for neighbouring frames.
"""

from __future__ import annotations

import time

import bpy
import numpy as np

from .._core import confidence, contacts, scene_space, skeleton
from .fcurves import new_action, new_fcurve

_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value

# Bones driven by the result: the pelvis (global orientation) and the 21 SMPL-X body joints.
# Hands, jaw and eyes stay at rest until a method estimates them.
POSED_JOINTS: tuple[int, ...] = tuple(range(1 + skeleton.NUM_BODY_JOINTS))


def write_channel(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Fill an empty F-curve with one key per frame in one call per attribute."""
    n = len(frames)
    points = fcurve.keyframe_points
    points.add(n)
    points.foreach_set("co", scene_space.interleave_keyframes(frames, values))
    points.foreach_set("interpolation", np.full(n, _LINEAR, dtype=np.int32))
    fcurve.update()


def read_channel(fcurve: bpy.types.FCurve) -> tuple[np.ndarray, np.ndarray]:
    """(frames, values) of every key of an F-curve, in one call."""
    co = np.empty(2 * len(fcurve.keyframe_points))
    fcurve.keyframe_points.foreach_get("co", co)
    return co[0::2].copy(), co[1::2].copy()


def replace_channel(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Replace every key of an F-curve by these (any order; none leaves it empty). Blender 4.2
    has no ``keyframe_points.clear``: there the keys go one by one."""
    points = fcurve.keyframe_points
    if hasattr(points, "clear"):
        points.clear()
    else:
        while len(points):
            points.remove(points[-1], fast=True)
    order = np.argsort(np.asarray(frames), kind="stable")
    if len(order):
        write_channel(fcurve, np.asarray(frames)[order], np.asarray(values)[order])


def keyframe_person(obj: bpy.types.Object, quats: np.ndarray, root_loc: np.ndarray,
                    frames: np.ndarray, valid: np.ndarray, action_name: str,
                    confident: np.ndarray | None = None) -> dict[str, float]:
    """Key pose-bone rotations (F, J, 4) and the root location (F, 3) at the valid frames;
    with ``confident`` (F, J) only where that joint is also confident ("keep good frames":
    the curves then interpolate across the doubtful frames, and a bone never confident keeps
    its rest pose).

    Returns timings and counts for reports and tests.
    """
    t0 = time.perf_counter()
    valid = np.asarray(valid, dtype=bool)
    keep = valid[:, None] if confident is None else valid[:, None] & np.asarray(confident, bool)
    keep = np.broadcast_to(keep, (len(valid), skeleton.NUM_JOINTS))
    frames = np.asarray(frames, dtype=np.float64)
    names = skeleton.JOINT_NAMES
    curves = 0
    counts = []
    if valid.any():
        action = new_action(obj, action_name)
        for j in POSED_JOINTS:
            at = keep[:, j]
            counts.append(int(at.sum()))
            if not at.any():
                continue
            path = f'pose.bones["{names[j]}"].rotation_quaternion'
            for axis in range(4):
                fc = new_fcurve(action, obj, path, axis, names[j])
                write_channel(fc, frames[at], quats[at, j, axis])
                curves += 1
        root, at = names[0], keep[:, 0]
        for axis in range(3 if at.any() else 0):
            fc = new_fcurve(action, obj, f'pose.bones["{root}"].location', axis, root)
            write_channel(fc, frames[at], root_loc[at, axis])
            curves += 1
    return {"seconds": time.perf_counter() - t0, "fcurves": curves,
            "keys_per_curve": max(counts, default=0)}


CONTACT_PROPERTIES: tuple[str, ...] = tuple(f"contact_{name}"
                                            for name in contacts.CONTACT_POINTS)


def keyframe_contacts(obj: bpy.types.Object, frames: np.ndarray, valid: np.ndarray,
                      contact: np.ndarray) -> int:
    """Key the result's foot contacts (F, 4) as custom properties of the rig
    (``contact_left_heel`` ...; 0..1, F-curves in the rig's action, group "Foot contact"), so
    they show in the Graph Editor and can drive foot locks or IK. Returns keys per curve."""
    valid = np.asarray(valid, dtype=bool)
    anim = obj.animation_data
    if not valid.any() or anim is None or anim.action is None:
        return 0
    keyed_frames = np.asarray(frames, dtype=np.float64)[valid]
    for k, name in enumerate(CONTACT_PROPERTIES):
        obj[name] = 0.0
        obj.id_properties_ui(name).update(
            min=0.0, max=1.0, description=f"GenHMR: probability that the "
                                          f"{contacts.CONTACT_POINTS[k].replace('_', ' ')} "
                                          "rests on the ground")
        fc = new_fcurve(anim.action, obj, f'["{name}"]', 0, "Foot contact")
        write_channel(fc, keyed_frames, np.asarray(contact)[valid, k])
    return len(keyed_frames)


CONFIDENCE_PROPERTY = "genhmr_confidence"


def keyframe_confidence(obj: bpy.types.Object, frames: np.ndarray, valid: np.ndarray,
                        joint_confidence: np.ndarray) -> int:
    """Key the result's confidence (0..1) at the valid frames: per animated bone
    (``pose.bones[...]["genhmr_confidence"]``, in the bone's channel group) and for the whole
    person on the rig object (the mean over those bones), so the Graph Editor shows where the
    solve is unsure. Returns the number of F-curves."""
    valid = np.asarray(valid, dtype=bool)
    anim = obj.animation_data
    if not valid.any() or anim is None or anim.action is None:
        return 0
    keyed_frames = np.asarray(frames, dtype=np.float64)[valid]
    values = np.asarray(joint_confidence, dtype=np.float64)[valid]
    description = ("GenHMR: how sure the solve is of this joint (its keypoints' detection "
                   "times the generative samples' agreement)")
    curves = 0
    for j in confidence.POSED_JOINTS:
        name = skeleton.JOINT_NAMES[j]
        pb = obj.pose.bones[name]
        pb[CONFIDENCE_PROPERTY] = 1.0
        pb.id_properties_ui(CONFIDENCE_PROPERTY).update(min=0.0, max=1.0,
                                                         description=description)
        fc = new_fcurve(anim.action, obj, f'pose.bones["{name}"]["{CONFIDENCE_PROPERTY}"]', 0,
                        name)
        write_channel(fc, keyed_frames, values[:, j])
        curves += 1
    obj[CONFIDENCE_PROPERTY] = 1.0
    obj.id_properties_ui(CONFIDENCE_PROPERTY).update(
        min=0.0, max=1.0, description="GenHMR: how sure the solve is of this person (mean "
                                      "over the animated joints)")
    fc = new_fcurve(anim.action, obj, f'["{CONFIDENCE_PROPERTY}"]', 0, "Confidence")
    write_channel(fc, keyed_frames, confidence.frame_confidence(values))
    return curves + 1


def keyframe_visibility(obj: bpy.types.Object, keys: list[tuple[int, bool]]) -> int:
    """Key ``hide_viewport`` and ``hide_render`` (boolean channels hold their value between keys).

    Uses ``keyframe_insert``: a handful of keys, and it files them into the object's existing
    action (slot included on 5.0) or a new one. Returns the number of keys per channel.
    """
    for frame, hidden in keys:
        for path in ("hide_viewport", "hide_render"):
            setattr(obj, path, hidden)
            obj.keyframe_insert(path, frame=frame, group="Visibility")
    if keys:
        obj.hide_viewport = obj.hide_render = False
    return len(keys)
