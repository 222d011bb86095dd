"""The background's vertical edges in a few frames of the clip, and the world's up they give
(``genhmr_core.vertical``), for the floor's tilt.

Why here and not in ``genhmr_core``: finding line segments needs OpenCV (its Line Segment
Detector, ``cv2.createLineSegmentDetector``), which the add-on does not have; the maths on the
segments is pure numpy in ``genhmr_core.vertical``.

* **Frames**: ``frames`` (8) spread evenly over the job (:func:`line_rows`), kept by the job's
  camera-motion reading (``camera_pass``, during the detection pass, which decodes every
  frame anyway), or else read again from the video
  (``video.read_frames_at``). A fixed camera sees the
  same background in all of them; they still help, because the people stand elsewhere in each.
  With a turning camera every segment keeps its frame's rotation.
* **Segments**: LSD on the full-resolution grey frame (frames longer than ``max_side`` are
  shrunk to it first: time). LSD at half resolution gave 4-8 degree errors on Pose2Sim cam02,
  whose vertical edges converge only slightly (pitch 18 degrees): the vanishing point needs
  sub-pixel lines. Kept: segments within ``max_image_tilt_deg`` of the picture's vertical (a
  camera pitched 35 degrees and rolled 25 still sees its vertical edges within 30 degrees of
  it), and not hugging the left or right border (a video's black or smeared edge column is a
  long "vertical line": on Pose2Sim cam01 it alone pulled the answer 10 degrees off).
* **People left out**: each person's box (``result.boxes``, padded by ``person_pad``) is masked
  and every segment is cut to its longest piece outside all boxes (a door frame behind a
  person keeps its visible parts); pieces shorter than ``min_length_share`` of the picture's
  longer side are dropped. Limbs are not vertical edges of the world.

:func:`background_up` never raises: a missing or corrupt video, no frames, no lines, or an
OpenCV error give None, and the floor keeps the people's tilt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Protocol

import cv2
import numpy as np

from genhmr_core.result_format import JobResult
from genhmr_core.vertical import Vertical, VerticalConfig, estimate_vertical

from .video import read_frames_at

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VerticalLinesConfig:
    """Tuning of :func:`background_up` (module docstring)."""

    frames: int = 8  # frames looked at, spread evenly over the job
    max_side: int = 1920  # frames with a longer side than this are shrunk to it for LSD
    max_image_tilt_deg: float = 40.0  # segments at most this far from the picture's vertical
    min_length_share: float = 0.02  # of the picture's longer side (38 px at 1920)
    person_pad: float = 0.1  # each person's box grows by this share of its size on every side
    border_share: float = 0.01  # segments this close to the left or right edge are dropped
    samples: int = 33  # points along a segment tested against the people's boxes


def line_rows(num_frames: int, config: VerticalLinesConfig | None = None) -> np.ndarray:
    """The job rows whose frames :func:`background_lines` looks at."""
    return job_frames(num_frames, (config or VerticalLinesConfig()).frames)


def job_frames(num_frames: int, count: int) -> np.ndarray:
    """``count`` job frame positions (0-based rows of the result) spread evenly over
    ``num_frames``, first and last included."""
    if num_frames <= 0 or count <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, num_frames - 1, min(count, num_frames)).round()
                     ).astype(np.int64)


def _person_mask(shape: tuple[int, int], boxes: np.ndarray, pad: float) -> np.ndarray:
    """(H, W) uint8: 1 inside any person's box (x0, y0, x1, y1 px) grown by ``pad``."""
    mask = np.zeros(shape, dtype=np.uint8)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        if not np.isfinite([x0, y0, x1, y1]).all() or x1 <= x0 or y1 <= y0:
            continue
        dx, dy = pad * (x1 - x0), pad * (y1 - y0)
        cv2.rectangle(mask, (int(np.floor(x0 - dx)), int(np.floor(y0 - dy))),
                      (int(np.ceil(x1 + dx)), int(np.ceil(y1 + dy))), 1, thickness=-1)
    return mask


def _outside(segments: np.ndarray, mask: np.ndarray, samples: int) -> np.ndarray:
    """Each segment (N, 4) cut to its longest run of sample points outside the mask; (N, 4),
    a zero-length segment where no two consecutive samples are outside."""
    t = np.linspace(0.0, 1.0, samples)
    points = segments[:, None, :2] + t[None, :, None] * (segments[:, None, 2:]
                                                         - segments[:, None, :2])
    h, w = mask.shape
    x = np.clip(np.round(points[..., 0]).astype(np.int64), 0, w - 1)
    y = np.clip(np.round(points[..., 1]).astype(np.int64), 0, h - 1)
    free = mask[y, x] == 0  # (N, S)
    out = np.zeros_like(segments)
    for i, row in enumerate(free):
        if row.all():
            out[i] = segments[i]
            continue
        # runs of free samples: starts and ends from the changes of a padded row
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        if not len(starts):
            continue
        k = int(np.argmax(ends - starts))
        out[i] = np.concatenate([points[i, starts[k]], points[i, ends[k]]])
    return out


def vertical_segments(frame: np.ndarray, boxes: np.ndarray,
                      config: VerticalLinesConfig | None = None,
                      detector: cv2.LineSegmentDetector | None = None) -> np.ndarray:
    """(N, 4) ``x0, y0, x1, y1`` (px of ``frame``) background segments of one BGR frame that
    may be vertical edges of the world: near the picture's vertical, long enough, off the
    left and right border, cut to their parts outside the people's ``boxes`` (M, 4)."""
    config = config or VerticalLinesConfig()
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    h, w = grey.shape
    scale = min(1.0, config.max_side / max(h, w))
    if scale < 1.0:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)),
                          interpolation=cv2.INTER_AREA)
    lines = (detector or cv2.createLineSegmentDetector()).detect(grey)[0]
    if lines is None:
        return np.zeros((0, 4))
    segments = lines.reshape(-1, 4).astype(np.float64) / scale
    min_length = config.min_length_share * max(h, w)

    def keep(s: np.ndarray) -> np.ndarray:
        dx, dy = s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]
        upright = np.degrees(np.arctan2(np.abs(dx), np.abs(dy))) <= config.max_image_tilt_deg
        margin = config.border_share * w
        border = (((s[:, 0] < margin) & (s[:, 2] < margin))
                  | ((s[:, 0] > w - margin) & (s[:, 2] > w - margin)))
        return s[upright & (np.hypot(dx, dy) >= min_length) & ~border]

    segments = keep(segments)
    if len(segments) and len(boxes):
        segments = keep(_outside(segments, _person_mask((h, w), boxes, config.person_pad),
                                 config.samples))
    return segments


@dataclasses.dataclass(frozen=True)
class BackgroundLines:
    """The background's candidate vertical segments of one job (what :func:`background_up`
    reads from the video): ``segments`` (N, 4) px as the first frame's lens sees them (a
    zooming lens's segments are scaled about the principal point to ``camera_K``'s focal
    length), ``rotations`` (N, 3, 3) world-to-camera of each segment's frame, or None for a
    fixed camera. Kept in the job folder
    (``job_store.save_background_lines``): finding them reads and scans the video (1-3 s), the
    up they give depends on the people's poses (the prior) and is found again in milliseconds
    whenever a re-run changes a body. N = 0 is a valid answer (the video was read, no line)."""

    segments: np.ndarray
    rotations: np.ndarray | None


class PeopleInFootage(Protocol):
    """What :func:`background_lines` reads of a job: a ``JobResult`` has it, and so does a
    job's tracks before its solve (``pipeline._focal_from_the_scene``, with no turn and no
    zoom)."""

    source_video: str
    frame_indices: np.ndarray  # (F,)
    boxes: np.ndarray  # (P, F, 4)
    valid: np.ndarray  # (P, F)
    camera_rotation: np.ndarray | None  # (F, 3, 3) or None: a fixed camera
    camera_focal_px: np.ndarray | None  # (F,) or None: no zoom
    camera_K: np.ndarray  # (3, 3)


def background_lines(result: PeopleInFootage, config: VerticalLinesConfig | None = None,
                     frames: Mapping[int, np.ndarray] | None = None) -> BackgroundLines | None:
    """The candidate vertical segments behind the people of a result (its ``source_video``,
    ``frame_indices``, ``boxes``, ``valid``, ``camera_rotation``), or None when the video could
    not be read or OpenCV failed (module docstring). ``frames``: job row -> BGR or grey frame,
    used when it holds every row of :func:`line_rows` (the video is not read then)."""
    config = config or VerticalLinesConfig()
    try:
        rows = line_rows(len(result.frame_indices), config)
        frame_of = {int(result.frame_indices[r]): int(r) for r in rows}
        rotation = result.camera_rotation
        detector = cv2.createLineSegmentDetector()
        segments, rotations = [], []
        if frames is not None and all(int(r) in frames for r in rows):
            pictures = ((int(result.frame_indices[r]), frames[int(r)]) for r in rows)
        else:
            pictures = read_frames_at(result.source_video, frame_of)
        for index, frame in pictures:
            row = frame_of[index]
            found = vertical_segments(frame, result.boxes[result.valid[:, row], row], config,
                                      detector)
            segments.append(_unzoomed(found, result, row))
            if rotation is not None:
                rotations.append(np.repeat(np.asarray(rotation[row], dtype=np.float64)[None],
                                           len(found), axis=0))
    except (cv2.error, OSError, ValueError, IndexError) as exc:
        log.warning("vertical lines: skipped (%s)", exc)
        return None
    if not segments:
        log.info("vertical lines: no frame of %s could be read", result.source_video)
        return None
    return BackgroundLines(
        segments=np.concatenate(segments).astype(np.float64).reshape(-1, 4),
        rotations=(np.concatenate(rotations).reshape(-1, 3, 3) if rotation is not None
                   else None))


def _unzoomed(segments: np.ndarray, result: PeopleInFootage, row: int) -> np.ndarray:
    """(N, 4) segments of frame ``row`` as the first frame's lens would see them: a zoom scales
    the picture about the principal point, so one ``camera_K`` serves every frame's lines."""
    if result.camera_focal_px is None or not len(segments):
        return segments
    centre = np.tile(np.asarray(result.camera_K, np.float64)[:2, 2], 2)
    scale = float(result.camera_K[0, 0]) / float(result.camera_focal_px[row])
    return centre + (np.asarray(segments, np.float64) - centre) * scale


def up_from_lines(lines: BackgroundLines, K: np.ndarray, prior: np.ndarray,
                  vertical: VerticalConfig | None = None) -> Vertical | None:
    """The world's up the segments agree on (``genhmr_core.vertical.estimate_vertical``), or
    None when too few agree. ``prior``: the people's up (``genhmr_core.ground.up_from_bodies``),
    or the camera's own up."""
    try:
        found = estimate_vertical(lines.segments, K, prior, lines.rotations, vertical)
    except (ValueError, IndexError, np.linalg.LinAlgError) as exc:
        log.warning("vertical lines: skipped (%s)", exc)
        return None
    if found is None:
        log.info("vertical lines: %d segments give no up (too few agree)",
                 len(lines.segments))
    return found


def background_up(result: JobResult, prior: np.ndarray,
                  config: VerticalLinesConfig | None = None,
                  vertical: VerticalConfig | None = None) -> Vertical | None:
    """The world's up (the job's first frame's camera axes) from the vertical edges behind the
    people of a result (:func:`background_lines`, then :func:`up_from_lines`), or None when the
    background does not tell it or anything goes wrong (module docstring)."""
    lines = background_lines(result, config)
    return None if lines is None else up_from_lines(lines, result.camera_K, prior, vertical)
