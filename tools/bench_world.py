#!/usr/bin/env python3
"""World-space table: the floor and the camera's tilt and height against a real calibration,
and the feet and root on demo.mp4.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_world.py [--jobs out/bench_world] [--save-json out/world.json]

* **Pose2Sim Demo_MultiPerson, 4 calibrated views** (static cameras 1.7-2.1 m up, pitched
  18-34 degrees down): each view goes through the product's job with its default options; the
  floor it finds (``ground_plane``) is compared with the truth from the calibration in
  ``benchmarks/truth/pose2sim_multiperson_joints3d.npz`` (the lab's up in each camera's axes,
  the camera centre's height above the lab floor). Also shown: the level floor the product used
  before the tilt was estimated, from the same job's feet. Per tracked person (matched to a
  truth person by their hips in the picture): the pelvis against the triangulated mid-hip in
  the camera frame, with no alignment (median error, in metres and as a share of the distance;
  the median ratio of our depth to the true one), the largest pelvis step against the truth's,
  and the leg length (hip-knee-ankle) against the truth's, which shows how much of the depth
  error is the body's size.
* **demo.mp4** (no calibration): per person, foot sliding while in contact, ground
  penetration (share of frames with the lowest foot point more than 2 cm under the floor), the
  largest root speed and the median reprojection error, for the product and for the same job
  with foot locking and depth smoothing off.

``--jobs DIR`` keeps each job's folder there and reuses a result already in it (delete the
folder after changing the pipeline). ``--refinish`` keeps the folders' solves (the bodies in the
camera frame, ``solve.npz``) and runs only the world-space steps again (``pipeline.finish``: depth
smoothing, the floor, contacts, foot locking), writing a new ``result.npz``: after a change to
those steps, a before/after on the same bodies in seconds instead of minutes per view.

The floor's tilt is compared with two truths: the calibration as the truth file uses it (each
camera's rotation touched up from the people by 0.2-1.8 degrees, benchmarks/truth/README.md)
and as published (the lab's Qualisys calibration, ``R_published``), whose up is the lab's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
from bench_tracking import media_dir  # noqa: E402
from genhmr import job_store  # noqa: E402
from genhmr.camera import project  # noqa: E402
from genhmr.pipeline import JobOptions, finish, run_job  # noqa: E402

from genhmr_core.contacts import CONTACT_INDEX, sliding_mm_per_frame  # noqa: E402
from genhmr_core.ground import FOOT_POINTS, UP, Ground, ground_of_solve  # noqa: E402
from genhmr_core.keypoints import KEYPOINT_INDEX, mediapipe_to_keypoints_index  # noqa: E402
from genhmr_core.result_format import JobResult, load_result, save_result  # noqa: E402
from genhmr_core.scene_space import level_rotation, to_world_axes  # noqa: E402

TRUTH = ROOT / "benchmarks" / "truth" / "pose2sim_multiperson_joints3d.npz"
VIEWS = ("cam01", "cam02", "cam03", "cam04")
_HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]
_LEG = [KEYPOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle")]


def job(video: Path, out: Path, refinish: bool = False, **options: Any) -> JobResult:
    """The result of the product's job on ``video`` in the folder ``out``: run once, then
    reused; ``refinish``: its world-space steps run again on the folder's solve."""
    path = out / "result.npz"
    if not path.is_file():
        run_job(JobOptions(video=str(video), out_dir=str(out), **options))
    elif refinish:
        saved = JobOptions(**{**job_store.load_options(out), "out_dir": str(out)})
        save_result(finish(load_result(out / job_store.SOLVE_FILE), saved), path)
    return load_result(path)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                              -1.0, 1.0))))


def pose2sim_rows(media: Path, jobs: Path, refinish: bool = False) -> list[dict[str, Any]]:
    truth = np.load(TRUTH, allow_pickle=False)
    rows = []
    for v, view in enumerate(VIEWS):
        video = media / "pose2sim" / "Demo_MultiPerson" / "videos" / f"{view}.mp4"
        result = job(video, jobs / f"pose2sim_{view}", refinish)
        rows.append({**floor_row(result, truth, v), "people": pelvis_rows(result, truth, v)})
    return rows


def true_floor(truth: Any, view: int, published: bool = False) -> tuple[np.ndarray, float]:
    """The lab's up in camera ``view``'s axes (OpenCV) and the camera centre's height above the
    lab floor (z = 0), from the truth file's calibration (``published``: the lab's own)."""
    rotation = truth["R_published" if published else "R"][view].astype(np.float64)
    translation = truth["t_published" if published else "t"][view].astype(np.float64)
    return rotation[:, 2], float((-rotation.T @ translation)[2])


def floor_row(result: JobResult, truth: Any, view: int) -> dict[str, Any]:
    """One view's floor against the calibration: tilt error (against the truth file's and the
    published calibration), camera height, focal length; and the level floor from the same
    job's feet (the rule before the tilt was estimated)."""
    up_true, height_true = true_floor(truth, view)
    plane = np.asarray(result.ground_plane, dtype=np.float64)
    level = ground_of_solve(result.keypoints3d, result.global_orient, result.valid,
                            result.camera_rotation, tilt=False)
    return {"view": VIEWS[view], "true_tilt_deg": _angle_deg(up_true, UP),
            "tilt_error_published_deg": _angle_deg(plane[:3], true_floor(truth, view, True)[0]),
            "true_height_m": height_true,
            "level_tilt_error_deg": _angle_deg(level.normal, up_true),
            "level_height_m": level.camera_height,
            "tilt_error_deg": _angle_deg(plane[:3], up_true),
            "height_m": float(-plane[3]),
            "focal_px": float(result.camera_K[0, 0]),
            "true_focal_px": float(truth["K"][view][0, 0])}


def _leg_length(points: np.ndarray) -> float:
    """Median hip-knee-ankle length of keypoints (N, K, 3)."""
    bones = np.linalg.norm(np.diff(points[:, _LEG], axis=1), axis=-1).sum(axis=1)
    return float(np.nanmedian(bones))


def pelvis_rows(result: JobResult, truth: Any, view: int) -> list[dict[str, Any]]:
    """Per tracked person, the pelvis in the camera frame against the triangulated truth of
    the truth person whose hips are nearest in the picture (median distance)."""
    rotation = truth["R"][view].astype(np.float64)
    # the truth's 33 MediaPipe joints as our keypoints, in this camera's axes
    joints = (truth["joints3d"][:, :, mediapipe_to_keypoints_index()].astype(np.float64)
              @ rotation.T + truth["t"][view])
    hips = joints[:, :, _HIPS].mean(axis=2)  # (T, people, 3)
    hips_px = project(hips, truth["K"][view].astype(np.float64))
    rows_of_frame = np.arange(result.valid.shape[1]) - int(truth["offsets"][view])
    inside = (rows_of_frame >= 0) & (rows_of_frame < len(joints))
    out = []
    for p in range(result.num_people):
        seen = result.valid[p] & inside
        if not seen.any():
            continue
        rows = rows_of_frame[seen]
        ours_px = result.keypoints2d[p][seen][:, _HIPS, :2].mean(axis=1)
        distance = [float(np.median(np.linalg.norm(ours_px - hips_px[rows, q], axis=1)))
                    for q in range(hips.shape[1])]
        q = int(np.argmin(distance))
        true = hips[rows, q]
        ours = (result.transl[p] + result.rest_joints[p, 0])[seen].astype(np.float64)
        error = np.linalg.norm(ours - true, axis=1)
        out.append({
            "track": p, "truth_person": str(truth["person_descriptions"][q]).split(" (")[0],
            "frames": int(seen.sum()), "hips_px_apart": distance[q],
            "pelvis_error_m": float(np.median(error)),
            "pelvis_error_share": float(np.median(error / np.linalg.norm(true, axis=1))),
            "depth_ratio": float(np.median(ours[:, 2] / true[:, 2])),
            "max_step_cm": float(100 * np.linalg.norm(np.diff(ours, axis=0), axis=1).max()),
            "true_max_step_cm": float(100 * np.linalg.norm(np.diff(true, axis=0),
                                                           axis=1).max()),
            "leg_ratio": _leg_length(result.keypoints3d[p][seen].astype(np.float64))
            / _leg_length(joints[rows, q])})
    return out


def feet_and_root(result: JobResult) -> list[dict[str, float]]:
    """Per person: sliding in contact, penetration, largest root speed, reprojection. Sliding is
    measured with the floor made level (``scene_space.level_rotation``), so that the measure's
    horizontal (x, z) is the floor's, whatever the camera's pitch; penetration is the lowest
    foot point's depth under the floor and under the person's own support (``support_height``:
    the box top for someone on a box)."""
    plane = np.asarray(result.ground_plane, dtype=np.float64)
    ground = Ground(normal=plane[:3], offset=float(plane[3]), levels=(0.0,), support=(0,),
                    estimated=True)
    level = level_rotation(plane[:3])
    frames_K = result.intrinsics()  # (F, 3, 3)
    out = []
    for p in range(result.num_people):
        seen = result.valid[p]
        world = to_world_axes(result.keypoints3d[p], result.camera_rotation)
        lowest = ground.height_above(world[:, list(FOOT_POINTS)]).min(axis=1)[seen]
        support = (np.zeros(len(lowest)) if result.support_height is None
                   else np.asarray(result.support_height[p], dtype=np.float64)[seen])
        root = to_world_axes(result.transl[p] + result.rest_joints[p, 0],
                             result.camera_rotation)[seen]
        frames = np.flatnonzero(seen)
        speed = np.linalg.norm(np.diff(root, axis=0), axis=1) * result.fps / np.diff(frames)
        kp = result.keypoints3d[p][seen]
        K = frames_K[seen]
        pixels = kp[..., :2] / kp[..., 2:] * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
        detected = result.keypoints2d[p][seen]
        confident = detected[..., 2] > 0.5
        error = np.linalg.norm(pixels - detected[..., :2], axis=-1)[confident]
        out.append({"sliding_mm_per_frame": sliding_mm_per_frame(
                        world[:, list(CONTACT_INDEX)] @ level.T, result.foot_contact[p]),
                    "below_2cm_share": float(np.mean(lowest < -0.02)),
                    "below_support_2cm_share": float(np.mean(lowest - support < -0.02)),
                    "median_foot_height_m": float(np.median(lowest)),
                    "median_over_support_m": float(np.median(lowest - support)),
                    "support_levels_m": {f"{h:.2f}": int(n) for h, n in zip(
                        *np.unique(np.round(support, 2), return_counts=True), strict=True)},
                    "contact_share": float(np.mean(
                        (np.asarray(result.foot_contact[p]) >= 0.5).any(axis=1)[seen])),
                    "max_root_speed_m_s": float(speed.max()) if len(speed) else float("nan"),
                    "reprojection_median_px": float(np.median(error))})
    return out


def floor_table(views: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`floor_row` rows."""
    lines = ["| view | true tilt | true camera height | level: tilt error, height "
             "| the product: tilt error, height | tilt error against the published "
             "calibration | focal (true) |", "|---|---:|---:|---|---|---:|---|"]
    for r in views:
        lines.append(f"| {r['view']} | {r['true_tilt_deg']:.1f}° | {r['true_height_m']:.2f} m "
                     f"| {r['level_tilt_error_deg']:.1f}°, {r['level_height_m']:.2f} m "
                     f"| {r['tilt_error_deg']:.1f}°, {r['height_m']:.2f} m "
                     f"| {r['tilt_error_published_deg']:.1f}° "
                     f"| {r['focal_px']:.0f} px ({r['true_focal_px']:.0f}) |")
    return lines


def feet_table(jobs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown table of :func:`feet_and_root` rows, per person, for each named job."""
    lines = ["| demo.mp4 person | job | sliding in contact (mm/frame) | frames > 2 cm under the "
             "floor / under their support | max root speed (m/s) | reprojection median (px) |",
             "|---|---|---:|---:|---:|---:|"]
    people = len(next(iter(jobs.values())))
    for p in range(people):
        for name, rows in jobs.items():
            r = rows[p]
            lines.append(f"| {p} | {name} | {r['sliding_mm_per_frame']:.1f} "
                         f"| {100 * r['below_2cm_share']:.0f} % / "
                         f"{100 * r['below_support_2cm_share']:.0f} % "
                         f"| {r['max_root_speed_m_s']:.1f} "
                         f"| {r['reprojection_median_px']:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_world")
    parser.add_argument("--save-json", type=Path)
    parser.add_argument("--refinish", action="store_true",
                        help="run only the world-space steps again on each job's saved solve")
    args = parser.parse_args()
    media = media_dir()
    views = pose2sim_rows(media, args.jobs, args.refinish)
    print("\n".join(floor_table(views)))
    print()
    print("| view | person | pelvis error, camera frame | our depth / true | largest pelvis "
          "step (truth) | our leg / true leg |")
    print("|---|---|---:|---:|---:|---:|")
    for r in views:
        for person in r["people"]:
            share = 100 * person["pelvis_error_share"]
            print(f"| {r['view']} | {person['truth_person']} "
                  f"| {person['pelvis_error_m']:.2f} m ({share:.0f} %) "
                  f"| {person['depth_ratio']:.2f} | {person['max_step_cm']:.0f} cm "
                  f"({person['true_max_step_cm']:.0f}) | {person['leg_ratio']:.2f} |")
    demo = media / "demo.mp4"
    product = feet_and_root(job(demo, args.jobs / "demo", args.refinish))
    raw = feet_and_root(job(demo, args.jobs / "demo_raw", args.refinish, foot_locking=False,
                            depth_smoothing_s=0.0))
    print()
    print("\n".join(feet_table({"no smoothing, no locking": raw, "the product": product})))
    if args.save_json:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps({"pose2sim": views, "demo_product": product,
                                              "demo_raw": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
