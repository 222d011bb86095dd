"""Re-key one rig over a frame range from a re-run's result, leaving every other key alone.

After the backend re-runs refinement on a range (``genhmr refine``), the result file holds the
new motion for that person inside the range and the old motion everywhere else. Rebuilding the
rig would throw away what the artist did outside the range (hand-fixed keys, a merged person,
edited curves), so only keys inside the range are replaced, channel by channel:

* bone rotations and the root location, computed exactly as the import computes them
  (``build.person_motion``), with each bone's quaternion sign chosen to continue the key just
  before the range (q and -q are one rotation, but a curve between them swings the long way);
* the foot-contact and confidence properties;
* bones the artist asked to keep are not touched;
* the root is placed so the rig's own pelvis lands where the result's is (the same place
  unless the rig's skeleton differs from the result's).

After the backend merges two people and solves the joined track again (``genhmr merge``), the
kept rig is re-keyed the same way over the merged person's whole span (:func:`apply_merge`),
including the frames between the two pieces that neither was seen in: the re-solve fills them
(with joint confidence 0, so they are marked unsure), where merging the keys alone leaves a gap.
The merge also solves the person's body shape again, so the kept rig first takes the new
skeleton and its body the new shape (:mod:`.reshape`), and the motion is keyed on them.

Visibility keys and unsure markers are then redone for the rig (``people.refresh``).
"""

from __future__ import annotations

import bpy
import numpy as np

from .._core import confidence, contacts, gaps, result_format, scene_space, skeleton
from . import armature, people, reimport, reshape
from .build import person_motion, scene_placement
from .fcurves import fcurves_of
from .keyframes import CONFIDENCE_PROPERTY, POSED_JOINTS, read_channel, replace_channel


class RangeError(ValueError):
    """The rig and the result do not belong together; the message says why."""


def import_collection(rig: bpy.types.Object) -> bpy.types.Collection | None:
    """The GenHMR import's collection the rig belongs to."""
    return next((c for c in rig.users_collection if c.get(reimport.IMPORT_TAG)), None)


def job_of(rig: bpy.types.Object) -> tuple[str, int]:
    """(the result file the rig was built from, the scene frame of video frame 0); raises
    :class:`RangeError` for rigs imported before this was recorded."""
    coll = import_collection(rig)
    path = coll.get(reimport.RESULT_PATH, "") if coll is not None else ""
    if not path:
        raise RangeError(f"{rig.name} does not know its analysis (imported by an older "
                         "version): analyse the video again to re-run parts of it")
    return str(path), int(coll.get(reimport.FRAME_OFFSET, 1))


def job_revision(rig: bpy.types.Object) -> int:
    """The job folder's revision the rig's import shows (restored by undo with the rigs); 0
    for an import made before revisions existed, whose folder then had no other."""
    coll = import_collection(rig)
    return int(coll.get(reimport.JOB_REVISION, 0)) if coll is not None else 0


def set_job_revision(collection_name: str, revision: int | None) -> None:
    """Record that the import's rigs now show ``revision`` (a finished edit's), in the edit's
    undo step."""
    coll = bpy.data.collections.get(collection_name)
    if coll is not None and revision is not None:
        coll[reimport.JOB_REVISION] = int(revision)


def _new_values(result: result_format.JobResult, p: int, rig: bpy.types.Object,
                at: np.ndarray, keep: set[str]) -> dict[tuple[str, int], np.ndarray]:
    """(data path, index) -> values at the frames ``at`` (a mask over the result's frames)."""
    rest = armature.bone_rest_rotations(rig)
    quats, root = person_motion(result, p, rest, scene_placement(result))
    # person_motion measures the root from the result's rest pelvis; measure it from the rig's
    # (the same unless the body's shape was solved again since the rig was built)
    result_head = scene_space.rest_joints_in_armature(result.rest_joints[p][:1])[0]
    rig_head = np.array(rig.data.bones[skeleton.JOINT_NAMES[0]].head_local)
    root = root + (result_head - rig_head) @ rest[0]
    names = skeleton.JOINT_NAMES
    out: dict[tuple[str, int], np.ndarray] = {}
    for j in POSED_JOINTS:
        if names[j] in keep:
            continue
        for axis in range(4):
            out[(f'pose.bones["{names[j]}"].rotation_quaternion', axis)] = quats[at, j, axis]
        out[(f'pose.bones["{names[j]}"]["{CONFIDENCE_PROPERTY}"]', 0)] = \
            result.joint_confidence[p, at, j]
    for axis in range(3):
        out[(f'pose.bones["{names[0]}"].location', axis)] = root[at, axis]
    if result.foot_contact is not None:
        for k, name in enumerate(contacts.CONTACT_POINTS):
            out[(f'["contact_{name}"]', 0)] = result.foot_contact[p, at, k]
    out[(f'["{CONFIDENCE_PROPERTY}"]', 0)] = confidence.frame_confidence(
        result.joint_confidence[p, at])
    return out


def _continue_signs(rig: bpy.types.Object, values: dict[tuple[str, int], np.ndarray],
                    first: float) -> None:
    """Flip each bone's new quaternions where they start opposite to the key before."""
    curves = {(fc.data_path, fc.array_index): fc for fc in fcurves_of(rig)}
    for j in POSED_JOINTS:
        path = f'pose.bones["{skeleton.JOINT_NAMES[j]}"].rotation_quaternion'
        if (path, 0) not in values or not len(values[(path, 0)]):
            continue
        before = []
        for axis in range(4):
            fc = curves.get((path, axis))
            frames, keyed = read_channel(fc) if fc is not None else (np.zeros(0), np.zeros(0))
            earlier = frames < first - 0.5
            before.append(keyed[earlier][-1] if earlier.any() else np.nan)
        new_first = np.array([values[(path, a)][0] for a in range(4)])
        if np.all(np.isfinite(before)) and float(np.dot(before, new_first)) < 0:
            for axis in range(4):
                values[(path, axis)] = -values[(path, axis)]


def _person(result: result_format.JobResult, rig: bpy.types.Object) -> int:
    """The result's index of the rig's person."""
    track = int(rig.get(reimport.TRACK, -1))
    matches = np.flatnonzero(np.asarray(result.track_ids) == track)
    if len(matches) != 1:
        raise RangeError(f"the result has no person {track} for {rig.name}")
    return int(matches[0])


def apply_range(scene: bpy.types.Scene, rig: bpy.types.Object, result: result_format.JobResult,
                first: int, last: int, frame_offset: int, keep: set[str] | None = None,
                fill_gaps: bool = False) -> int:
    """Replace ``rig``'s keys on scene frames ``first..last`` by the result's; returns the
    number of frames keyed. ``keep``: bone names whose keys stay as they are. ``fill_gaps``:
    also key the frames between the person's first and last seen frame that they were not
    seen in (the solve's motion there), not only the seen ones; a generative result's are
    always keyed (its gaps hold the bridge, as the import keys them)."""
    p = _person(result, rig)
    frames = np.asarray(result.frame_indices, dtype=np.int64) + int(frame_offset)
    solved = (gaps.span(result.valid[p]) if fill_gaps
              else gaps.solved_frames(result.valid[p], result.method))
    at = solved & (frames >= first) & (frames <= last)
    values = _new_values(result, p, rig, at, keep or set())
    _continue_signs(rig, values, float(first))
    anim = rig.animation_data
    if anim is None or anim.action is None:
        raise RangeError(f"{rig.name} has no action to update")
    keyed = frames[at].astype(np.float64)
    for fc in fcurves_of(rig):
        new = values.get((fc.data_path, fc.array_index))
        if new is None:
            continue
        old_frames, old_values = read_channel(fc)
        outside = (old_frames < first - 0.5) | (old_frames > last + 0.5)
        replace_channel(fc, np.concatenate([old_frames[outside], keyed]),
                        np.concatenate([old_values[outside], new]))
    people.refresh(scene, rig)
    return int(at.sum())


def apply_merge(scene: bpy.types.Scene, keep: bpy.types.Object, other: bpy.types.Object | None,
                result: result_format.JobResult, frame_offset: int) -> tuple[int, int, int]:
    """After the backend merged ``other``'s person into ``keep``'s and solved the joined track
    again: ``other`` deleted (when given), ``keep`` given the person's new shape (skeleton and
    body) and re-keyed from the result over the person's whole span (the frames between the
    pieces too). Returns (first, last scene frame,
    frames keyed). Raises :class:`RangeError` before changing anything when the result does not
    fit the rig."""
    p = _person(result, keep)
    if keep.animation_data is None or keep.animation_data.action is None:
        raise RangeError(f"{keep.name} has no action to update")
    seen = np.flatnonzero(result.valid[p])
    if not len(seen):
        raise RangeError(f"person {int(keep[reimport.TRACK])} is not seen in the result")
    frames = np.asarray(result.frame_indices, dtype=np.int64) + int(frame_offset)
    first, last = int(frames[seen[0]]), int(frames[seen[-1]])
    cannot = reshape.obstacle(keep)
    if cannot is not None:
        raise RangeError(cannot)
    if other is not None:
        people.delete(scene, other)
    reshape.reshape(keep, result.rest_joints[p], result.betas[p], result.body,
                    float(result.body_scales()[p]))
    count = apply_range(scene, keep, result, first, last, frame_offset, fill_gaps=True)
    return first, last, count
