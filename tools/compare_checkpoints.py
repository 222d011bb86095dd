"""Generative checkpoints side by side on real footage, on the same tracks.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/compare_checkpoints.py --jobs out/bench_report \\
        --checkpoint "" --checkpoint ~/.cache/genhmr/runs/new/model.pt

Why: a retrained model is judged on real footage before it ships (docs/generative.md), and a
full ``benchmarks/report.py`` run takes 20 minutes. Each ``--checkpoint`` (empty: the shipped
default) samples stage 1 again and refines it with the product's defaults on the tracks of the
Pose2Sim jobs in ``--jobs`` (``pose2sim_cam01..04/generative``, as the report writes them),
through the product's per-track path (``benchmarks.methods.other_model_bodies``), so the rows
differ only by the model. It prints the report's frame-weighted means over every (view, person)
for stage 1 and stage 1 + refinement, each with its ratio to MediaPipe's own landmarks on the
same frames. About a minute per checkpoint on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]

from genhmr import job_store  # noqa: E402

from benchmarks import pose2sim_3d  # noqa: E402
from benchmarks.methods import load_models, mediapipe_bodies, other_model_bodies  # noqa: E402
from benchmarks.report import summarise  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--checkpoint", action="append", default=None,
                        help="a generative checkpoint (repeat; '' = the shipped default)")
    parser.add_argument("--views", nargs="*", default=list(pose2sim_3d.VIEWS),
                        choices=pose2sim_3d.VIEWS)
    args = parser.parse_args()
    folders = {view: args.jobs / f"pose2sim_{view}" / "generative" for view in args.views}
    print("| checkpoint | stage | PA-MPJPE mm (x MP) | MPJPE mm (x MP) | accel error (x MP) "
          "| pelvis error | largest step (x truth) | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for checkpoint in args.checkpoint or [""]:
        t = time.perf_counter()
        body, generative = load_models(checkpoint)
        rows = []
        for view, folder in folders.items():
            tracks = job_store.load_tracks(folder)
            solve = load_result(folder / job_store.SOLVE_FILE)
            stage1, refined = other_model_bodies(folder, tracks, solve, generative, body)
            methods = {"mediapipe": mediapipe_bodies(tracks, solve.intrinsics()),
                       "stage1": stage1, "refined": refined}
            rows += pose2sim_3d.view_rows(pose2sim_3d.VIEWS.index(view), methods)
        summary = summarise(rows)
        mp = summary["mediapipe"]
        for stage in ("stage1", "refined"):
            ours = summary[stage]
            print(f"| {checkpoint or 'shipped'} | {stage} | {ours['pa_mpjpe_mm']:.1f} "
                  f"({ours['pa_mpjpe_mm'] / mp['pa_mpjpe_mm']:.3f}) | {ours['mpjpe_mm']:.1f} "
                  f"({ours['mpjpe_mm'] / mp['mpjpe_mm']:.3f}) | {ours['accel_error_mm']:.1f} "
                  f"({ours['accel_error_mm'] / mp['accel_error_mm']:.2f}) | "
                  f"{100 * ours['pelvis_error_share']:.1f} % | {ours['largest_step_cm']:.0f} cm "
                  f"({ours['step_over_truth']:.1f}x) | {time.perf_counter() - t:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
