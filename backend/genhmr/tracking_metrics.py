"""Scoring multi-person tracking on real footage against hand-made or triangulated truth.

Used by ``tools/bench_tracking.py`` (the real-footage tracking table in ``docs/detection.md``)
and its tests. Pure: numpy and ``motmetrics`` only, no video and no torch, so scoring can be
tested on synthetic boxes in milliseconds and re-run on saved predictions.

Truth files (schema ``genhmr-mot-truth/1``, in ``benchmarks/truth/``) list, on *annotated*
frames only, a box per visible person plus "ignore" regions (crowds far away, reflections,
people too small to annotate). Predictions are scored on those frames only, because nothing is
known about the others: counting a detection on an unannotated frame as a false positive would
punish the tracker for the annotator's sampling rate.

The standard CLEAR-MOT and identity metrics (recall, precision, MOTA, IDF1, ID switches,
fragmentations) come from ``motmetrics`` so that our numbers mean what they mean elsewhere. Three
more are ours because they answer the product's questions directly: does every rigged person
correspond to somebody real (**ghost tracks**), does one person end up as several rigs
(**tracks per person**), and is every clearly visible person found most of the time
(**coverage**).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import motmetrics as mm
import numpy as np

FORMAT = "genhmr-mot-truth/1"

# Matching threshold: the usual MOTChallenge criterion (IoU >= 0.5). motmetrics expresses it as a
# *distance* 1 - IoU, with pairs farther than ``max_iou`` refused.
MIN_IOU = 0.5
# A prediction not matchable to anyone that overlaps an ignore region this much (IoU, or the
# fraction of the prediction's own area inside the region) is dropped before scoring.
MIN_IGNORE_OVERLAP = 0.5
# Coverage only asks about frames where at least half of the person is visible: a mostly
# occluded person is legitimately hard, and the truth box of a sliver of a person is not a
# fair target for a full-body box.
MIN_VISIBLE_FOR_COVERAGE = 0.5

Box = Sequence[float]  # x0, y0, x1, y1 pixels
Predictions = Mapping[int, Iterable[tuple[int, Box]]]  # video frame -> [(track id, box), ...]


class TruthFileError(ValueError):
    """A truth file that cannot be used; the message names the file and what is wrong."""


@dataclasses.dataclass(frozen=True)
class TruthBox:
    frame: int
    person: int
    box: tuple[float, float, float, float]
    visible: float


@dataclasses.dataclass(frozen=True)
class Truth:
    """A validated ``genhmr-mot-truth/1`` file.

    ``boxes`` and ``ignore`` are indexed by frame for scoring; every annotated frame has an entry
    (possibly empty) in both, because an annotated frame with nobody on it is information too
    (every prediction there is a false positive).
    """

    clip: str
    image_size: tuple[int, int]
    fps: float
    frames: tuple[int, ...]
    people: dict[int, str]  # id -> description
    boxes: dict[int, list[TruthBox]]
    ignore: dict[int, list[tuple[float, float, float, float]]]
    how: str = ""
    path: str = ""

    def frames_between(self, start: int, end: int | None) -> list[int]:
        """Annotated frames in ``[start, end)`` (``end`` None: to the end)."""
        return [f for f in self.frames if f >= start and (end is None or f < end)]


def _fail(where: str, message: str) -> TruthFileError:
    return TruthFileError(f"{where}: {message}")


def _box(value: Any, where: str) -> tuple[float, float, float, float]:
    """A finite ``[x0, y0, x1, y1]`` with positive width and height, or a clear error: a
    degenerate box would silently never match anything and look like a tracker failure."""
    if (not isinstance(value, list | tuple) or len(value) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise _fail(where, f"box must be [x0, y0, x1, y1] numbers, got {value!r}")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise _fail(where, f"box has a non-finite value: {value!r}")
    if x1 <= x0 or y1 <= y0:
        raise _fail(where, f"box needs x1 > x0 and y1 > y0, got {value!r}")
    return x0, y0, x1, y1


def _int(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"{name} must be an integer, got {value!r}")
    return value


def parse_truth(data: Any, where: str = "truth") -> Truth:
    """Validate a decoded truth file and index it; raise :class:`TruthFileError` on any problem.

    Everything is checked up front (schema tag, ids, boxes on annotated frames, no person twice
    on one frame) because a malformed file would otherwise produce plausible but wrong scores.
    """
    if not isinstance(data, dict):
        raise _fail(where, "a truth file is a JSON object")
    if data.get("format") != FORMAT:
        raise _fail(where, f"format must be {FORMAT!r}, got {data.get('format')!r}")
    for key in ("clip", "image_size", "fps", "frames", "people", "boxes"):
        if key not in data:
            raise _fail(where, f"missing key {key!r}")
    clip = data["clip"]
    if not isinstance(clip, str) or not clip:
        raise _fail(where, f"clip must be a path relative to the media folder, got {clip!r}")
    size = data["image_size"]
    if (not isinstance(size, list | tuple) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise _fail(where, f"image_size must be [width, height] positive integers, got {size!r}")
    fps = data["fps"]
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0:
        raise _fail(where, f"fps must be a positive number, got {fps!r}")

    if not isinstance(data["frames"], list) or not data["frames"]:
        raise _fail(where, "frames must be a non-empty list of annotated frame indices")
    frames = [_int(f, where, "a frame index") for f in data["frames"]]
    if any(f < 0 for f in frames) or len(set(frames)) != len(frames):
        raise _fail(where, "frame indices must be non-negative and unique")
    frames.sort()
    frame_set = set(frames)

    if not isinstance(data["people"], list):
        raise _fail(where, "people must be a list of {id, description}")
    people: dict[int, str] = {}
    for k, person in enumerate(data["people"]):
        if not isinstance(person, dict) or "id" not in person:
            raise _fail(where, f"people[{k}] must be an object with an id")
        pid = _int(person["id"], where, f"people[{k}].id")
        if pid in people:
            raise _fail(where, f"person id {pid} is listed twice")
        people[pid] = str(person.get("description", ""))

    if not isinstance(data["boxes"], list):
        raise _fail(where, "boxes must be a list")
    boxes: dict[int, list[TruthBox]] = {f: [] for f in frames}
    for k, entry in enumerate(data["boxes"]):
        at = f"{where}: boxes[{k}]"
        if not isinstance(entry, dict):
            raise TruthFileError(f"{at}: must be an object")
        for key in ("frame", "id", "box"):
            if key not in entry:
                raise TruthFileError(f"{at}: missing key {key!r}")
        frame = _int(entry["frame"], at, "frame")
        pid = _int(entry["id"], at, "id")
        if frame not in frame_set:
            raise TruthFileError(f"{at}: frame {frame} is not in the annotated frames")
        if pid not in people:
            raise TruthFileError(f"{at}: person id {pid} is not in people")
        if any(b.person == pid for b in boxes[frame]):
            raise TruthFileError(f"{at}: person {pid} has two boxes on frame {frame}")
        visible = entry.get("visible", 1.0)
        if (isinstance(visible, bool) or not isinstance(visible, int | float)
                or not 0.0 <= visible <= 1.0):
            raise TruthFileError(f"{at}: visible must be a fraction in [0, 1], got {visible!r}")
        boxes[frame].append(TruthBox(frame, pid, _box(entry["box"], at), float(visible)))

    ignore: dict[int, list[tuple[float, float, float, float]]] = {f: [] for f in frames}
    raw_ignore = data.get("ignore", [])
    if not isinstance(raw_ignore, list):
        raise _fail(where, "ignore must be a list")
    for k, entry in enumerate(raw_ignore):
        at = f"{where}: ignore[{k}]"
        if not isinstance(entry, dict) or "frame" not in entry or "box" not in entry:
            raise TruthFileError(f"{at}: must be an object with frame and box")
        frame = _int(entry["frame"], at, "frame")
        if frame not in frame_set:
            raise TruthFileError(f"{at}: frame {frame} is not in the annotated frames")
        ignore[frame].append(_box(entry["box"], at))

    return Truth(clip=clip, image_size=(int(size[0]), int(size[1])), fps=float(fps),
                 frames=tuple(frames), people=people, boxes=boxes, ignore=ignore,
                 how=str(data.get("how", "")), path=where)


def load_truth(path: str | Path) -> Truth:
    """Read and validate a truth file; unreadable JSON is a :class:`TruthFileError` too."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TruthFileError(f"{path}: cannot read a JSON truth file ({exc})") from exc
    return parse_truth(data, str(path))


@dataclasses.dataclass
class TrackingScore:
    """All numbers for one clip; fractions are in [0, 1], NaN where undefined."""

    frames: int  # annotated frames scored
    people: int  # truth people present on the scored frames
    tracks: int  # predicted tracks present (outside ignore regions) on the scored frames
    ghost_tracks: int
    ghost_track_ids: list[int]
    tracks_per_person: dict[int, int]  # truth id -> distinct predicted tracks matched to it
    switches: int
    fragmentations: int
    recall: float
    precision: float
    idf1: float
    mota: float
    coverage: dict[int, float]  # truth id -> fraction of its well-visible frames found
    matches: int  # truth boxes matched by a prediction (ID switches included)
    misses: int
    false_positives: int
    ignored_predictions: int  # predictions dropped because they lay in an ignore region
    # Annotated frames with an error, and what it was ("miss T1", "FP #4", "switch T0 #2"):
    # where to look first (the benchmark's contact sheets pick these frames).
    problems: dict[int, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def max_tracks_per_person(self) -> int:
        return max(self.tracks_per_person.values(), default=0)

    @property
    def min_coverage(self) -> float:
        """Worst coverage over the people who are well visible on at least one scored frame:
        the product fails a clip as soon as one person is lost, whatever the average."""
        values = [c for c in self.coverage.values() if not math.isnan(c)]
        return min(values) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None, dict keys become strings)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, dict):
                return {str(k): clean(x) for k, x in v.items()}
            return v

        out = {k: clean(v) for k, v in dataclasses.asdict(self).items()}
        out["max_tracks_per_person"] = self.max_tracks_per_person
        out["min_coverage"] = clean(self.min_coverage)
        return out


def _xywh(boxes: np.ndarray) -> np.ndarray:
    """motmetrics wants (x, y, width, height)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _in_ignore(pred: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(N,) bool: the prediction overlaps some region by IoU or by the share of its own area
    inside it. Containment matters because an ignore region usually covers a whole crowd while a
    detection covers one person in it: their IoU is small although the detection is inside."""
    if len(pred) == 0 or len(regions) == 0:
        return np.zeros(len(pred), bool)
    lo = np.maximum(pred[:, None, :2], regions[None, :, :2])
    hi = np.minimum(pred[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_p = np.prod(pred[:, 2:] - pred[:, :2], axis=-1)[:, None]
    area_r = np.prod(regions[:, 2:] - regions[:, :2], axis=-1)[None, :]
    iou = inter / np.maximum(area_p + area_r - inter, 1e-12)
    inside = inter / np.maximum(area_p, 1e-12)
    return ((iou >= MIN_IGNORE_OVERLAP) | (inside >= MIN_IGNORE_OVERLAP)).any(axis=1)


def _predictions_at(predictions: Predictions, frame: int) -> tuple[list[int], np.ndarray]:
    items = list(predictions.get(frame, ()))
    ids = [int(t) for t, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"frame {frame}: a track id appears twice in the predictions")
    boxes = np.array([list(b) for _, b in items], dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise ValueError(f"frame {frame}: a predicted box is not finite")
    return ids, boxes


def score_tracking(truth: Truth, predictions: Predictions,
                   frames: Iterable[int] | None = None) -> TrackingScore:
    """Score ``predictions`` (video frame -> ``[(track id, (x0, y0, x1, y1)), ...]``) against
    ``truth`` on the annotated frames (or the annotated subset ``frames``, e.g. those a short
    run processed).

    Per frame: a prediction and a truth box can be matched when their IoU is >= 0.5, and
    motmetrics assigns them (keeping last frame's pairs where still valid, then minimum total
    distance), which is what makes ID switches and IDF1 meaningful. A prediction that could not
    be matched to any truth box on that frame (IoU < 0.5 with all of them) and that lies in an
    ignore region is dropped first; "could not be matched" is decided before the assignment, so
    a prediction that overlaps a person enough is never dropped: a duplicate box on a person
    near an ignore region still counts as a false positive rather than being excused.

    Predictions on frames that are not annotated are ignored (nothing is known there).
    """
    if frames is None:
        scored = list(truth.frames)
    else:
        scored = sorted(set(frames))
        unknown = [f for f in scored if f not in truth.boxes]
        if unknown:
            raise ValueError(f"frames {unknown[:5]} are not annotated in {truth.path}")

    acc = mm.MOTAccumulator(auto_id=False)
    predicted_ids: set[int] = set()
    ignored = 0
    # Per truth person: frames they are well visible, and the frames a prediction matched them.
    visible_frames: dict[int, set[int]] = {}
    for frame in scored:
        truth_boxes = truth.boxes[frame]
        oids = [b.person for b in truth_boxes]
        obj = np.array([b.box for b in truth_boxes], dtype=np.float64).reshape(-1, 4)
        for b in truth_boxes:
            if b.visible >= MIN_VISIBLE_FOR_COVERAGE:
                visible_frames.setdefault(b.person, set()).add(frame)
        hids, hyp = _predictions_at(predictions, frame)
        if len(hids):
            dist = mm.distances.iou_matrix(_xywh(obj), _xywh(hyp), max_iou=1.0 - MIN_IOU)
            matchable = (np.isfinite(dist).any(axis=0) if dist.size
                         else np.zeros(len(hids), bool))
            regions = np.array(truth.ignore[frame], dtype=np.float64).reshape(-1, 4)
            keep = matchable | ~_in_ignore(hyp, regions)
            ignored += int((~keep).sum())
            hids = [h for h, k in zip(hids, keep, strict=True) if k]
            hyp = hyp[keep]
        predicted_ids.update(hids)
        dist = mm.distances.iou_matrix(_xywh(obj), _xywh(hyp), max_iou=1.0 - MIN_IOU)
        acc.update(oids, hids, dist.reshape(len(oids), len(hids)), frameid=frame)

    events = acc.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    problems: dict[int, list[str]] = {}
    labels = {"MISS": "miss T{o}", "FP": "FP #{h}", "SWITCH": "switch T{o} #{h}"}
    errors = events[events["Type"].isin(list(labels))]
    for (frame, _), kind, o, h in zip(errors.index, errors["Type"], errors["OId"],
                                      errors["HId"], strict=True):
        o = int(o) if o == o else None  # NaN (no object / no hypothesis) -> None
        h = int(h) if h == h else None
        problems.setdefault(int(frame), []).append(labels[kind].format(o=o, h=h))
    pairs = {(int(o), int(h)) for o, h in zip(matched["OId"], matched["HId"], strict=True)}
    matched_frames: dict[int, set[int]] = {}
    for (frame, _), o in zip(matched.index, matched["OId"], strict=True):
        matched_frames.setdefault(int(o), set()).add(int(frame))

    truth_people = sorted({b.person for f in scored for b in truth.boxes[f]})
    tracks_per_person = {p: len({h for o, h in pairs if o == p}) for p in truth_people}
    matched_tracks = {h for _, h in pairs}
    ghosts = sorted(predicted_ids - matched_tracks)
    coverage = {
        p: (len(matched_frames.get(p, set()) & visible_frames[p]) / len(visible_frames[p])
            if visible_frames.get(p) else math.nan)
        for p in truth_people
    }

    summary = mm.metrics.create().compute(
        acc, metrics=["recall", "precision", "idf1", "mota", "num_switches",
                      "num_fragmentations", "num_misses",
                      "num_false_positives"], name="clip")
    row = summary.loc["clip"]

    def fraction(name: str) -> float:
        value = float(row[name])
        return value if math.isfinite(value) else math.nan

    return TrackingScore(
        frames=len(scored), people=len(truth_people), tracks=len(predicted_ids),
        ghost_tracks=len(ghosts), ghost_track_ids=ghosts, tracks_per_person=tracks_per_person,
        switches=int(row["num_switches"]), fragmentations=int(row["num_fragmentations"]),
        recall=fraction("recall"), precision=fraction("precision"), idf1=fraction("idf1"),
        mota=fraction("mota"), coverage=coverage, matches=len(matched),
        misses=int(row["num_misses"]), false_positives=int(row["num_false_positives"]),
        ignored_predictions=ignored, problems=problems,
    )


def predictions_from_tracks(frame_indices: np.ndarray, valid: np.ndarray, boxes: np.ndarray
                            ) -> dict[int, list[tuple[int, Box]]]:
    """Person-major track arrays (``(F,)`` frames, ``(P, F)`` valid, ``(P, F, 4)`` boxes, as
    :class:`genhmr.perception.Tracks` holds them) to the frame-major predictions scored here;
    the person index is the track id."""
    out: dict[int, list[tuple[int, Box]]] = {}
    for f, frame in enumerate(np.asarray(frame_indices).tolist()):
        out[int(frame)] = [(p, tuple(float(v) for v in boxes[p, f]))
                           for p in np.flatnonzero(valid[:, f]).tolist()]
    return out


# The scoring columns of the table, in order; callers add their own columns around them.
SCORE_COLUMNS = ("frames", "people", "tracks", "ghost tracks", "tracks/person (max)",
                 "ID switches", "fragmentations", "recall", "precision", "IDF1", "MOTA",
                 "min coverage")


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def score_cells(score: TrackingScore) -> list[str]:
    """The :data:`SCORE_COLUMNS` cells of one clip, as text."""
    return [str(score.frames), str(score.people), str(score.tracks), str(score.ghost_tracks),
            str(score.max_tracks_per_person), str(score.switches), str(score.fragmentations),
            _fmt(score.recall), _fmt(score.precision), _fmt(score.idf1), _fmt(score.mota),
            _fmt(score.min_coverage)]


def markdown_header(columns: Sequence[str]) -> str:
    """Header and separator lines of a Markdown table (numbers right-aligned except the first
    two columns, which name the clip and the setting)."""
    align = ["---" if k < 2 else "---:" for k in range(len(columns))]
    return f"| {' | '.join(columns)} |\n|{'|'.join(align)}|"


def format_row(score: TrackingScore, before: Sequence[str] = (),
               after: Sequence[str] = ()) -> str:
    """One Markdown table row: ``before`` cells (clip, detector), the score, ``after`` cells
    (timings). Markdown so the benchmark output pastes straight into ``docs/detection.md``."""
    cells = [*before, *score_cells(score), *after]
    return f"| {' | '.join(cells)} |"
