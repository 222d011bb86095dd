"""Fix people in a finished job: split a person at a frame, merge two people who are one, drop
a ghost; the job folder stays consistent so later re-runs see the fixed people.

The add-on can already do these edits on the rigs' keys (``genhmr_blender/rig/people.py``).
Done here, they also change the job's evidence: a merged person's detections become one track
and that track is **solved again as a whole** (stage 1 and refinement over the joined span), so
refinement's smoothness joins the two pieces and bridges the frames between them, where the
rigs alone would hold a gap. Split and drop only divide or remove what is there.

Each edit rewrites ``tracks.npz``, ``stage1.npz``, ``solve.npz`` and ``result.npz``
(:mod:`genhmr.job_store`), starting from the job folder's revision the request names and
recording the outcome as a new revision (``job_store.edit_at``: undo in Blender reaches the
folder). People other than the ones edited keep their result rows exactly;
the floor is kept as it was (a merged person is placed on the same floor). Track ids are kept:
a split's second piece takes the next free id.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_core.result_format import FIELDS, OPTIONAL_FIELDS, JobResult

from . import job_store
from .errors import JobCancelled, JobError
from .pipeline import (
    JobOptions,
    Models,
    Progress,
    _extend_to_all_frames,
    finish,
    job_background_lines,
    size_against_the_others,
    size_like_the_others,
    solve_generative_track,
)
from .rerun import job_options, load_job_result

_PERSON_FIELDS = tuple(name for name, (shape, _) in {**FIELDS, **OPTIONAL_FIELDS}.items()
                       if shape and shape[0] == "P")


@dataclasses.dataclass
class EditSummary:
    result_path: Path
    people: list[int]  # the track ids after the edit
    elapsed_s: float
    stage_seconds: dict[str, float]
    result: JobResult
    revision: int = 0  # the job folder's revision the edit made


@dataclasses.dataclass
class _Job:
    """Everything in a job folder, loaded for an edit."""

    folder: Path
    options: JobOptions
    tracks: Any  # perception.Tracks
    stage1: list[job_store.PersonStage1] | None  # None for the fit method
    solve: JobResult
    result: JobResult

    def index(self, track_id: int) -> int:
        matches = np.flatnonzero(self.result.track_ids == track_id)
        if len(matches) != 1:
            raise JobError(f"this job has no person {track_id} (people: "
                           f"{', '.join(map(str, self.result.track_ids.tolist()))})")
        return int(matches[0])

    def save(self) -> None:
        job_store.save_tracks(self.folder, self.tracks)
        if self.stage1 is not None:
            job_store.save_stage1(self.folder, self.stage1)
        job_store.save_result_pair(self.folder, self.solve, self.result)


def _load(job_dir: str | Path) -> _Job:
    folder = Path(job_dir)
    options = job_options(folder)
    stage1 = job_store.load_stage1(folder) if options.method == "generative" else None
    return _Job(folder=folder, options=options, tracks=job_store.load_tracks(folder),
                stage1=stage1, solve=load_job_result(folder / job_store.SOLVE_FILE),
                result=load_job_result(folder / job_store.RESULT_FILE))


def _select(result: JobResult, people: np.ndarray) -> None:
    """Keep only ``people`` (indices, in this order) in every person-major field, in place."""
    for name in _PERSON_FIELDS:
        value = getattr(result, name)
        if value is not None:
            setattr(result, name, np.ascontiguousarray(value[people]))


def _select_tracks(tracks: Any, people: np.ndarray) -> Any:
    return dataclasses.replace(tracks, **{
        f.name: np.ascontiguousarray(getattr(tracks, f.name)[people])
        for f in dataclasses.fields(tracks) if f.name != "frame_indices"})


def _at_revision(job_dir: str | Path, revision: int | None, label: str,
                 edit: Callable[[], EditSummary]) -> EditSummary:
    """``edit()`` run on the job folder brought to ``revision`` (None: its current one), its
    outcome recorded as a new revision (:func:`genhmr.job_store.edit_at`)."""
    with job_store.edit_at(job_dir, revision, label) as made:
        summary = edit()
    summary.revision = made.revision
    return summary


def drop_person(job_dir: str | Path, person: int,
                should_stop: Callable[[], bool] | None = None,
                revision: int | None = None) -> EditSummary:
    """Remove a person (a ghost) from the job, at the folder's ``revision`` (None: its
    current one). ``should_stop`` is asked once, before anything is written (the edit is
    quick: a cancel either comes first or too late)."""
    return _at_revision(job_dir, revision, f"drop person {person}",
                        lambda: _drop_person(job_dir, person, should_stop))


def _drop_person(job_dir: str | Path, person: int,
                 should_stop: Callable[[], bool] | None) -> EditSummary:
    t0 = time.perf_counter()
    job = _load(job_dir)
    p = job.index(person)
    keep = np.array([q for q in range(job.result.num_people) if q != p], dtype=np.int64)
    job.tracks = _select_tracks(job.tracks, keep)
    if job.stage1 is not None:
        job.stage1 = [job.stage1[q] for q in keep]
    _select(job.solve, keep)
    _select(job.result, keep)
    _save_unless_stopped(job, should_stop)
    return _summary(job, t0, {})


def split_person(job_dir: str | Path, person: int, frame: int, new_person: int | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 revision: int | None = None) -> EditSummary:
    """Split a person at video frame ``frame``: a new person takes the frames from there on,
    for a track that followed two people. Its track id is ``new_person`` (the add-on picks one
    no rig in its scene has) or, when None, the job's next free id. ``should_stop`` and
    ``revision``: as for :func:`drop_person`."""
    return _at_revision(job_dir, revision, f"split person {person} at video frame {frame}",
                        lambda: _split_person(job_dir, person, frame, new_person, should_stop))


def _split_person(job_dir: str | Path, person: int, frame: int, new_person: int | None,
                  should_stop: Callable[[], bool] | None) -> EditSummary:
    t0 = time.perf_counter()
    job = _load(job_dir)
    p = job.index(person)
    frames = job.result.frame_indices
    later = frames >= frame
    seen = job.result.valid[p]
    if not (seen & later).any() or not (seen & ~later).any():
        raise JobError(f"person {person} is not seen both before and from video frame {frame}: "
                       "nothing to split")
    new_id = int(job.result.track_ids.max()) + 1 if new_person is None else int(new_person)
    if new_id < 0:
        raise JobError(f"a track id is a whole number from 0, not {new_id}")
    if new_id in job.result.track_ids:
        raise JobError(f"the job already has a person {new_id}; the split-off one needs "
                       "another track id")
    order = np.append(np.arange(job.result.num_people), p)
    job.tracks = _select_tracks(job.tracks, order)
    for tracked in (job.tracks.valid,):
        tracked[p, later] = False
        tracked[-1, ~later] = False
    for result in (job.solve, job.result):
        _select(result, order)
        result.track_ids[-1] = new_id
        result.valid[p, later] = False
        result.valid[-1, ~later] = False
        result.joint_confidence[p, later] = 0
        result.joint_confidence[-1, ~later] = 0
    if job.stage1 is not None:
        whole = job.stage1[p]
        cut = int(np.flatnonzero(later)[0])
        job.stage1 = [*job.stage1[:p], _stage1_part(whole, whole.span[0], cut),
                      *job.stage1[p + 1:], _stage1_part(whole, cut, whole.span[1])]
        # each piece's span is its own seen frames, as the pipeline writes them
        for q in (p, len(job.stage1) - 1):
            seen_q = np.flatnonzero(job.result.valid[q])
            job.stage1[q] = _stage1_part(job.stage1[q], int(seen_q[0]), int(seen_q[-1]) + 1)
    _save_unless_stopped(job, should_stop)
    return _summary(job, t0, {})


def _save_unless_stopped(job: _Job, should_stop: Callable[[], bool] | None) -> None:
    """Write the edited job, unless it was cancelled (then the folder stays as it was)."""
    if should_stop is not None and should_stop():
        raise JobCancelled()
    job.save()


def _stage1_part(person: job_store.PersonStage1, first: int, stop: int
                 ) -> job_store.PersonStage1:
    """The part of a person's stage-1 output over job frames [first, stop)."""
    part = slice(first - person.span[0], stop - person.span[0])
    s = person.stage1
    return job_store.PersonStage1(span=(first, stop), stage1=dataclasses.replace(
        s, logits=s.logits[part], global_orient=s.global_orient[part],
        transl=s.transl[part], uncertainty=s.uncertainty[part]))


def merge_people(job_dir: str | Path, keep: int, other: int, models: Models | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 revision: int | None = None) -> EditSummary:
    """Merge person ``other`` into ``keep`` (one person cut into two tracks) and solve the
    joined track again; where both were seen, ``keep``'s detections stay. ``revision``: as
    for :func:`drop_person`."""
    return _at_revision(job_dir, revision, f"merge person {other} into {keep}",
                        lambda: _merge_people(job_dir, keep, other, models, progress,
                                              should_stop))


def _merge_people(job_dir: str | Path, keep: int, other: int, models: Models | None,
                  progress: Callable[[Progress], None] | None,
                  should_stop: Callable[[], bool] | None) -> EditSummary:
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)
    report(Progress("load", 0, 1, 0.0, "reading the job folder"))
    job = _load(job_dir)
    if keep == other:
        raise JobError("a person cannot be merged into themselves")
    a, b = job.index(keep), job.index(other)
    if job.options.method != "generative":
        raise JobError("merging with a new solve needs the generative method; this job used "
                       f"{job.options.method!r} (merge the rigs' keys in Blender instead)")
    body, generative = (models or Models()).get(job.options)
    seconds["load"] = time.perf_counter() - t0

    tracks = job.tracks
    gained = tracks.valid[b] & ~tracks.valid[a]
    for f in dataclasses.fields(tracks):
        if f.name != "frame_indices":
            arr = getattr(tracks, f.name)
            arr[a, gained] = arr[b, gained]
    seen = np.flatnonzero(tracks.valid[a])
    span = slice(int(seen[0]), int(seen[-1]) + 1)

    report(Progress("refine", 0, 1, time.perf_counter() - t0,
                    f"solving person {keep} over frames {job.result.frame_indices[span.start]}-"
                    f"{job.result.frame_indices[span.stop - 1]}"))
    t = time.perf_counter()
    K = job.solve.intrinsics()[span]  # each frame's lens (a zoom changes it)
    fit, betas, first = solve_generative_track(
        body, job.options, generative, tracks.keypoints2d[a, span],
        tracks.world_keypoints[a, span], tracks.valid[a, span], K, stop, job.result.fps)
    seconds["refine"] = time.perf_counter() - t

    t = time.perf_counter()
    report(Progress("save", 0, 1, time.perf_counter() - t0, "world space and the result"))
    fit = _extend_to_all_frames(fit, span, job.result.num_frames)
    skeleton = body.skeleton(betas)
    solve = job.solve
    solve.valid[a] = tracks.valid[a]
    solve.betas[a] = betas
    solve.rest_joints[a] = skeleton.rest_joints.cpu().numpy()
    if solve.body_scale is not None:  # solved afresh at size 1, then sized against the others
        solve.body_scale[a] = 1.0
    for name in ("global_orient", "transl", "joints3d", "keypoints3d"):
        getattr(solve, name)[a] = getattr(fit, name).reshape(getattr(solve, name)[a].shape)
    solve.body_pose[a] = fit.body_pose
    solve.joint_confidence[a] = fit.joint_confidence * tracks.valid[a, :, None]
    if solve.joint_uncertainty is not None:
        solve.joint_uncertainty[a] = fit.joint_uncertainty
    solve.keypoints2d[a] = tracks.keypoints2d[a]
    solve.boxes[a] = tracks.boxes[a]
    solve.detector_landmarks2d[a] = tracks.landmarks2d[a]
    solve.detector_world_landmarks[a] = tracks.world_landmarks[a]
    lines = job_background_lines(job.folder, solve)
    if job.options.estimate_shape:
        size_against_the_others(solve, a, body, lines, first, leaving=b)
    elif job.options.person_height_m:
        size_like_the_others(solve, a, body, first, leaving=b)
    finished = finish(solve, job.options, lines)
    if stop():
        raise JobCancelled()
    result = copy.deepcopy(job.result)
    if finished.body_scale is not None:  # the merged person sized when nobody was before
        result.body_scale = result.body_scales().astype(np.float32)
    for name in _PERSON_FIELDS:
        target, source = getattr(result, name), getattr(finished, name)
        if target is not None and source is not None:
            target[a] = source[a]
    rest = np.array([q for q in range(result.num_people) if q != b], dtype=np.int64)
    _select(solve, rest)
    _select(result, rest)
    job.solve, job.result = solve, result
    job.tracks = _select_tracks(tracks, rest)
    job.stage1[a] = job_store.PersonStage1(span=(span.start, span.stop), stage1=first)
    job.stage1 = [job.stage1[q] for q in rest]
    job.save()
    seconds["save"] = time.perf_counter() - t
    report(Progress("save", 1, 1, time.perf_counter() - t0, str(job.folder)))
    return _summary(job, t0, seconds)


def _summary(job: _Job, t0: float, seconds: dict[str, float]) -> EditSummary:
    return EditSummary(result_path=job.folder / job_store.RESULT_FILE,
                       people=[int(t) for t in job.result.track_ids],
                       elapsed_s=time.perf_counter() - t0, stage_seconds=seconds,
                       result=job.result)
