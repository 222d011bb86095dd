#!/usr/bin/env python3
"""Real-footage tracking table: the product's perception stage scored against truth files.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_tracking.py [--clips demo_mp4 vtest_avi] [--frames 60]
        [--detector boxes blazepose] [--save-json out/tracking.json] [--contact-sheet out/sheets]
        [--detections ~/.cache/genhmr/bench_detections]

For every truth file in ``benchmarks/truth/`` (``--clips``: a subset, by file stem or clip name)
and every ``--detector``, runs :func:`genhmr.perception.perceive` over the clip from its first
annotated frame (``--frames``: only that many frames, for quick runs) and scores the tracks with
:mod:`genhmr.tracking_metrics` on the annotated frames it covered. Prints one Markdown table,
ready to paste into ``docs/detection.md``.

Speed is reported against a baseline measured **in the same run on the same frames**: the
legacy single-person MediaPipe ``solutions.pose.Pose(static_image_mode=False,
model_complexity=1)``, i.e. what "just run MediaPipe" costs. Machines (and other jobs sharing
them) are noisy; a ratio measured side by side travels better than milliseconds. Both sides
exclude decoding (perception's own "decode" seconds are in the JSON):

* ``ms/frame``: perception's detect + backfill + track seconds / processed frames;
* ``x MP (frame)``: that / MediaPipe Pose ms per frame;
* ``x MP (person)``: perception ms per *detected person-frame* (a person kept in a track on a
  frame) / MediaPipe Pose ms per frame, i.e. the price of one person-frame relative to the
  single-person tool, which is the fair comparison on clips with several people.

``--noise-seeds 1 2 3`` runs every clip once per seed with +-1 grey level of random noise added
to every frame the detector sees (invisible; :class:`FrameNoise`), then prints the mean and
range of each clip's scores over the draws. One run is one draw: on vtest.avi the IDF1 moved
between 0.55 and 0.77 over such draws (docs/detection.md), more than most changes tried, so a
change to perception is judged on the draws' mean, not on one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from genhmr.perception import DETECTORS  # noqa: E402
from genhmr.tracking_metrics import (  # noqa: E402
    SCORE_COLUMNS,
    TrackingScore,
    Truth,
    TruthFileError,
    format_row,
    load_truth,
    markdown_header,
    predictions_from_tracks,
    score_tracking,
)
from genhmr.video import read_frames  # noqa: E402

TRUTH_DIR = ROOT / "benchmarks" / "truth"
TIME_COLUMNS = ("ms/frame", "x MP (frame)", "x MP (person)")
SHEET_FRAMES = 6  # annotated frames drawn per contact sheet
SHEET_WIDTH = 640  # pixels per tile


def media_dir() -> Path:
    env = os.environ.get("GENHMR_MEDIA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache/genhmr")) / "media"


def select_truth(truth_dir: Path, wanted: list[str] | None) -> list[tuple[Path, Truth]]:
    """Truth files to run, sorted by name; ``wanted`` names file stems or clip paths.

    Without ``wanted`` a bad file stops the run (a table silently missing a clip would be
    misread as complete). With it, only the named files must be good: other files (perhaps
    being written right now) are read only to match clip paths, and skipped if unreadable.
    """
    files = sorted(truth_dir.glob("*.json"))
    if wanted is None:
        return [(path, load_truth(path)) for path in files]
    out = []
    for path in files:
        if path.stem in wanted:
            out.append((path, load_truth(path)))
            continue
        try:
            truth = load_truth(path)
        except TruthFileError as exc:
            print(f"skipping unreadable {path.name}: {exc}", file=sys.stderr)
            continue
        if truth.clip in wanted:
            out.append((path, truth))
    found = {p.stem for p, _ in out} | {t.clip for _, t in out}
    missing = [w for w in wanted if w not in found]
    if missing:
        sys.exit(f"no truth file for {missing} in {truth_dir} (have: {[p.stem for p in files]})")
    return out


def mediapipe_baseline(video: Path, frame_indices: np.ndarray) -> dict[str, float]:
    """Legacy single-person MediaPipe Pose over the same frames, in order, as a video (tracking
    between frames, its fast path). One untimed warm-up call first so graph start-up is not
    charged to the first frame.

    ``ms_per_frame`` / ``cpu_ms_per_frame`` time ``process`` alone (decoding and colour
    conversion are excluded, as decoding is excluded from perception's time);
    ``decode_ms_per_frame`` / ``decode_cpu_ms_per_frame`` time what a MediaPipe-to-rig script
    also does for each frame before it: decoding the frame (the product's own reader, the same
    decoder a job uses) and converting it to RGB. A job's end-to-end time includes its
    decoding, so that is the like-for-like baseline for a whole job (``benchmarks/report.py``)."""
    import mediapipe as mp

    start, end = int(frame_indices[0]), int(frame_indices[-1]) + 1
    wanted = {int(f) for f in frame_indices}
    elapsed, cpu, count, found = 0.0, 0.0, 0, 0
    decode_elapsed, decode_cpu = 0.0, 0.0
    frames = read_frames(video, start, end)
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        warm = False
        while True:
            t, c = time.perf_counter(), time.process_time()
            try:
                index, frame = next(frames)
            except StopIteration:
                break
            if index not in wanted:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            decode_elapsed += time.perf_counter() - t
            decode_cpu += time.process_time() - c
            if not warm:
                pose.process(rgb)
                warm = True
            t, c = time.perf_counter(), time.process_time()
            result = pose.process(rgb)
            elapsed += time.perf_counter() - t
            cpu += time.process_time() - c
            count += 1
            found += result.pose_landmarks is not None
    per = 1000 / max(count, 1)
    return {"ms_per_frame": per * elapsed, "cpu_ms_per_frame": per * cpu, "frames": count,
            "frames_with_person": found, "decode_ms_per_frame": per * decode_elapsed,
            "decode_cpu_ms_per_frame": per * decode_cpu}


class FrameNoise:
    """A detector that sees every frame with random noise of -1, 0 or +1 grey level per pixel
    and channel (drawn from ``seed``): one draw of how perception moves under a change of the
    pixels nobody can see. Everything but ``detect`` and ``follow`` goes to the detector."""

    def __init__(self, detector: Any, seed: int) -> None:
        self._detector = detector
        self._rng = np.random.default_rng(seed)
        if not hasattr(detector, "follow"):  # Backfill only follows with detectors that can
            self.follow = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._detector, name)

    def noisy(self, frame: np.ndarray) -> np.ndarray:
        step = self._rng.integers(-1, 2, size=frame.shape, dtype=np.int8)
        up, down = (step > 0).view(np.uint8), (step < 0).view(np.uint8)
        return cv2.subtract(cv2.add(frame, up), down)  # uint8, saturating at 0 and 255

    def detect(self, frame: np.ndarray, **kwargs: Any) -> Any:
        return self._detector.detect(self.noisy(frame), **kwargs)

    def follow(self, frame: np.ndarray, person: Any) -> Any:
        return self._detector.follow(self.noisy(frame), person)


def run_perception(video: Path, start: int, end: int | None, detector: str, tiling: str,
                   max_people: int, detections: Path | None = None,
                   box_model: Path | None = None, noise_seed: int | None = None) -> Any:
    """The perception stage on ``video[start:end]``. With ``detections`` (a folder), the
    per-frame detections are read from there when an earlier run saved them for the same
    clip, range and settings (their detect and backfill seconds too), else saved there: then
    only tracking runs again, which is how tracking changes are tried in seconds. Delete the
    folder after changing the detector. ``noise_seed``: the detector sees the frames through
    :class:`FrameNoise` with that seed (its time, ~2 ms per frame, counts as detection)."""
    from genhmr.perception import (
        Perception,
        PerceptionConfig,
        detect_people,
        load_detections,
        make_detector,
        perceive,
        save_detections,
        track,
    )
    from genhmr.video import probe, resolve_range

    config = PerceptionConfig(detector=detector, tiling=tiling, max_people=max_people,
                              box_model=None if box_model is None else str(box_model))
    def loaded() -> Any:
        made = make_detector(config)
        return made if noise_seed is None else FrameNoise(made, noise_seed)

    t = time.perf_counter()
    if detections is None:
        detector_object = loaded()
        try:
            result = perceive(video, start=start, end=end, config=config,
                              detector=detector_object)
        finally:
            detector_object.close()
        result.seconds["wall"] = time.perf_counter() - t
        return result
    info = probe(video)
    start, end = resolve_range(info, start, end)
    stem = f"{video.stem}_{detector}_{tiling}_{max_people}_{start}_{end}"
    if box_model is not None:
        stem += f"_{box_model.stem}"
    if noise_seed is not None:
        stem += f"_noise{noise_seed}"
    cached, timing = detections / f"{stem}.npz", detections / f"{stem}.json"
    if cached.is_file() and timing.is_file():
        per_frame = load_detections(cached)
        seconds = json.loads(timing.read_text())
    else:
        seconds = {}
        detector_object = loaded()
        try:
            per_frame = detect_people(info, start, end, detector_object, config,
                                      seconds=seconds)
        finally:
            detector_object.close()
        detections.mkdir(parents=True, exist_ok=True)
        save_detections(cached, per_frame)
        timing.write_text(json.dumps(seconds))
    t_track = time.perf_counter()
    tracks = track(per_frame, config.tracking, info.fps)
    seconds["track"] = time.perf_counter() - t_track
    seconds["wall"] = time.perf_counter() - t
    return Perception(tracks=tracks, seconds=seconds, person_frames=int(tracks.valid.sum()))


def _color(track: int) -> tuple[int, int, int]:
    """A fixed, well-separated BGR colour per track id (golden-angle hues)."""
    hue = int((track * 137.508) % 180)
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _spread(frames: list[int], count: int) -> list[int]:
    if count <= 0 or not frames:
        return []
    return sorted({frames[round(k)] for k in np.linspace(0, len(frames) - 1, count)})


def pick_frames(frames: list[int], problems: list[int]) -> list[int]:
    """Up to :data:`SHEET_FRAMES` frames: frames with errors first (spread over the clip, as
    they are what one wants to look at), the rest spread over the correct frames."""
    bad = _spread(problems, min(len(problems), SHEET_FRAMES - 2 if len(frames) > len(problems)
                                else SHEET_FRAMES))
    good = [f for f in frames if f not in set(problems)]
    return sorted(bad + _spread(good, SHEET_FRAMES - len(bad)))


def contact_sheet(video: Path, truth: Truth, frames: list[int],
                  predictions: dict[int, list[tuple[int, Any]]], score: TrackingScore,
                  title: str, out: Path) -> None:
    """A grid of a few annotated frames (:func:`pick_frames`), each captioned with its errors:
    truth boxes thin white (``T<id>``), ignore regions
    grey, predicted boxes thick in their track's colour (``#<id>``, ``GHOST`` for ghost
    tracks). Meant for eyeballing what the numbers mean, not for measuring."""
    if not frames:
        return
    picks = pick_frames(frames, sorted(score.problems))
    ghosts = set(score.ghost_track_ids)
    tiles = []
    for frame_index in picks:
        image = next(read_frames(video, frame_index, frame_index + 1))[1]
        scale = SHEET_WIDTH / image.shape[1]
        image = cv2.resize(image, (SHEET_WIDTH, round(image.shape[0] * scale)))
        thick = 2

        def rect(box: Any, color: tuple[int, int, int], width: int, label: str,
                 image: np.ndarray = image, scale: float = scale) -> None:
            x0, y0, x1, y1 = (round(v * scale) for v in box)
            cv2.rectangle(image, (x0, y0), (x1, y1), color, width)
            if label:
                cv2.putText(image, label, (x0 + 2, max(y0 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.45, color, 1, cv2.LINE_AA)

        for region in truth.ignore.get(frame_index, []):
            rect(region, (128, 128, 128), 1, "ignore")
        for b in truth.boxes.get(frame_index, []):
            rect(b.box, (255, 255, 255), 1, f"T{b.person}")
        for track, box in predictions.get(frame_index, []):
            rect(box, _color(track), thick,
                 f"#{track}" + (" GHOST" if track in ghosts else ""))
        caption = f"frame {frame_index}: " + (", ".join(score.problems.get(frame_index, []))
                                               or "ok")
        cv2.putText(image, caption, (6, image.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT)
             for t in tiles]
    columns = 3
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r:r + columns]) for r in range(0, len(tiles), columns)]
    sheet = np.vstack(rows)
    banner = np.zeros((28, sheet.shape[1], 3), np.uint8)
    cv2.putText(banner, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack([banner, sheet]))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) else math.nan


DRAW_COLUMNS = ("IDF1", "ID switches", "min coverage", "tracks", "ghost tracks", "recall",
                "precision")


def draws_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: per clip and detector, each score's mean over the noise draws and its range."""
    keys = {"IDF1": "idf1", "ID switches": "switches", "min coverage": "min_coverage",
            "tracks": "tracks", "ghost tracks": "ghost_tracks", "recall": "recall",
            "precision": "precision"}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["clip"], run["detector"]), []).append(run["score"])
    lines = [markdown_header(("clip", "detector (draws)", *DRAW_COLUMNS))]
    for (clip, detector), scores in groups.items():
        cells = []
        for column in DRAW_COLUMNS:
            values = np.array([math.nan if s[keys[column]] is None else float(s[keys[column]])
                               for s in scores])
            digits = 2 if column in ("IDF1", "min coverage", "recall", "precision") else 1
            cells.append(f"{values.mean():.{digits}f} ({values.min():.{digits}f}-"
                         f"{values.max():.{digits}f})")
        lines.append(f"| {clip} | {detector} ({len(scores)}) | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", help="truth file stems or clip paths "
                        "(default: every file in the truth folder)")
    parser.add_argument("--frames", type=int, help="process only this many frames per clip, "
                        "from its first annotated frame")
    parser.add_argument("--detector", nargs="+", default=["boxes"], choices=DETECTORS,
                        help="boxes (the default detector) and/or blazepose (the previous one)")
    parser.add_argument("--tiling", default="auto")
    parser.add_argument("--box-model", type=Path,
                        help="another person-box ONNX model for the boxes detector (default: "
                        "the shipped int8 one), e.g. the float one it is made from, "
                        "backend/genhmr/detection/assets/person_ssdlite.onnx")
    parser.add_argument("--max-people", type=int, default=6)
    parser.add_argument("--truth-dir", type=Path, default=TRUTH_DIR)
    parser.add_argument("--save-json", type=Path, help="write every number here")
    parser.add_argument("--detections", type=Path, metavar="DIR",
                        help="save per-frame detections here, or reuse those saved by an "
                        "earlier run with the same settings (tracking experiments in seconds)")
    parser.add_argument("--noise-seeds", type=int, nargs="+", metavar="SEED",
                        help="run each clip once per seed, the frames seen with +-1 grey level "
                        "of noise (FrameNoise), and print each clip's mean and range over them")
    parser.add_argument("--contact-sheet", type=Path, metavar="DIR",
                        help="draw truth and predicted boxes on a few annotated frames per run")
    args = parser.parse_args()

    try:
        clips = select_truth(args.truth_dir, args.clips)
    except TruthFileError as exc:
        sys.exit(f"bad truth file: {exc}")
    if not clips:
        sys.exit(f"no truth files in {args.truth_dir}")
    media = media_dir()
    print(f"cpu threads: {os.cpu_count()}, tiling: {args.tiling}, max people: "
          f"{args.max_people}, frames: {args.frames or 'all'}", file=sys.stderr)

    runs: list[dict[str, Any]] = []
    rows: list[str] = []
    notes: list[str] = []
    for truth_path, truth in clips:
        video = media / truth.clip
        if not video.is_file():
            notes.append(f"{truth.clip}: video missing from {media}, skipped")
            continue
        cap = cv2.VideoCapture(str(video))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        if size != truth.image_size:
            notes.append(f"{truth.clip}: video is {size}, truth says {truth.image_size}; skipped")
            continue
        start = truth.frames[0]
        end = start + args.frames if args.frames else None
        baseline: dict[str, float] | None = None
        for detector, seed in itertools.product(args.detector, args.noise_seeds or [None]):
            setting = detector if seed is None else f"{detector}, noise {seed}"
            label = f"{truth.clip} {setting}"
            print(f"[{label}] perceiving from frame {start}...", file=sys.stderr, flush=True)
            try:
                result = run_perception(video, start, end, detector, args.tiling,
                                        args.max_people, args.detections, args.box_model,
                                        seed)
            except Exception as exc:  # one broken setting must not lose the other rows
                notes.append(f"{label}: perception failed: {type(exc).__name__}: {exc}")
                print(f"[{label}] FAILED: {exc!r}", file=sys.stderr, flush=True)
                continue
            tracks = result.tracks
            processed = np.asarray(tracks.frame_indices)
            if baseline is None:  # once per clip: every detector processes the same frames
                print(f"[{truth.clip}] MediaPipe Pose baseline on {len(processed)} frames...",
                      file=sys.stderr, flush=True)
                baseline = mediapipe_baseline(video, processed)
            done = set(processed.tolist())
            in_range = truth.frames_between(int(processed[0]), int(processed[-1]) + 1)
            scored = [f for f in in_range if f in done]
            if len(scored) < len(in_range):
                notes.append(f"{label}: {len(in_range) - len(scored)} annotated frames in the "
                             "processed range were not processed (not scored)")
            predictions = predictions_from_tracks(processed, tracks.valid, tracks.boxes)
            score = score_tracking(truth, predictions, frames=scored)

            seconds = {k: float(v) for k, v in result.seconds.items()}
            work = sum(seconds.get(k, 0.0) for k in ("detect", "backfill", "track"))
            person_frames = int(np.asarray(tracks.valid).sum())
            ms_frame = 1000 * work / len(processed)
            ms_person = 1000 * work / person_frames if person_frames else math.nan
            mp_ms = baseline["ms_per_frame"]
            ratio_frame, ratio_person = _ratio(ms_frame, mp_ms), _ratio(ms_person, mp_ms)
            rows.append(format_row(score, before=(truth.clip, setting), after=(
                f"{ms_frame:.0f}", f"{ratio_frame:.1f}",
                "n/a" if math.isnan(ratio_person) else f"{ratio_person:.1f}")))
            print(rows[-1], file=sys.stderr, flush=True)
            runs.append({
                "clip": truth.clip, "truth_file": str(truth_path.relative_to(ROOT))
                if truth_path.is_relative_to(ROOT) else str(truth_path),
                "detector": detector, "noise_seed": seed, "tiling": args.tiling,
                "max_people": args.max_people,
                "processed_frames": [int(processed[0]), int(processed[-1])],
                "num_processed_frames": len(processed), "scored_frames": scored,
                "seconds": seconds, "person_frames": person_frames,
                "perception_ms_per_frame": ms_frame,
                "perception_ms_per_person_frame": None if math.isnan(ms_person) else ms_person,
                "mediapipe_pose": baseline,
                "ratio_per_frame": None if math.isnan(ratio_frame) else ratio_frame,
                "ratio_per_person_frame": None if math.isnan(ratio_person) else ratio_person,
                "all_frames_tracks": int(np.asarray(tracks.valid).any(axis=1).sum()),
                "score": score.to_dict(),
            })
            if args.contact_sheet:
                out = args.contact_sheet / f"{truth_path.stem}_{detector}.png"
                contact_sheet(video, truth, scored, predictions, score,
                              f"{truth.clip} {detector} tiling={args.tiling}", out)
                notes.append(f"{label}: contact sheet {out}")
            if baseline is not None:
                notes.append(f"{label}: {len(processed)} frames processed, MediaPipe Pose "
                             f"{mp_ms:.1f} ms/frame (found someone on "
                             f"{baseline['frames_with_person']}/{baseline['frames']})")

    print(markdown_header(("clip", "detector", *SCORE_COLUMNS, *TIME_COLUMNS)))
    for row in rows:
        print(row)
    if args.noise_seeds:
        print()
        print(draws_table(runs))
    if notes:
        print()
        for note in notes:
            print(f"* {note}")
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps({
            "machine": {"cpu_threads": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "args": {"clips": args.clips, "frames": args.frames, "detector": args.detector,
                     "tiling": args.tiling, "max_people": args.max_people,
                     "noise_seeds": args.noise_seeds},
            "runs": runs,
        }, indent=1))
        print(f"\nwrote {args.save_json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
