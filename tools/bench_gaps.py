"""Gaps on real footage: people hidden for a few frames, bridged, scored against the truth.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON benchmarks/report.py    # once: the job folders (or --jobs another run's)
    OMP_NUM_THREADS=1 $GENHMR_PYTHON tools/bench_gaps.py --jobs out/bench_s8 \\
        [--views cam01 cam04] [--gaps 4 8 16] [--variant nearest --variant blend ...] \\
        [--json out/gaps.json]

Pose2Sim ``Demo_MultiPerson`` (4 calibrated views, 60 fps, two people walking, the
triangulated truth of ``benchmarks/pose2sim_3d.py``): in each view's generative job folder
every tracked person the truth scores has gaps cut into their track (the frames marked
unseen, as if the detector had missed them; two gaps of each length, a third and two thirds
into the track, where they and the frames on either side were detected), and the track is
solved again from the stored detections through the product's per-track path (the job's
options, shape from bone lengths, stage 1, refinement; not the floor's sizing or the
world-space steps). Only the gap frames are scored, against the truth:

* MPJPE and PA-MPJPE (mm) on the report's 16 body points, where the truth is sure of them;
* the pelvis's error in the camera frame (m, median and mean) and its largest step from one
  frame to the next into, across and out of the gap (cm; the truth's own for reference);
* whether the legs keep moving: each ankle's speed relative to the hips, frame to frame, into,
  across and out of the gap, as a share of the truth's (1 = as much motion as the person
  made, 0 = frozen), and the mean error of that velocity (mm/frame).

Variants: ``nearest`` (each missed frame starts from its nearest detection: the pose held,
then a jump halfway, refinement's smoothness alone bridging it; the product before
2026-12-03), ``blend`` (the default: the pose blended in the tokenizer's code space between
the frames on either side, in stage 1 and again from the refined ends, place and facing
interpolated; ``GenerativeConfig.gaps``) and ``seen`` (the same frames solved with nothing cut:
what the gap costs). A variant may set options after a colon: ``steps=0`` (refinement's steps;
0 scores stage 1 alone) or any ``GenerativeConfig`` field (``blend:iterations=4``). Numbers:
docs/world_space.md §9.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

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
from benchmarks.methods import load_models, solved_bodies  # noqa: E402
from benchmarks.scoring import BODY_POINTS, ROOTS  # noqa: E402
from genhmr_core import pose_metrics as pm  # noqa: E402
from genhmr_core.keypoints import KEYPOINT_INDEX  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402

GAPS_PER_LENGTH = 2
ANKLES = tuple(BODY_POINTS.index(KEYPOINT_INDEX[f"{side}_ankle"]) for side in ("left", "right"))


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of solving a gapped track: ``cut`` False solves it with nothing cut."""

    name: str
    config: GenerativeConfig
    cut: bool = True
    steps: int | None = None  # refinement steps (None: the job's; 0: stage 1 alone)


def parse_variant(text: str) -> Variant:
    """``nearest``, ``blend`` or ``seen``, optionally ``:key=value,key=value``."""
    mode, _, rest = text.partition(":")
    if mode not in ("nearest", "blend", "seen"):
        raise SystemExit(f"unknown variant {mode!r}: nearest, blend or seen")
    fields: dict[str, Any] = {"gaps": "blend" if mode == "seen" else mode}
    steps = None
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "steps":
            steps = int(value)
        elif key in {f.name for f in dataclasses.fields(GenerativeConfig)}:
            fields[key] = type(getattr(GenerativeConfig(), key))(value)
        else:
            raise SystemExit(f"unknown option {key!r} in variant {text!r}")
    return Variant(name=text, config=GenerativeConfig(**fields), cut=mode != "seen",
                   steps=steps)


def place_gaps(detected: np.ndarray, length: int, count: int = GAPS_PER_LENGTH
               ) -> list[tuple[int, int]]:
    """``count`` gaps (start, stop) of ``length`` frames spread over a track (``detected``
    (F,) over its span): each as near as can be to (i + 1) / (count + 1) of the way along,
    with it and the frame on either side all detected, and apart from the others."""
    F = len(detected)
    taken = np.zeros(F, bool)
    out = []
    for i in range(count):
        want = round((i + 1) * F / (count + 1) - length / 2)
        for shift in sorted(range(-F, F), key=abs):
            a = want + shift
            if a < 1 or a + length + 1 > F:
                continue
            block = slice(a - 1, a + length + 1)
            if detected[block].all() and not taken[max(0, a - 3):a + length + 3].any():
                out.append((a, a + length))
                taken[a:a + length] = True
                break
    return out


def solve(models: tuple[Any, Any], options: JobOptions, kp2d: np.ndarray, world: np.ndarray,
          valid: np.ndarray, K: np.ndarray, fps: float, variant: Variant) -> np.ndarray:
    """The track's keypoints (F, 25, 3) solved as the job would, the variant's way."""
    body, (model, tokenizer) = models
    config = dataclasses.replace(
        variant.config, refinement=RefinementConfig(
            steps=options.refine_steps if variant.steps is None else variant.steps))
    fixed = generative_betas(body, options, kp2d, world, valid)
    obs = observations(kp2d, world, valid, K)
    first = sample_track(model, tokenizer, body, fixed, obs, K, config, fps=fps)
    fit, _ = refine_track(tokenizer, body, first, obs, K, config.refinement, gaps=config.gaps)
    return fit.keypoints3d


@dataclasses.dataclass
class Tally:
    """Sums over the scored gap frames of one (variant, gap length)."""

    frames: int = 0
    mpjpe: list[float] = dataclasses.field(default_factory=list)  # per (frame, point), m
    pa: list[float] = dataclasses.field(default_factory=list)
    pelvis: list[float] = dataclasses.field(default_factory=list)  # per frame, m
    speed: float = 0.0  # ankle speeds relative to the hips, summed, m/frame
    truth_speed: float = 0.0
    velocity_error: list[float] = dataclasses.field(default_factory=list)  # m/frame
    steps: list[float] = dataclasses.field(default_factory=list)  # largest pelvis step, m
    truth_steps: list[float] = dataclasses.field(default_factory=list)

    def row(self) -> dict[str, float]:
        def mean(values: list[float], scale: float = 1.0) -> float:
            return scale * float(np.mean(values)) if values else float("nan")

        return {
            "frames": self.frames,
            "mpjpe_mm": mean(self.mpjpe, 1000), "pa_mpjpe_mm": mean(self.pa, 1000),
            "pelvis_median_m": float(np.median(self.pelvis)) if self.pelvis else float("nan"),
            "pelvis_mean_m": mean(self.pelvis),
            "ankle_speed_share": self.speed / self.truth_speed if self.truth_speed else
            float("nan"),
            "ankle_velocity_error_mm": mean(self.velocity_error, 1000),
            "largest_step_cm": mean(self.steps, 100),
            "truth_largest_step_cm": mean(self.truth_steps, 100),
        }


def score_gap(tally: Tally, ours: np.ndarray, true: np.ndarray, known: np.ndarray,
              trusted: np.ndarray, gap: tuple[int, int]) -> None:
    """Add one gap's frames (``ours``/``true`` (F, 25, 3) over the job's frames) to ``tally``."""
    points = list(BODY_POINTS)
    ours, true = ours[:, points].astype(np.float64), true[:, points].astype(np.float64)
    trusted = trusted[:, points]
    a, b = gap
    inside = np.zeros(len(ours), bool)
    inside[a:b] = True
    frames = np.flatnonzero(inside & known)
    tally.frames += len(frames)
    rel, rel_true = pm.root_aligned(ours, ROOTS), pm.root_aligned(true, ROOTS)
    for f in frames:
        use = trusted[f]
        tally.mpjpe.extend(np.linalg.norm(rel[f] - rel_true[f], axis=-1)[use])
        if use.sum() >= 3:
            aligned = pm.procrustes(ours[f:f + 1], true[f:f + 1], use[None].astype(float))[0]
            tally.pa.extend(np.linalg.norm(aligned - true[f], axis=-1)[use])
    pelvis, pelvis_true = ours[:, list(ROOTS)].mean(1), true[:, list(ROOTS)].mean(1)
    tally.pelvis.extend(np.linalg.norm(pelvis - pelvis_true, axis=-1)[frames])
    # into, across and out of the gap: frames a-1 .. b, pairs of consecutive known frames
    span = np.zeros(len(ours), bool)
    span[a - 1:b + 1] = True
    span &= known
    tally.steps.append(pm.largest_step(pelvis, span))
    tally.truth_steps.append(pm.largest_step(pelvis_true, span))
    for t in range(a, b + 1):
        if not (span[t] and span[t - 1]):
            continue
        for j in ANKLES:
            if not (trusted[t, j] and trusted[t - 1, j]):
                continue
            v, v_true = rel[t, j] - rel[t - 1, j], rel_true[t, j] - rel_true[t - 1, j]
            tally.speed += float(np.linalg.norm(v))
            tally.truth_speed += float(np.linalg.norm(v_true))
            tally.velocity_error.append(float(np.linalg.norm(v - v_true)))


def run(jobs: Path, views: list[str], lengths: list[int], variants: list[Variant]
        ) -> dict[tuple[str, int], Tally]:
    models = load_models()
    tallies = {(v.name, n): Tally() for v in variants for n in lengths}
    for view in views:
        folder = jobs / f"pose2sim_{view}" / "generative"
        tracks = job_store.load_tracks(folder)
        solve_file = load_result(folder / job_store.SOLVE_FILE)
        frames_K = solve_file.intrinsics()  # (F, 3, 3)
        fps = float(solve_file.fps)
        options = JobOptions(**job_store.load_options(folder))
        F = tracks.valid.shape[1]
        truth = pose2sim_3d.view_truth(pose2sim_3d.VIEWS.index(view), F)
        matched = pose2sim_3d.match_people(solved_bodies(solve_file, tracks), truth)
        for p, who in sorted(matched.items()):
            seen = np.flatnonzero(tracks.valid[p])
            span = slice(int(seen[0]), int(seen[-1]) + 1)
            kp2d, world = tracks.keypoints2d[p, span], tracks.world_keypoints[p, span]
            detected = tracks.valid[p, span] & truth.known[span, who]
            for length in lengths:
                gaps = place_gaps(detected, length)
                valid = tracks.valid[p, span].copy()
                for a, b in gaps:
                    valid[a:b] = False
                for variant in variants:
                    t = time.perf_counter()
                    ours = np.zeros((F, 25, 3))
                    ours[span] = solve(models, options, kp2d, world,
                                       valid if variant.cut else tracks.valid[p, span],
                                       frames_K[span], fps,
                                       variant)
                    for a, b in gaps:
                        score_gap(tallies[variant.name, length], ours, truth.keypoints[:, who],
                                  truth.known[:, who], truth.trusted[:, who],
                                  (a + span.start, b + span.start))
                    print(f"{view} {truth.names[who]:>6} gaps of {length:2d} at "
                          f"{[a + span.start for a, _ in gaps]} {variant.name}: "
                          f"{time.perf_counter() - t:.1f} s", flush=True)
    return tallies


def table(tallies: dict[tuple[str, int], Tally]) -> str:
    lines = ["| gap | variant | frames | MPJPE mm | PA-MPJPE mm | pelvis m (median / mean) | "
             "largest pelvis step cm (truth) | ankle speed share | ankle velocity error "
             "mm/frame |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (name, length), tally in sorted(tallies.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        r = tally.row()
        lines.append(
            f"| {length} | {name} | {r['frames']} | {r['mpjpe_mm']:.1f} | "
            f"{r['pa_mpjpe_mm']:.1f} | {r['pelvis_median_m']:.3f} / {r['pelvis_mean_m']:.3f} | "
            f"{r['largest_step_cm']:.1f} ({r['truth_largest_step_cm']:.1f}) | "
            f"{r['ankle_speed_share']:.2f} | {r['ankle_velocity_error_mm']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_report",
                        help="the report's job folders (pose2sim_cam01/generative ...)")
    parser.add_argument("--views", nargs="+", default=list(pose2sim_3d.VIEWS))
    parser.add_argument("--gaps", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--variant", action="append", default=None,
                        help="nearest | blend | seen [:key=value,...] (repeatable)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    unknown = set(args.views) - set(pose2sim_3d.VIEWS)
    if unknown:
        parser.error(f"unknown views {sorted(unknown)}: {', '.join(pose2sim_3d.VIEWS)}")
    variants = [parse_variant(v) for v in (args.variant or ["seen", "nearest", "blend"])]
    tallies = run(args.jobs, args.views, args.gaps, variants)
    print(table(tallies))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            [{"variant": name, "gap": length, **tally.row()}
             for (name, length), tally in tallies.items()], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
