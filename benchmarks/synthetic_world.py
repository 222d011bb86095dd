"""Synthetic clips with a known moving camera and known feet, through the product's world stages.

The default body (a random shape) performs registry motion (a walk, a jump, a run, boxing on
the spot) on the floor of a real lab, filmed by that lab's calibrated camera (Pose2Sim cam01,
its published calibration), fixed, panning to follow the person or hand-held, by known
rotations, and once zooming in by a known amount while it follows. **Real**: the lab's picture
(its first frame, turned by each frame's known rotation and seen through each frame's known
focal length: exact for a turning, zooming camera) and the product's own stages on it: camera
motion from those frames (the person's box masked, a textured stand-in moving inside it), the
solve (the generative model and refinement, as a job runs them), the floor (its tilt from the
lab's vertical edges), contacts, depth smoothing and foot locking. **Synthetic**: the person is
not in the pixels; what the detector would report (2D keypoints, visibility, metric landmarks,
misses, swaps) is drawn from the fitted MediaPipe noise model around the body's projected
keypoints, and detection and tracking are skipped (``genhmr.synthetic.world_clip``). The walk
and the jump are training clips of the shipped model, the run is held out; boxing is in its
training data too. Truth contacts: a heel or big toe at most 5 cm over the floor and moving
along it at most 0.15 m/s (5 mm/frame at 30 fps). Positions are compared in the scene's world,
each floor (ours, the truth's) made level and put under its own camera, nothing fitted to the
people (what the Blender scene shows).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from genhmr import job_store, pipeline
from genhmr.perception import Tracks, consistent_sides
from genhmr.synthetic.conditioning import BatchedKeypointBody
from genhmr.synthetic.noise import NoiseModel
from genhmr.synthetic.world_clip import (
    ClipSpec,
    SceneCamera,
    WorldClip,
    load_motion,
    make_clip,
    write_video,
)
from genhmr.video import probe, read_frames

from genhmr_core.ground import FOOT_POINTS
from genhmr_core.keypoints import KEYPOINT_INDEX
from genhmr_core.result_format import JobResult, load_result
from genhmr_core.scene_space import to_world_axes

from . import pose2sim_3d
from .scoring import pa_mpjpe_mm
from .world_metrics import (
    contact_precision_recall,
    deepest_mm,
    on_floor,
    rotation_errors_deg,
    share_below,
    sliding_pair,
    trajectory_errors,
    true_contacts,
)

LAB = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"
CLIPS = (
    ClipSpec("walk, fixed camera", "deepmimic/walk", "fixed", loops=2, heading_deg=110,
             distance_m=4.0, seed=0),
    ClipSpec("walk, camera follows", "deepmimic/walk", "follow", loops=2, heading_deg=30,
             distance_m=3.8, across_m=1.1, seed=1),
    ClipSpec("jump, hand-held", "deepmimic/jump", "wobble", hold=10, heading_deg=30,
             distance_m=4.0, seed=2),
    ClipSpec("run, camera follows", "deepmimic/run", "follow", loops=2, heading_deg=135,
             distance_m=7.0, across_m=-2.0, seed=3),
    ClipSpec("boxing on the spot, slow pan", "boxing/Boxing_Toes", "slow pan", start=100,
             frames=75, heading_deg=-90, distance_m=3.0, across_m=0.4, seed=4),
    # the follow-walk's camera zooming in to 1.3x as it pans (1.5x would push the walker's head
    # out of the top of the picture: the lab's camera looks 25 degrees down)
    ClipSpec("walk, camera follows and zooms in 1.3x", "deepmimic/walk", "follow", loops=2,
             heading_deg=30, distance_m=3.8, across_m=1.1, seed=1, zoom=1.3),
)
SPEC_FILE = "synthetic_clip.json"
LEG = [KEYPOINT_INDEX[f"left_{part}"] for part in ("hip", "knee", "ankle")]


def lab_camera(media: Path) -> SceneCamera:
    """Pose2Sim cam01's first frame and its published calibration (the lab floor z = 0)."""
    truth = np.load(pose2sim_3d.TRUTH, allow_pickle=False)
    image = next(iter(read_frames(media / LAB, 0, 1)))[1]
    return SceneCamera(image=image, K=truth["K"][0].astype(np.float64),
                       R=truth["R_published"][0].astype(np.float64),
                       t=truth["t_published"][0].astype(np.float64))


def clip_tracks(clip: WorldClip) -> Tracks:
    """The clip's detections as the tracker hands them to the 3D stage: one person, left and
    right made consistent over the track as a job does (``perception.consistent_sides``). The
    detector's own 33 landmarks are not simulated (zeros: only reports read them)."""
    frames = clip.num_frames
    tracks = Tracks(frame_indices=np.arange(frames, dtype=np.int64),
                    valid=clip.detected[None].copy(),
                    keypoints2d=clip.keypoints2d[None].astype(np.float32),
                    world_keypoints=clip.world_keypoints[None].astype(np.float32),
                    boxes=clip.boxes[None].astype(np.float32),
                    landmarks2d=np.zeros((1, frames, 33, 3), np.float32),
                    world_landmarks=np.zeros((1, frames, 33, 3), np.float32))
    return consistent_sides(tracks)


def solve(video: Path, folder: Path, tracks: Tracks, models: tuple[Any, Any]) -> JobResult:
    """The product's job from its tracks on (``pipeline.run_job`` after detection and
    tracking, step for step with its own functions): camera motion from the footage, each
    person's solve, the floor sizing, then ``pipeline.finish``. Writes a job folder."""
    body, generative = models
    options = pipeline.JobOptions(video=str(video), out_dir=str(folder))
    info = probe(video)
    job_store.save_options(folder, options)
    job_store.save_tracks(folder, tracks)
    # the product's own steps after tracking (pipeline.solve_tracks, added by the lead: it
    # replaced a copy of them here; with no lens given it also reads the focal length from
    # the camera's turns)
    result, _ = pipeline.solve_tracks(options, info, tracks, (body, generative),
                                      pipeline.resolve_device(options.device))
    return result


def score(clip: WorldClip, result: JobResult) -> dict[str, Any]:
    """One clip's product result against its truth (module docstring)."""
    seen = np.asarray(result.valid[0], dtype=bool)
    normal, offset = clip.floor_in_first_camera()
    plane = np.asarray(result.ground_plane, dtype=np.float64)
    feet = list(FOOT_POINTS)
    true_points = on_floor(clip.to_first_camera(clip.keypoints), normal, offset)
    true_root = on_floor(clip.to_first_camera(clip.joints[:, 0]), normal, offset)
    ours = on_floor(to_world_axes(result.keypoints3d[0], result.camera_rotation),
                    plane[:3], plane[3])
    our_root = on_floor(to_world_axes(result.joints3d[0][:, :1], result.camera_rotation),
                        plane[:3], plane[3])[:, 0]
    planted = true_contacts(true_points[:, feet], clip.fps)
    contact = np.asarray(result.foot_contact[0], dtype=np.float64)
    usable = np.repeat(seen[:, None], len(feet), axis=1)
    slide, true_slide = sliding_pair(ours[:, feet], true_points[:, feet],
                                     planted.astype(np.float64), usable)
    own_slide, _ = sliding_pair(ours[:, feet], true_points[:, feet],
                                np.where(usable, contact, 0.0), usable)
    precision, recall = contact_precision_recall(contact, planted, seen)
    support = (np.zeros(len(seen)) if result.support_height is None
               else np.asarray(result.support_height[0], dtype=np.float64))
    lowest = (ours[:, feet, 1].min(axis=1) - support)[seen]
    camera = rotation_errors_deg(result.camera_rotation, clip.turn)
    focal = result.intrinsics()[:, 0, 0] / (clip.K[0, 0] * clip.zooms()) - 1.0  # per frame
    turn = rotation_errors_deg(None, clip.turn)
    cos = float(np.dot(plane[:3], normal) / np.linalg.norm(plane[:3]))
    leg = _leg_m(np.asarray(result.keypoints3d[0], np.float64)[seen]) / _leg_m(clip.keypoints)
    return {
        "clip": clip.spec.name, "motion": clip.spec.motion, "camera": clip.spec.camera,
        "frames": int(seen.sum()), "fps": clip.fps,
        "largest_turn_deg": float(turn.max()),
        "camera_error_max_deg": float(camera.max()),
        "camera_error_mean_deg": float(camera.mean()),
        "focal_error": float(result.camera_K[0, 0] / clip.K[0, 0] - 1.0),
        "focal_error_max": float(focal[np.argmax(np.abs(focal))]),
        "zoom": float(clip.zooms().max() / clip.zooms().min()),
        "zoom_found": float(result.intrinsics()[:, 0, 0].max()
                            / result.intrinsics()[:, 0, 0].min()),
        "tilt_error_deg": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))),
        "camera_height_m": float(-plane[3] / np.linalg.norm(plane[:3])),
        "true_camera_height_m": -offset,
        "leg_ratio": leg,
        "pa_mpjpe_mm": pa_mpjpe_mm(result.keypoints3d[0], clip.keypoints, seen)[0],
        "true_contact_share": float(planted[seen].any(axis=1).mean()),
        "sliding_true_contacts_mm": slide, "truth_sliding_mm": true_slide,
        "sliding_own_contacts_mm": own_slide,
        "contact_precision": precision, "contact_recall": recall,
        "below_support_2cm_share": share_below(lowest),
        "deepest_under_support_mm": deepest_mm(lowest),
        **{f"root_{k}": v for k, v in trajectory_errors(our_root, true_root, seen).items()},
    }


def rows(media: Path, models: tuple[Any, Any], folder: Path,
         motion_dir: Path | None = None) -> dict[str, Any]:
    """Every clip of :data:`CLIPS` made, solved (reusing a finished job folder for the same
    clip) and scored; with the seconds the section took."""
    start = time.perf_counter()
    motion_dir = motion_dir or _motion_dir()
    camera = lab_camera(media)
    keypoint_body = BatchedKeypointBody(models[0])
    noise = NoiseModel.load()
    out = []
    for spec in CLIPS:
        clip = make_clip(spec, load_motion(motion_dir, spec.motion), camera, keypoint_body,
                         noise)
        job = folder / spec.name.split(",")[0].replace(" ", "_") / spec.camera.replace(" ", "_")
        if spec.zoom != 1.0:
            job = job.with_name(f"{job.name}_zoom")
        described = json.dumps(dataclasses.asdict(spec), sort_keys=True)
        finished = ((job / SPEC_FILE).is_file() and (job / SPEC_FILE).read_text() == described
                    and (job / job_store.RESULT_FILE).is_file())
        t = time.perf_counter()
        if finished:
            result = load_result(job / job_store.RESULT_FILE)
        else:
            (job / SPEC_FILE).unlink(missing_ok=True)
            video = write_video(clip.frames(camera.image), job / "footage.avi", clip.fps)
            result = solve(video, job, clip_tracks(clip), models)
            (job / SPEC_FILE).write_text(described)
        out.append({**score(clip, result), "seconds": time.perf_counter() - t})
    return {"rows": out, "seconds": time.perf_counter() - start}


def _leg_m(keypoints: np.ndarray) -> float:
    """Median hip-knee-ankle length (metres) of keypoints (F, 25, 3): the body's size."""
    bones = np.linalg.norm(np.diff(keypoints[:, LEG], axis=1), axis=-1).sum(axis=1)
    return float(np.median(bones))


def _motion_dir() -> Path:
    cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
    return Path(os.environ.get("GENHMR_MOTION_DIR", cache / "motion_sources"))


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The clips' table for the report."""
    lines = ["| clip | frames | largest turn | camera error, max (mean) | focal error | floor "
             "tilt error, camera height (true) | frames with a true contact | sliding on the "
             "true contacts mm/frame (truth's) | sliding on our contacts | contacts: "
             "precision / recall | frames > 2 cm under the support, deepest | root error, "
             "world (motion only) | travel, ours / true | leg, ours / true | PA-MPJPE mm |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['frames']} | {r['largest_turn_deg']:.1f}° "
            f"| {r['camera_error_max_deg']:.3f}° ({r['camera_error_mean_deg']:.3f}°) "
            f"| {_focal(r)} "
            f"| {r['tilt_error_deg']:.1f}°, {r['camera_height_m']:.2f} m "
            f"({r['true_camera_height_m']:.2f}) | {100 * r['true_contact_share']:.0f} % "
            f"| {_f(r['sliding_true_contacts_mm'])} ({_f(r['truth_sliding_mm'])}) "
            f"| {_f(r['sliding_own_contacts_mm'])} "
            f"| {_pct(r['contact_precision'])} / {_pct(r['contact_recall'])} "
            f"| {100 * r['below_support_2cm_share']:.0f} %, "
            f"{r['deepest_under_support_mm']:.0f} mm "
            f"| {r['root_error_m']:.2f} m ({r['root_shape_error_m']:.2f} m) "
            f"| {_f(r['root_travel_ratio'], 2)} | {r['leg_ratio']:.2f} "
            f"| {_f(r.get('pa_mpjpe_mm'))} |")
    return lines


def _focal(row: dict[str, Any]) -> str:
    """The focal error cell: the first frame's; where the lens zoomed (or was read as zooming)
    also the largest over the frames and the zoom found against the true one."""
    cell = f"{100 * row['focal_error']:+.1f} %"
    zoom, found = row.get("zoom", 1.0), row.get("zoom_found", 1.0)
    if zoom == 1.0 and found == 1.0:
        return cell
    return (f"{cell}, {100 * row['focal_error_max']:+.1f} % at most; zoom {found:.3f}x "
            f"({zoom:.3f}x)")


def _f(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{100 * value:.0f} %"
