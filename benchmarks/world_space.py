"""World space (issue #13): the footage's camera, the floor, the feet on it.

Three parts, each against what is known. **Camera motion**: real first frames (Pose2Sim cam01,
a lab; demo.mp4, a park) seen by a camera turned by known rotations (a pure turn maps the image
by K R K^-1 whatever the depth, so these are exact renders of a turning camera), with and
without a stand-in person crossing; and the real fixed cameras (the four Pose2Sim views,
demo.mp4 on its tripod), where any turn found is drift (``tools/bench_camera_motion.py``);
and the turned frames seen through a lens zooming 1.0 -> 1.5x, where each frame's focal
length is scored too.
**Synthetic clips** (``synthetic_world.py``): the default body walking, jumping, running and
boxing on the lab's floor under the lab's calibrated camera, fixed, panning or hand-held by
known rotations, the detector's keypoints drawn from the MediaPipe noise model: camera and
focal error, the floor, foot sliding on the true contacts, contacts found, penetration and the
root's world trajectory against an exact truth.
**Pose2Sim Demo_MultiPerson** (static, calibrated): the floor each view's job finds against
the calibration (tilt, camera height, focal length; ``tools/bench_world.py``); per person,
matched and on the frames as in the 3D table above (tracked, and triangulated from at least
three views), the pelvis in the scene's
world (each floor made level and put at z = 0 under its own camera, nothing fitted to people:
what the Blender scene shows), foot sliding while in contact against the triangulated truth's
own sliding on the same planted frames (our contacts, where the truth's foot point is
trusted), and the lowest foot point against the floor. **demo.mp4** (no truth): per person,
foot sliding in contact, ground penetration (frames with the lowest foot point more than 2 cm
under the person's own support: the grass, or the box top), the largest root speed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from bench_camera_motion import (
    focal_rows,
    focal_table,
    static_rows,
    static_table,
    synthetic_rows,
    synthetic_table,
    zoom_rows,
    zoom_table,
)
from bench_world import feet_and_root, floor_row, floor_table, true_floor

from genhmr_core.contacts import CONTACT_INDEX
from genhmr_core.ground import FOOT_POINTS
from genhmr_core.result_format import JobResult
from genhmr_core.scene_space import to_world_axes

from . import pose2sim_3d, synthetic_world
from .methods import Bodies
from .scoring import HIPS
from .world_metrics import on_floor, share_below, sliding_pair

SYNTHETIC_FRAMES = 60  # frames per turned-camera clip, as tools/bench_camera_motion.py


def camera_motion(media: Path, mediapipe_ms: Mapping[str, float] | None = None
                  ) -> dict[str, Any]:
    """Every turned-camera clip (also tracked from a wrong focal length, which the turns
    correct, and through a zooming lens) and every static clip (about three minutes on 2
    cores)."""
    t = time.perf_counter()
    synthetic = synthetic_rows(media, SYNTHETIC_FRAMES)
    focal = focal_rows(media, SYNTHETIC_FRAMES)
    zoom = zoom_rows(media, SYNTHETIC_FRAMES)
    static = static_rows(media, mediapipe_ms)
    return {"synthetic": synthetic, "focal": focal, "zoom": zoom, "static": static,
            "seconds": time.perf_counter() - t}


def synthetic_clips(media: Path, models: tuple[Any, Any], folder: Path) -> dict[str, Any]:
    """The synthetic clips with a known moving camera and known feet through the product's
    stages (``synthetic_world``; about 3 minutes on 2 cores, finished job folders reused)."""
    return synthetic_world.rows(media, models, folder)


def _bodies(result: JobResult) -> Bodies:
    """The product's result as the 3D table's matching takes it (hips in the picture)."""
    hips = np.asarray(result.keypoints2d, dtype=np.float64)[:, :, list(HIPS), :2].mean(axis=2)
    valid = np.asarray(result.valid, dtype=bool)
    return Bodies(keypoints=np.asarray(result.keypoints3d, dtype=np.float64), valid=valid,
                  placed=True, hips_px=np.where(valid[..., None], hips, np.nan))


def pose2sim_view(result: JobResult, view: int) -> dict[str, Any]:
    """One view's floor against the calibration and its people in the world against the
    truth's, both floors made level and put under their own camera (:func:`on_floor`)."""
    truth_file = np.load(pose2sim_3d.TRUTH, allow_pickle=False)
    floor = floor_row(result, truth_file, view)
    up_true, height_true = true_floor(truth_file, view)
    truth = pose2sim_3d.view_truth(view, result.valid.shape[1])
    bodies = _bodies(result)
    plane = np.asarray(result.ground_plane, dtype=np.float64)
    feet = list(CONTACT_INDEX)
    people = []
    for p, q in pose2sim_3d.match_people(bodies, truth).items():
        seen = bodies.valid[p] & truth.known[:, q]
        ours = on_floor(to_world_axes(bodies.keypoints[p], result.camera_rotation),
                        plane[:3], plane[3])
        true = on_floor(truth.keypoints[:, q], up_true, -height_true)
        pelvis = ours[:, list(HIPS)].mean(axis=1)[seen]
        true_pelvis = true[:, list(HIPS)].mean(axis=1)[seen]
        contact = np.where(seen[:, None], np.asarray(result.foot_contact[p]), 0.0)
        slide, true_slide = sliding_pair(ours[:, feet], true[:, feet], contact,
                                         truth.trusted[:, q][:, feet])
        support = (np.zeros(len(seen)) if result.support_height is None
                   else np.asarray(result.support_height[p], dtype=np.float64))
        lowest = ours[:, list(FOOT_POINTS), 1].min(axis=1)
        true_lowest = true[:, list(FOOT_POINTS), 1].min(axis=1)
        people.append({
            "view": floor["view"], "person": truth.names[q], "track": p,
            "frames": int(seen.sum()),
            "pelvis_error_m": float(np.median(np.linalg.norm(pelvis - true_pelvis, axis=1))),
            "pelvis_height_error_m": float(np.median(pelvis[:, 1] - true_pelvis[:, 1])),
            "contact_share": float(np.mean((contact >= 0.5).any(axis=1)[seen])),
            "sliding_mm_per_frame": slide, "truth_sliding_mm_per_frame": true_slide,
            "below_support_2cm_share": share_below((lowest - support)[seen]),
            "median_foot_height_m": float(np.median(lowest[seen])),
            "truth_median_foot_height_m": float(np.median(true_lowest[seen]))})
    return {"floor": floor, "people": people, "fps": float(result.fps)}


def demo_people(result: JobResult) -> list[dict[str, Any]]:
    """demo.mp4, per person (``tools/bench_world.py``'s measures)."""
    return [{"track": p, **row} for p, row in enumerate(feet_and_root(result))]


def people_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| view | person | frames | pelvis error, world (height error) | frames in "
             "contact | sliding in contact mm/frame (truth's, same frames) | frames > 2 cm "
             "under the support | lowest foot, median (truth's) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['view']} | {r['person']} (#{r['track']}) | {r['frames']} "
            f"| {r['pelvis_error_m']:.2f} m ({_cm(r['pelvis_height_error_m'])} cm) "
            f"| {100 * r['contact_share']:.0f} % | {_f(r['sliding_mm_per_frame'])} "
            f"({_f(r['truth_sliding_mm_per_frame'])}) "
            f"| {100 * r['below_support_2cm_share']:.0f} % "
            f"| {_cm(r['median_foot_height_m'])} cm ({_cm(r['truth_median_foot_height_m'])}) |")
    return lines


def demo_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| track | frames in contact | sliding in contact mm/frame | frames > 2 cm under "
             "the support (under the floor) | lowest foot over the support, median "
             "| support levels: frames | max root speed m/s | reprojection median px |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        levels = ", ".join(f"{h} m: {n}" for h, n in r["support_levels_m"].items())
        lines.append(f"| #{r['track']} | {100 * r['contact_share']:.0f} % "
                     f"| {_f(r['sliding_mm_per_frame'])} "
                     f"| {100 * r['below_support_2cm_share']:.0f} % "
                     f"({100 * r['below_2cm_share']:.0f} %) "
                     f"| {_cm(r['median_over_support_m'], 1)} cm | {levels} "
                     f"| {r['max_root_speed_m_s']:.1f} | {r['reprojection_median_px']:.2f} |")
    return lines


def targets_table(world: dict[str, Any]) -> list[str]:
    """Issue #13's targets against this run (its "Targets" section; the floor's tilt from
    docs/world_space.md)."""
    lines = ["| target (issue #13, the product) | wanted | measured | |", "|---|---|---|---|"]

    def row(name: str, wanted: str, measured: str, met: bool | None) -> None:
        verdict = "—" if met is None else "met" if met else "**missed**"
        lines.append(f"| {name} | {wanted} | {measured} | {verdict} |")

    camera = world.get("camera") or {}
    clips = (world.get("synthetic_clips") or {}).get("rows") or []
    moving = [r for r in clips if r["camera"] != "fixed"]
    fixed = [r for r in clips if r["camera"] == "fixed"]
    if camera.get("synthetic") or moving:
        worst = max([r["max_error_deg"] for r in camera.get("synthetic") or []]
                    + [r["camera_error_max_deg"] for r in moving])
        row("camera rotation error, moving camera", "≤ 1°",
            f"{worst:.3f}° (worst frame of {len(camera.get('synthetic') or [])} turned clips "
            f"and {len(moving)} synthetic clips with a person)", worst <= 1.0)
    focal = [r for r in camera.get("focal") or [] if r["truth_max_deg"] >= 3.0]
    if focal:
        worst = max(abs(r["focal_error"]) for r in focal)
        told = sum(r["believed"] for r in focal)
        row("focal length, turning camera, no lens given", "within 10 %",
            f"{100 * worst:.1f} % (worst of {len(focal)} clips turned 3° or more, started "
            f"30 % short or 40 % long; found in {told})", worst <= 0.10)
    if camera.get("static") or fixed:
        drift = max([r["max_angle_deg"] for r in camera.get("static") or []]
                    + [r["camera_error_max_deg"] for r in fixed])
        row("camera drift, static camera", "≤ 0.1°",
            f"{drift:.4f}° (largest of {len(camera.get('static') or [])} fixed cameras and "
            f"{len(fixed)} synthetic fixed clips)", drift <= 0.1)
    views = world.get("pose2sim") or []
    if views:
        tilt = max(v["floor"]["tilt_error_deg"] for v in views)
        row("the floor's tilt, Pose2Sim", "~2°", f"{tilt:.1f}° (worst of {len(views)} views)",
            tilt <= 2.0)
    demo = world.get("demo") or []
    people = [p for v in views for p in v["people"]]
    sliding = [(r["sliding_mm_per_frame"], f"demo.mp4 #{r['track']}") for r in demo]
    sliding += [(r["sliding_mm_per_frame"], f"Pose2Sim {r['view']} {r['person']}")
                for r in people]
    sliding += [(r["sliding_true_contacts_mm"], f"synthetic {r['clip']}, true contacts")
                for r in clips]
    sliding = [s for s in sliding if np.isfinite(s[0])]
    if sliding:
        value, who = max(sliding)
        row("foot sliding while in contact", "≤ 10 mm/frame",
            f"{value:.1f} mm/frame (worst: {who})", value <= 10.0)
    below = [(r["below_support_2cm_share"], f"demo.mp4 #{r['track']}") for r in demo]
    below += [(r["below_support_2cm_share"], f"Pose2Sim {r['view']} {r['person']}")
              for r in people]
    below += [(r["below_support_2cm_share"], f"synthetic {r['clip']}") for r in clips]
    if below:
        value, who = max(below)
        row("ground penetration", "≤ 2 cm in every frame",
            f"{100 * value:.0f} % of frames with a foot > 2 cm under its support (worst: "
            f"{who})", value == 0.0)
    if clips:
        worst = max(clips, key=lambda r: r["root_error_m"])
        row("root trajectory in the world, synthetic clips", "—",
            f"{worst['root_error_m']:.2f} m median error at worst ({worst['clip']}; "
            f"{worst['root_shape_error_m']:.2f} m once each path's middle is taken out)", None)
    if demo:
        speed = max(r["max_root_speed_m_s"] for r in demo)
        row("root speed on demo.mp4", "none above 12 m/s", f"{speed:.1f} m/s", speed <= 12.0)
        levels = "; ".join(f"#{r['track']} " + ", ".join(
            f"{h} m: {n} frames" for h, n in r["support_levels_m"].items()) for r in demo)
        row("the woman's feet on the grass, the man's on the box (demo.mp4)",
            "each on their support", f"support levels per track: {levels}", None)
    return lines


def markdown(world: dict[str, Any]) -> list[str]:
    """The report's "World space" section."""
    lines = ["## World space", "", " ".join((__doc__ or "").split("\n\n", 1)[-1].split()), ""]
    targets = targets_table(world)
    if len(targets) > 2:
        lines += [*targets, ""]
    camera = world.get("camera") or {}
    if camera.get("synthetic"):
        lines += ["### Camera motion", "",
                  f"{SYNTHETIC_FRAMES} frames per turned clip, sensor noise of ±3 grey levels; "
                  "rotation error per frame against the known turn. *x MP*: the camera-motion "
                  "time per frame over MediaPipe Pose's (legacy, complexity 1) on the same "
                  "frames in the same run; static clips with the people not masked (harder "
                  "than in a job, which passes their boxes).", "",
                  *synthetic_table(camera["synthetic"]), ""]
    if camera.get("focal"):
        lines += ["The same clips (person crossing) tracked from a focal length 30 % short or "
                  "40 % long, as a job does when the artist gives no lens and the default guess "
                  "(60° across the longer side) is off: the focal length the turns tell "
                  "(``genhmr.focal_from_turns``; used only when believed), the job's focal "
                  "length after it, and the turns' largest error before and after they are "
                  "read again with it; *zoom read*: whether the lens was taken for a zoom "
                  "(a fixed lens must not be).", "", *focal_table(camera["focal"]), ""]
    if camera.get("zoom"):
        lines += ["The same clips (person crossing) seen through a lens zooming evenly from 1.0 "
                  "to 1.5x over the clip, and a tripod that only zooms: each frame's focal "
                  "length and turn against the truth, with the true focal length given, or "
                  "from one 30 % short or 40 % long read from the turns as a job without the "
                  "artist's lens does (each frame's zoom set free; ``genhmr.camera_motion``, "
                  "``genhmr.focal_from_turns``).", "", *zoom_table(camera["zoom"]), ""]
    if camera.get("static"):
        lines += [*static_table(camera["static"]), ""]
    clips = world.get("synthetic_clips") or {}
    if clips.get("rows"):
        lines += ["### Synthetic clips: a known moving camera, known feet", "",
                  " ".join((synthetic_world.__doc__ or "").split("\n\n", 1)[-1].split()), "",
                  "*Camera error*: each frame's estimated turn against the true one (a fixed "
                  "camera judged fixed has none). *Focal error*: the focal length the product "
                  "solved with (60° across the longer side, or the one the turns tell) against "
                  "the calibrated one; where the lens zoomed, the first frame's, the largest "
                  "over the frames, and the zoom read (true). *Sliding "
                  "on the true contacts*: our foot points (with the floor made level) on the "
                  "frames the truth's rest; the truth's own in brackets. *Contacts*: ours "
                  "(≥ 0.5) against the truth's, per foot point and frame. *Under the support*: "
                  "the lowest foot point under the level the person stands on, as the scene "
                  "shows it. *Root error*: the pelvis, median distance; in brackets with each "
                  "path's mean position taken out. *Travel*, *leg*: ours over the truth's "
                  "(the person's size: one view does not tell it). *PA-MPJPE*: the product's "
                  "16 body points against the exact truth (the body we solve, so no question "
                  "of point definitions), each frame Procrustes-aligned.", "",
                  *synthetic_world.table(clips["rows"]), ""]
    views = world.get("pose2sim") or []
    if views:
        fps = views[0].get("fps", 60.0)
        lines += ["### Pose2Sim `Demo_MultiPerson`: the floor and the people on it", "",
                  "The floor each view's product job finds against the calibration (*level*: "
                  "the floor level with the camera, from the same job's feet, the rule before "
                  "the tilt was estimated).", "", *floor_table([v["floor"] for v in views]), "",
                  "Per person, on the frames the 3D table scores: *pelvis error, world*: "
                  "median distance in the scene's world, both floors level at z = 0 under their "
                  "own camera (*height error*: ours minus the truth's, median). Sliding on our "
                  "planted frames (contact ≥ 0.5) for both, where the truth's foot point is "
                  f"trusted; per frame at {fps:.0f} fps (half the mm/frame of the same speed at "
                  "demo.mp4's 30). The truth's sliding is the floor the triangulated landmarks "
                  "set (their own noise, lightly smoothed) and says how still those feet were.",
                  "", *people_table([p for v in views for p in v["people"]]), ""]
    if world.get("demo"):
        lines += ["### `demo.mp4`", "", "Per tracked person, the product's result; "
                  "sliding with the floor made level.", "", *demo_table(world["demo"]), ""]
    if "seconds" in world:
        lines += [f"This section took {world['seconds']:.0f} s of the run (camera motion "
                  f"{camera.get('seconds', float('nan')):.0f} s, synthetic clips "
                  f"{clips.get('seconds', float('nan')):.0f} s; the rest reads the jobs "
                  "above).", ""]
    return lines


def _cm(metres: float, digits: int = 0) -> str:
    """Signed centimetres, with no "-0"."""
    value = round(100 * metres, digits) + 0.0
    return f"{value:+.{digits}f}"


def _f(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.1f}"
