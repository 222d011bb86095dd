#!/usr/bin/env python3
"""The benchmark report: every method side by side on real footage, written to
``docs/BENCHMARKS.md`` (tables, a plot, the command) and a JSON of every number.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON benchmarks/report.py [--jobs out/bench_report] [--views cam01 ...]
        [--no-demo] [--no-world] [--out docs/BENCHMARKS.md]

* **Real, with truth**: Pose2Sim ``Demo_MultiPerson``, 4 calibrated views, every person,
  against the triangulated pseudo-ground truth (``benchmarks/pose2sim_3d.py`` says what it is
  and what it flatters).
* **Real, no truth**: ``demo.mp4``: jitter, root speed, facing flips (``demo_motion.py``).
* **World space** (issue #13): camera motion on turned real frames and static clips,
  synthetic clips with a known moving camera and known feet (``synthetic_world.py``), the
  floor against the calibration, foot sliding and penetration (``world_space.py``).
* **Time**: each job's CPU time per tracked person-frame against MediaPipe alone (the legacy
  single-person ``Pose``, complexity 1) on the same frames in the same run.

Each clip is analysed by the product's own job twice (generative, the default; and the fit);
the methods are read out of the job folders (``benchmarks/methods.py``). ``--jobs DIR`` keeps
them and reuses finished ones: delete the folder after changing the pipeline. Not a test:
run it by hand and commit what it writes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "backend", ROOT / "tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402

from benchmarks import demo_motion, pose2sim_3d, synthetic_3d, world_space  # noqa: E402
from benchmarks.methods import LABELS, METHODS, all_bodies, load_models, run_cached  # noqa: E402
from benchmarks.scoring import BODY_POINTS  # noqa: E402
from genhmr_core.keypoints import KEYPOINT_NAMES  # noqa: E402

COMMAND = "$GENHMR_PYTHON benchmarks/report.py"
SINGLE_FRAME_CHECKPOINT = ROOT / "backend/genhmr/models/assets/genhmr_single_frame.pt"
BASELINE_FILE = "mediapipe_baseline.json"  # in each clip's jobs folder, timed with its jobs


def mediapipe_baseline_ms(video: Path, frames: np.ndarray, folder: Path, measure: bool
                          ) -> dict[str, float]:
    """MediaPipe alone on the same frames: wall and CPU ms per frame of its ``process`` (it runs
    on one core), and of decoding each frame and converting it to RGB before it (a job's time
    includes its own decoding: :func:`cpu_ratios`).

    Kept in ``folder`` (``BASELINE_FILE``) next to the clip's jobs and measured again only with
    them (``measure``: a job was run now, or there is no baseline yet): a ratio is read between
    a job and the baseline of the same run. Measuring it afresh against jobs timed in an
    earlier run mixed two machine states (the shared machines swing by 20-30 % between runs)."""
    path = folder / BASELINE_FILE
    saved = json.loads(path.read_text()) if path.is_file() else {}
    if not measure and "mediapipe_decode_cpu_ms" in saved:
        return {k: float(v) for k, v in saved.items()}
    from bench_tracking import mediapipe_baseline

    baseline = mediapipe_baseline(video, frames)
    out = {"mediapipe_ms": float(baseline["ms_per_frame"]),
           "mediapipe_cpu_ms": float(baseline["cpu_ms_per_frame"]),
           "mediapipe_decode_ms": float(baseline["decode_ms_per_frame"]),
           "mediapipe_decode_cpu_ms": float(baseline["decode_cpu_ms_per_frame"])}
    path.write_text(json.dumps(out))
    return out


def analyse(video: Path, folder: Path, models: Any, checkpoint: str = "",
            single_frame: Any = None) -> dict[str, Any]:
    """Both jobs on one clip, every method's bodies, the time per person-frame."""
    generative = run_cached(video, folder / "generative", checkpoint=checkpoint)
    fit = run_cached(video, folder / "fit", method="fit")
    result = generative.result
    frames = np.asarray(result.frame_indices)
    person_frames = int(result.valid.sum())
    baseline = mediapipe_baseline_ms(video, frames, folder, generative.fresh or fit.fresh)
    return {"bodies": all_bodies(generative, fit, models, single_frame), "result": result,
            "person_frames": person_frames, "frames": frames, "baseline": baseline,
            "seconds": {"generative": generative.seconds, "fit": fit.seconds,
                        "generative_cpu": generative.cpu_seconds, "fit_cpu": fit.cpu_seconds,
                        "perception": sum(generative.stage_seconds.get(k, 0.0) for k in
                                          ("decode", "detect", "backfill", "track"))}}


def weighted(rows: list[dict[str, Any]], key: str) -> float:
    values = [(r[key], r["frames"]) for r in rows if key in r and np.isfinite(r[key])]
    if not values:
        return float("nan")
    v, w = np.array(values, dtype=np.float64).T
    return float((v * w).sum() / w.sum())


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per method, frame-weighted means over every (view, person), plus the worst pelvis
    step against the truth's fastest."""
    out = {}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        summary = {k: weighted(mine, k) for k in (
            "mpjpe_mm", "pa_mpjpe_mm", "accel_error_mm", "jerk_mm", "truth_jerk_mm",
            "pelvis_error_m", "pelvis_error_share", "depth_error_m", "depth_ratio",
            "pelvis_accel_mm", "truth_pelvis_accel_mm")}
        summary["frames"] = float(sum(r["frames"] for r in mine))
        if "largest_step_cm" in mine[0]:
            summary["largest_step_cm"] = max(r["largest_step_cm"] for r in mine)
            summary["step_over_truth"] = max(r["largest_step_cm"] / r["truth_largest_step_cm"]
                                             for r in mine)
        out[method] = summary
    return out


def fmt(value: float, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}{suffix}"


def real_table(summary: dict[str, dict[str, float]]) -> list[str]:
    base = summary["mediapipe"]
    lines = ["| method | MPJPE mm (× MP) | PA-MPJPE mm (× MP) | accel error mm/f² (× MP) "
             "| jerk mm/f³ (truth) | pelvis error, camera frame | depth error | our depth / "
             "true | largest pelvis step cm (× truth's) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method, s in summary.items():
        def ratio(key: str, s: dict[str, float] = s) -> str:
            return f"{fmt(s[key])} ({s[key] / base[key]:.2f})"
        placed = np.isfinite(s["pelvis_error_m"])
        lines.append(
            f"| {LABELS[method]} | {ratio('mpjpe_mm')} | {ratio('pa_mpjpe_mm')} "
            f"| {ratio('accel_error_mm')} | {fmt(s['jerk_mm'], 2)} ({fmt(s['truth_jerk_mm'], 2)}) "
            + (f"| {fmt(s['pelvis_error_m'], 2)} m ({100 * s['pelvis_error_share']:.0f} %) "
               f"| {fmt(s['depth_error_m'], 2)} m | {fmt(s['depth_ratio'], 2)} "
               f"| {fmt(s['largest_step_cm'], 0)} ({s['step_over_truth']:.1f}x) |"
               if placed else "| — (hip-centred) | — | — | — |"))
    return lines


def detail_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| view | person | method | frames | MPJPE | PA-MPJPE | accel error | pelvis error "
             "| depth ratio | largest step cm (truth) |", "|---|---|---|---:|---:|---:|---:|---:|"
             "---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["view"], r["person"], r["track"],
                                         METHODS.index(r["method"]))):
        placed = "pelvis_error_m" in r
        lines.append(
            f"| {r['view']} | {r['person']} (#{r['track']}) | {r['method']} | {r['frames']} "
            f"| {fmt(r['mpjpe_mm'])} | {fmt(r['pa_mpjpe_mm'])} | {fmt(r['accel_error_mm'])} "
            + (f"| {r['pelvis_error_m']:.2f} m ({100 * r['pelvis_error_share']:.0f} %) "
               f"| {r['depth_ratio']:.2f} | {fmt(r['largest_step_cm'], 0)} "
               f"({fmt(r['truth_largest_step_cm'], 0)}) |" if placed else "| — | — | — |"))
    return lines


def point_table(rows: list[dict[str, Any]]) -> list[str]:
    """PA-aligned error per body point (mm), each method pooled over every (view, person) and
    frame the point was scored in: where PA-MPJPE's error sits."""
    methods = [m for m in METHODS if any(r["method"] == m and "pa_point_mm" in r for r in rows)]
    names = [KEYPOINT_NAMES[j].replace("_", " ") for j in BODY_POINTS]
    lines = ["| point | " + " | ".join(LABELS[m] for m in methods) + " |",
             "|---|" + "---:|" * len(methods)]
    pooled = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m and "pa_point_mm" in r]
        means = np.nan_to_num(np.array([r["pa_point_mm"] for r in mine], dtype=np.float64))
        counts = np.array([r["pa_point_frames"] for r in mine], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled[m] = (means * counts).sum(axis=0) / counts.sum(axis=0)
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(fmt(pooled[m][i], 0) for m in methods) + " |")
    return lines


def demo_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| track | method | frames | jerk mm/f³ | facing flips | largest root speed m/s "
             "| root jerk mm/f³ |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["track"], METHODS.index(r["method"]))):
        lines.append(f"| #{r['track']} | {r['method']} | {r['frames']} | {fmt(r['jerk_mm'], 2)} "
                     f"| {r['facing_flips']} | {fmt(r.get('max_root_speed_m_s', np.nan))} "
                     f"| {fmt(r.get('root_jerk_mm', np.nan), 2)} |")
    return lines


def targets_table(report: dict[str, Any]) -> list[str]:
    """Issue #12's targets against this run: the product on Pose2Sim, demo.mp4 and time."""
    summary = report["pose2sim"]["summary"]
    if "product" not in summary:
        return []
    ours, base = summary["product"], summary["mediapipe"]
    flips = sum(r["facing_flips"] for r in report["demo"] if r["method"] == "product")
    flips_mp = sum(r["facing_flips"] for r in report["demo"] if r["method"] == "mediapipe")
    both = [cpu_ratios(t) for t in report["timing"] if "generative_cpu" in t]
    ratios = [alone for alone, _ in both]
    decoding = [with_decoding for _, with_decoding in both]

    def row(name: str, target: str, value: str, met: bool) -> str:
        return f"| {name} | {target} | {value} | {'met' if met else '**missed**'} |"

    lines = ["| target (issue #12, the product) | wanted | measured | |", "|---|---|---|---|"]
    for key, name, limit in (("pa_mpjpe_mm", "PA-MPJPE", 0.75), ("mpjpe_mm", "MPJPE", 0.9),
                             ("accel_error_mm", "acceleration error", 1.0)):
        r = ours[key] / base[key]
        lines.append(row(name, f"≤ {limit:.2f}x MediaPipe", f"{r:.2f}x ({ours[key]:.1f} "
                         f"against {base[key]:.1f} mm)", r <= limit))
    lines.append(row("pelvis error, camera frame", "≤ 12 % of the distance",
                     f"{100 * ours['pelvis_error_share']:.0f} % (median per person and view, "
                     "their frame-weighted mean)", ours["pelvis_error_share"] <= 0.12))
    lines.append(row("largest pelvis step", "≤ 2x the truth's fastest",
                     f"{ours['step_over_truth']:.1f}x (worst person and view)",
                     ours["step_over_truth"] <= 2.0))
    if report["demo"]:
        lines.append(row("facing flips on demo.mp4", "none", f"{flips} (MediaPipe's own "
                         f"landmarks: {flips_mp})", flips == 0))
    if ratios:
        lines.append(row("CPU time per person-frame", "≤ 3x MediaPipe alone",
                         f"{min(decoding):.1f}-{max(decoding):.1f}x, each side decoding the "
                         f"video (CPU time of every thread; MediaPipe uses one core); "
                         f"{min(ratios):.1f}-{max(ratios):.1f}x against MediaPipe's "
                         "`process` alone, the job still decoding", max(decoding) <= 3.0))
    return lines


def cpu_ratios(timing: dict[str, Any]) -> tuple[float, float]:
    """The product's CPU time per person-frame over MediaPipe's per frame: against its
    ``process`` alone (the ratio reported before 2026-12-04), and against ``process`` plus
    decoding the frame and converting it to RGB (what a MediaPipe-to-rig script runs per frame;
    a job's time includes its own decoding of the same video with the same decoder, so this is
    the like-for-like ratio the target is judged on). NaN for a baseline measured before
    decoding was timed."""
    ours = 1000 * timing["generative_cpu"] / timing["person_frames"]
    alone = timing["mediapipe_cpu_ms"]
    return ours / alone, ours / (alone + timing.get("mediapipe_decode_cpu_ms", float("nan")))


def timing_table(timing: list[dict[str, Any]]) -> list[str]:
    """Wall clock (what the artist waits) and CPU time (the target: every thread counted),
    each per tracked person-frame against MediaPipe alone on the same frames."""
    lines = ["| clip | frames | person-frames | MediaPipe alone ms/frame, wall / CPU "
             "| decoding for it, wall / CPU "
             "| perception, wall (× MP per person-frame) | fit job, wall "
             "| generative job (the product), wall | fit job, CPU | generative job, CPU "
             "| generative job, CPU × MP with decoding |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in timing:
        per = t["person_frames"]
        mp, mp_cpu = t["mediapipe_ms"], t.get("mediapipe_cpu_ms", float("nan"))
        decode, decode_cpu = (t.get("mediapipe_decode_ms", float("nan")),
                              t.get("mediapipe_decode_cpu_ms", float("nan")))

        def ratio(seconds: float, base: float, per: int = per) -> str:
            ms = 1000 * seconds / per
            return f"{ms:.0f} ms ({ms / base:.1f}x)" if np.isfinite(ms / base) else "—"
        lines.append(f"| {t['clip']} | {t['frames']} | {per} | {mp:.1f} / {mp_cpu:.1f} "
                     f"| {f'{decode:.1f} / {decode_cpu:.1f}' if np.isfinite(decode_cpu) else '—'} "
                     f"| {ratio(t['perception'], mp)} | {ratio(t['fit'], mp)} "
                     f"| {ratio(t['generative'], mp)} "
                     f"| {ratio(t.get('fit_cpu', float('nan')), mp_cpu)} "
                     f"| {ratio(t.get('generative_cpu', float('nan')), mp_cpu)} "
                     f"| {ratio(t.get('generative_cpu', float('nan')), mp_cpu + decode_cpu)} |")
    return lines


def depth_plot(series: dict[str, dict[str, np.ndarray]], path: Path, fps: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), sharey=False)
    axes = np.atleast_1d(axes)
    styles = {"truth": ("k", 2.5), "fit": ("tab:orange", 1.2), "stage1": ("tab:gray", 1.0),
              "stage1_single": ("tab:gray", 0.6), "refined_single": ("tab:purple", 0.8),
              "refined": ("tab:blue", 1.2), "product": ("tab:green", 1.6)}
    for ax, (view, lines) in zip(axes, series.items(), strict=True):
        for name, values in lines.items():
            color, width = styles[name]
            ax.plot(np.arange(len(values)) / fps, values, color=color, lw=width,
                    label=name if name == "truth" else LABELS[name].split(" (")[0])
        ax.set_title(view)
        ax.set_xlabel("s")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("the man's pelvis depth, m")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_report")
    parser.add_argument("--views", nargs="*", default=list(pose2sim_3d.VIEWS),
                        choices=pose2sim_3d.VIEWS)
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--no-world", action="store_true",
                        help="skip the world-space section (camera motion, floor, feet)")
    parser.add_argument("--synthetic", type=int, default=8, metavar="N",
                        help="synthetic sequences of 60 frames (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=None,
                        help="every number (default: next to --out, .json)")
    parser.add_argument("--checkpoint", default="",
                        help="the generative model to score (default: the shipped one); use "
                             "its own --jobs folder, as finished jobs are reused")
    parser.add_argument("--single-frame", default=str(SINGLE_FRAME_CHECKPOINT)
                        if SINGLE_FRAME_CHECKPOINT.is_file() else "",
                        help="a single-frame model compared on the same tracks (its stage 1 and "
                             "refinement rows); empty: none")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="write the markdown from an earlier run's JSON, running nothing")
    args = parser.parse_args()
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        image = args.out.parent / "images" / "bench_pelvis_depth.png"
        args.json = args.from_json
        args.out.write_text(markdown(report, args, image) + "\n")
        print(f"wrote {args.out}")
        return 0
    from bench_tracking import media_dir

    media = media_dir()
    models = load_models(args.checkpoint)
    single_frame = load_models(args.single_frame)[1] if args.single_frame else None
    rows, timing, depth = [], [], {}
    world: dict[str, Any] = {"pose2sim": [], "demo": [], "seconds": 0.0}
    for view in args.views:
        video = media / "pose2sim" / "Demo_MultiPerson" / "videos" / f"{view}.mp4"
        print(f"{view}: analysing", flush=True)
        clip = analyse(video, args.jobs / f"pose2sim_{view}", models, args.checkpoint,
                       single_frame)
        v = pose2sim_3d.VIEWS.index(view)
        rows += pose2sim_3d.view_rows(v, clip["bodies"])
        depth[view] = pose2sim_3d.pelvis_depth_series(v, clip["bodies"], "man")
        timing.append({"clip": f"Pose2Sim {view}", "frames": len(clip["frames"]),
                       "person_frames": clip["person_frames"],
                       **clip["baseline"], **clip["seconds"]})
        fps = clip["result"].fps
        if not args.no_world:
            t = time.perf_counter()
            world["pose2sim"].append(world_space.pose2sim_view(clip["result"], v))
            world["seconds"] += time.perf_counter() - t
    demo_rows: list[dict[str, Any]] = []
    if not args.no_demo:
        video = media / "demo.mp4"
        print("demo.mp4: analysing", flush=True)
        clip = analyse(video, args.jobs / "demo", models, args.checkpoint, single_frame)
        result = clip["result"]
        up = None if result.ground_plane is None else np.asarray(result.ground_plane)[:3]
        demo_rows = demo_motion.person_rows(clip["bodies"], result.camera_rotation, up,
                                            result.fps)
        if not args.no_world:
            t = time.perf_counter()
            world["demo"] = world_space.demo_people(result)
            world["seconds"] += time.perf_counter() - t
        timing.append({"clip": "demo.mp4", "frames": len(clip["frames"]),
                       "person_frames": clip["person_frames"],
                       **clip["baseline"], **clip["seconds"]})

    synthetic_rows: list[dict[str, Any]] = []
    if args.synthetic:
        print(f"synthetic: {args.synthetic} sequences", flush=True)
        body, generative = models
        cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
        motion = Path(os.environ.get("GENHMR_MOTION_DIR", cache / "motion_sources"))
        synthetic_rows = synthetic_3d.rows(
            synthetic_3d.sequences(motion, body, count=args.synthetic), body, generative)

    if not args.no_world:
        print("world space: camera motion", flush=True)
        world["camera"] = world_space.camera_motion(
            media, {_clip_path(t["clip"]): t["mediapipe_ms"] for t in timing})
        world["seconds"] += world["camera"]["seconds"]
        print("world space: synthetic clips", flush=True)
        world["synthetic_clips"] = world_space.synthetic_clips(media, models,
                                                               args.jobs / "synthetic_world")
        world["seconds"] += world["synthetic_clips"]["seconds"]
    summary = summarise(rows)
    image = args.out.parent / "images" / "bench_pelvis_depth.png"
    if depth:
        depth_plot(depth, image, fps)
    report = {"date": datetime.date.today().isoformat(), "machine": machine(),
              "pose2sim": {"summary": summary, "rows": rows}, "demo": demo_rows,
              "synthetic": {"summary": summarise(synthetic_rows), "rows": synthetic_rows},
              "timing": timing, **({} if args.no_world else {"world": world})}
    json_path = args.json or args.out.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=1, default=float))
    args.out.write_text(markdown(report, args, image) + "\n")
    for name, table in (("Pose2Sim", summary), ("synthetic", report["synthetic"]["summary"])):
        if table:
            print(name)
            print("\n".join(real_table(table)))
    print("\n".join(timing_table(timing)))
    print(f"wrote {args.out}, {json_path}, {image}")
    return 0


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads, the product's "
            "default; the detectors' onnxruntime 2 threads)")


def markdown(report: dict[str, Any], args: argparse.Namespace, image: Path) -> str:
    summary = report["pose2sim"]["summary"]
    json_name = Path(args.json or args.out.with_suffix(".json")).name
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{COMMAND}` on {report['date']} ({report['machine']}); every number is "
        f"also in `{json_name}`. Do not edit by hand: run the command again.",
        "",
    ]
    if summary:
        lines += [
            "## Real footage with truth: Pose2Sim `Demo_MultiPerson`",
            "",
            _paragraph(pose2sim_3d.__doc__),
            "",
            f"Views: {', '.join(args.views)}; every tracked person matched to a truth person; "
            "frame-weighted means over all (view, person). *× MP*: ratio to MediaPipe's own "
            "landmarks in the same run. Accelerations and jerk are per frame at 60 fps.",
            "",
            *real_table(summary),
            "",
            f"![The man's pelvis depth over time in each view]"
            f"({image.relative_to(args.out.parent)})",
            "",
            "<details><summary>Per view and person</summary>",
            "",
            *detail_table(report["pose2sim"]["rows"]),
            "",
            "</details>",
            "",
            "<details><summary>Per body point: PA-aligned error in mm, every (view, person) "
            "and frame the point was scored in pooled</summary>",
            "",
            *point_table(report["pose2sim"]["rows"]),
            "",
            "</details>",
            "",
        ]
    targets = targets_table(report)
    if targets:
        lines += ["## Targets", "", *targets, ""]
    if report["synthetic"]["rows"]:
        count = len({r["sequence"] for r in report["synthetic"]["rows"]})
        lines += ["## Synthetic, exact truth", "", _paragraph(synthetic_3d.__doc__), "",
                  f"{count} sequences of 60 frames; scored on the detected frames.", "",
                  *real_table(report["synthetic"]["summary"]), ""]
    if report["demo"]:
        lines += ["## Real footage without truth: `demo.mp4`", "",
                  _paragraph(demo_motion.__doc__), "", *demo_table(report["demo"]), ""]
    if report.get("world"):
        lines += world_space.markdown(report["world"])
    if report["timing"]:
        lines += ["## Time", "", "Each job per tracked person-frame (decoding to result file; "
                  "perception = decoding, detection, backfill and tracking) against MediaPipe "
                  "alone on the same frames in the same run, as the product runs (its default "
                  "threads): wall clock, which is what the artist waits, and CPU time summed "
                  "over every thread, which is what the target counts. MediaPipe's legacy Pose "
                  "runs on one core (its CPU time equals its wall time); the product uses both "
                  "cores, so its wall clock is shorter than its CPU time. A job's time "
                  "includes decoding its video; MediaPipe's columns time its `process` "
                  "alone, as every run before 2026-12-04 compared them, and the last column "
                  "adds what decoding each frame (the same decoder) and converting it to RGB "
                  "cost it in the same run: that like-for-like ratio is the one the target is "
                  "judged on. Runs before 2026-12-03 pinned torch to one thread and timed the "
                  "wall clock only.", "",
                  *timing_table(report["timing"]), ""]
    return "\n".join(lines)


def _clip_path(clip: str) -> str:
    """A timing row's clip name as a path under the media folder (the camera-motion tool's)."""
    if clip.startswith("Pose2Sim "):
        return f"pose2sim/Demo_MultiPerson/videos/{clip.split()[1]}.mp4"
    return clip


def _paragraph(docstring: str | None) -> str:
    """A module docstring's text after its first paragraph, as one markdown paragraph."""
    return " ".join((docstring or "").split("\n\n", 1)[-1].split())


if __name__ == "__main__":
    sys.exit(main())
