"""Alternatives for a stretch of one person's motion: sample, refine and keep K other readings;
accept one as the job folder's next revision.

Why: where the video cannot tell poses apart (a knee towards or away from the camera, an arm
in front of the body or behind it), refinement keeps whichever reading stage 1 chose, and a
re-run on the range starts from that reading again. The generative model knows the others: this
module asks it for them (``generative.sample_range``: temperature draws that stay one motion
over the stretch), keeps the ``count`` that differ most from the motion the rig has and from
each other (``genhmr_core.alternatives.farthest_first``), refines each exactly as a re-run on
the range would (anchored margin, faded edges, world-space steps again: ``genhmr.rerun``) and
writes each as a complete result file in a new set under ``alternatives/`` (layout:
:mod:`genhmr_core.alternatives`). Sampling changes nothing the rigs or later edits read; the
artist steps through the alternatives in Blender, and accepting one
(:func:`accept_alternative`) writes its solve, result and stage-1 rows into the folder as a new
revision (``job_store.edit_at``), so a later re-run on the range starts from the reading the
artist chose.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_core import alternatives as layout
from genhmr_core import job_revisions
from genhmr_core.folder_removal import remove_whole
from genhmr_core.result_format import save_result
from genhmr_core.rotations import axis_angle_to_matrix

from . import job_store
from .errors import JobCancelled, JobError
from .pipeline import Models, Progress
from .rerun import (
    RangeContext,
    apply_refined,
    check_stretch_request,
    load_range,
    refine_stretch,
    refinement_config,
)

# Draws sampled per alternative offered: the offered ones are the most different of them.
DRAWS_PER_ALTERNATIVE = 3
MAX_TEMPERATURE = 3.0


@dataclasses.dataclass
class ResampleOptions:
    """One ``resample`` request; ``None`` keeps the job's own setting."""

    job_dir: str
    person: int  # track id
    frame_start: int  # video frames of the stretch, inclusive
    frame_end: int
    count: int = layout.DEFAULT_ALTERNATIVES  # alternatives offered
    temperature: float = layout.DEFAULT_TEMPERATURE  # stage 1's sampling: higher, wilder
    seed: int = 0  # the same seed gives the same alternatives
    steps: int | None = None  # refinement steps per alternative (default: the job's)
    blend_frames: int = 3  # frames at each end of the stretch fading old -> new
    revision: int | None = None  # the job folder's revision to sample from (None: current)

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> ResampleOptions:
        from genhmr_core.protocol import request_revision, resample_options

        return cls(job_dir=str(request["job_dir"]), person=int(request["person"]),
                   frame_start=int(request["frame_start"]), frame_end=int(request["frame_end"]),
                   revision=request_revision(request), **resample_options(request))


@dataclasses.dataclass
class ResampleSummary:
    set_id: str  # the set's folder under alternatives/ (what ``accept`` names)
    info: layout.AlternativesInfo
    result_paths: list[Path]  # alternative k's result file at index k - 1
    frame_start: int  # video frames actually sampled (the request clipped to the track)
    frame_end: int
    elapsed_s: float
    stage_seconds: dict[str, float]


@dataclasses.dataclass
class AcceptSummary:
    result_path: Path
    person: int
    frame_start: int
    frame_end: int
    num_people: int
    elapsed_s: float
    revision: int = 0  # the job folder's revision accepting made


def _check(options: ResampleOptions) -> None:
    check_stretch_request(options.steps, options.blend_frames, options.frame_start,
                          options.frame_end)
    if not (isinstance(options.count, int) and 1 <= options.count <= layout.MAX_ALTERNATIVES):
        raise JobError(f"count must be a whole number from 1 to {layout.MAX_ALTERNATIVES}, "
                       f"got {options.count!r}")
    if not (isinstance(options.temperature, int | float)
            and 0 < options.temperature <= MAX_TEMPERATURE):
        raise JobError(f"temperature must be above 0 and at most {MAX_TEMPERATURE:g}, got "
                       f"{options.temperature!r}")
    if isinstance(options.seed, bool) or not isinstance(options.seed, int) or options.seed < 0:
        raise JobError(f"seed must be a whole number from 0, got {options.seed!r}")


def _files_at(job_dir: Path, revision: int | None) -> tuple[int, Path]:
    """(the revision, the folder holding its edited files): sampling reads a kept revision in
    place and leaves the job folder's own files (and its log) alone."""
    job_store.load_options(job_dir)  # a missing or foreign folder: the usual sentence
    try:
        log = job_revisions.read_log(job_dir)
        base = (0 if log is None else log.current) if revision is None else int(revision)
        path = job_revisions.file_at(job_dir, base, job_store.RESULT_FILE)
    except job_revisions.RevisionError as exc:
        raise job_store.JobFolderError(str(exc)) from exc
    return base, path.parent


def _keypoints(ctx: RangeContext, rows: slice) -> np.ndarray:
    """(n, 25, 3) the solve's keypoints over track rows ``rows`` posed as the samples are (the
    track's body, pelvis at its rest place): what the alternatives are compared with."""
    import torch

    from .models.refinement import keypoint_rig, pose_keypoints

    p, track = ctx.p, slice(*ctx.span)
    local = np.concatenate([ctx.solve.global_orient[p, track][rows, None],
                            ctx.solve.body_pose[p, track][rows]], axis=1)
    person = ctx.people[p].stage1
    rig = keypoint_rig(ctx.body, torch.as_tensor(person.betas, dtype=torch.float32)[None],
                       float(person.body_scale))
    n = local.shape[0]
    with torch.no_grad():
        _, kp = pose_keypoints(rig[0].expand(n, -1, -1), rig[1].expand(n, -1, -1),
                               torch.as_tensor(axis_angle_to_matrix(local), dtype=torch.float32),
                               torch.zeros(n, 3))
    return kp.numpy()


def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean keypoint distance between two (n, 25, 3) stretches (metres)."""
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _pelvis_relative(result: Any, p: int, frames: slice) -> np.ndarray:
    kp = result.keypoints3d[p, frames].astype(np.float64)
    return kp - result.joints3d[p, frames, :1].astype(np.float64)


def resample_range(options: ResampleOptions, models: Models | None = None,
                   progress: Callable[[Progress], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> ResampleSummary:
    """Sample, choose, refine and keep ``options.count`` alternatives for the stretch (module
    docstring). The job folder's own files are not changed; the new set appears whole at the
    end (the oldest beyond ``MAX_SETS`` then go), so a failed or cancelled sampling leaves the
    folder's sets as they were.
    Raises :class:`JobError` or :class:`JobCancelled`."""
    import torch

    from .generative import Stage1, sample_range

    _check(options)
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)

    def elapsed() -> float:
        return time.perf_counter() - t_start

    job_dir = Path(options.job_dir)
    report(Progress("load", 0, 1, elapsed(), "reading the job folder"))
    base, files = _files_at(job_dir, options.revision)
    _remove_leftovers(job_dir)
    ctx = load_range(job_dir, options.person, options.frame_start, options.frame_end, models,
                     files_dir=files)
    seconds["load"] = elapsed()

    p, span = ctx.p, ctx.span
    rows = slice(ctx.first - span[0], ctx.last + 1 - span[0])
    person = ctx.people[p].stage1
    draws = options.count * DRAWS_PER_ALTERNATIVE
    report(Progress("sample", 0, 1, elapsed(), f"{draws} readings of the stretch"))
    t = time.perf_counter()
    try:
        samples = sample_range(ctx.model, ctx.tokenizer, ctx.body, ctx.obs, ctx.K, rows,
                               person.betas, draws, float(options.temperature),
                               torch.Generator().manual_seed(options.seed),
                               fps=ctx.current.fps, should_stop=stop,
                               body_scale=float(person.body_scale))
    except InterruptedError as exc:
        raise JobCancelled() from exc
    # Refinement removes every difference the image shows and keeps those along the camera's
    # rays: draws are told apart by depth alone, so the ones offered stay apart once refined.
    depth = [k[..., 2:] for k in samples.keypoints]
    reference = _keypoints(ctx, rows)[..., 2:]
    between = np.array([[mean_distance(a, b) for b in depth] for a in depth])
    picks = layout.farthest_first(
        between, [mean_distance(k, reference) for k in depth], options.count)
    seconds["sample"] = time.perf_counter() - t

    # Without the detector's 3D landmarks: they are one reading of the depths, and refining
    # towards them pulls every alternative back onto the motion the rig has (demo.mp4's woman
    # on the box, frames 169-189: 15 mm from it after refinement, against 45-50 mm without,
    # at the same 2D error; docs/addon.md, "Alternatives").
    config = dataclasses.replace(refinement_config(ctx.job, options.steps), landmarks_3d=0.0)
    total = config.steps * len(picks)
    set_id = layout.new_set_id()
    staging = Path(tempfile.mkdtemp(dir=job_dir, prefix=".alternatives-new-"))
    try:
        t = time.perf_counter()
        candidates, paths = [], []
        stretch = slice(ctx.first, ctx.last + 1)
        before = _pelvis_relative(ctx.current, p, stretch)
        for k, draw in enumerate(picks):
            report(Progress("refine", k * config.steps, total, elapsed(),
                            f"alternative {k + 1} of {len(picks)}"))
            ticker = _Ticker(lambda done, k=k: report(Progress(
                "refine", k * config.steps + done, total, elapsed(),
                f"alternative {k + 1} of {len(picks)}")), stop)
            stage1 = _with_rows(person, rows, samples.logits[draw], samples.global_orient[draw],
                                Stage1)
            try:
                fit = refine_stretch(ctx, stage1, config, should_stop=ticker)
            except InterruptedError as exc:
                raise JobCancelled() from exc
            solve, current = copy.deepcopy(ctx.solve), copy.deepcopy(ctx.current)
            apply_refined(ctx, fit, solve, current, options.blend_frames, stop)
            where = staging / str(k + 1)
            where.mkdir()
            save_result(solve, where / layout.SOLVE_FILE)
            save_result(current, where / layout.RESULT_FILE)
            job_store.save_stage1_rows(where / layout.STAGE1_ROWS_FILE, rows,
                                       samples.logits[draw], samples.global_orient[draw])
            seen = ctx.tracks.valid[p, stretch]
            apart = np.linalg.norm(_pelvis_relative(current, p, stretch) - before, axis=-1)
            candidates.append(layout.Candidate(
                distance_mm=round(1000 * float(apart.mean()), 1),
                largest_mm=round(1000 * float(apart.mean(0).max()), 1),
                reprojection_px=round(float(fit.reprojection_px) if seen.any() else 0.0, 2)))
            paths.append(layout.candidate_dir(job_dir, set_id, k + 1) / layout.RESULT_FILE)
        seconds["refine"] = time.perf_counter() - t
        report(Progress("save", 0, 1, elapsed(), "keeping the alternatives"))
        frames = ctx.frames
        info = layout.AlternativesInfo(
            base_revision=base, person=options.person, frame_start=int(frames[ctx.first]),
            frame_end=int(frames[ctx.last]), temperature=float(options.temperature),
            seed=options.seed, candidates=tuple(candidates))
        (staging / layout.INFO_FILE).write_text(json.dumps(info.to_json(), indent=1),
                                                encoding="utf-8")
        if stop():
            raise JobCancelled()
        layout.folder(job_dir).mkdir(exist_ok=True)
        os.rename(staging, layout.set_dir(job_dir, set_id))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _drop_old_sets(job_dir)
    report(Progress("save", 1, 1, elapsed(), str(layout.set_dir(job_dir, set_id))))
    return ResampleSummary(set_id=set_id, info=info, result_paths=paths,
                           frame_start=info.frame_start,
                           frame_end=info.frame_end, elapsed_s=elapsed(),
                           stage_seconds=seconds)


class _Ticker:
    """``refine`` polls its stop callback once per step: counting the calls reports progress."""

    def __init__(self, report: Callable[[int], None], stop: Callable[[], bool]) -> None:
        self.report, self.stop, self.done = report, stop, 0

    def __call__(self) -> bool:
        if self.done % 5 == 0:
            self.report(self.done)
        self.done += 1
        return self.stop()


def _with_rows(stage1: Any, rows: slice, logits: np.ndarray, orient: np.ndarray,
               kind: type) -> Any:
    """A copy of a person's stage-1 output with ``rows`` (track frames) replaced by a draw's."""
    new_logits = stage1.logits.copy()
    new_orient = stage1.global_orient.copy()
    new_logits[rows] = logits
    new_orient[rows] = orient
    return kind(logits=new_logits, global_orient=new_orient, transl=stage1.transl,
                betas=stage1.betas, uncertainty=stage1.uncertainty,
                body_scale=stage1.body_scale)


def _remove_leftovers(job_dir: Path) -> None:
    """Staging folders a crashed or killed sampling left in the job folder (best effort)."""
    for left in job_dir.glob(".alternatives-*"):
        shutil.rmtree(left, ignore_errors=True)


def _drop_old_sets(job_dir: Path) -> None:
    """Keep the newest ``MAX_SETS`` sets (a few rigs choosing at once); the rest go."""
    for old in layout.sets(job_dir)[layout.MAX_SETS:]:
        _remove_set(job_dir, old)


def _remove_set(job_dir: Path, set_id: str) -> None:
    """A set renamed away first, so a half-deleted set never looks whole."""
    remove_whole(layout.set_dir(job_dir, set_id), job_dir, ".alternatives-old-")


def accept_alternative(job_dir: str | os.PathLike[str], index: int, set_id: str | None = None,
                       revision: int | None = None) -> AcceptSummary:
    """Make alternative ``index`` (1-based) of set ``set_id`` (None: the newest set) the
    analysis: its solve, result and stage-1 rows written into the folder as a new revision
    made at ``revision`` (None: the folder's current one), which must be the one the set was
    sampled from. The set is removed afterwards (its other alternatives belong to the replaced
    state)."""
    t0 = time.perf_counter()
    folder = Path(job_dir)
    if set_id is None:
        newest = layout.sets(folder)
        set_id = newest[0] if newest else ""
    try:
        info = layout.read_info(folder, set_id) if set_id else None
    except layout.AlternativesError as exc:
        raise JobError(f"the alternatives of {folder} cannot be read ({exc}); sample them "
                       "again") from exc
    if info is None:
        raise JobError(f"{folder} has no such alternatives to accept (already accepted, or "
                       "dropped for newer ones); sample them again")
    base = revision
    if base is None:
        try:
            base = job_revisions.current_revision(folder)
        except job_revisions.RevisionError as exc:
            raise job_store.JobFolderError(str(exc)) from exc
    if info.base_revision != base:
        raise JobError(f"these alternatives were sampled from another state of the analysis "
                       f"(revision {info.base_revision}; the rigs show revision {base}): "
                       "sample them again")
    try:
        layout.candidate_result(folder, set_id, info, index)
    except layout.AlternativesError as exc:
        raise JobError(str(exc)) from exc
    where = layout.candidate_dir(folder, set_id, index)
    label = (f"alternative {index} for person {info.person}, video frames "
             f"{info.frame_start}-{info.frame_end}")
    with job_store.edit_at(folder, base, label) as edit:
        people = job_store.load_stage1(folder)
        rows, logits, orient = job_store.load_stage1_rows(where / layout.STAGE1_ROWS_FILE)
        current = _load(where / layout.RESULT_FILE)
        matches = np.flatnonzero(current.track_ids == info.person)
        if len(matches) != 1 or len(people) != current.num_people:
            raise JobError(f"alternative {index} does not match the analysis; sample again")
        person = people[int(matches[0])]
        person.stage1.logits[rows] = logits
        person.stage1.global_orient[rows] = orient
        job_store.save_stage1(folder, people)
        job_store.save_result_pair(folder, _load(where / layout.SOLVE_FILE), current)
    _remove_set(folder, set_id)
    return AcceptSummary(result_path=folder / job_store.RESULT_FILE, person=info.person,
                         frame_start=info.frame_start, frame_end=info.frame_end,
                         num_people=current.num_people, elapsed_s=time.perf_counter() - t0,
                         revision=edit.revision or 0)


def _load(path: Path) -> Any:
    from .rerun import load_job_result

    return load_job_result(path)
