"""Stage-1 hypothesis selection on real footage: Pose2Sim ``Demo_MultiPerson``, 4 views.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON benchmarks/report.py            # once: the job folders in out/bench_report
    $GENHMR_PYTHON tools/bench_hypotheses.py       # ~10 min on 2 cores

Re-samples every tracked person of the report's generative jobs (their tracks and options)
with one hypothesis (the default), four chosen by likelihood, and four chosen over the track
(``select="temporal"``), and scores stage 1 and stage 1 + refinement against the truth as the
report does (frame-weighted means over the views and people). Numbers: docs/generative.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]

from genhmr import job_store  # noqa: E402
from genhmr.generative import (  # noqa: E402
    GenerativeConfig,
    observations,
    refine_track,
    sample_track,
)
from genhmr.models.refinement import RefinementConfig  # noqa: E402
from genhmr.pipeline import JobOptions, generative_betas  # noqa: E402

from benchmarks import pose2sim_3d  # noqa: E402
from benchmarks.methods import Bodies, detected_hips, load_models  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402

CONFIGS = {
    "1 hypothesis": GenerativeConfig(),
    "4, likelihood": GenerativeConfig(hypotheses=4),
    "4, temporal": GenerativeConfig(hypotheses=4, select="temporal"),
}
STAGES = ("stage 1", "refined")


def main() -> int:
    body, (model, tokenizer) = load_models()
    rows: dict[tuple[str, str], list[tuple[float, ...]]] = {
        (c, s): [] for c in CONFIGS for s in STAGES}
    for v, view in enumerate(pose2sim_3d.VIEWS):
        folder = ROOT / "out" / "bench_report" / f"pose2sim_{view}" / "generative"
        tracks = job_store.load_tracks(folder)
        frames_K = load_result(folder / job_store.SOLVE_FILE).intrinsics()  # (F, 3, 3)
        options = JobOptions(**job_store.load_options(folder))
        for name, config in CONFIGS.items():
            out = {s: np.zeros((tracks.num_people, tracks.valid.shape[1], 25, 3))
                   for s in STAGES}
            for p in range(tracks.num_people):
                seen = np.flatnonzero(tracks.valid[p])
                span = slice(seen[0], seen[-1] + 1)
                kp, world, valid = (tracks.keypoints2d[p, span], tracks.world_keypoints[p, span],
                                    tracks.valid[p, span])
                K = frames_K[span]
                obs = observations(kp, world, valid, K)
                first = sample_track(model, tokenizer, body,
                                     generative_betas(body, options, kp, world, valid), obs, K,
                                     config)
                for stage, steps in zip(STAGES, (0, RefinementConfig().steps), strict=True):
                    fit, _ = refine_track(tokenizer, body, first, obs, K,
                                          RefinementConfig(steps=steps))
                    out[stage][p, span] = fit.keypoints3d
            for stage in STAGES:
                bodies = Bodies(keypoints=out[stage], valid=tracks.valid.copy(), placed=True,
                                hips_px=detected_hips(tracks))
                for r in pose2sim_3d.view_rows(v, {stage: bodies}):
                    rows[(name, stage)].append((r["frames"], r["mpjpe_mm"], r["pa_mpjpe_mm"],
                                                r["accel_error_mm"]))
            print(f"{view}: {name} done", flush=True)
    print("| hypotheses | stage | MPJPE mm | PA-MPJPE mm | accel error mm/f² |")
    print("|---|---|---:|---:|---:|")
    for (name, stage), scored in rows.items():
        a = np.array(scored)
        mean = (a[:, 1:] * a[:, :1]).sum(0) / a[:, 0].sum()
        print(f"| {name} | {stage} | {mean[0]:.1f} | {mean[1]:.1f} | {mean[2]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
