"""Fixing people by hand: split a rig at a frame, merge two rigs that are one person, delete
a ghost.

Tracking can still cut one person into two tracks (a jump, someone passing in front) or keep a
ghost; the artist sees it at once and fixes it here instead of re-running the analysis.

* **Split** at a frame: a copy of the rig (and its body) takes the keys from that frame on, as
  a new person with the next free track id; the original keeps the keys before.
* **Merge** B into A: A gains B's keys on every frame A has none (B's rotations re-expressed
  in A's bone frames and B's root re-based onto A's, so B's motion plays on A's skeleton);
  then B, its body, markers and actions go.
* **Delete**: the rig, its body, its markers, and its actions and data when nothing else uses
  them.

Visibility keys and unsure markers are redone for the people changed.

These edits move keys only. When the rigs' analysis can be re-entered, the operators
(``ops/people.py``) first have the backend make the same edit in its job folder, so later
re-runs and re-imports see the people as the artist fixed them: a split or delete then runs
here as below (with the split-off person's track id from the backend), while a merge solves the
joined track again, bridging the frames between the pieces (``rerange.apply_merge``), and
:func:`merge` is its fallback, for rigs whose analysis is gone or no backend.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector

from .._core import scene_space
from . import reimport, unsure
from .fcurves import fcurves_of, new_fcurve
from .keyframes import keyframe_visibility, read_channel, replace_channel

FRAME_RANGE = reimport.FRAME_RANGE


class PeopleError(ValueError):
    """The edit cannot be made; the message says why."""


def is_person(obj: bpy.types.Object | None) -> bool:
    return obj is not None and obj.type == "ARMATURE" and obj.get(reimport.ROLE) == "rig"


def bodies_of(rig: bpy.types.Object) -> list[bpy.types.Object]:
    return [o for o in rig.children if o.get(reimport.ROLE) == "body"]


def keyed_frames(rig: bpy.types.Object) -> np.ndarray:
    """Scene frames where the rig has bone keys (its solved frames)."""
    frames: set[int] = set()
    for fc in fcurves_of(rig):
        if fc.data_path.endswith(".rotation_quaternion"):
            frames.update(read_channel(fc)[0].round().astype(int).tolist())
    return np.array(sorted(frames), dtype=np.int64)


def _channels(rig: bpy.types.Object) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """Every keyed channel but visibility: (data path, index) -> (frames, values)."""
    out = {}
    for fc in fcurves_of(rig):
        if fc.data_path in ("hide_viewport", "hide_render"):
            continue
        out[(fc.data_path, fc.array_index)] = read_channel(fc)
    return out


def _rewrite(rig: bpy.types.Object, path: str, index: int, frames: np.ndarray,
             values: np.ndarray) -> None:
    """Replace a channel's keys (created in the bone's group when new)."""
    group = path.split('"')[1] if path.startswith("pose.bones[") else "GenHMR"
    replace_channel(new_fcurve(rig.animation_data.action, rig, path, index, group), frames,
                    values)


def _remove_visibility(obj: bpy.types.Object) -> None:
    for fc in fcurves_of(obj):
        if fc.data_path in ("hide_viewport", "hide_render"):
            replace_channel(fc, np.zeros(0), np.zeros(0))
    obj.hide_viewport = obj.hide_render = False


def _frame_span(rig: bpy.types.Object, scene: bpy.types.Scene) -> np.ndarray:
    coll = next((c for c in rig.users_collection if c.get(reimport.IMPORT_TAG)), None)
    first, last = (coll.get(FRAME_RANGE) if coll is not None and coll.get(FRAME_RANGE)
                   else (scene.frame_start, scene.frame_end))
    return np.arange(int(first), int(last) + 1)


def refresh(scene: bpy.types.Scene, rig: bpy.types.Object) -> None:
    """Visibility keys and unsure markers of a person after its keys changed."""
    span = _frame_span(rig, scene)
    keys = scene_space.visibility_keys(span, np.isin(span, keyed_frames(rig)))
    for obj in [rig, *bodies_of(rig)]:
        _remove_visibility(obj)
        keyframe_visibility(obj, keys)
    keyed = unsure.keyed_confidence(rig)
    if keyed is not None:
        unsure.mark_unsure(scene, rig.name, *keyed, unsure.threshold_of(scene))


def next_track(scene: bpy.types.Scene) -> int:
    """A track id no object in the file has (for a person split off)."""
    tracks = [int(o[reimport.TRACK]) for o in bpy.data.objects if reimport.TRACK in o]
    return max(tracks, default=-1) + 1


def check_split(rig: bpy.types.Object, frame: int) -> None:
    """Raise :class:`PeopleError` unless ``rig`` has keys on both sides of ``frame``."""
    frames = keyed_frames(rig)
    if not (frames < frame).any() or not (frames >= frame).any():
        raise PeopleError(f"{rig.name} has keys on one side of frame {frame} only; move to a "
                          "frame inside the motion to split it")


def split(scene: bpy.types.Scene, rig: bpy.types.Object, frame: int,
          track: int | None = None) -> bpy.types.Object:
    """Cut ``rig`` at ``frame``: returns the new person holding the keys from ``frame`` on,
    with track id ``track`` (the one the backend gave it in the analysis) or, when None, the
    next one the file does not use."""
    check_split(rig, frame)
    track = next_track(scene) if track is None else int(track)
    name = f"GenHMR_person_{track}"
    twin = rig.copy()
    twin.data = rig.data.copy()
    reimport.assign_action(twin, rig.animation_data.action.copy())
    for coll in rig.users_collection:
        coll.objects.link(twin)
    twin.name, twin.data.name = name, name
    twin.animation_data.action.name = f"{name}_motion"
    reimport.tag(twin, "rig", track)
    for body in bodies_of(rig):
        copy = body.copy()
        copy.data = body.data.copy()
        if body.animation_data and body.animation_data.action:
            reimport.assign_action(copy, body.animation_data.action.copy())
        for coll in body.users_collection:
            coll.objects.link(copy)
        copy.parent = twin
        for mod in copy.modifiers:
            if mod.type == "ARMATURE" and mod.object == rig:
                mod.object = twin
        copy.name = f"{name}_body"
        reimport.tag(copy, "body", track)
    for path_index, (at, values) in _channels(rig).items():
        before = at < frame
        _rewrite(rig, *path_index, at[before], values[before])
        _rewrite(twin, *path_index, at[~before], values[~before])
    refresh(scene, rig)
    refresh(scene, twin)
    return twin


def _bone_rest(rig: bpy.types.Object) -> dict[str, Matrix]:
    return {b.name: b.matrix_local.to_3x3() for b in rig.data.bones}


def merge(scene: bpy.types.Scene, keep: bpy.types.Object, other: bpy.types.Object) -> int:
    """Give ``keep`` ``other``'s keys where it has none, then delete ``other``; returns the
    number of frames gained."""
    if keep == other:
        raise PeopleError("select two different GenHMR rigs to merge")
    have = set(keyed_frames(keep).tolist())
    rest_keep, rest_other = _bone_rest(keep), _bone_rest(other)
    root = keep.data.bones[0].name
    shift = (other.data.bones[root].head_local - keep.data.bones[root].head_local)
    mine = _channels(keep)
    theirs = _channels(other)
    gained: set[int] = set()
    by_bone: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for (path, index), (at, values) in theirs.items():
        new = np.array([round(f) not in have for f in at], dtype=bool)
        gained.update(np.round(at[new]).astype(int).tolist())
        if path.endswith((".rotation_quaternion", ".location")):
            by_bone.setdefault(path, {})[index] = (at[new], values[new])
        else:
            old_at, old_values = mine.get((path, index), (np.zeros(0), np.zeros(0)))
            _rewrite(keep, path, index, np.concatenate([old_at, at[new]]),
                     np.concatenate([old_values, values[new]]))
    for path, parts in by_bone.items():
        bone = path.split('"')[1]
        at = parts[0][0]
        raw = np.stack([parts[i][1] for i in sorted(parts)], -1)
        if path.endswith(".rotation_quaternion"):  # same local rotation, in keep's bone frame
            a, b = rest_keep[bone], rest_other[bone]
            turn = a.inverted() @ b
            converted = [list((turn @ Quaternion(q).to_matrix() @ turn.inverted())
                              .to_quaternion()) for q in raw]
        else:  # the root: the same world place, measured from keep's rest head
            r_keep, r_other = rest_keep[bone], rest_other[bone]
            converted = [list(r_keep.inverted() @ (r_other @ Vector(loc) + shift))
                         for loc in raw]
        converted = np.array(converted).reshape(len(at), -1)
        for i in sorted(parts):
            old_at, old_values = mine.get((path, i), (np.zeros(0), np.zeros(0)))
            _rewrite(keep, path, i, np.concatenate([old_at, at]),
                     np.concatenate([old_values, converted[:, i]]))
    delete(scene, other)
    refresh(scene, keep)
    return len(gained)


def delete(scene: bpy.types.Scene, rig: bpy.types.Object) -> None:
    """Remove a person: rig, bodies, markers, and their data and actions left unused."""
    prefix = f"{rig.name} unsure"
    for marker in [m for m in scene.timeline_markers if m.name.startswith(prefix)]:
        scene.timeline_markers.remove(marker)
    for obj in [*bodies_of(rig), rig]:
        data = obj.data
        action = obj.animation_data.action if obj.animation_data else None
        bpy.data.objects.remove(obj)
        if action is not None and action.users == 0:
            bpy.data.actions.remove(action)
        pool = reimport.data_pool(data)
        if data is not None and pool is not None and data.users == 0:
            pool.remove(data)
