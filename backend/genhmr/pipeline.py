"""One analysis job, end to end: video frames -> people -> tracks -> 3D bodies -> result file.

Stages, in order, each reported through the ``progress`` callback and timed:

- ``load``: the body model (the license-free default body or the user's SMPL-X) and the pose
  detector;
- ``detect``: decode the frame range and detect every person in every frame (decoding time is
  measured separately as ``decode`` in the stage timings);
- ``track``: link detections into people with stable ids;
- ``camera``: how the camera turned (pan, tilt, roll) from the background, people masked out
  (:mod:`genhmr.camera_motion`; off with ``camera_motion=False``);
- ``fit``: each person's body shape (from bone lengths over the clip), then their SMPL-X body
  pose, orientation and translation;
- ``save``: each person's pose smoothed over time (the pelvis's and bones' orientations: the
  frame-to-frame tremor, ``genhmr_core.pose_smoothing``, option ``pose_smoothing_s``) and their
  depth along their viewing rays
  (``genhmr_core.root_depth``, option ``depth_smoothing_s``), the floor under the people
  (``genhmr_core.ground``; tilted as the background's vertical edges say,
  :mod:`genhmr.vertical_lines`, else as the people do), when each foot is planted
  (``genhmr_core.contacts``) and those feet pinned in the world (``genhmr_core.foot_lock``,
  option ``foot_locking``), then write the versioned result file atomically.

The job is cancellable between frames and between optimisation steps (``should_stop``), and
raises :class:`JobError` subclasses with messages meant for the artist when the input is bad.
Used by both the CLI (``genhmr run``) and the server behind the Blender add-on.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genhmr import __version__
from genhmr_core.ground import Ground, ground_of_solve
from genhmr_core.protocol import START_DEFAULTS as _DEFAULTS
from genhmr_core.result_format import JobResult, frame_intrinsics, save_result
from genhmr_core.skeleton import NUM_BODY_JOINTS, NUM_JOINTS
from genhmr_core.vertical import Vertical

from . import job_store
from .camera import focal_from_35mm, intrinsics
from .errors import (
    BodyModelError,
    InputVideoError,
    JobCancelled,
    JobError,
    NoPersonFoundError,
)
from .perception import PerceptionConfig, Tracks, detect_people, make_detector, track
from .vertical_lines import BackgroundLines
from .video import VideoError, probe, read_frames, resolve_range

if TYPE_CHECKING:
    from .camera_motion import CameraMotion
    from .camera_pass import CameraReading

log = logging.getLogger(__name__)

METHODS = ("fit", "generative")
MAX_REFINE_STEPS = 1000
RESULT_NAME = job_store.RESULT_FILE


@dataclasses.dataclass
class JobOptions:
    """What to analyse and how. The defaults are ``genhmr_core.protocol.START_DEFAULTS``, the one
    place they are written (the add-on's panel and the command line read them there too)."""

    video: str
    out_dir: str
    start: int = _DEFAULTS["start"]
    end: int | None = _DEFAULTS["end"]
    device: str = _DEFAULTS["device"]
    method: str = _DEFAULTS["method"]
    checkpoint: str = _DEFAULTS["checkpoint"]
    refine_steps: int = _DEFAULTS["refine_steps"]
    smplx_dir: str = _DEFAULTS["smplx_dir"]
    smplx_gender: str = _DEFAULTS["smplx_gender"]
    estimate_shape: bool = _DEFAULTS["estimate_shape"]
    focal_px: float | None = _DEFAULTS["focal_px"]
    lens_35mm: float | None = _DEFAULTS["lens_35mm"]
    person_height_m: float | None = _DEFAULTS["person_height_m"]
    tiling: str = _DEFAULTS["tiling"]
    max_people: int = _DEFAULTS["max_people"]
    camera_motion: bool = _DEFAULTS["camera_motion"]
    pose_smoothing_s: float = _DEFAULTS["pose_smoothing_s"]
    depth_smoothing_s: float = _DEFAULTS["depth_smoothing_s"]
    foot_locking: bool = _DEFAULTS["foot_locking"]
    contact_threshold: float = _DEFAULTS["contact_threshold"]

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> JobOptions:
        from genhmr_core.protocol import job_options

        return cls(video=str(request["video"]), out_dir=str(request["out_dir"]),
                   **job_options(request))


@dataclasses.dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int
    elapsed_s: float
    message: str = ""


@dataclasses.dataclass
class JobSummary:
    result_path: Path
    num_people: int
    num_frames: int
    elapsed_s: float
    stage_seconds: dict[str, float]
    reprojection_px: list[float]  # mean 2D error of each person's fit, pixels
    result: JobResult


ProgressFn = Callable[[Progress], None]
StopFn = Callable[[], bool]
PersonFn = Callable[[int, int], None]  # (track_id, frames with that person)


class _Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; other values are checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise JobError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise JobError("device 'cuda' requested but no CUDA GPU is available to torch")
    return device


def load_body(smplx_dir: str, gender: str = "neutral") -> Any:
    """The body model: the user's SMPL-X when ``smplx_dir`` is given, else the default body."""
    from .body import DefaultBodyError, SmplxModelError, load_default_body, load_smplx_body

    try:
        if not smplx_dir:
            return load_default_body()
        return load_smplx_body(smplx_dir, gender)
    except (SmplxModelError, DefaultBodyError) as exc:
        raise BodyModelError(str(exc)) from exc


def run_job(options: JobOptions, progress: ProgressFn | None = None,
            should_stop: StopFn | None = None, on_person: PersonFn | None = None,
            detector: Any = None, models: Models | None = None) -> JobSummary:
    """Run one job; see the module docstring. ``detector`` reuses a loaded PoseDetector,
    ``models`` the body and generative models loaded by an earlier job (the server's)."""
    clock = _Clock()
    stop = should_stop or (lambda: False)
    report = progress or (lambda p: None)
    if options.method not in METHODS:
        raise JobError(f"unknown method {options.method!r}; available: {', '.join(METHODS)}")
    if not (isinstance(options.refine_steps, int)
            and 0 <= options.refine_steps <= MAX_REFINE_STEPS):
        raise JobError(f"refine_steps must be a whole number from 0 to {MAX_REFINE_STEPS} "
                       f"(0 = sampling only), got {options.refine_steps!r}")
    if not (isinstance(options.contact_threshold, int | float)
            and 0 < options.contact_threshold < 1):
        raise JobError("contact_threshold must be a probability between 0 and 1 (exclusive), "
                       f"got {options.contact_threshold!r}")
    if not (isinstance(options.pose_smoothing_s, int | float)
            and not isinstance(options.pose_smoothing_s, bool)
            and 0 <= options.pose_smoothing_s <= 0.5):
        raise JobError("pose_smoothing_s must be a number of seconds from 0 (off) to 0.5, got "
                       f"{options.pose_smoothing_s!r}")
    if not (isinstance(options.depth_smoothing_s, int | float)
            and 0 <= options.depth_smoothing_s <= 2):
        raise JobError("depth_smoothing_s must be a number of seconds from 0 (off) to 2, got "
                       f"{options.depth_smoothing_s!r}")
    height = options.person_height_m
    if height is not None and not (isinstance(height, int | float)
                                   and not isinstance(height, bool) and 0.5 <= height <= 2.5):
        raise JobError("person_height_m must be a standing height in metres from 0.5 to 2.5, "
                       f"or empty to estimate it, got {height!r}")
    for name in ("focal_px", "lens_35mm"):
        value = getattr(options, name)
        if value is not None and not (isinstance(value, int | float) and 1 <= value <= 100_000):
            unit = "pixels" if name == "focal_px" else "millimetres (35 mm equivalent)"
            raise JobError(f"{name} must be a focal length in {unit}, or empty for the "
                           f"default, got {value!r}")

    report(Progress("load", 0, 1, clock.elapsed(), "checking the video"))
    try:
        info = probe(options.video)
        start, end = resolve_range(info, options.start, options.end)
    except VideoError as exc:
        raise InputVideoError(str(exc)) from exc
    out_dir = Path(options.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JobError(f"cannot create the output folder {out_dir}: {exc}") from exc
    device = resolve_device(options.device)
    job_store.save_options(out_dir, options)
    t = time.perf_counter()
    body, generative = (models or Models()).get(options)  # a bad checkpoint fails fast
    perception = PerceptionConfig(tiling=options.tiling, max_people=options.max_people)
    owns_detector = detector is None
    if owns_detector:
        report(Progress("load", 0, 1, clock.elapsed(), "loading the pose detector"))
        detector = make_detector(perception)
    clock.add("load", time.perf_counter() - t)
    report(Progress("load", 1, 1, clock.elapsed(), f"body model: {body.mesh.name}"))

    def detect_progress(done: int, total: int, message: str) -> None:
        report(Progress("detect", done, total, clock.elapsed(), message))

    # the camera's turns are read from the frames the detection pass decodes (camera_pass)
    follower = None
    if options.camera_motion:
        from .camera_pass import CameraFollower

        known_focal = _focal_px(options, info)
        expected = end - start if info.frame_count > 0 or options.end is not None else 0
        follower = CameraFollower(intrinsics(info.width, info.height, known_focal), expected,
                                  known_focal)
    try:
        per_frame = detect_people(info, start, end, detector, perception, detect_progress,
                                  stop, clock.stages, on_final=follower)
    finally:
        if owns_detector:
            detector.close()
    camera = None
    if follower is not None:
        clock.add("camera", follower.seconds)
        camera = follower.reading()

    report(Progress("track", 0, 1, clock.elapsed(), "linking people across frames"))
    t = time.perf_counter()
    dets = track(per_frame, perception.tracking, info.fps)
    job_store.save_tracks(out_dir, dets)
    clock.add("track", time.perf_counter() - t)
    num_people = dets.num_people
    report(Progress("track", 1, 1, clock.elapsed(), f"{num_people} people tracked"))
    if num_people == 0:
        raise NoPersonFoundError(
            f"no person found in frames {start}-{start + len(per_frame) - 1} of "
            f"{Path(options.video).name}: nobody was seen for long enough (half a second, or "
            "over half of a shorter range). Try a range where people are fully visible, or "
            "tiling 'on' for small people.")

    result, fits = solve_tracks(options, info, dets, (body, generative), device, clock, report,
                                stop, on_person, camera)
    return JobSummary(result_path=out_dir / RESULT_NAME, num_people=num_people,
                      num_frames=len(per_frame), elapsed_s=clock.elapsed(),
                      stage_seconds=dict(clock.stages),
                      reprojection_px=[f.fit.reprojection_px for f in fits], result=result)


def solve_tracks(options: JobOptions, info: Any, dets: Tracks,
                 models: tuple[Any, tuple[Any, Any] | None], device: str = "cpu",
                 clock: _Clock | None = None, report: ProgressFn | None = None,
                 stop: StopFn | None = None, on_person: PersonFn | None = None,
                 camera: CameraReading | None = None
                 ) -> tuple[JobResult, list[_PersonFit]]:
    """Everything a job does after tracking, into ``options.out_dir`` (which holds the
    tracks): the camera's turns (and, without the artist's lens, the focal length they tell),
    each person's solve, sizing on the floor, then :func:`finish`. Returns the result (also
    written as the folder's result file) and the per-person fits. Benchmarks that make their
    own tracks (synthetic people) call this so they measure exactly the product's steps.
    ``camera``: the camera's reading made during the detection pass (:mod:`.camera_pass`);
    without it (or when it does not cover these frames) the clip is decoded again for it."""
    clock = clock or _Clock()
    report = report or (lambda p: None)
    stop = stop or (lambda: False)
    body, generative = models
    out_dir = Path(options.out_dir)
    # the detection pass's reading was made with the lens (looked up once: the file's metadata)
    known_focal = camera.known_focal_px if camera is not None else _focal_px(options, info)
    K = intrinsics(info.width, info.height, known_focal)
    line_frames: dict[int, np.ndarray] = {}  # the vertical lines' frames, met on the way
    camera_rotation, K, focal_px = _camera_rotation(options, info, dets, K, clock, report, stop,
                                                    focal_known=known_focal is not None,
                                                    keep=line_frames, reading=camera)
    scene_lines = None  # the vertical lines, when they were read before the solve
    if (known_focal is None and camera_rotation is None and focal_px is None
            and np.array_equal(K, intrinsics(info.width, info.height))):
        K, scene_lines = _focal_from_the_scene(options, info, dets, K, line_frames, clock,
                                               report)
    frames_K = K if focal_px is None else frame_intrinsics(K, focal_px, len(focal_px))
    fits = _fit_people(body, options, generative, dets, frames_K, float(info.fps), device,
                       clock, report, stop, on_person)
    if generative is not None:
        job_store.save_stage1(out_dir, [f.stage1 for f in fits])

    report(Progress("save", 0, 1, clock.elapsed(), "writing the result file"))
    t = time.perf_counter()
    solve = _assemble(options, info, K, body, dets, fits)
    solve.camera_rotation = camera_rotation
    solve.camera_focal_px = focal_px
    # a folder analysed before keeps the lines of its earlier range: found again here
    (out_dir / job_store.BACKGROUND_FILE).unlink(missing_ok=True)
    if scene_lines is not None:  # the same frames and boxes as the solve's: kept as they are
        job_store.save_background_lines(out_dir, scene_lines)
        lines = scene_lines
    else:
        lines = job_background_lines(out_dir, solve, line_frames)
    del line_frames
    stage1 = [f.stage1 for f in fits] if generative is not None else None
    if options.estimate_shape:
        _size_on_the_floor(solve, body, lines, out_dir, stage1)
    if options.person_height_m:
        _size_to_known_height(solve, body, float(options.person_height_m), out_dir, stage1)
    save_result(solve, out_dir / job_store.SOLVE_FILE)
    result = finish(solve, options, lines)
    path = save_result(result, out_dir / RESULT_NAME)
    clock.add("save", time.perf_counter() - t)
    report(Progress("save", 1, 1, clock.elapsed(), str(path)))
    return result, fits


def finish(solve: JobResult, options: JobOptions,
           lines: BackgroundLines | None = None) -> JobResult:
    """The world-space steps over a solve (the refined bodies in the camera frame): the pose's
    tremor smoothed out, depth smoothed over time, the floor, foot contacts, feet locked,
    world trajectories. Returns a
    new result; ``solve`` is left as it was (a re-run on part of a track finishes it again).
    ``lines``: the background's vertical segments (:func:`job_background_lines`); None reads
    them from the video again."""
    result = copy.deepcopy(solve)
    _smooth_pose(result, options.pose_smoothing_s)
    _smooth_depth(result, options.depth_smoothing_s)
    ground, result.foot_contact = _ground_and_contacts(result, lines)
    result.ground_plane = None if ground is None else ground.as_array()
    if options.foot_locking and ground is not None:
        _lock_feet(result, ground, options.contact_threshold)
    if ground is not None:
        result.root_world, result.support_height = _world_fields(result, ground)
    return result


def _focal_from_the_scene(options: JobOptions, info: Any, dets: Tracks, K: np.ndarray,
                          line_frames: dict[int, np.ndarray], clock: _Clock,
                          report: ProgressFn) -> tuple[np.ndarray, BackgroundLines | None]:
    """A fixed camera whose lens nobody gave: ``K``, or ``K`` with the focal length its
    vertical edges and its people's horizon say when that is far from the guess
    (:mod:`genhmr.focal_from_horizon`); and the background's vertical lines, read here from the
    tracks' frames and boxes (what the solve's would be) for the finish to reuse. Reading
    them costs what it would have cost after the solve."""
    from types import SimpleNamespace

    from .focal_from_horizon import focal_from_horizon
    from .vertical_lines import background_lines

    t = time.perf_counter()
    footage = SimpleNamespace(  # a vertical_lines.PeopleInFootage: what the solve's would be
        source_video=str(Path(options.video).resolve()), frame_indices=dets.frame_indices,
        boxes=dets.boxes, valid=dets.valid, camera_rotation=None, camera_focal_px=None,
        camera_K=K)
    lines = background_lines(footage, frames=line_frames)
    found = None if lines is None else focal_from_horizon(dets, lines, K)
    if options.camera_motion:  # the footage's camera was read: its stage (off: no such stage)
        clock.add("camera", time.perf_counter() - t)
    if found is None:
        return K, lines
    log.info("focal length from the vertical edges and the people's horizon: %.0f px (rows "
             "%.0f and %.0f, pitch %.1f deg); the guess %.0f px %s", found.focal_px,
             found.vanishing_row, found.horizon_row, found.pitch_deg, K[0, 0],
             "replaced" if found.believed else "kept (within the estimate's accuracy)")
    if not found.believed:
        return K, lines
    report(Progress("camera", len(dets.frame_indices), len(dets.frame_indices),
                    clock.elapsed(), f"focal length {found.focal_px:.0f} px, from the vertical "
                    "edges and the people's horizon"))
    return intrinsics(info.width, info.height, found.focal_px), lines


def _focal_px(options: JobOptions, info: Any) -> float | None:
    """The lens, when it is known: the artist's ``focal_px``, else their ``lens_35mm`` in this
    video's pixels, else the 35 mm-equivalent lens the camera wrote into the file (iPhones:
    ``genhmr.video_metadata``); None when nobody says (the turns or the default decide)."""
    if options.focal_px:
        return float(options.focal_px)
    if options.lens_35mm:
        return focal_from_35mm(options.lens_35mm, info.width, info.height)
    from .video_metadata import lens_35mm

    written = lens_35mm(options.video)
    if written is not None:
        log.info("focal length: %.0f mm (35 mm equivalent), from the file's metadata", written)
        return focal_from_35mm(written, info.width, info.height)
    return None


def _camera_rotation(options: JobOptions, info: Any, dets: Tracks, K: np.ndarray,
                     clock: _Clock, report: ProgressFn, stop: StopFn, focal_known: bool = False,
                     keep: dict[int, np.ndarray] | None = None,
                     reading: CameraReading | None = None
                     ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """How the camera turned over the job's frames (people masked out by their tracked boxes),
    or None for a fixed camera (turned less than ``STILL_TOLERANCE_DEG`` over the job) or when
    the option is off; the intrinsics to solve with (the first frame's): ``K``, or, when the
    lens is not known (``focal_known``: the artist's or the file's) and the camera turned
    enough to tell, ``K`` with the focal length the turns say (:mod:`genhmr.focal_from_turns`;
    the turns then read again with it); and each frame's focal length (F,) when the lens
    zoomed (:mod:`genhmr.camera_motion`), else None. ``keep``: filled with the grey frames
    the background's vertical lines will look at (``vertical_lines.line_rows``), so that they
    need not decode the clip again. ``reading``: the detection pass's reading
    (:mod:`.camera_pass`), used when it covers these frames through ``K``; else the clip is
    decoded again."""
    if not options.camera_motion:
        return None, K, None
    num_frames = len(dets.frame_indices)
    report(Progress("camera", 0, num_frames, clock.elapsed(), "camera motion"))
    t = time.perf_counter()
    if (reading is not None and reading.num_frames == num_frames
            and np.array_equal(reading.K, np.asarray(K, dtype=np.float64))):
        motion = reading.motion
        if keep is not None:
            keep.update(reading.line_frames)
    else:
        motion = _read_camera(options, info, dets, K, clock, report, stop, keep)
    still = motion.is_still()
    if not still and not focal_known:
        from .focal_from_turns import refocused

        motion, K, found = refocused(motion, K)
        if found is not None and found.believed:
            report(Progress("camera", num_frames, num_frames, clock.elapsed(),
                            f"focal length {found.focal_px:.0f} px, from the camera's turns"))
    clock.add("camera", time.perf_counter() - t)
    zoom = motion.zooms()
    report(Progress("camera", num_frames, num_frames, clock.elapsed(),
                    ("fixed camera" if still
                     else f"the camera turned up to {motion.angles_deg().max():.1f} deg")
                    + (f", the lens zoomed {zoom.min():.2f}-{zoom.max():.2f}x"
                       if motion.zoomed else "")))
    if motion.num_frames != num_frames:
        return None, K, None  # the video ended early: the detections decide the frames
    focal_px = motion.focal_px(K).astype(np.float32) if motion.zoomed else None
    if still:
        return None, K, focal_px  # no turn; a zoom on a tripod still zooms
    return motion.rotations.astype(np.float32), K, focal_px


def _read_camera(options: JobOptions, info: Any, dets: Tracks, K: np.ndarray, clock: _Clock,
                 report: ProgressFn, stop: StopFn,
                 keep: dict[int, np.ndarray] | None) -> CameraMotion:
    """The camera's motion over the tracks' frames, decoding them again (people masked out by
    their tracked boxes); ``keep`` as :func:`_camera_rotation`'s."""
    from .camera_pass import CameraFollower

    num_frames = len(dets.frame_indices)
    first = int(dets.frame_indices[0])
    follower = CameraFollower(K, num_frames if keep is not None else 0)
    try:
        for i, (_, frame) in enumerate(read_frames(options.video, first, first + num_frames,
                                                   info)):
            if stop():
                raise JobCancelled()
            if i % 25 == 0:
                report(Progress("camera", i, num_frames, clock.elapsed(), "camera motion"))
            follower.add(frame, dets.boxes[dets.valid[:, i], i])
    except VideoError as exc:
        raise InputVideoError(str(exc)) from exc
    reading = follower.reading()
    if reading is None:
        raise InputVideoError(f"no frames could be decoded from {options.video}")
    if keep is not None:
        keep.update(reading.line_frames)
    return reading.motion


def _smooth_depth(result: JobResult, sigma_s: float) -> None:
    """Move each person along their viewing rays to a depth smoothed over time
    (``genhmr_core.root_depth``), in place: the whole body shifts with the pelvis.

    The depth is smoothed over the frames the person was seen in. Frames the method solved
    without seeing them (the generative method's bridges across gaps) move with the seen
    frames on either side: their shift is interpolated across the gap. Left where they were,
    a bridge no longer met its ends once those moved (a 24 cm pelvis step into the frame after
    a 4-frame gap of demo.mp4, ``tests/backend/test_server.py``'s merge)."""
    from genhmr_core.gaps import gap_ends, solved_frames
    from genhmr_core.root_depth import DepthSmoothing, smooth_depth, visibility_weights

    if not sigma_s > 0:
        return
    config = DepthSmoothing(sigma_s=float(sigma_s))
    for p in range(result.num_people):
        valid = np.asarray(result.valid[p], dtype=bool)
        if not valid.any():
            continue
        root = result.transl[p] + result.rest_joints[p, 0]
        shift = (smooth_depth(root, valid, result.fps,
                              visibility_weights(result.keypoints2d[p]), config)
                 - root).astype(np.float32)
        bridged = solved_frames(valid, result.method) & ~valid
        if bridged.any():
            before, after, weight = gap_ends(valid)
            across = ((1.0 - weight)[:, None] * shift[before]
                      + weight[:, None] * shift[after]).astype(np.float32)
            shift[bridged] = across[bridged]
        result.transl[p] += shift
        result.joints3d[p] += shift[:, None]
        result.keypoints3d[p] += shift[:, None]


def _smooth_pose(result: JobResult, sigma_s: float) -> None:
    """Each person's pelvis and bone orientations smoothed over time, in place, with the
    joints and keypoints that follow (``genhmr_core.pose_smoothing``); over the frames solved
    (detected, or bridged across a short gap), so a gap's blend is smoothed with its ends."""
    from genhmr_core.gaps import solved_frames
    from genhmr_core.pose_smoothing import smooth_pose

    if not sigma_s > 0:
        return
    for p in range(result.num_people):
        solved = solved_frames(np.asarray(result.valid[p], dtype=bool), result.method)
        if solved.sum() < 2:
            continue
        orient, body_pose, joints, keypoints = smooth_pose(
            result.rest_joints[p], result.global_orient[p], result.body_pose[p],
            result.transl[p], result.keypoints3d[p], solved, result.fps, sigma_s,
            result.camera_rotation)
        result.global_orient[p] = orient
        result.body_pose[p] = body_pose
        result.joints3d[p] = joints
        result.keypoints3d[p] = keypoints


def _lock_feet(result: JobResult, ground: Ground, threshold: float) -> None:
    """Pin planted feet in the world, on the level they rest on (``genhmr_core.foot_lock``), in
    place: the legs' local rotations, the joints and the keypoints change, and the root along
    the camera's ray where a foot is pinned; nothing else does."""
    from genhmr_core.foot_lock import FootLockConfig, lock_feet

    if result.foot_contact is None:
        return
    config = FootLockConfig(threshold=float(threshold))
    for p in range(result.num_people):
        body_pose, transl, joints, keypoints = lock_feet(
            result.rest_joints[p], result.global_orient[p], result.body_pose[p],
            result.transl[p], result.keypoints3d[p], result.foot_contact[p], result.valid[p],
            result.fps, result.camera_rotation, config, ground,
            keypoints2d=_steady_keypoints(result, p))
        result.body_pose[p] = body_pose
        result.transl[p] = transl
        result.joints3d[p] = joints
        result.keypoints3d[p] = keypoints


def _steady_keypoints(result: JobResult, p: int) -> np.ndarray:
    """Person ``p``'s detected 2D keypoints turned back into the first frame's camera
    (``genhmr_core.contacts.steady_pixels``): a foot that stays put in the world stays put in
    these pixels while the camera turns or zooms."""
    from genhmr_core.contacts import steady_pixels

    return steady_pixels(result.keypoints2d[p], _lens(result), result.camera_rotation)


def _ground_and_contacts(result: JobResult, lines: BackgroundLines | None
                         ) -> tuple[Ground | None, np.ndarray | None]:
    """The floor under the people (a ``genhmr_core.ground.Ground``, world frame), and each
    foot's contact probability (``genhmr_core.contacts``); (None, None) when nobody's feet were
    solved or no floor below the camera was seen."""
    from genhmr_core.contacts import foot_contacts
    from genhmr_core.scene_space import to_world_axes

    if not result.valid.any():
        return None, None
    ground = _ground(result, lines)
    if not ground.estimated:
        return None, None
    contacts = np.stack([foot_contacts(to_world_axes(result.keypoints3d[p],
                                                     result.camera_rotation),
                                       result.keypoints2d[p], result.valid[p],
                                       result.fps, ground, camera_K=_lens(result),
                                       camera_rotation=result.camera_rotation)
                         for p in range(result.num_people)])
    return ground, contacts


def _lens(result: JobResult) -> np.ndarray:
    """``camera_K``, or each frame's intrinsics (F, 3, 3) when the lens zoomed."""
    return result.camera_K if result.camera_focal_px is None else result.intrinsics()


def _ground(result: JobResult, lines: BackgroundLines | None,
            valid: np.ndarray | None = None) -> Ground:
    """The floor under the people's feet (those of ``valid``, default every valid
    person-frame), its tilt from the background's vertical lines where they tell it
    (``ground.estimated`` False: nobody's feet were known)."""
    vertical = _background_up(result, lines)
    ground = ground_of_solve(result.keypoints3d, result.global_orient,
                             result.valid if valid is None else valid,
                             result.camera_rotation,
                             background_up=None if vertical is None else vertical.up,
                             fps=result.fps)

    def tilt_deg(up: np.ndarray) -> float:
        return float(np.degrees(np.arccos(np.clip(-up[1], -1.0, 1.0))))

    if ground.tilt_from == "background" and vertical is not None:
        source = f"{vertical.inliers} vertical lines, {vertical.prior_deg:.1f} deg from the prior"
    else:
        source = {"people": "the people", "feet": "the feet's plane"}.get(
            ground.tilt_from, "the camera, level")
        if vertical is not None:  # lines that were not taken
            source += f"; {vertical.inliers} vertical lines said {tilt_deg(vertical.up):.1f} deg"
    log.info("ground: camera %.2f m above the floor, tilted %.1f deg (from %s); support "
             "levels %s m (%s person-frames)", ground.camera_height, tilt_deg(ground.normal),
             source, [round(h, 2) for h in ground.levels], ground.support)
    return ground


def _size_on_the_floor(solve: JobResult, body: Any, lines: BackgroundLines | None,
                       job_dir: Path, stage1: list[job_store.PersonStage1] | None) -> None:
    """Each person's size from the floor they share with the others
    (``genhmr.floor_sizing``), in place, before the world-space steps find the floor again
    under the sized bodies; stage 1 is resized with them (and kept again in the job folder), so
    a re-run refines the sized body. Nothing changes with fewer than two people on the
    floor."""
    from .floor_sizing import size_people_on_the_floor

    if solve.num_people < 2 or not solve.valid.any():
        return
    ground = _ground(solve, lines)
    if not ground.estimated:
        return
    applied = size_people_on_the_floor(solve, body, ground,
                                       None if stage1 is None else [s.stage1 for s in stage1])
    if stage1 is not None and any(scale != 1.0 for scale in applied):
        job_store.save_stage1(job_dir, stage1)


def _size_to_known_height(solve: JobResult, body: Any, height_m: float, job_dir: Path,
                          stage1: list[job_store.PersonStage1] | None) -> None:
    """Everybody scaled about the camera by one factor, in place, so that the main person (seen
    in the most frames; of those, the tallest in the picture) stands ``height_m`` tall: the
    artist's known height wins over the size the bone lengths and the floor give, as their lens
    wins over the estimated one. One factor keeps the picture and the sizes relative to each
    other (and so the shared floor), and moves the floor and the camera's height with them.
    Stage 1 is scaled too, so a re-run keeps the size."""
    from .floor_sizing import resize_person, standing_height

    seen = solve.valid.sum(axis=1)
    if not seen.any():
        return
    tall_px = [float(np.median(np.diff(solve.boxes[p, solve.valid[p]][:, 1::2], axis=1)))
               if seen[p] else 0.0 for p in range(solve.num_people)]
    main = max(range(solve.num_people), key=lambda p: (int(seen[p]), tall_px[p]))
    scale = height_m / standing_height(body, solve.betas[main], solve.body_scales()[main])
    for p in range(solve.num_people):
        resize_person(solve, p, body, scale, None if stage1 is None else stage1[p].stage1)
    log.info("known height: person %d is %.2f m, everybody x%.3f", main, height_m, scale)
    if stage1 is not None:
        job_store.save_stage1(job_dir, stage1)


def size_like_the_others(solve: JobResult, person: int, body: Any, stage1: Any | None,
                         leaving: int | None = None) -> None:
    """One person solved again (a merge) given the size everybody else has, in place, with
    their stage-1 output when given: when shape estimation is off but the artist gave a
    height (``_size_to_known_height``), everybody shares that one scale and no floor sized
    anybody. ``leaving``: a person about to be removed, left out."""
    from .floor_sizing import resize_person

    sizes = solve.body_scales()
    others = [q for q in range(solve.num_people) if q not in (person, leaving)]
    if not others:
        return
    scale = float(np.median(sizes[others])) / float(sizes[person])
    if abs(scale - 1.0) < 1e-9:
        return
    resize_person(solve, person, body, scale, stage1)


def size_against_the_others(solve: JobResult, person: int, body: Any,
                            lines: BackgroundLines | None, stage1: Any | None,
                            leaving: int | None = None) -> None:
    """One person solved again (a merge) sized to stand on the floor the other people of the
    job stand on (they were sized together by the job, ``_size_on_the_floor``), in place, with
    their stage-1 output (``generative.Stage1``) when given. ``leaving``: a person about to be
    removed (the merged one), left out of the floor. Nothing changes when nobody else's feet
    tell a floor."""
    from .floor_sizing import size_person_on_the_floor

    others = solve.valid.copy()
    others[person] = False
    if leaving is not None:
        others[leaving] = False
    if not others.any():
        return
    ground = _ground(solve, lines, others)
    if not ground.estimated:
        return
    size_person_on_the_floor(solve, person, body, ground, stage1)


def _background_up(result: JobResult, lines: BackgroundLines | None) -> Vertical | None:
    """The world's up from the vertical edges behind the people (``genhmr.vertical_lines``),
    checked against the prior: the people's up, or the camera's own up when the people give
    none. None when the background does not tell it (the floor then takes the people's tilt).
    ``lines`` None: read from the video again."""
    from genhmr_core.ground import UP, up_of_bodies
    from genhmr_core.vertical import PEOPLE_PRIOR_DEG, VerticalConfig

    from .vertical_lines import background_lines, up_from_lines

    if lines is None:
        lines = background_lines(result)
    if lines is None:
        return None
    prior = up_of_bodies(result.global_orient, result.valid, result.camera_rotation,
                         keypoints3d=result.keypoints3d, fps=result.fps)
    if prior is None:
        return up_from_lines(lines, result.camera_K, UP)
    return up_from_lines(lines, result.camera_K, prior,
                         VerticalConfig(max_prior_deg=PEOPLE_PRIOR_DEG))


def job_background_lines(job_dir: Path, solve: JobResult,
                         frames: dict[int, np.ndarray] | None = None) -> BackgroundLines | None:
    """The background's vertical segments of a job: kept in its folder, else found in
    ``frames`` (job row -> frame, as the camera-motion pass keeps them) or read from the
    video (``solve``'s frames and people's boxes) and kept there for the next finish. None
    when the video cannot be read (nothing is kept: the next finish tries again)."""
    from .vertical_lines import background_lines

    lines = job_store.load_background_lines(job_dir)
    if lines is None:
        lines = background_lines(solve, frames=frames)
        if lines is not None:
            job_store.save_background_lines(job_dir, lines)
    return lines


def _world_fields(result: JobResult, ground: Ground) -> tuple[np.ndarray, np.ndarray]:
    """Each person's pelvis in the scene's world frame (as the add-on places the rigs:
    ``genhmr_core.scene_space``) and the height of the level they stand on, per frame; for
    readers other than Blender that want world-space trajectories."""
    from genhmr_core import scene_space
    from genhmr_core.contacts import support_heights
    from genhmr_core.ground import lowest_foot_heights

    turn = scene_space.scene_rotations(result.camera_rotation, ground.normal, result.num_frames)
    roots = np.stack([scene_space.camera_to_world(result.transl[p] + result.rest_joints[p, 0],
                                                  ground.camera_height, turn)
                      for p in range(result.num_people)])
    support = np.stack([support_heights(lowest_foot_heights(result.keypoints3d[p],
                                                            result.camera_rotation, ground),
                                        ground.levels) for p in range(result.num_people)])
    seen = result.valid
    return (np.where(seen[..., None], roots, 0.0).astype(np.float32),
            np.where(seen, support, 0.0).astype(np.float32))


@dataclasses.dataclass
class _PersonFit:
    fit: Any  # fitting.FitResult over all job frames
    betas: np.ndarray  # (B,)
    rest_joints: np.ndarray  # (J, 3)
    stage1: Any = None  # job_store.PersonStage1 (generative method)


class Models:
    """The body and generative models, loaded once and reused by later jobs and re-runs with
    the same settings (the server keeps one, so a re-run on a range pays no start-up)."""

    def __init__(self) -> None:
        self._body: dict[tuple[str, str], Any] = {}
        self._generative: dict[str, tuple[Any, Any]] = {}

    def get(self, options: JobOptions) -> tuple[Any, tuple[Any, Any] | None]:
        """(body, (transformer, tokenizer) or None for the fit method)."""
        key = (options.smplx_dir, options.smplx_gender)
        if key not in self._body:
            self._body = {key: load_body(*key)}  # one body at a time: they are large
        generative = None
        if options.method == "generative":
            if options.checkpoint not in self._generative:
                self._generative = {options.checkpoint: _load_generative(options)}
            generative = self._generative[options.checkpoint]
        return self._body[key], generative


def _load_generative(options: JobOptions) -> tuple[Any, Any] | None:
    """(transformer, tokenizer) for the generative method, else None."""
    if options.method != "generative":
        return None
    from .generative import CheckpointError, load_generative

    try:
        return load_generative(options.checkpoint)
    except CheckpointError as exc:
        raise JobError(str(exc)) from exc


def _fit_people(body: Any, options: JobOptions, generative: tuple[Any, Any] | None,
                dets: Tracks, K: np.ndarray, fps: float, device: str, clock: _Clock,
                report: ProgressFn, stop: StopFn, on_person: PersonFn | None
                ) -> list[_PersonFit]:
    """Shape, then pose, of every track over the span of frames where it appears, by the
    fitting baseline or, given ``generative`` models, the generative method (same result).
    ``K``: (3, 3), or (F, 3, 3) for a lens that zoomed."""
    from .camera import landmarks_in_camera_axes
    from .fitting import FitConfig, estimate_betas, fit_track

    num_people = dets.valid.shape[0]
    fits = []
    for p in range(num_people):
        stage1 = None
        if stop():
            raise JobCancelled()
        report(Progress("fit", p, num_people, clock.elapsed(), f"person {p + 1}/{num_people}"))
        t = time.perf_counter()
        seen = np.flatnonzero(dets.valid[p])
        span = slice(int(seen[0]), int(seen[-1]) + 1)
        kp2d, world, valid = (dets.keypoints2d[p, span], dets.world_keypoints[p, span],
                              dets.valid[p, span])
        track_K = K if K.ndim == 2 else K[span]  # a zooming lens: the span's own frames
        if generative is not None:
            fit, betas, first = solve_generative_track(body, options, generative, kp2d, world,
                                                       valid, track_K, stop, fps)
            stage1 = job_store.PersonStage1(span=(span.start, span.stop), stage1=first)
            skeleton = body.skeleton(betas)
        else:
            betas = np.zeros(body.num_betas)
            if options.estimate_shape:
                shape = estimate_betas(body, world, kp2d[..., 2] * valid[:, None])
                betas = shape.betas
                log.info("person %d shape %s (bone lengths within %.1f %%)", p,
                         np.round(betas, 2).tolist(), 100 * shape.relative_error)
            skeleton = body.skeleton(betas)
            world_cam = landmarks_in_camera_axes(world, kp2d, track_K)  # fit in camera axes
            try:
                fit = fit_track(skeleton, kp2d, world_cam, valid, track_K,
                                FitConfig(device=device),
                                should_stop=stop)
            except InterruptedError as exc:
                raise JobCancelled() from exc
        fits.append(_PersonFit(fit=_extend_to_all_frames(fit, span, dets.valid.shape[1]),
                               betas=np.asarray(betas, dtype=np.float64),
                               rest_joints=skeleton.rest_joints.cpu().numpy(), stage1=stage1))
        clock.add("fit", time.perf_counter() - t)
        if on_person is not None:
            on_person(p, dets.valid[p].sum().item())
    report(Progress("fit", num_people, num_people, clock.elapsed(), "done"))
    return fits


def solve_generative_track(body: Any, options: JobOptions, generative: tuple[Any, Any],
                           kp2d: np.ndarray, world: np.ndarray, valid: np.ndarray,
                           K: np.ndarray, stop: StopFn, fps: float | None = None
                           ) -> tuple[Any, np.ndarray, Any]:
    """One track's frames through the generative method as the job's options say: (the
    ``FitResult`` over those frames, the betas, stage 1's output for the job folder). Used by
    the job and by a merge that solves a joined track again (``people_edits``)."""
    from .generative import GenerativeConfig, observations, refine_track, sample_track
    from .models.refinement import RefinementConfig

    config = GenerativeConfig(refinement=RefinementConfig(steps=options.refine_steps))
    fixed = generative_betas(body, options, kp2d, world, valid)
    obs = observations(kp2d, world, valid, K)
    try:
        first = sample_track(*generative, body, fixed, obs, K, config, stop, fps=fps)
        fit, betas = refine_track(generative[1], body, first, obs, K, config.refinement,
                                  should_stop=stop)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    return fit, betas, first


def generative_betas(body: Any, options: JobOptions, kp2d: np.ndarray, world: np.ndarray,
                      valid: np.ndarray) -> np.ndarray:
    """The shape the generative method uses: from the bone lengths of the detector's metric
    landmarks, as in the fit (zeros with shape estimation off).

    The transformer also predicts a shape, and on synthetic detections of the default body it
    is the better one (held-out MPJPE 99 mm against 120 with bone lengths), but on real
    footage it makes people larger than they are: on Pose2Sim (cam01, cam04) the bodies came
    out 7 % further away than bone lengths put them, MPJPE 150 mm against 135 mm, the pelvis
    15 % of the distance off against 11 % (docs/BENCHMARKS.md). Real footage decides. A user's
    SMPL-X body has a shape space the model does not know anyway.
    """
    from .fitting import estimate_betas

    if not options.estimate_shape:
        return np.zeros(body.num_betas)
    return estimate_betas(body, world, kp2d[..., 2] * valid[:, None]).betas


def _extend_to_all_frames(fit: Any, span: slice, num_frames: int) -> Any:
    """Pad a fit over ``span`` to all job frames by holding its first/last frame (those frames
    are marked invalid in the result; holding keeps every array finite)."""
    before, after = span.start, num_frames - span.stop
    fields = {}
    for field in dataclasses.fields(fit):
        value = getattr(fit, field.name)
        if isinstance(value, np.ndarray):
            value = np.concatenate([np.repeat(value[:1], before, 0), value,
                                    np.repeat(value[-1:], after, 0)])
        fields[field.name] = value
    return type(fit)(**fields)


def _assemble(options: JobOptions, info: Any, K: np.ndarray, body: Any, dets: Tracks,
              fits: list[_PersonFit]) -> JobResult:
    num_people = len(fits)

    def stack(name: str) -> np.ndarray:
        return np.stack([getattr(f.fit, name) for f in fits]).astype(np.float32)

    conf = stack("joint_confidence") * dets.valid[..., None]
    has_uncertainty = all(f.fit.joint_uncertainty is not None for f in fits)
    return JobResult(
        source_video=str(Path(options.video).resolve()),
        fps=float(info.fps),
        image_size=np.array([info.width, info.height], dtype=np.int64),
        camera_K=K.astype(np.float32),
        frame_indices=dets.frame_indices,
        track_ids=np.arange(num_people, dtype=np.int64),
        valid=dets.valid,
        rest_joints=np.stack([f.rest_joints for f in fits]).astype(np.float32),
        betas=np.stack([f.betas for f in fits]).astype(np.float32),
        global_orient=stack("global_orient"),
        body_pose=stack("body_pose").reshape(num_people, -1, NUM_BODY_JOINTS, 3),
        transl=stack("transl"),
        joints3d=stack("joints3d").reshape(num_people, -1, NUM_JOINTS, 3),
        joint_confidence=conf.astype(np.float32),
        keypoints2d=dets.keypoints2d,
        keypoints3d=stack("keypoints3d"),
        boxes=dets.boxes,
        detector_landmarks2d=dets.landmarks2d,
        detector_world_landmarks=dets.world_landmarks,
        body_model=body.name,
        method=options.method,
        backend_version=__version__,
        body=body.mesh,
        joint_uncertainty=stack("joint_uncertainty") if has_uncertainty and fits else None,
    )
