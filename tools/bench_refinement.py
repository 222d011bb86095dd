"""CPU time of the generative solve's two decoder-bound parts, per person-frame (issue #12).

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_refinement.py [--jobs out/bench_report] [--repeats 3] \
        [--config "" --config "draft_steps=40"]

For every tracked person of the Pose2Sim jobs in ``--jobs`` (``pose2sim_cam01..04/generative``,
as ``benchmarks/report.py`` writes them), from the stage-1 output kept in the job folder:
refinement of the whole track as the job runs it (``generative.refine_track``, its 50 steps)
and the per-joint uncertainty (``sampling.joint_uncertainty``, decoded by the tokenizer's
decoder and by its draft, which the product uses); refinement once per
``--config`` (comma-separated ``RefinementConfig`` overrides, '' = the defaults, as
``tools/sweep_refinement.py`` takes them). Each is run ``--repeats``
times and the least CPU time (``time.process_time``) is kept: on a shared machine that is the
least disturbed run. The machine is shared, so compare two versions of the code in the same
session (e.g. a ``git worktree`` of the older commit), not against numbers of another day.
Also prints a checksum of the results, so two versions can be seen to agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]

from genhmr import job_store  # noqa: E402
from genhmr.generative import observations, refine_track, solve_threads  # noqa: E402
from genhmr.models.draft_decoder import draft_for  # noqa: E402
from genhmr.models.refinement import RefinementConfig  # noqa: E402
from genhmr.models.sampling import joint_uncertainty  # noqa: E402

from benchmarks.methods import load_models, refinement_overrides  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402


def least_cpu(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The smallest CPU time of ``repeats`` runs, and the last run's output."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        out = run()
        best = min(best, time.process_time() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_report")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", action="append", default=None,
                        help="comma-separated RefinementConfig overrides (repeat; '' = defaults)")
    args = parser.parse_args()
    texts = args.config or [""]
    try:
        configs = [RefinementConfig(**refinement_overrides(text)) for text in texts]
    except ValueError as exc:
        parser.error(str(exc))
    body, (_, tokenizer) = load_models()
    refine_s = [0.0] * len(configs)
    checksum = [0.0] * len(configs)
    # the uncertainty as the decoder reads it, and as the product does (its draft, if any)
    draft = draft_for(tokenizer)
    decoders = {"decoder": tokenizer} | ({"draft decoder": draft} if draft is not None else {})
    uncertainty_s = dict.fromkeys(decoders, 0.0)
    person_frames = 0
    folders = sorted(args.jobs.glob("pose2sim_cam*/generative"))
    if not folders:
        parser.error(f"no pose2sim_cam*/generative job folders in {args.jobs}: run "
                     "benchmarks/report.py first")
    for folder in folders:
        tracks = job_store.load_tracks(folder)
        frames_K = load_result(folder / job_store.SOLVE_FILE).intrinsics()  # (F, 3, 3)
        for p, person in enumerate(job_store.load_stage1(folder)):
            span = slice(*person.span)
            K = frames_K[span]
            obs = observations(tracks.keypoints2d[p, span], tracks.world_keypoints[p, span],
                               tracks.valid[p, span], K)
            stage1 = person.stage1
            for i, config in enumerate(configs):
                seconds, (fit, _) = least_cpu(
                    lambda stage1=stage1, obs=obs, K=K, config=config: refine_track(
                        tokenizer, body, stage1, obs, K, config), args.repeats)
                refine_s[i] += seconds
                checksum[i] += float(np.abs(fit.keypoints3d).sum())
            logits = torch.as_tensor(stage1.logits)
            with solve_threads():
                for name, decoder in decoders.items():
                    seconds, _ = least_cpu(
                        lambda logits=logits, decoder=decoder: joint_uncertainty(
                            decoder, logits.argmax(-1), logits), args.repeats)
                    uncertainty_s[name] += seconds
            person_frames += int(obs.valid.sum())
        print(f"{folder.parent.name}: done", flush=True)
    print(f"person-frames: {person_frames}, torch {torch.__version__}")
    for text, seconds, total in zip(texts, refine_s, checksum, strict=True):
        print(f"refinement ({text or 'defaults'}): {1000 * seconds / person_frames:.1f} CPU ms "
              f"per person-frame, checksum of the refined keypoints {total:.3f}")
    for name, seconds in uncertainty_s.items():
        print(f"joint uncertainty ({name}): {1000 * seconds / person_frames:.1f} CPU ms per "
              "person-frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
