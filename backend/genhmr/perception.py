"""Perception: a frame range of a video -> people in every frame -> one track per person.

This is everything a job does before any 3D body exists, and the part the real-footage tracking
benchmark (``tools/bench_tracking.py``) measures on its own:

1. **detect** every person in every frame (:func:`detect_people`), with the detector chosen by
   :class:`PerceptionConfig` (``"boxes"``, the default: a person-box detector, then the
   BlazePose landmark model in each person's region, followed from frame to frame;
   ``"blazepose"``: MediaPipe's own multi-person landmarker on the frame and on tiles, kept for
   comparison), and describe each person's appearance (colour statistics of the torso and
   legs) while the frame is at hand, for the offline stitching; and **backfill** in the same
   pass: follow each person backwards from the frame where the detector first found them
   (:class:`Backfill`) - the box detector runs only every few frames, and it finds a person
   late who steps out from behind something or lands from a jump;
2. **track**: link detections into tracklets online, cut a tracklet where its clothes change
   for good (the tracker slid onto someone else), then join tracklets that belong to one
   person and drop implausible ones using the whole clip (:mod:`genhmr.tracking`);
3. pack the tracks into ``(P, F, ...)`` arrays (:class:`Tracks`), and give each person the
   same left and right in every frame (:func:`consistent_sides`): the detector now and then
   takes a person seen from the front for one seen from the back for a few frames, and every
   3D method would turn them round and back.

Pure of torch: it runs in the backend process but needs only numpy, OpenCV and the detectors.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_core.keypoints import NUM_KEYPOINTS, NUM_MEDIAPIPE, mediapipe_to_keypoints_index
from genhmr_core.side_consistency import side_swaps, swap_sides

from .boxes import box_iou
from .detection.tiling import keypoint_overlap
from .errors import DetectorModelError, InputVideoError, JobCancelled
from .tracking import FrameDetections, TrackingConfig, describe_appearance, track_people
from .video import VideoError, VideoInfo, probe, read_frames, resolve_range

log = logging.getLogger(__name__)

DETECTORS = ("boxes", "blazepose")

DetectProgressFn = Callable[[int, int, str], None]  # (frames done, frames total, message)
StopFn = Callable[[], bool]
# (a frame's detections, that frame as decoded): called once nothing can change them any more
FinalFrameFn = Callable[[FrameDetections, np.ndarray], None]


@dataclasses.dataclass
class PerceptionConfig:
    """Which detector, how it looks for small people, and how tracks are linked."""

    detector: str = "boxes"
    tiling: str = "auto"
    max_people: int = 6
    backfill_s: float = 0.5  # how far back to follow a person from where they were found
    # the "boxes" detector's person-box model (None: the shipped int8 one); for evaluating
    # another, e.g. the float one (person_boxes.FLOAT_MODEL_PATH; bench_tracking --box-model)
    box_model: str | None = None
    tracking: TrackingConfig = dataclasses.field(default_factory=TrackingConfig)


@dataclasses.dataclass
class Tracks:
    """Tracked detector output, person-major: ``(P, F, ...)`` over the job's F frames."""

    frame_indices: np.ndarray  # (F,) video frame index of each job frame
    valid: np.ndarray  # (P, F) bool: the person was detected in that frame
    # What the 3D stage reads: the detector's keypoints with left and right kept consistent
    # over each track (genhmr_core.side_consistency; the frames where the detector took a
    # person seen from the front for one seen from the back get their sides swapped)
    keypoints2d: np.ndarray  # (P, F, K, 3) COCO-style keypoints, pixels + confidence
    world_keypoints: np.ndarray  # (P, F, K, 3) the detector's metric 3D keypoints
    boxes: np.ndarray  # (P, F, 4) x0, y0, x1, y1 pixels
    landmarks2d: np.ndarray  # (P, F, 33, 3) the detector's own landmarks, as it gave them
    world_landmarks: np.ndarray  # (P, F, 33, 3)

    @property
    def num_people(self) -> int:
        return int(self.valid.shape[0])


@dataclasses.dataclass
class Perception:
    tracks: Tracks
    seconds: dict[str, float]  # "decode", "detect" (appearance included), "backfill", "track"
    person_frames: int  # detections kept in tracks


def make_detector(config: PerceptionConfig) -> Any:
    """The detector ``config`` asks for; close it (or use it as a context manager) when done.
    Raises :class:`DetectorModelError` when one of its model files cannot be loaded."""
    if config.detector not in DETECTORS:
        raise ValueError(f"unknown detector {config.detector!r}; available: "
                         f"{', '.join(DETECTORS)}")
    from .detection import PersonPoseDetector, PoseDetector

    try:
        if config.detector == "blazepose":
            return PoseDetector(max_people=config.max_people, tiling=config.tiling)
        return PersonPoseDetector(max_people=config.max_people, tiling=config.tiling,
                                  box_model=config.box_model)
    except RuntimeError as exc:  # a model file missing or damaged: say which, and what to do
        raise DetectorModelError(str(exc)) from exc


def detect_frames(info: VideoInfo, start: int, end: int | None, detector: Any,
                  progress: DetectProgressFn | None = None, should_stop: StopFn | None = None,
                  seconds: dict[str, float] | None = None,
                  backfill_frames: int = 0,
                  on_final: FinalFrameFn | None = None) -> list[FrameDetections]:
    """Decode ``[start, end)`` and detect and describe every person in every frame, following
    people backwards ``backfill_frames`` frames from where they first appear (:class:`Backfill`;
    0: not at all).

    ``on_final`` (if given) is called with each frame, in order, once no backfill walk can add
    to its detections any more (``backfill_frames`` frames later, or at the end), with the frame
    as decoded: work that needs every frame and its people (the camera's motion) is done on
    the way instead of decoding the clip again. Its time is not counted in ``seconds``.

    ``seconds`` (if given) accumulates "decode", "detect" and "backfill" times. Raises
    :class:`InputVideoError` for undecodable video and :class:`JobCancelled` when
    ``should_stop`` says so (checked between frames).
    """
    stop = should_stop or (lambda: False)
    timing = seconds if seconds is not None else {}
    total = end - start if end is not None else 0
    if info.frame_count > 0:
        last = info.frame_count if end is None else min(end, info.frame_count)
        total = max(last - start, 1)
    out: list[FrameDetections] = []
    behind = Backfill(detector, backfill_frames)
    frames = read_frames(info.path, start, end, info=info)
    last_report = -1.0
    clock = time.perf_counter()
    while True:
        t = time.perf_counter()
        try:
            index, frame = next(frames)
        except StopIteration:
            break
        except VideoError as exc:
            raise InputVideoError(str(exc)) from exc
        timing["decode"] = timing.get("decode", 0.0) + time.perf_counter() - t
        if stop():
            frames.close()
            raise JobCancelled()
        t = time.perf_counter()
        people = detector.detect(frame, timestamp_ms=round(index * 1000.0 / info.fps))
        appearance = [describe_appearance(frame, p.landmarks_px) for p in people]
        timing["detect"] = timing.get("detect", 0.0) + time.perf_counter() - t
        out.append(FrameDetections(index, list(people), appearance))
        t = time.perf_counter()
        final = behind.add(out, frame)
        timing["backfill"] = timing.get("backfill", 0.0) + time.perf_counter() - t
        if on_final is not None:
            for position, final_frame in final:
                on_final(out[position], final_frame)
        now = time.perf_counter() - clock
        if progress is not None and (now - last_report > 0.25 or len(out) == total):
            last_report = now
            progress(len(out), max(total, len(out)), f"frame {index}: {len(people)} people")
    if not out:
        raise InputVideoError(f"no frames could be decoded from {info.path}")
    if on_final is not None:
        for position, final_frame in behind.flush():
            on_final(out[position], final_frame)
    return out


def _same_person(a: Any, b: Any, threshold: float) -> bool:
    iou = float(box_iou(a.box[None], b.box[None])[0, 0])
    return iou >= threshold or keypoint_overlap(a.landmarks_px, b.landmarks_px) >= threshold


class Backfill:
    """Follows people backwards, up to ``max_frames`` frames, from each frame where somebody
    appears who was not in the previous frame (no overlapping detection there).

    The followed person is added to an earlier frame while the landmark model still sees a
    person there and until they meet a detection that frame already has (their own earlier
    track, or somebody else). It works during the detection pass (:meth:`add` after each
    frame), holding the last ``max_frames`` decoded frames: the video is decoded once. Only
    detectors that can follow a person in a given frame (``detector.follow``) take part; with
    others it does nothing.

    Why online gives what a second pass over the finished list gave: whether somebody in frame
    ``n`` is new depends on frames ``n - 1`` and ``n`` only, and no walk has changed them
    when frame ``n`` arrives (a walk from frame ``m`` adds to frames before ``m``); the walks
    then run in the same order (by frame, then by detection).

    A frame leaves the held ones when ``max_frames`` newer frames have come: no walk can reach
    it after that, so its detections are final (:meth:`add` and :meth:`flush` hand such frames
    on, in order)."""

    def __init__(self, detector: Any, max_frames: int) -> None:
        self.follow = getattr(detector, "follow", None)
        self.max_frames = int(max_frames)
        self.recent: collections.deque[tuple[int, np.ndarray]] = collections.deque(
            maxlen=max(self.max_frames, 1))
        self.added = 0  # detections added so far

    def add(self, per_frame: list[FrameDetections],
            frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``per_frame[-1]`` was just detected in ``frame``: follow its newcomers back. Returns
        the frames (position in ``per_frame``, frame) whose detections no walk can change any
        more: the one that left the held frames, or this one when nothing is held."""
        pos = len(per_frame) - 1
        if self.follow is None or self.max_frames < 1:
            return [(pos, frame)]
        if pos > 0:
            before = per_frame[pos - 1].people
            newcomers = [p for p in per_frame[pos].people
                         if not any(_same_person(p, other, 0.3) for other in before)]
            for person in newcomers:  # all found before the first walk adds to ``before``
                self._walk_back(per_frame, person)
        final = [self.recent.popleft()] if len(self.recent) == self.recent.maxlen else []
        self.recent.append((pos, frame))
        return final

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """The frames still held, in order (the clip ended: they are final), and forget them."""
        final = list(self.recent)
        self.recent.clear()
        return final

    def _walk_back(self, per_frame: list[FrameDetections], person: Any) -> None:
        for earlier, earlier_frame in reversed(self.recent):
            found = self.follow(earlier_frame, person)
            target = per_frame[earlier]
            if found is None or any(_same_person(found, other, 0.5) for other in target.people):
                return
            target.people.append(found)
            target.appearance.append(describe_appearance(earlier_frame, found.landmarks_px))
            self.added += 1
            person = found


def detect_people(info: VideoInfo, start: int, end: int | None, detector: Any,
                  config: PerceptionConfig, progress: DetectProgressFn | None = None,
                  should_stop: StopFn | None = None,
                  seconds: dict[str, float] | None = None,
                  on_final: FinalFrameFn | None = None) -> list[FrameDetections]:
    """:func:`detect_frames` with ``config``'s backfill (``backfill_s`` of the clip's frames;
    timed as "backfill" in ``seconds``)."""
    return detect_frames(info, start, end, detector, progress, should_stop, seconds,
                         backfill_frames=round(config.backfill_s * info.fps), on_final=on_final)


DETECTIONS_FORMAT = "genhmr-detections/1"


def save_detections(path: str | Path, per_frame: list[FrameDetections]) -> Path:
    """Write per-frame detections as a versioned ``.npz`` (no pickled objects), atomically.

    The detection stage is the expensive one; keeping its output lets later stages (tracking,
    and the benchmark's tracking experiments) be re-run without detecting again. Layout: the
    people of all frames concatenated, ``counts`` people per frame."""
    from .detection import NUM_LANDMARKS
    from .tracking import APPEARANCE_SIZE

    people = [p for f in per_frame for p in f.people]
    looks = [a for f in per_frame for a in f.appearance]
    n = len(people)
    alignment = np.full((n, 2, 2), np.nan, np.float32)
    for i, p in enumerate(people):
        if p.alignment_px is not None:
            alignment[i] = p.alignment_px
    arrays = {
        "format": np.array(DETECTIONS_FORMAT),
        "frames": np.array([f.frame for f in per_frame], np.int64),
        "counts": np.array([len(f.people) for f in per_frame], np.int64),
        "landmarks_px": np.array([p.landmarks_px for p in people], np.float32).reshape(
            n, NUM_LANDMARKS, 3),
        "world_landmarks": np.array([p.world_landmarks for p in people], np.float32).reshape(
            n, NUM_LANDMARKS, 3),
        "boxes": np.array([p.box for p in people], np.float32).reshape(n, 4),
        "scores": np.array([p.score for p in people], np.float32),
        "sources": np.array([p.source for p in people], dtype="U16").reshape(n),
        "alignment_px": alignment,
        "appearance": np.array(looks, np.float32).reshape(n, APPEARANCE_SIZE),
    }
    path = Path(path)
    partial = path.with_name(path.name + ".part.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(path)
    return path


def load_detections(path: str | Path) -> list[FrameDetections]:
    """Read :func:`save_detections`' file; ``ValueError`` with a clear message if it is not
    one (or is of another format version)."""
    from .detection import PersonDetection

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable detections file: {exc}") from exc
    if str(arrays.get("format", "")) != DETECTIONS_FORMAT:
        raise ValueError(f"{path} is not a {DETECTIONS_FORMAT} file")
    out: list[FrameDetections] = []
    start = 0
    for frame, count in zip(arrays["frames"].tolist(), arrays["counts"].tolist(), strict=True):
        people, looks = [], []
        for i in range(start, start + count):
            alignment = arrays["alignment_px"][i]
            people.append(PersonDetection(
                landmarks_px=arrays["landmarks_px"][i],
                world_landmarks=arrays["world_landmarks"][i], box=arrays["boxes"][i],
                score=float(arrays["scores"][i]), source=str(arrays["sources"][i]),
                alignment_px=None if np.isnan(alignment).any() else alignment))
            looks.append(arrays["appearance"][i])
        out.append(FrameDetections(int(frame), people, looks))
        start += count
    return out


def pack_tracks(per_frame: list[FrameDetections], assignment: list[list[int]],
                num_people: int) -> Tracks:
    """Person-major arrays from per-frame detections and their person index (-1 = dropped)."""
    mp_index = mediapipe_to_keypoints_index()
    num_frames = len(per_frame)
    tracks = Tracks(
        frame_indices=np.array([f.frame for f in per_frame], dtype=np.int64),
        valid=np.zeros((num_people, num_frames), bool),
        keypoints2d=np.zeros((num_people, num_frames, NUM_KEYPOINTS, 3), np.float32),
        world_keypoints=np.zeros((num_people, num_frames, NUM_KEYPOINTS, 3), np.float32),
        boxes=np.zeros((num_people, num_frames, 4), np.float32),
        landmarks2d=np.zeros((num_people, num_frames, NUM_MEDIAPIPE, 3), np.float32),
        world_landmarks=np.zeros((num_people, num_frames, NUM_MEDIAPIPE, 3), np.float32),
    )
    for f, (frame, people_ids) in enumerate(zip(per_frame, assignment, strict=True)):
        for person, p in zip(frame.people, people_ids, strict=True):
            if p < 0:
                continue
            tracks.valid[p, f] = True
            tracks.landmarks2d[p, f] = person.landmarks_px
            tracks.world_landmarks[p, f] = person.world_landmarks
            tracks.keypoints2d[p, f] = person.landmarks_px[mp_index]
            tracks.world_keypoints[p, f] = person.world_landmarks[mp_index]
            tracks.boxes[p, f] = person.box
    return tracks


def track(per_frame: list[FrameDetections], config: TrackingConfig,
          fps: float) -> Tracks:
    """:func:`genhmr.tracking.track_people`, packed into person-major arrays, each track's
    left and right made consistent over time."""
    assignment, num_people = track_people(per_frame, config, fps=fps)
    return consistent_sides(pack_tracks(per_frame, assignment, num_people))


def consistent_sides(tracks: Tracks) -> Tracks:
    """``tracks`` with each person's keypoints given the same left and right in every frame
    (:func:`genhmr_core.side_consistency.side_swaps`), in place; the detector's own landmarks
    are left as it gave them."""
    for p in range(tracks.num_people):
        swapped = side_swaps(tracks.keypoints2d[p], tracks.world_keypoints[p], tracks.valid[p])
        if swapped.any():
            log.info("person %d: left and right swapped back in %d frames", p, swapped.sum())
            tracks.keypoints2d[p], tracks.world_keypoints[p] = swap_sides(
                tracks.keypoints2d[p], tracks.world_keypoints[p], swapped)
    return tracks


def perceive(video: str | Path, start: int = 0, end: int | None = None,
             config: PerceptionConfig | None = None, detector: Any = None,
             progress: DetectProgressFn | None = None,
             should_stop: StopFn | None = None) -> Perception:
    """Detect and track everybody in ``video[start:end]``; see the module docstring.

    ``detector`` reuses a loaded detector (the caller keeps ownership); otherwise one is made
    from ``config`` and closed before returning.
    """
    config = config or PerceptionConfig()
    try:
        info = probe(video)
        start, end = resolve_range(info, start, end)
    except VideoError as exc:
        raise InputVideoError(str(exc)) from exc
    seconds: dict[str, float] = {}
    owns = detector is None
    t = time.perf_counter()
    if owns:
        detector = make_detector(config)
    seconds["load"] = time.perf_counter() - t
    try:
        per_frame = detect_people(info, start, end, detector, config, progress, should_stop,
                                  seconds)
    finally:
        if owns:
            detector.close()
    t = time.perf_counter()
    tracks = track(per_frame, config.tracking, info.fps)
    seconds["track"] = time.perf_counter() - t
    return Perception(tracks=tracks, seconds=seconds, person_frames=int(tracks.valid.sum()))
