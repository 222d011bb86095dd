"""The methods the benchmark compares, read out of the product's own job folders.

One clip is analysed twice by the product's job (``pipeline.run_job``): once with the
generative method (the default) and once with the fitting baseline. Everything the comparison
needs is then in the two job folders (``genhmr.job_store``), so each method's bodies are what
the product itself computed, not a re-implementation:

- ``mediapipe``: the detector's metric 3D landmarks as it gave them (``tracks.npz``), turned
  into camera axes as the product reads them: what "MediaPipe straight onto a rig" add-ons
  animate. Hip-centred, so it has no position in the scene;
- ``fit``: the fitting baseline's refined bodies (the fit job's ``solve.npz``);
- ``stage1``: the transformer's samples before refinement (``stage1.npz`` posed with zero
  refinement steps, as the product's ``refine_steps = 0`` would give them);
- ``refined``: stage 1 + refinement (``solve.npz``);
- ``product``: what the add-on imports (``result.npz``: the refined bodies after pose and
  depth smoothing, the floor and foot locking);
- ``stage1_single`` / ``refined_single``: the same two stages with the single-frame model
  (when the report is given one, ``--single-frame``), solved on the generative job's own
  tracks through the product's per-track path (``pipeline.solve_generative_track``), so the
  temporal model's gain is measured on the very same detections.

All are keypoints (P, F, 25, 3) in the camera frame of each frame, over the job's frames.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from genhmr import job_store
from genhmr.camera import landmarks_in_camera_axes
from genhmr.pipeline import JobOptions, run_job

from genhmr_core.keypoints import KEYPOINT_INDEX, mediapipe_to_keypoints_index
from genhmr_core.result_format import JobResult, load_result

METHODS = ("mediapipe", "fit", "stage1_single", "refined_single", "stage1", "refined", "product")
LABELS = {
    "mediapipe": "MediaPipe world landmarks, direct",
    "fit": "fit (the baseline)",
    "stage1_single": "single-frame model: stage 1",
    "refined_single": "single-frame model: stage 1 + refinement",
    "stage1": "generative stage 1 (sampling)",
    "refined": "stage 1 + refinement",
    "product": "the product (+ pose and depth smoothing, foot locking)",
}
TIMING_FILE = "bench_timing.json"


@dataclasses.dataclass
class Bodies:
    """One method's keypoints for every tracked person of a job."""

    keypoints: np.ndarray  # (P, F, 25, 3) camera frame, metres
    valid: np.ndarray  # (P, F) bool
    placed: bool  # False: hip-centred only (no position in the scene)
    hips_px: np.ndarray  # (P, F, 2) the detected mid-hip in the picture (who is who)


@dataclasses.dataclass
class Job:
    """A finished job folder and what running it cost."""

    folder: Path
    seconds: float  # the whole job, decoding to result file (wall clock)
    stage_seconds: dict[str, float]
    cpu_seconds: float  # the same job's CPU time, all threads of the process
    fresh: bool = False  # run by this call (not read back from an earlier run's folder)

    @property
    def result(self) -> JobResult:
        return load_result(self.folder / job_store.RESULT_FILE)


def run_cached(video: Path, folder: Path, **options: Any) -> Job:
    """The product's job on ``video`` into ``folder``, unless a finished one is there already
    (with its timing). Delete the folder after changing the pipeline."""
    timing = folder / TIMING_FILE
    saved = json.loads(timing.read_text()) if timing.is_file() else {}
    fresh = not ("cpu_seconds" in saved and (folder / job_store.RESULT_FILE).is_file())
    if fresh:
        t, cpu = time.perf_counter(), time.process_time()
        summary = run_job(JobOptions(video=str(video), out_dir=str(folder), **options))
        saved = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu,
                 "stage_seconds": summary.stage_seconds}
        timing.write_text(json.dumps(saved))
    return Job(folder=folder, seconds=float(saved["seconds"]),
               stage_seconds={k: float(v) for k, v in saved["stage_seconds"].items()},
               cpu_seconds=float(saved["cpu_seconds"]), fresh=fresh)


def detected_hips(tracks: Any) -> np.ndarray:
    """(P, F, 2) the detector's mid-hip pixel of every tracked person (NaN where unseen)."""
    hips = tracks.keypoints2d[:, :, [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]]
    return np.where(tracks.valid[..., None], hips[..., :2].mean(axis=2), np.nan)


def mediapipe_bodies(tracks: Any, K: np.ndarray) -> Bodies:
    """The detector's own landmarks (``world_landmarks``, as it gave them: not the keypoints
    the product reads, whose left and right are made consistent over the track)."""
    index = mediapipe_to_keypoints_index()
    keypoints = np.stack([landmarks_in_camera_axes(tracks.world_landmarks[p][:, index],
                                                   tracks.landmarks2d[p][:, index], K)
                          for p in range(tracks.num_people)])
    return Bodies(keypoints=keypoints, valid=tracks.valid.copy(), placed=False,
                  hips_px=detected_hips(tracks))


def solved_bodies(result: JobResult, tracks: Any) -> Bodies:
    return Bodies(keypoints=np.asarray(result.keypoints3d, dtype=np.float64),
                  valid=np.asarray(result.valid, dtype=bool).copy(), placed=True,
                  hips_px=detected_hips(tracks))


def stage1_bodies(folder: Path, tracks: Any, result: JobResult, generative: tuple[Any, Any],
                  body: Any) -> Bodies:
    """Stage 1's samples posed without refinement, person by person over their span."""
    from genhmr.models.refinement import RefinementConfig

    return refined_from_stage1(folder, tracks, result, generative, body,
                               RefinementConfig(steps=0))


def refinement_overrides(text: str) -> dict[str, Any]:
    """``"a=1,b=0.5"`` -> overrides of ``RefinementConfig`` (numbers, true/false)."""
    from genhmr.models.refinement import RefinementConfig

    fields = {f.name: f for f in dataclasses.fields(RefinementConfig)}
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in fields:
            raise ValueError(f"unknown refinement setting {name!r}; known: {', '.join(fields)}")
        default = getattr(RefinementConfig(), name)
        out[name] = (value.lower() == "true" if isinstance(default, bool)
                     else type(default)(value))
    return out


def refined_from_stage1(folder: Path, tracks: Any, result: JobResult,
                        generative: tuple[Any, Any], body: Any, config: Any) -> Bodies:
    """The stage 1 a job kept (``stage1.npz``), refined again with ``config`` (a
    ``RefinementConfig``; 0 steps: stage 1 as it was) through the product's per-track path,
    person by person over their span: settings compared on the same samples."""
    from genhmr.generative import observations, refine_track

    frames_K = result.intrinsics()  # (F, 3, 3)
    keypoints = np.zeros_like(np.asarray(result.keypoints3d, dtype=np.float64))
    valid = np.zeros_like(np.asarray(result.valid, dtype=bool))
    for p, person in enumerate(job_store.load_stage1(folder)):
        span = slice(*person.span)
        K = frames_K[span]
        obs = observations(tracks.keypoints2d[p, span], tracks.world_keypoints[p, span],
                           tracks.valid[p, span], K)
        fit, _ = refine_track(generative[1], body, person.stage1, obs, K, config)
        keypoints[p, span] = fit.keypoints3d
        valid[p, span] = tracks.valid[p, span]
    return Bodies(keypoints=keypoints, valid=valid, placed=True, hips_px=detected_hips(tracks))


def other_model_bodies(folder: Path, tracks: Any, result: JobResult,
                       generative: tuple[Any, Any], body: Any) -> tuple[Bodies, Bodies]:
    """Stage 1 and stage 1 + refinement of another generative model on a job's own tracks,
    through the product's per-track path with the job's own options."""
    from genhmr.generative import observations, refine_track
    from genhmr.models.refinement import RefinementConfig
    from genhmr.pipeline import solve_generative_track
    from genhmr.rerun import job_options

    options = job_options(folder)
    frames_K = result.intrinsics()  # (F, 3, 3)
    shape = np.asarray(result.keypoints3d, dtype=np.float64).shape
    stage1, refined = np.zeros(shape), np.zeros(shape)
    valid = np.zeros(shape[:2], bool)
    for p in range(tracks.num_people):
        seen = np.flatnonzero(tracks.valid[p])
        if not len(seen):
            continue
        span = slice(int(seen[0]), int(seen[-1]) + 1)
        kp2d, world, ok = (tracks.keypoints2d[p, span], tracks.world_keypoints[p, span],
                           tracks.valid[p, span])
        K = frames_K[span]
        fit, _, first = solve_generative_track(body, options, generative, kp2d, world, ok, K,
                                               lambda: False, float(result.fps))
        refined[p, span] = fit.keypoints3d
        posed, _ = refine_track(generative[1], body, first, observations(kp2d, world, ok, K),
                                K, RefinementConfig(steps=0))
        stage1[p, span] = posed.keypoints3d
        valid[p, span] = ok
    hips = detected_hips(tracks)
    return (Bodies(keypoints=stage1, valid=valid.copy(), placed=True, hips_px=hips),
            Bodies(keypoints=refined, valid=valid, placed=True, hips_px=hips))


def all_bodies(generative_job: Job, fit_job: Job, models: tuple[Any, Any],
               single_frame: tuple[Any, Any] | None = None) -> dict[str, Bodies]:
    """Every method's bodies for one clip: ``models`` = (body, (transformer, tokenizer));
    ``single_frame`` another (transformer, tokenizer) to compare on the same tracks."""
    body, generative = models
    tracks = job_store.load_tracks(generative_job.folder)
    fit_tracks = job_store.load_tracks(fit_job.folder)
    solve = load_result(generative_job.folder / job_store.SOLVE_FILE)
    K = solve.intrinsics()  # (F, 3, 3): each frame's lens
    out = {
        "mediapipe": mediapipe_bodies(tracks, K),
        "fit": solved_bodies(load_result(fit_job.folder / job_store.SOLVE_FILE), fit_tracks),
    }
    if single_frame is not None:
        out["stage1_single"], out["refined_single"] = other_model_bodies(
            generative_job.folder, tracks, solve, single_frame, body)
    out.update({
        "stage1": stage1_bodies(generative_job.folder, tracks, solve, generative, body),
        "refined": solved_bodies(solve, tracks),
        "product": solved_bodies(generative_job.result, tracks),
    })
    return out


def load_models(checkpoint: str = "") -> tuple[Any, tuple[Any, Any]]:
    """(default body, (transformer, tokenizer) of ``checkpoint``; empty: the shipped one)."""
    from genhmr.pipeline import Models

    return Models().get(JobOptions(video="", out_dir="", checkpoint=checkpoint))
