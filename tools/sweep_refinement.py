"""Refinement settings scored on real footage, from the stage 1 a benchmark's jobs kept.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/sweep_refinement.py --jobs out/bench_report \\
        --config "" --config "landmarks_3d=0.5" --config "smooth=5,prior_pose=0.05"

Why: refinement's defaults (``RefinementConfig``) were chosen on synthetic detections
(docs/generative.md), and the synthetic gains did not carry over to real footage. Each
``--config`` (comma-separated ``RefinementConfig`` overrides; empty: the defaults) refines
every scored person of the Pose2Sim jobs in ``--jobs`` (``pose2sim_cam01..04/generative``, as
``benchmarks/report.py`` writes them) again from the job's own stage 1 (``stage1.npz``: the
sampling is not run again, so the rows differ only by refinement) through the product's path
(``generative.refine_track``), and prints the report's frame-weighted means over every (view,
person) against the same truth: the "stage 1 + refinement" row of ``docs/BENCHMARKS.md``
(before the world-space steps) for the defaults, then each setting. MediaPipe's own landmarks
on the same frames are the first row, and the ratio every row is read against.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]

from genhmr import job_store  # noqa: E402
from genhmr.models.refinement import RefinementConfig  # noqa: E402
from genhmr.rerun import job_options  # noqa: E402

from benchmarks import pose2sim_3d  # noqa: E402
from benchmarks.methods import (  # noqa: E402
    Bodies,
    load_models,
    mediapipe_bodies,
    refined_from_stage1,
    refinement_overrides,
)
from benchmarks.report import summarise  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402


def refined_bodies(folder: Path, models: tuple[Any, tuple[Any, Any]],
                   overrides: dict[str, Any]) -> Bodies:
    """Every person of a job refined again from its kept stage 1 with ``overrides``."""
    body, generative = models
    config = RefinementConfig(**{"steps": job_options(folder).refine_steps, **overrides})
    return refined_from_stage1(folder, job_store.load_tracks(folder),
                               load_result(folder / job_store.SOLVE_FILE), generative, body,
                               config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--config", action="append", default=None,
                        help="comma-separated RefinementConfig overrides (repeat; '' = defaults)")
    parser.add_argument("--views", nargs="*", default=list(pose2sim_3d.VIEWS),
                        choices=pose2sim_3d.VIEWS)
    args = parser.parse_args()
    try:
        configs = [refinement_overrides(text) for text in (args.config or [""])]
    except ValueError as exc:
        parser.error(str(exc))
    models = load_models()
    folders = {view: args.jobs / f"pose2sim_{view}" / "generative" for view in args.views}
    print("| setting | PA-MPJPE mm (x MP) | MPJPE mm (x MP) | accel error (x MP) "
          "| pelvis error | largest step (x truth) | s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    baseline = None
    for text, overrides in zip(args.config or [""], configs, strict=True):
        t = time.perf_counter()
        rows = []
        for view, folder in folders.items():
            tracks = job_store.load_tracks(folder)
            K = load_result(folder / job_store.SOLVE_FILE).intrinsics()
            methods = {"mediapipe": mediapipe_bodies(tracks, K),
                       "refined": refined_bodies(folder, models, overrides)}
            rows += pose2sim_3d.view_rows(pose2sim_3d.VIEWS.index(view), methods)
        summary = summarise(rows)
        mp, ours = summary["mediapipe"], summary["refined"]
        if baseline is None:
            baseline = mp
            print(f"| MediaPipe | {mp['pa_mpjpe_mm']:.1f} | {mp['mpjpe_mm']:.1f} | "
                  f"{mp['accel_error_mm']:.1f} | — | — | |")
        print(f"| {text or 'defaults'} | {ours['pa_mpjpe_mm']:.1f} "
              f"({ours['pa_mpjpe_mm'] / mp['pa_mpjpe_mm']:.3f}) | {ours['mpjpe_mm']:.1f} "
              f"({ours['mpjpe_mm'] / mp['mpjpe_mm']:.3f}) | {ours['accel_error_mm']:.1f} "
              f"({ours['accel_error_mm'] / mp['accel_error_mm']:.2f}) | "
              f"{100 * ours['pelvis_error_share']:.1f} % | {ours['largest_step_cm']:.0f} cm "
              f"({ours['step_over_truth']:.1f}x) | {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
