"""Re-enter a finished job: refinement re-run on part of one person's track.

The artist scrubs the timeline, finds a stretch that looks wrong and re-runs refinement on just
that range, perhaps with more steps, more smoothing, a stricter keypoint confidence, or some
bones they fixed by hand kept as they are. Nothing is detected, tracked or sampled again: the
job folder (:mod:`genhmr.job_store`) has the tracks and stage 1's output, so a re-run costs
the refinement of a few dozen frames plus the world-space steps.

How the range joins the rest of the animation:

* refinement runs on the range plus a margin of a quarter second on each side, where the body
  is anchored to the solution it already has (``RefinementConfig.anchor``), so the smoothness
  term carries the new stretch into its neighbours;
* inside the range, the first and last ``blend_frames`` fade from the old solution to the new
  one (rotations the short way round), so there is no step at either edge;
* the solve (camera frame) is updated and the world-space steps (depth smoothing, floor,
  contacts, foot locking) run again; then only this person's frames inside the range are
  copied into the result file, faded the same way. Every other frame, and every other
  person, stays exactly as it was.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_core.result_format import JobResult, ResultFormatError, load_result
from genhmr_core.rotations import axis_angle_to_matrix, blend_axis_angle
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS

from . import job_store
from .errors import JobCancelled, JobError
from .pipeline import MAX_REFINE_STEPS, JobOptions, Models, Progress, finish, job_background_lines
from .repose import pose_again

MARGIN_S = 0.25  # anchored context on each side of the range
MAX_BLEND_FRAMES = 30
MAX_SMOOTHING = 100.0

# Per-frame fields of one person that a re-run replaces in the result.
_ROTATIONS = ("global_orient", "body_pose")
_BLENDED = ("transl", "joint_confidence", "joint_uncertainty", "foot_contact", "root_world")


@dataclasses.dataclass
class RefineOptions:
    """One re-run request; ``None`` overrides keep the job's own settings."""

    job_dir: str
    person: int  # the person's track id (the result's ``track_ids``)
    frame_start: int  # first video frame of the range (inclusive)
    frame_end: int  # last video frame of the range (inclusive)
    steps: int | None = None  # refinement steps (default: the job's)
    smoothing: float | None = None  # temporal smoothness relative to the job's (2 = double)
    min_confidence: float | None = None  # keypoints below this confidence are ignored
    keep_joints: tuple[str, ...] = ()  # body joints whose rotations are kept as they are
    blend_frames: int = 3  # frames at each end of the range fading old -> new
    revision: int | None = None  # the job folder's revision to start from (None: its current)

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> RefineOptions:
        from genhmr_core.protocol import refine_options, request_revision

        return cls(job_dir=str(request["job_dir"]), person=int(request["person"]),
                   frame_start=int(request["frame_start"]), frame_end=int(request["frame_end"]),
                   revision=request_revision(request), **refine_options(request))


@dataclasses.dataclass
class RefineSummary:
    result_path: Path
    person: int
    frame_start: int  # video frames actually re-run (the request clipped to the person's track)
    frame_end: int
    elapsed_s: float
    stage_seconds: dict[str, float]
    reprojection_px: float  # mean 2D error over the range after refinement
    result: JobResult
    revision: int = 0  # the job folder's revision the re-run made


def check_stretch_request(steps: int | None, blend_frames: int, frame_start: int,
                          frame_end: int) -> None:
    """What every request on a stretch of one person's frames (a re-run, alternatives) must
    hold; a ``JobError`` whose message the artist reads otherwise."""
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MAX_REFINE_STEPS):
        raise JobError(f"steps must be a whole number from 1 to {MAX_REFINE_STEPS}, got "
                       f"{steps!r}")
    if not (isinstance(blend_frames, int) and 0 <= blend_frames <= MAX_BLEND_FRAMES):
        raise JobError(f"blend_frames must be a whole number from 0 to {MAX_BLEND_FRAMES}")
    if frame_end < frame_start:
        raise JobError(f"empty frame range {frame_start}-{frame_end}")


def _check(options: RefineOptions) -> None:
    check_stretch_request(options.steps, options.blend_frames, options.frame_start,
                          options.frame_end)
    if options.smoothing is not None and not (isinstance(options.smoothing, int | float)
                                              and 0 <= options.smoothing <= MAX_SMOOTHING):
        raise JobError(f"smoothing must be a factor from 0 to {MAX_SMOOTHING:g} (1 = the "
                       f"analysis's), got {options.smoothing!r}")
    if options.min_confidence is not None and not (
            isinstance(options.min_confidence, int | float) and 0 <= options.min_confidence < 1):
        raise JobError("min_confidence must be from 0 to below 1, got "
                       f"{options.min_confidence!r}")
    unknown = [j for j in options.keep_joints
               if not 1 <= JOINT_INDEX.get(j, -1) <= NUM_BODY_JOINTS]
    if unknown:
        raise JobError(f"cannot keep {', '.join(map(repr, unknown))}: not a body joint (the "
                       "pelvis and the hands are not refined)")


def job_options(job_dir: Path) -> JobOptions:
    """The options a job folder was analysed with (its ``out_dir`` is where it is now)."""
    saved = job_store.load_options(job_dir)
    try:
        return JobOptions(**{**saved, "out_dir": str(job_dir)})
    except TypeError as exc:
        raise job_store.JobFolderError(f"{job_dir / job_store.JOB_FILE} does not match this "
                                       f"backend ({exc}); analyse the video again") from exc


def load_job_result(path: Path) -> JobResult:
    """A result-format file of the job folder; a damaged one is a :class:`JobFolderError`."""
    try:
        return load_result(path)
    except (OSError, ResultFormatError) as exc:
        raise job_store.JobFolderError(f"cannot read {path.name} in {path.parent}: {exc}; "
                                       "analyse the video again") from exc


def edge_weights(first: int, last: int, span: tuple[int, int], blend: int) -> np.ndarray:
    """Weight of the new solution over job frames ``first..last`` (inclusive): rising over
    ``blend`` frames after the range's start and falling before its end, except where the
    range starts or ends the person's track (nothing old to fade from there)."""
    t = np.arange(first, last + 1, dtype=np.float64)
    w = np.ones_like(t)
    if blend > 0:
        if first > span[0]:
            w = np.minimum(w, (t - first + 1) / (blend + 1))
        if last < span[1] - 1:
            w = np.minimum(w, (last - t + 1) / (blend + 1))
    return w


def _blend_person(into: JobResult, new: dict[str, np.ndarray], p: int, frames: slice,
                  weight: np.ndarray) -> None:
    """``into``'s person ``p`` over ``frames`` faded towards ``new`` (arrays over the same
    frames), in place; joints and keypoints are posed again from the blended rotations so the
    result stays its own forward kinematics."""
    w = weight
    for name in _ROTATIONS:
        old = getattr(into, name)[p, frames]
        shape = (-1,) + (1,) * (old.ndim - 2)
        old[...] = blend_axis_angle(old, new[name], w.reshape(shape)).astype(old.dtype)
    for name in _BLENDED:
        target = getattr(into, name)
        if target is None or name not in new or new[name] is None:
            continue
        old = target[p, frames]
        shape = (-1,) + (1,) * (old.ndim - 1)
        ww = w.reshape(shape)
        old[...] = ((1 - ww) * old + ww * new[name]).astype(old.dtype)
    if into.support_height is not None and "support_height" in new:
        into.support_height[p, frames] = np.where(w >= 0.5, new["support_height"],
                                                  into.support_height[p, frames])


def _person_frames(result: JobResult, p: int, frames: slice) -> dict[str, np.ndarray]:
    names = (*_ROTATIONS, *_BLENDED, "support_height")
    return {n: getattr(result, n)[p, frames].copy() for n in names
            if getattr(result, n) is not None}


class _StepProgress:
    """``refine`` polls its stop callback once per step: counting the calls reports progress
    without threading a callback through the optimiser."""

    def __init__(self, total: int, report: Callable[[int], None], stop: Callable[[], bool]
                 ) -> None:
        self.total, self.report, self.stop, self.done = total, report, stop, 0

    def __call__(self) -> bool:
        if self.done % 5 == 0:
            self.report(self.done)
        self.done += 1
        return self.stop()


def refine_range(options: RefineOptions, models: Models | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> RefineSummary:
    """Re-run refinement on ``options``' range of one person, starting from the job folder's
    revision ``options.revision``, and rewrite the job's result as a new revision; see the
    module docstring. Raises :class:`JobError` (bad request, job folder that cannot be
    re-entered) or :class:`JobCancelled`; the job folder is unchanged when it does."""
    _check(options)
    label = (f"refine person {options.person}, video frames {options.frame_start}-"
             f"{options.frame_end}")
    with job_store.edit_at(options.job_dir, options.revision, label) as edit:
        summary = _refine_range(options, models, progress, should_stop)
    summary.revision = edit.revision
    return summary


@dataclasses.dataclass
class RangeContext:
    """One person's stretch of a finished job, loaded: what a re-run on a range and the
    alternatives for a range (:mod:`genhmr.alternatives`) share."""

    job_dir: Path
    job: JobOptions
    people: list[job_store.PersonStage1]
    tracks: Any  # perception.Tracks
    solve: JobResult  # the refined bodies before the world-space steps
    current: JobResult  # the result the add-on shows
    body: Any
    tokenizer: Any
    model: Any  # the masked transformer
    p: int  # the person's index in the result
    span: tuple[int, int]  # job frames [first, stop) of the person's track
    first: int  # job frames of the stretch, inclusive, clipped to the track
    last: int
    window: slice  # job frames refined: the stretch and its anchored margin
    K: np.ndarray  # (n, 3, 3) intrinsics of each frame of the track (a zoom changes them)
    obs: Any  # generative.Observations over the person's track

    @property
    def frames(self) -> np.ndarray:
        return self.current.frame_indices


def load_range(job_dir: str | Path, person: int, frame_start: int, frame_end: int,
               models: Models | None, files_dir: str | Path | None = None) -> RangeContext:
    """Load ``person``'s stretch ``frame_start..frame_end`` (video frames) of the job in
    ``job_dir``; the files an edit changes are read from ``files_dir`` (a kept revision's
    folder; default the job folder itself). A request the job cannot answer is a
    :class:`JobError` that says why."""
    from .generative import observations

    job_dir = Path(job_dir)
    files = Path(files_dir) if files_dir is not None else job_dir
    job = job_options(job_dir)
    if job.method != "generative":
        raise JobError("re-running refinement needs the generative method's stage-1 output, "
                       f"and this job used {job.method!r}; analyse again with method "
                       "'generative'")
    people = job_store.load_stage1(files)
    tracks = job_store.load_tracks(files)
    solve = load_job_result(files / job_store.SOLVE_FILE)
    current = load_job_result(files / job_store.RESULT_FILE)
    body, generative = (models or Models()).get(job)
    matches = np.flatnonzero(current.track_ids == person)
    if len(matches) != 1 or len(people) != current.num_people:
        raise JobError(f"this job has no person {person} (people: "
                       f"{', '.join(map(str, current.track_ids.tolist()))})")
    p = int(matches[0])
    span = people[p].span
    frames = current.frame_indices
    inside = np.flatnonzero((frames >= frame_start) & (frames <= frame_end))
    inside = inside[(inside >= span[0]) & (inside < span[1])]
    if len(inside) == 0:
        raise JobError(f"person {person} is not in video frames {frame_start}-{frame_end}: "
                       f"their track covers frames {frames[span[0]]}-{frames[span[1] - 1]}")
    first, last = int(inside[0]), int(inside[-1])
    margin = max(2, round(MARGIN_S * current.fps))
    window = slice(max(span[0], first - margin), min(span[1], last + 1 + margin))
    track = slice(*span)
    K = solve.intrinsics()[track]
    obs = observations(tracks.keypoints2d[p, track], tracks.world_keypoints[p, track],
                       tracks.valid[p, track], K)
    return RangeContext(job_dir=job_dir, job=job, people=people, tracks=tracks, solve=solve,
                        current=current, body=body, tokenizer=generative[1],
                        model=generative[0], p=p, span=span, first=first, last=last,
                        window=window, K=K, obs=obs)


def refine_stretch(ctx: RangeContext, stage1: Any, config: Any,
                   keep_joints: tuple[str, ...] = (),
                   should_stop: Callable[[], bool] | None = None) -> Any:
    """Refinement over ``ctx``'s window from ``stage1`` (the person's ``generative.Stage1``
    over their whole track), the frames outside the stretch anchored to the solve they have;
    the refined ``FitResult`` over the window. ``should_stop`` is polled once per step."""
    from .generative import Hold, refine_track

    span, solve = ctx.span, ctx.solve
    track = slice(*span)
    local = np.arange(span[0], span[1])
    anchored = ((local < ctx.first) | (local > ctx.last)).astype(np.float32)
    keep_mask = np.zeros(NUM_BODY_JOINTS, bool)
    keep_mask[[JOINT_INDEX[j] - 1 for j in keep_joints]] = True
    hold = Hold(anchor_joints=solve.joints3d[ctx.p, track, :22], anchor_weight=anchored,
                keep_pose=axis_angle_to_matrix(solve.body_pose[ctx.p, track])
                if keep_mask.any() else None, keep_mask=keep_mask)
    fit, _ = refine_track(ctx.tokenizer, ctx.body, stage1, ctx.obs, ctx.K, config,
                          frames=slice(ctx.window.start - span[0], ctx.window.stop - span[0]),
                          hold=hold, should_stop=should_stop)
    return fit


def apply_refined(ctx: RangeContext, fit: Any, solve: JobResult, current: JobResult,
                  blend_frames: int, should_stop: Callable[[], bool] | None = None,
                  keep_joints: tuple[str, ...] = ()) -> None:
    """``fit`` (over ``ctx``'s window) faded into ``solve`` and, after the world-space steps,
    into ``current``, inside the stretch only, in place (pass copies to keep
    ``ctx``'s). ``keep_joints`` come out of it with the rotations ``current`` gave them (the
    artist's bones: the world steps' pose smoothing would otherwise round them off with their
    neighbours). Raises :class:`JobCancelled` when ``should_stop`` says so after the world
    steps."""
    p, first, last = ctx.p, ctx.first, ctx.last
    rows = slice(first - ctx.window.start, last + 1 - ctx.window.start)
    in_range = slice(first, last + 1)
    weight = edge_weights(first, last, ctx.span, blend_frames)
    seen = ctx.tracks.valid[p, in_range, None]
    refined = {"global_orient": fit.global_orient[rows], "body_pose": fit.body_pose[rows],
               "transl": fit.transl[rows], "joint_confidence": fit.joint_confidence[rows] * seen,
               "joint_uncertainty": fit.joint_uncertainty[rows]}
    skeleton = ctx.body.skeleton(solve.betas[p].astype(np.float64),
                                 float(solve.body_scales()[p]))
    _blend_person(solve, refined, p, in_range, weight)
    pose_again(solve, p, in_range, skeleton)
    finished = finish(solve, ctx.job, job_background_lines(ctx.job_dir, solve))
    if should_stop is not None and should_stop():
        raise JobCancelled()
    kept = [JOINT_INDEX[j] - 1 for j in keep_joints]
    artists = np.array(current.body_pose[p, in_range][:, kept])
    _blend_person(current, _person_frames(finished, p, in_range), p, in_range, weight)
    stretch = current.body_pose[p, in_range]  # a view: written through
    stretch[:, kept] = artists
    pose_again(current, p, in_range, skeleton)


def refinement_config(job: JobOptions, steps: int | None = None,
                      smoothing: float | None = None, min_confidence: float | None = None
                      ) -> Any:
    """The job's refinement settings with a request's overrides (None: the job's own)."""
    from .models.refinement import RefinementConfig

    config = RefinementConfig(steps=job.refine_steps if steps is None else steps)
    if smoothing is not None:
        config.smooth *= float(smoothing)
    if min_confidence is not None:
        config.min_confidence = float(min_confidence)
    return config


def _refine_range(options: RefineOptions, models: Models | None,
                  progress: Callable[[Progress], None] | None,
                  should_stop: Callable[[], bool] | None) -> RefineSummary:
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)

    def elapsed() -> float:
        return time.perf_counter() - t_start

    report(Progress("load", 0, 1, elapsed(), "reading the job folder"))
    ctx = load_range(options.job_dir, options.person, options.frame_start, options.frame_end,
                     models)
    seconds["load"] = elapsed()
    frames, first, last = ctx.frames, ctx.first, ctx.last
    config = refinement_config(ctx.job, options.steps, options.smoothing,
                               options.min_confidence)
    report(Progress("refine", 0, config.steps, elapsed(),
                    f"person {options.person}, frames {frames[first]}-{frames[last]}"))
    ticker = _StepProgress(config.steps, lambda done: report(
        Progress("refine", done, config.steps, elapsed(), "refining")), stop)
    t = time.perf_counter()
    try:
        fit = refine_stretch(ctx, ctx.people[ctx.p].stage1, config, options.keep_joints,
                             ticker)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    seconds["refine"] = time.perf_counter() - t

    report(Progress("save", 0, 1, elapsed(), "world space and the result file"))
    t = time.perf_counter()
    apply_refined(ctx, fit, ctx.solve, ctx.current, options.blend_frames, stop,
                  options.keep_joints)
    job_store.save_result_pair(ctx.job_dir, ctx.solve, ctx.current)
    seconds["save"] = time.perf_counter() - t
    path = ctx.job_dir / job_store.RESULT_FILE
    report(Progress("save", 1, 1, elapsed(), str(path)))
    valid = ctx.tracks.valid[ctx.p, first:last + 1]
    after = float(fit.reprojection_px)
    return RefineSummary(result_path=path, person=options.person,
                         frame_start=int(frames[first]), frame_end=int(frames[last]),
                         elapsed_s=elapsed(), stage_seconds=seconds,
                         reprojection_px=after if valid.any() else 0.0, result=ctx.current)
