#!/usr/bin/env python3
"""Camera-motion table: how well ``genhmr.camera_motion`` recovers the camera's rotation.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_camera_motion.py [--save-json out/camera_motion.json]

Two kinds of clips, each with a known answer:

* **Turned real frames** (synthetic motion, known to the last digit): the first frame of
  Pose2Sim Demo_MultiPerson cam01 (a lab) and of demo.mp4 (a park), seen by a camera that turns
  by known rotations. A pure rotation maps the image by ``K R K^-1`` whatever the depth, so
  these are exact renders of a turning camera; mild sensor noise is added and, in some, a
  textured block crosses the frame as a stand-in person (its box is passed in, as the job
  passes the tracked people's boxes). Scored: rotation error per frame (max, mean, last).
* **Real static footage**: the four Pose2Sim views (fixed lab cameras, people moving) and
  demo.mp4 (a tripod in a park): any rotation found is drift. Scored: the largest angle.
* **Zoom** (:func:`zoom_rows`): the same turned frames seen through a lens zooming 1.0 -> 1.5x
  over the clip (``K_z R K^-1``, still exact), from the true focal length and, as a job
  without the artist's lens, from one 30 % short or 40 % long. Scored: each frame's focal
  length and rotation against the truth. Every other row also says whether the lens was read
  as zooming (a fixed lens must never be).

Speed is reported against MediaPipe Pose (legacy, complexity 1) on the same real frames in the
same run (``tools/bench_tracking.py``'s baseline), decoding excluded on both sides.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_tracking import media_dir, mediapipe_baseline  # noqa: E402
from genhmr.camera import intrinsics  # noqa: E402
from genhmr.camera_motion import estimate_camera_motion  # noqa: E402
from genhmr.focal_from_turns import refocused  # noqa: E402
from genhmr.synthetic.turned_camera import turned_frames  # noqa: E402
from genhmr.video import read_frames  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

LAB = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"
STATIC_CLIPS = [f"pose2sim/Demo_MultiPerson/videos/cam0{i}.mp4" for i in range(1, 5)]
STATIC_CLIPS.append("demo.mp4")


def _motions(frames: int) -> dict[str, np.ndarray]:
    """Named world-to-camera rotation sequences (F, 3, 3)."""
    t = np.linspace(0.0, 1.0, frames)[:, None]
    rng = np.random.default_rng(7)
    shake = np.cumsum(rng.normal(0.0, 0.08, (frames, 3)), axis=0)  # a hand-held wobble, deg
    shake = cv2.GaussianBlur(shake, (1, 9), 0)
    return {
        "slow pan 3 deg": Rotation.from_euler("y", 3 * t, degrees=True).as_matrix(),
        "pan 12, tilt 4, roll 2": Rotation.from_euler(
            "yxz", np.hstack([12 * t, -4 * t, 2 * np.sin(3 * t)]), degrees=True).as_matrix(),
        "pan 40 (past the view)": Rotation.from_euler("y", 40 * t, degrees=True).as_matrix(),
        "hand-held wobble": Rotation.from_euler("yxz", shake - shake[:1],
                                                degrees=True).as_matrix(),
    }


def _first_frame(path: Path) -> np.ndarray:
    return next(iter(read_frames(path, 0, 1)))[1]


def _zoom_motions(frames: int) -> dict[str, np.ndarray]:
    """Named rotation sequences (F, 3, 3) filmed through a zooming lens in :func:`zoom_rows`:
    three of :func:`_motions` and a tripod that does not turn."""
    motions = _motions(frames)
    return {"tripod (no turn)": np.tile(np.eye(3), (frames, 1, 1)),
            **{name: motions[name] for name in ("pan 12, tilt 4, roll 2",
                                                "pan 40 (past the view)", "hand-held wobble")}}


def zoom_rows(media: Path, frames: int, zoom: float = 1.5,
              starts: tuple[float, ...] = (0.7, 1.4)) -> list[dict[str, Any]]:
    """A zoom lens: the turned clips of :func:`_zoom_motions` (person crossing) seen through a
    lens whose focal length grows evenly from 1 to ``zoom`` times the true one, tracked with
    the true focal length (the artist's lens) and, for the pans, from ``starts`` times it with
    the focal length read from the turns as a job does (``focal_from_turns.refocused``, each
    frame's zoom set free). Scored: the largest error of any frame's focal length and turn."""
    rows = []
    for scene, clip in (("lab", LAB), ("park", "demo.mp4")):
        image = _first_frame(media / clip)
        K = intrinsics(image.shape[1], image.shape[0])
        truth_zoom = np.linspace(1.0, zoom, frames)
        for name, truth in _zoom_motions(frames).items():
            clip_frames, boxes = turned_frames(image, K, truth, walker=True, zooms=truth_zoom)
            for start in (1.0, *(starts if name.startswith("pan") else ())):
                K_start = intrinsics(image.shape[1], image.shape[0], start * K[0, 0])
                t = time.perf_counter()
                motion = estimate_camera_motion(clip_frames, K_start, boxes)
                found = None
                if start != 1.0:
                    motion, K_start, found = refocused(motion, K_start)
                seconds = time.perf_counter() - t
                focal = motion.focal_px(K_start) / (K[0, 0] * truth_zoom) - 1.0
                rows.append({
                    "scene": scene, "motion": name, "zoom": zoom, "start": start,
                    "truth_max_deg": float(np.degrees(
                        Rotation.from_matrix(truth).magnitude()).max()),
                    "zoomed": motion.zoomed,
                    "believed": None if start == 1.0 else bool(found and found.believed),
                    "first_focal_error": float(focal[0]),
                    "focal_error_max": float(focal[np.argmax(np.abs(focal))]),
                    "zoom_found": float(motion.zooms()[-1]),
                    "max_error_deg": _max_error(motion.rotations, truth),
                    "ms_per_frame": 1000 * seconds / frames})
    return rows


def zoom_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`zoom_rows`."""
    lines = ["| scene | camera motion | largest turn (deg) | lens given (x true) | zoom read "
             "(true) | focal error, first frame / largest | turn error, max (deg) | ms/frame |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        given = ("true focal length" if r["start"] == 1.0 else
                 f"{r['start']:.1f}, from the turns"
                 + ("" if r["believed"] else " (not believed: kept)"))
        read = f"{r['zoom_found']:.3f}x" if r["zoomed"] else "none"
        lines.append(f"| {r['scene']} | {r['motion']} | {r['truth_max_deg']:.1f} | {given} "
                     f"| {read} ({r['zoom']:.2f}x) | {100 * r['first_focal_error']:+.1f} % / "
                     f"{100 * r['focal_error_max']:+.1f} % | {r['max_error_deg']:.3f} "
                     f"| {r['ms_per_frame']:.0f} |")
    return lines


def synthetic_rows(media: Path, frames: int) -> list[dict[str, Any]]:
    """Rotation error on real first frames turned by the known rotations of :func:`_motions`,
    with and without a stand-in person crossing."""
    rows = []
    for scene, clip in (("lab", LAB), ("park", "demo.mp4")):
        image = _first_frame(media / clip)
        K = intrinsics(image.shape[1], image.shape[0])
        for name, truth in _motions(frames).items():
            for walker in (False, True):
                clip_frames, boxes = turned_frames(image, K, truth, walker)
                t = time.perf_counter()
                motion = estimate_camera_motion(clip_frames, K, boxes)
                seconds = time.perf_counter() - t
                error = np.degrees(Rotation.from_matrix(
                    motion.rotations @ np.swapaxes(truth, 1, 2)).magnitude())
                rows.append({"scene": scene, "motion": name, "walker": walker,
                             "max_error_deg": float(error.max()),
                             "mean_error_deg": float(error.mean()),
                             "last_error_deg": float(error[-1]),
                             "truth_max_deg": float(np.degrees(
                                 Rotation.from_matrix(truth).magnitude()).max()),
                             "key_frames": len(motion.key_frames),
                             "zoomed": motion.zoomed,
                             "ms_per_frame": 1000 * seconds / frames})
    return rows


def focal_rows(media: Path, frames: int, starts: tuple[float, ...] = (0.7, 1.4)
               ) -> list[dict[str, Any]]:
    """The focal length from the turns (``genhmr.focal_from_turns``): the turned clips of
    :func:`synthetic_rows` (person crossing) tracked from a focal length ``starts`` times the
    true one, as a job without the artist's lens does when the default guess is off; the
    focal length found, and the turns' error before and after they are read again with it."""
    rows = []
    for scene, clip in (("lab", LAB), ("park", "demo.mp4")):
        image = _first_frame(media / clip)
        K = intrinsics(image.shape[1], image.shape[0])
        for name, truth in _motions(frames).items():
            clip_frames, boxes = turned_frames(image, K, truth, walker=True)
            for start in starts:
                K_start = intrinsics(image.shape[1], image.shape[0], start * K[0, 0])
                first = estimate_camera_motion(clip_frames, K_start, boxes)
                t = time.perf_counter()
                motion, K_found, found = refocused(first, K_start)
                seconds = time.perf_counter() - t
                rows.append({
                    "scene": scene, "motion": name, "start": start,
                    "truth_max_deg": float(np.degrees(
                        Rotation.from_matrix(truth).magnitude()).max()),
                    "estimated": found is not None, "believed": bool(found and found.believed),
                    "focal_error": float(K_found[0, 0] / K[0, 0] - 1.0),
                    "found_error": None if found is None else float(found.focal_px / K[0, 0] - 1),
                    "error_before_deg": _max_error(first.rotations, truth),
                    "error_after_deg": _max_error(motion.rotations, truth),
                    "zoomed": motion.zoomed,
                    "seconds": seconds})
    return rows


def _zoom_read(row: dict[str, Any]) -> str:
    """A fixed-lens row's verdict on the lens (rows saved before zoom was read: unknown)."""
    return {None: "—", False: "none", True: "**zoom**"}[row.get("zoomed")]


def _zoom_fit_max(motion: Any) -> float:
    """The turn-and-zoom fit's largest zoom (|focal / first - 1|) over the clip, chosen or
    not: how far its own noise goes on a fixed lens."""
    reading = motion.zoom_lens if motion.zoom_lens is not None else motion
    return float(np.abs(reading.zooms() - 1.0).max())


def _fit_max(row: dict[str, Any]) -> str:
    return "" if "zoom_fit_max" not in row else f" ({100 * row['zoom_fit_max']:.2f} %)"


def _max_error(rotations: np.ndarray, truth: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(
        rotations @ np.swapaxes(truth, 1, 2)).magnitude()).max())


def focal_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`focal_rows`."""
    lines = ["| scene | camera motion | largest turn (deg) | start (x true focal) "
             "| focal found (error) | the job's focal error | turn error before -> after (deg) "
             "| zoom read | seconds |", "|---|---|---:|---:|---|---:|---|---|---:|"]
    for r in rows:
        found = ("none (turned too little)" if not r["estimated"] else
                 f"{100 * r['found_error']:+.1f} %" + ("" if r["believed"] else ", not believed"))
        lines.append(f"| {r['scene']} | {r['motion']} | {r['truth_max_deg']:.1f} "
                     f"| {r['start']:.1f} | {found} | {100 * r['focal_error']:+.1f} % "
                     f"| {r['error_before_deg']:.2f} -> {r['error_after_deg']:.3f} "
                     f"| {_zoom_read(r)} | {r['seconds']:.1f} |")
    return lines


def static_rows(media: Path, mediapipe_ms: Mapping[str, float] | None = None
                ) -> list[dict[str, Any]]:
    """Drift on the fixed cameras of :data:`STATIC_CLIPS`, people not masked. MediaPipe's ms per
    frame on the same frames is measured unless ``mediapipe_ms`` gives it per clip (a caller
    that has just measured it, e.g. ``benchmarks/report.py``, saves running it twice)."""
    rows = []
    for clip in STATIC_CLIPS:
        path = media / clip
        frames = [frame for _, frame in read_frames(path)]
        K = intrinsics(frames[0].shape[1], frames[0].shape[0])
        t = time.perf_counter()
        motion = estimate_camera_motion(frames, K)
        seconds = time.perf_counter() - t
        baseline = (mediapipe_ms or {}).get(clip)
        if baseline is None:
            baseline = mediapipe_baseline(path, np.arange(len(frames)))["ms_per_frame"]
        ms = 1000 * seconds / len(frames)
        rows.append({"clip": clip, "frames": len(frames),
                     "max_angle_deg": float(motion.angles_deg().max()),
                     "static_share": float(motion.static.mean()),
                     "key_frames": len(motion.key_frames), "ms_per_frame": ms,
                     "zoomed": motion.zoomed, "zoom_fit_max": _zoom_fit_max(motion),
                     "mediapipe_ms_per_frame": float(baseline),
                     "x_mediapipe": ms / float(baseline)})
    return rows


def synthetic_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`synthetic_rows`."""
    lines = ["| scene | camera motion | person crossing | largest turn (deg) | max error (deg) "
             "| mean error (deg) | error at the end (deg) | key frames | zoom read | ms/frame |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['scene']} | {r['motion']} | {'yes' if r['walker'] else 'no'} "
                     f"| {r['truth_max_deg']:.1f} | {r['max_error_deg']:.3f} "
                     f"| {r['mean_error_deg']:.3f} | {r['last_error_deg']:.3f} "
                     f"| {r['key_frames']} | {_zoom_read(r)} | {r['ms_per_frame']:.1f} |")
    return lines


def static_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`static_rows`."""
    lines = ["| static clip | frames | largest angle found (deg) | frames judged static "
             "| key frames | zoom read (the zoom fit's largest) | ms/frame | x MP |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['frames']} | {r['max_angle_deg']:.4f} "
                     f"| {100 * r['static_share']:.0f} % | {r['key_frames']} "
                     f"| {_zoom_read(r)}{_fit_max(r)} "
                     f"| {r['ms_per_frame']:.1f} | {r['x_mediapipe']:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per synthetic clip")
    parser.add_argument("--save-json", type=Path)
    args = parser.parse_args()
    media = media_dir()
    synthetic = synthetic_rows(media, args.frames)
    print("\n".join(synthetic_table(synthetic)))
    focal = focal_rows(media, args.frames)
    print()
    print("\n".join(focal_table(focal)))
    zoom = zoom_rows(media, args.frames)
    print()
    print("\n".join(zoom_table(zoom)))
    static = static_rows(media)
    print()
    print("\n".join(static_table(static)))
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps(
            {"machine": platform.platform(), "synthetic": synthetic, "focal": focal,
             "zoom": zoom, "static": static}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
