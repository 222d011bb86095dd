"""The generative method for one person track: stage-1 sampling, then stage-2 refinement.

Takes the same tracked detector output as the fitting baseline (``genhmr.fitting.fit_track``)
and returns the same :class:`~genhmr.fitting.FitResult`, so the pipeline, the result format and
the add-on do not care which method ran. Per frame, the detector's keypoints become the
transformer's inputs exactly as in training (:func:`~genhmr.synthetic.conditioning.
observation_inputs`); the transformer samples pose tokens (T iterations, optionally several
hypotheses) and regresses camera-frame orientation, shape and a crop camera; the shape is
averaged over the track; refinement then optimises the whole track at once against the 2D
keypoints. Per-joint confidence comes from the sampled tokens' uncertainty
(:func:`~genhmr.models.sampling.joint_uncertainty`, degrees), mapped to (0, 1] and multiplied
by the fit's evidence-based confidence, so a joint is confident only when it is both seen and
unambiguous.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genhmr.camera import landmarks_in_camera_axes, translation_from_keypoints
from genhmr.fitting.ik_fit import FitResult, joint_confidence
from genhmr.models.draft_decoder import draft_for
from genhmr.models.masked_transformer import PoseCondition, load_masked_transformer
from genhmr.models.refinement import (
    RefinementConfig,
    RefinementInput,
    RefinementResult,
    keypoint_rig,
    loss_scale,
    pose_keypoints,
    refine,
)
from genhmr.models.sampling import HypothesisScore, joint_uncertainty, predict_pose
from genhmr.synthetic.conditioning import (
    ConditioningConfig,
    crop_camera_to_translation,
    observation_inputs,
)
from genhmr_core.gaps import (
    gap_ends,
    interpolate_missed,
    interpolate_missed_rotations,
    nearest_seen,
)
from genhmr_core.protocol import DEFAULT_KEYPOINT_CONFIDENCE
from genhmr_core.rotations import matrix_to_axis_angle
from genhmr_core.skeleton import NUM_BODY_JOINTS
from genhmr_core.temporal import consistent_choice, rolling_median

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "models" / "assets" / "genhmr_default.pt"
UNCERTAINTY_SCALE_DEG = 20.0  # a joint this uncertain gets confidence 1/e
DEPTH_MEDIAN_RADIUS = 7  # frames each side of the rolling median stage 1's depth is checked by
DEPTH_OUTLIER = 0.15  # a frame's depth this far (relative) from it is an outlier
TRAINING_FPS = 30.0  # the motion dataset's frame rate (docs/motion_data.md)
# torch threads while a track is sampled and refined (see ``solve_threads``)
SOLVE_THREADS = 1


@contextmanager
def solve_threads(count: int = SOLVE_THREADS) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block, restored after.

    A track's tensors are small (a few hundred poses of 32 tokens), so a second thread
    gains little and its workers spin-wait between the thousands of ops of a refinement:
    CPU time the target counts (issue #12). When the cores are shared (the artist's Blender,
    the detector's own threads, anything else) the spinning also costs wall clock: on
    Pose2Sim cam01 with a busy 2-core machine, refinement took 446 CPU ms per person-frame
    with torch's 2 threads and 50 with one, and 12x less wall clock (docs/performance.md).
    """
    before = torch.get_num_threads()
    if count <= 0 or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CheckpointError(RuntimeError):
    """No usable generative checkpoint (missing, damaged, or of another format)."""


@dataclass
class GenerativeConfig:
    # Decoding iterations of stage 1. 6 (8 until 2026-12-04) saves a quarter of the
    # transformer's CPU time and scores as well or better on Pose2Sim (docs/performance.md).
    # 4 would halve it and scored as well on Pose2Sim and the synthetic clips, but bridged a
    # merged person's 4-frame gap with a 16 cm pelvis jump (tests/backend/test_server.py) and
    # took the largest pelvis step on Pose2Sim from 8 to 9 cm.
    iterations: int = 6
    hypotheses: int = 1
    # Which hypothesis to keep: "likelihood" of its tokens, "reprojection" (the smallest 2D
    # error of its keypoints through its own crop camera; the heads then run per hypothesis),
    # or "temporal" (over the whole track at once: likely, and continuous with the frames
    # around it, ``genhmr_core.temporal.consistent_choice``; no single-frame flip)
    select: str = "likelihood"
    refinement: RefinementConfig | None = None
    batch: int = 256  # frames per transformer call
    # Where stage 1 puts the body: "keypoints" (as far as it must be to look its size: the
    # translation that best reprojects the sampled pose's keypoints onto the detected ones,
    # ``camera.translation_from_keypoints``; the crop camera where too few are seen) or
    # "crop_camera" (the transformer's weak-perspective head alone, which gives the distance of
    # an average body: on Pose2Sim it put people 17 % too far; docs/BENCHMARKS.md).
    depth: str = "keypoints"
    # Frames inside the track where the person was not seen (gaps): "blend" (their pose blended
    # in the tokenizer's code space from the detections on either side, place and facing
    # interpolated, and after refinement blended again from the refined frames on either side:
    # ``bridge_gaps``) or "nearest" (the nearest detection's pose held, a jump halfway, and
    # refinement's smoothness alone bridging it, as before 2026-12-03). Measured on Pose2Sim
    # with gaps cut into the tracks (tools/bench_gaps.py, docs/world_space.md §9).
    gaps: str = "blend"


def reprojection_score(tokenizer: Any, rig: tuple[torch.Tensor, torch.Tensor],
                       cond: PoseCondition, hypotheses: int) -> HypothesisScore:
    """Scores hypotheses by minus their confidence-weighted 2D error, in crop units.

    Each hypothesis's decoded pose, posed on ``rig`` (the average body's FK and keypoint
    offsets) with the orientation its heads read, is placed where its crop camera puts the
    pelvis and projected in full perspective (in focal units, from the crop box the model was
    given), then compared with the centre frame's crop-normalised keypoints. The weak-
    perspective shortcut ``s * (x - pelvis) + (tx, ty)`` is not enough here: for a person
    30 degrees off-axis it is off by a fifth of the crop, more than the hypotheses differ.
    """
    centre = cond.keypoints_2d.shape[1] // 2
    target = cond.keypoints_2d[:, centre].repeat_interleave(hypotheses, 0)
    weight = cond.confidence[:, centre].repeat_interleave(hypotheses, 0)
    box = cond.box[:, centre].repeat_interleave(hypotheses, 0)  # (cx, cy, half) / focal
    offsets, kp_offsets = rig

    def score(result: Any, heads: Any) -> torch.Tensor:
        n = result.tokens.shape[0]
        pose = tokenizer.decode_indices(result.tokens)
        local = torch.cat([heads.global_orient[:, None], pose], 1)
        joints, kp = pose_keypoints(offsets.expand(n, -1, -1), kp_offsets.expand(n, -1, -1),
                                    local, torch.zeros(n, 3))
        s, txy = heads.camera[:, 0], heads.camera[:, 1:]
        depth = 1.0 / (s * box[:, 2]).clamp(min=1e-6)
        pelvis = torch.cat([(box[:, :2] + txy * box[:, 2:]) * depth[:, None], depth[:, None]], -1)
        points = kp - joints[:, :1] + pelvis[:, None]
        image = points[..., :2] / points[..., 2:].clamp(min=1e-3)
        uv = (image - box[:, None, :2]) / box[:, None, 2:]
        err = (uv - target).norm(dim=-1)
        return -(err * weight).sum(-1) / weight.sum(-1).clamp(min=1e-8)

    return score


def load_generative(path: str | Path = "") -> tuple[Any, Any]:
    """(transformer, tokenizer) from ``path``, or the shipped default when empty."""
    checkpoint = Path(path) if path else DEFAULT_CHECKPOINT
    if not checkpoint.is_file():
        hint = ("no generative checkpoint is shipped yet: train one (docs/generative.md) and "
                "pass it as 'checkpoint', or use method 'fit'") if not path else \
            "check the path"
        raise CheckpointError(f"generative checkpoint {checkpoint} not found; {hint}")
    try:
        model, tokenizer = load_masked_transformer(checkpoint)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"cannot load the generative checkpoint {checkpoint}: {exc}"
                              ) from exc
    return model.eval(), tokenizer.eval()


@dataclass
class Observations:
    """One track's detector evidence over its F frames, as both stages read it."""

    uv: np.ndarray  # (F, 25, 2) pixels; NaN where the keypoint is missing
    confidence: np.ndarray  # (F, 25) 0..1; 0 in frames where the person was not detected
    landmarks: np.ndarray  # (F, 25, 3) metric 3D landmarks in camera axes; NaN = missing
    world: np.ndarray  # (F, 25, 3) the detector's hip-centred metric keypoints
    valid: np.ndarray  # (F,) bool: detected in that frame


def observations(keypoints2d: np.ndarray, world: np.ndarray, valid: np.ndarray,
                 K: np.ndarray) -> Observations:
    """keypoints2d (F, 25, 3) pixels + confidence, world (F, 25, 3), valid (F,)."""
    valid = np.asarray(valid, bool)
    conf = np.where(valid[:, None], np.clip(keypoints2d[..., 2], 0.0, 1.0), 0.0)
    uv = np.where(conf[..., None] > 0, keypoints2d[..., :2], np.nan)
    landmarks = landmarks_in_camera_axes(np.where(conf[..., None] > 0, world, np.nan), uv, K)
    return Observations(uv=uv, confidence=conf, landmarks=landmarks, world=world, valid=valid)


@dataclass
class Stage1:
    """Stage 1's output for one track (its F frames): what refinement starts from, kept in the
    job folder so refinement can be re-run on part of the track without sampling again."""

    logits: np.ndarray  # (F, T, C) token logits
    global_orient: np.ndarray  # (F, 3, 3) camera frame
    transl: np.ndarray  # (F, 3) camera frame
    betas: np.ndarray  # (B,) the track's shape (predicted and averaged, or given)
    uncertainty: np.ndarray  # (F, 21) degrees per body joint
    # the person's uniform size (``JobResult.body_scale``): 1 as sampled; the job's sizing on
    # the floor scales it with the person (``floor_sizing.resize_stage1``), so a re-run refines
    # the body at the size the result has
    body_scale: float = 1.0


@dataclass
class Hold:
    """What a re-run on part of a track keeps: ``anchor_joints`` (F, 22, 3) where
    ``anchor_weight`` (F,) > 0 (the frames just outside the re-run), and the rotations
    ``keep_pose`` (F, 21, 3, 3) of the body joints where ``keep_mask`` (21,) is True."""

    anchor_joints: np.ndarray | None = None
    anchor_weight: np.ndarray | None = None
    keep_pose: np.ndarray | None = None
    keep_mask: np.ndarray | None = None


@solve_threads()
def sample_track(model: Any, tokenizer: Any, body: Any, betas_fixed: np.ndarray | None,
                 obs: Observations, K: np.ndarray, config: GenerativeConfig | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 generator: torch.Generator | None = None, fps: float | None = None) -> Stage1:
    """Stage 1 over one track: tokens, orientation, shape and depth from the transformer.

    ``fps`` is the track's frame rate; a temporal model reads its window at the rate it was
    trained on (:func:`window_stride`).

    ``betas_fixed`` replaces the predicted shape (e.g. when shape estimation is off: zeros).
    Frames where the person is not detected are sampled from the nearest detected frame's
    inputs; with ``config.gaps`` "blend" their pose is then blended between the detections on
    either side of the gap and their place and facing interpolated (:func:`blend_gap_logits`).
    Refinement gives them no data term and smooths them into their neighbours.
    """
    cfg = config or GenerativeConfig()
    if cfg.depth not in ("keypoints", "crop_camera"):
        raise ValueError(f"unknown stage-1 depth source {cfg.depth!r}")
    if cfg.gaps not in ("blend", "nearest"):
        raise ValueError(f"unknown way to bridge gaps {cfg.gaps!r}")
    F = obs.valid.shape[0]
    if not obs.valid.any():
        raise ValueError("the track has no detected frame")
    nearest = nearest_seen(obs.valid)
    inputs, cond = _conditions(obs, K, nearest, model.config.window, window_stride(fps))
    if cfg.select not in ("likelihood", "reprojection", "temporal"):
        raise ValueError(f"unknown hypothesis selection {cfg.select!r}")
    H = cfg.hypotheses
    tokens, logits, orient, camera, betas_all, likelihood = [], [], [], [], [], []
    with torch.no_grad():
        by_reprojection = cfg.select == "reprojection" and H > 1
        over_time = cfg.select == "temporal" and H > 1
        rig = keypoint_rig(body, torch.zeros(1, body.num_betas)) \
            if by_reprojection or over_time else None
        for a in range(0, F, cfg.batch):
            if should_stop is not None and should_stop():
                raise InterruptedError("sampling cancelled")
            part = PoseCondition(**{k: v[a:a + cfg.batch] for k, v in vars(cond).items()})
            score = reprojection_score(tokenizer, rig, part, H) if by_reprojection else None
            every: dict[str, Any] = {}
            if over_time:  # keep every hypothesis and its heads; the track chooses below
                def score(result: Any, heads: Any, every: dict[str, Any] = every
                          ) -> torch.Tensor:
                    every["heads"] = heads
                    return result.log_likelihood
            pred = predict_pose(model, part, cfg.iterations, H,
                                generator=generator or torch.Generator().manual_seed(0),
                                score=score)
            chosen, heads = (pred.all_hypotheses, every["heads"]) if over_time \
                else (pred.decode, pred.heads)
            tokens.append(chosen.tokens)
            logits.append(chosen.logits.float())
            likelihood.append(chosen.log_likelihood.float())
            orient.append(heads.global_orient)
            camera.append(heads.camera.float())
            betas_all.append(heads.betas.float())
        tokens_t, logits_t = torch.cat(tokens), torch.cat(logits)
        if over_time:
            rows = _consistent_hypotheses(tokenizer, rig, tokens_t, torch.cat(orient),
                                          torch.cat(likelihood), obs.valid, H)
            tokens_t, logits_t = tokens_t[rows], logits_t[rows]
            orient, camera, betas_all = ([torch.cat(x)[rows]] for x in
                                         (orient, camera, betas_all))
        bridge = cfg.gaps == "blend" and not obs.valid.all()
        if bridge:
            logits_t = blend_gap_logits(logits_t, obs.valid)
            tokens_t = torch.where(torch.as_tensor(obs.valid)[:, None], tokens_t,
                                   logits_t.argmax(-1))
        # (F, 21) degrees; the draft decoder's reading where there is one (a fifth of the cost)
        uncertainty = joint_uncertainty(draft_for(tokenizer) or tokenizer, tokens_t,
                                        logits_t).numpy()
        betas_pred = torch.cat(betas_all)[torch.as_tensor(obs.valid)].mean(0)
        betas = (torch.as_tensor(betas_fixed, dtype=torch.float32) if betas_fixed is not None
                 else betas_pred)
        lo, hi = body.shape_limits[:, 0].float(), body.shape_limits[:, 1].float()
        betas = torch.maximum(torch.minimum(betas, hi), lo)
        K_t = torch.as_tensor(np.broadcast_to(K, (F, 3, 3)).copy(), dtype=torch.float32)
        pelvis = crop_camera_to_translation(
            torch.cat(camera), torch.as_tensor(inputs.box_px, dtype=torch.float32), K_t)
        transl = pelvis - body.rest_joints(betas[None])[0, 0].float()
        if cfg.depth == "keypoints":
            transl = _place_by_keypoints(tokenizer, body, betas, tokens_t, torch.cat(orient),
                                         obs, nearest, K, transl)
    orient_np, transl_np = torch.cat(orient).numpy(), transl.numpy()
    if bridge:  # where the body is and which way it faces: between the gap's two ends
        orient_np = interpolate_missed_rotations(orient_np, obs.valid).astype(orient_np.dtype)
        transl_np = interpolate_missed(transl_np, obs.valid).astype(transl_np.dtype)
    return Stage1(logits=logits_t.numpy(), global_orient=orient_np, transl=transl_np,
                  betas=betas.numpy(), uncertainty=uncertainty)


def blend_gap_logits(logits: torch.Tensor, valid: np.ndarray, temperature: float = 1.0
                     ) -> torch.Tensor:
    """Token logits (F, T, C) with each missed frame's replaced by a blend of the seen frames'
    on either side of its gap, in proportion to how far along the gap it is: the soft tokens
    (``softmax(logits / temperature)``, what the tokenizer decodes) mixed, so the decoded pose
    moves from one end's to the other's through the tokenizer's code space, on poses it learnt
    from motion capture, rather than along a straight line of joint positions."""
    a, b, w = gap_ends(valid)
    w_t = torch.as_tensor(w, dtype=logits.dtype)[:, None, None]
    soft = (1 - w_t) * torch.softmax(logits[a] / temperature, -1) \
        + w_t * torch.softmax(logits[b] / temperature, -1)
    blended = temperature * soft.clamp(min=1e-12).log()
    return torch.where(torch.as_tensor(valid)[:, None, None], logits, blended)


def window_rows(valid: np.ndarray, nearest: np.ndarray, window: int, stride: int = 1
                ) -> tuple[np.ndarray, np.ndarray]:
    """Which frames each frame's conditioning window reads: rows (F, W) into the track, every
    ``stride``-th frame, and ``inside`` (F, W), False where the window runs past the track's
    ends (those slots are fed as missed frames, as training shows the model missed frames).

    A detected frame's window is centred on it. A frame where the person was not seen reads
    the window of its nearest detection (with ``GenerativeConfig.gaps`` "blend" its pose is then
    blended between the gap's two ends, :func:`blend_gap_logits`): a window centred on a
    missed frame would be asked for a pose it has no evidence of; across a 4-frame gap in
    demo.mp4 that put the pelvis 0.7 m off its neighbours, and on Pose2Sim with gaps cut into
    the tracks its poses flickered from frame to frame (docs/world_space.md §9).
    """
    F = valid.shape[0]
    offsets = (np.arange(window) - window // 2) * stride
    centre = np.where(np.asarray(valid, bool), np.arange(F), nearest)
    rows = centre[:, None] + offsets
    inside = (rows >= 0) & (rows < F)
    return np.clip(rows, 0, F - 1), inside


def window_stride(fps: float | None) -> int:
    """Frames of the footage between two frames of a temporal model's window: the model saw
    motion at ``TRAINING_FPS``, so 60 fps footage is read every other frame."""
    return 1 if not fps else max(1, round(fps / TRAINING_FPS))


def _conditions(obs: Observations, K: np.ndarray, nearest: np.ndarray, window: int,
                stride: int = 1) -> tuple[Any, PoseCondition]:
    """The transformer's inputs for every frame of a track: the per-frame inputs (crop boxes
    in pixels are what stage 1's camera is read against) and the (F, W) conditioning.

    The single-frame model reads each frame's nearest detection. A temporal model reads the
    frames as they were, a missed one as zeros with ``detected`` False, exactly as in training
    (:mod:`genhmr.synthetic.conditioning`); its crop box is the nearest detected one's.
    """
    cfg = ConditioningConfig()
    if window == 1:
        inputs = observation_inputs(obs.uv[nearest], obs.confidence[nearest],
                                    obs.world[nearest], obs.valid[nearest], K, cfg)
        rows, inside = np.arange(obs.valid.shape[0])[:, None], np.ones((len(nearest), 1), bool)
    else:
        world = np.where(obs.valid[:, None, None], obs.world, np.nan)
        inputs = observation_inputs(obs.uv, obs.confidence, world, obs.valid, K, cfg)
        rows, inside = window_rows(obs.valid, nearest, window, stride)
    keep = inside & inputs.detected[rows]

    def gather(a: np.ndarray) -> torch.Tensor:
        out = a[rows]
        out = np.where(keep.reshape(keep.shape + (1,) * (out.ndim - 2)), out, 0)
        return torch.as_tensor(out, dtype=torch.float32)

    cond = PoseCondition(keypoints_2d=gather(inputs.keypoints_2d),
                         confidence=gather(inputs.confidence), world=gather(inputs.world),
                         detected=torch.as_tensor(keep),
                         box=torch.as_tensor(inputs.box[rows], dtype=torch.float32))
    if window > 1:  # stage 1's camera is read in the centre frame's box (and the one that
        #           frame's keypoints placed), so the per-frame inputs stay indexed by frame
        centre = rows[:, window // 2]
        inputs.box_px = inputs.box_px[centre]
    return inputs, cond


def _token_keypoints(tokenizer: Any, rig: tuple[torch.Tensor, torch.Tensor],
                     tokens: torch.Tensor, orient: torch.Tensor) -> torch.Tensor:
    """(n, 25, 3) keypoints of n token sequences decoded and posed on ``rig`` (one shape's FK
    and keypoint offsets, ``keypoint_rig``) with their orientations (n, 3, 3), the root at the
    rig's rest pelvis (no translation)."""
    n = tokens.shape[0]
    offsets, kp_offsets = rig
    local = torch.cat([orient[:, None].float(), tokenizer.decode_indices(tokens).float()], 1)
    _, kp = pose_keypoints(offsets.expand(n, -1, -1), kp_offsets.expand(n, -1, -1), local,
                           torch.zeros(n, 3))
    return kp


def _consistent_hypotheses(tokenizer: Any, rig: tuple[torch.Tensor, torch.Tensor],
                           tokens: torch.Tensor, orient: torch.Tensor,
                           likelihood: torch.Tensor, valid: np.ndarray, hypotheses: int
                           ) -> torch.Tensor:
    """Rows (F,) into the F * H hypotheses: per frame the one that is likely (log-likelihood
    per token) and continuous with its neighbours (pelvis-relative keypoints, posed on the
    average body with each hypothesis's own orientation), chosen over the whole track."""
    n = tokens.shape[0]
    kp = _token_keypoints(tokenizer, rig, tokens, orient)
    frames = n // hypotheses
    points = kp.reshape(frames, hypotheses, -1, 3).numpy()
    per_token = (likelihood / tokens.shape[1]).reshape(frames, hypotheses).numpy()
    choice = consistent_choice(points, per_token, valid)
    return torch.as_tensor(np.arange(frames) * hypotheses + choice)


def _place_by_keypoints(tokenizer: Any, body: Any, betas: torch.Tensor, tokens: torch.Tensor,
                        orient: torch.Tensor, obs: Observations, nearest: np.ndarray,
                        K: np.ndarray, fallback: torch.Tensor) -> torch.Tensor:
    """Stage 1's translation (F, 3) from the sampled poses' keypoints and the detected ones
    (each frame from its nearest detection, as its pose was), ``fallback`` where too few
    keypoints are seen."""
    offsets, kp_offsets = keypoint_rig(body, betas[None].float())
    kp = _token_keypoints(tokenizer, (offsets, kp_offsets), tokens, orient)
    seen = obs.confidence[nearest] > DEFAULT_KEYPOINT_CONFIDENCE
    transl, ok = translation_from_keypoints(kp.numpy(), obs.uv[nearest],
                                            obs.confidence[nearest] * seen, K)
    transl = np.where(ok[:, None], transl, fallback.numpy())
    # A frame whose keypoints mislead (a limb on someone else, half the body hidden) can put
    # the body metres away; people do not jump in depth, so a frame more than DEPTH_OUTLIER
    # off its neighbours' median depth is moved along its ray to that median.
    pelvis = transl + offsets[0, 0].numpy()  # the rest pelvis, placed
    depth = pelvis[:, 2]
    median = rolling_median(depth, ok, DEPTH_MEDIAN_RADIUS)
    off = ok & np.isfinite(median) & (np.abs(depth / np.where(np.isfinite(median), median, 1.0)
                                             - 1.0) > DEPTH_OUTLIER)
    pelvis[off] *= (median[off] / depth[off])[:, None]
    transl = pelvis - offsets[0, 0].numpy()
    return torch.as_tensor(transl, dtype=fallback.dtype)


def bridge_gaps(tokenizer: Any, result: Any, valid: np.ndarray, temperature: float) -> None:
    """In place: a refined track's (``RefinementResult``, one person) missed frames bridged
    again from the *refined* frames on either side of each gap: the pose blended in code space
    (:func:`blend_gap_logits`), the facing turned evenly; the path stays refinement's.

    Refinement has no evidence in a gap and moves the seen frames around it towards their
    keypoints; its smoothness, within its steps, drags the gap only part of the way, so the
    gap's frames are left between stage 1's guess and the refined ends, a bump. Blending from
    the refined ends joins them exactly: on Pose2Sim with 16-frame gaps cut into the tracks
    the gap frames' MPJPE went from 169 mm (blended stage 1, refined) to 136, and the ankles'
    velocity error from 34 to 14 mm/frame (tools/bench_gaps.py).
    """
    missed = torch.as_tensor(~np.asarray(valid, bool))
    with torch.no_grad():
        logits = blend_gap_logits(result.logits[0], valid, temperature)
        pose = tokenizer.decode_logits(logits, temperature).to(result.body_pose.dtype)
        result.body_pose[0] = torch.where(missed[:, None, None, None], pose, result.body_pose[0])
        result.logits[0] = logits
        orient = interpolate_missed_rotations(result.global_orient[0].numpy(), valid)
        result.global_orient[0] = torch.as_tensor(orient, dtype=result.global_orient.dtype)


# Alternatives start refinement from their sampled tokens: each sampled token's logit is raised
# this far (nats) above the frame's most likely one, so the soft token is the sample (e^3: 95 %
# against the runner-up) while the model's other preferences stay as the tail refinement can
# move along.
SAMPLE_SHARPEN = 3.0


@dataclass
class RangeSamples:
    """D alternative stage-1 draws over n frames of a track (:func:`sample_range`)."""

    logits: np.ndarray  # (D, n, T, C) refinement's starting logits: the sampled tokens on top
    global_orient: np.ndarray  # (D, n, 3, 3) camera frame, read with each draw's tokens
    keypoints: np.ndarray  # (D, n, 25, 3) posed on the track's body, pelvis at its rest place
    log_likelihood: np.ndarray  # (D,) mean log-probability per token of each draw


@solve_threads()
def sample_range(model: Any, tokenizer: Any, body: Any, obs: Observations, K: np.ndarray,
                 frames: slice, betas: np.ndarray, draws: int, temperature: float,
                 generator: torch.Generator, fps: float | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 body_scale: float = 1.0) -> RangeSamples:
    """``draws`` other stage-1 samples of ``frames`` of one track: the artist's alternatives.

    Each draw decodes the frames at ``temperature`` with one Gumbel field shared by all of them
    (``iterative_decode``'s ``gumbel``): where neighbouring frames' logits agree they make the
    same choice, so a draw is one coherent other reading of the stretch (the other knee
    forward, the arm behind rather than in front), not independent noise per frame that
    refinement's smoothness would average away. Choice noise is off for the same reason.
    ``betas`` and ``body_scale``: the track's body and size, the draws' keypoints are posed on.
    """
    from genhmr.models.sampling import iterative_decode

    F = obs.valid.shape[0]
    window = range(F)[frames]
    if not obs.valid.any():
        raise ValueError("the track has no detected frame")
    nearest = nearest_seen(obs.valid)
    _, cond = _conditions(obs, K, nearest, model.config.window, window_stride(fps))
    part = PoseCondition(**{k: v[window.start:window.stop] for k, v in vars(cond).items()})
    n, N, C = len(window), model.num_tokens, tokenizer.codebook_size
    rig = keypoint_rig(body, torch.as_tensor(betas, dtype=torch.float32)[None], body_scale)
    logits, orients, points, likelihood = [], [], [], []
    with torch.no_grad():
        for _ in range(draws):
            if should_stop is not None and should_stop():
                raise InterruptedError("sampling cancelled")
            u = torch.rand((1, N, C), generator=generator).clamp(1e-10, 1 - 1e-10)
            field = (-torch.log(-torch.log(u))).expand(n, N, C)
            decoded = iterative_decode(lambda tok: model(part, tok).logits, n, N, model.mask_id,
                                       temperature=temperature, generator=generator,
                                       gumbel=field)
            heads = model(part, decoded.tokens)
            kept = decoded.logits.float()
            top = kept.max(-1, keepdim=True).values + SAMPLE_SHARPEN
            logits.append(kept.scatter(-1, decoded.tokens[..., None], top))
            orients.append(heads.global_orient.float())
            points.append(_token_keypoints(tokenizer, rig, decoded.tokens, heads.global_orient))
            likelihood.append(float(decoded.log_likelihood.mean()) / N)
    return RangeSamples(logits=torch.stack(logits).numpy(),
                        global_orient=torch.stack(orients).numpy(),
                        keypoints=torch.stack(points).numpy(),
                        log_likelihood=np.asarray(likelihood))


# Refinement optimises every frame of a track at once, and its working memory grows with the
# frames (~0.9 MB each: the decoder's activations kept for the backward pass) and, through the
# cache, so does its time per frame (0.8 ms per frame and step at 100 frames, 1.9 at 3,000).
# A longer track is refined in chunks of about this many frames, each with a margin of free
# frames on either side that it refines as context and drops, and all with the whole track's
# loss scale: each frame then sees the same balance of terms and nearly the same neighbours as
# in one piece, and time and memory stay linear in the frames (docs/performance.md, "Long
# clips"). Tracks up to this length (33 s at 30 fps) are refined in one piece.
REFINE_CHUNK = 1000
CHUNK_MARGIN = 16  # frames refined as context on each side of a chunk, then dropped


def refine_chunks(frames: int, chunk: int | None = None, margin: int = CHUNK_MARGIN
                  ) -> list[tuple[int, int, int, int]]:
    """(low, start, stop, high) of each chunk over ``frames`` (of at most ``chunk``, default
    ``REFINE_CHUNK``): frames [low, high) are refined together, [start, stop) kept. Chunks
    split the track evenly (none much shorter than the others)."""
    chunk = REFINE_CHUNK if chunk is None else chunk
    if frames <= chunk:
        return [(0, 0, frames, frames)]
    count = -(-frames // chunk)
    bounds = np.linspace(0, frames, count + 1).round().astype(int).tolist()
    return [(max(0, a - margin), a, b, min(frames, b + margin))
            for a, b in itertools.pairwise(bounds)]


# RefinementResult's fields that run over the frames (dim 1); the others are per person.
_PER_FRAME = ("logits", "body_pose", "global_orient", "transl", "keypoints_3d",
              "reprojection_px_before", "reprojection_px_after")


def joined(parts: list[RefinementResult]) -> RefinementResult:
    """One person's refinement of consecutive stretches of a track as one; the losses of each
    step summed over the parts."""
    if len(parts) == 1:
        return parts[0]
    return dataclasses.replace(
        parts[0], **{name: torch.cat([getattr(p, name) for p in parts], dim=1)
                     for name in _PER_FRAME},
        losses=[sum(step) for step in zip(*(part.losses for part in parts), strict=True)])


def kept(part: RefinementResult, frames: slice) -> RefinementResult:
    """``part`` over ``frames`` only (of its own frames)."""
    return dataclasses.replace(part, **{name: getattr(part, name)[:, frames]
                                        for name in _PER_FRAME})


@solve_threads()
def refine_track(tokenizer: Any, body: Any, stage1: Stage1, obs: Observations, K: np.ndarray,
                 config: RefinementConfig | None = None, frames: slice = slice(None),
                 hold: Hold | None = None, should_stop: Callable[[], bool] | None = None,
                 gaps: str = "blend") -> tuple[FitResult, np.ndarray]:
    """Stage 2 over ``frames`` of one track (all of it by default): the refined body as a
    :class:`FitResult` over those frames, and the track's betas. ``hold`` anchors joints and
    keeps bones for a re-run on part of the track. ``gaps`` "blend": the frames the person
    was not seen in are bridged from the refined frames around them (:func:`bridge_gaps`);
    "nearest": refinement's smoothness alone."""
    if gaps not in ("blend", "nearest"):
        raise ValueError(f"unknown way to bridge gaps {gaps!r}")
    config = config or RefinementConfig()
    F = obs.valid.shape[0]
    window = range(F)[frames]
    sl = slice(window.start, window.stop)
    n = len(window)
    valid = obs.valid[sl]
    conf = obs.confidence[sl]
    K_frames = K if np.ndim(K) == 2 else np.asarray(K)[sl]  # a zoom: the track's K per frame
    K_t = torch.as_tensor(np.broadcast_to(K_frames, (n, 3, 3)).copy(), dtype=torch.float32)

    def tensor(a: np.ndarray | None, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
        return None if a is None else torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)[None]

    hold = hold or Hold()
    chunks = refine_chunks(n)
    scale = None if len(chunks) == 1 else loss_scale(
        tensor(conf), tensor(valid, torch.bool), tensor(obs.landmarks[sl]), config)
    parts = []
    for low, start, stop, high in chunks:
        rows = slice(sl.start + low, sl.start + high)

        def held(a: np.ndarray | None, rows: slice = rows) -> torch.Tensor | None:
            return None if a is None else tensor(a[rows])

        part = refine(tokenizer, body, RefinementInput(
            logits=tensor(stage1.logits[rows]), global_orient=tensor(stage1.global_orient[rows]),
            transl=tensor(stage1.transl[rows]), betas=tensor(stage1.betas),
            keypoints_2d=tensor(np.nan_to_num(obs.uv[rows])),
            confidence=tensor(obs.confidence[rows]), K=K_t[None, low:high],
            valid=torch.as_tensor(obs.valid[rows])[None], landmarks_3d=held(obs.landmarks),
            tracked=torch.ones(1, high - low, dtype=torch.bool),
            anchor_joints=held(hold.anchor_joints), anchor_weight=held(hold.anchor_weight),
            keep_pose=held(hold.keep_pose),
            keep_mask=None if hold.keep_mask is None else torch.as_tensor(hold.keep_mask),
            scale=scale, body_scale=torch.tensor([float(stage1.body_scale)])), config,
            should_stop)
        parts.append(kept(part, slice(start - low, stop - low)))
    result = joined(parts)
    if gaps == "blend" and valid.any() and not valid.all():
        bridge_gaps(tokenizer, result, valid, config.temperature)

    skeleton = body.skeleton(result.betas[0].numpy(), float(stage1.body_scale))
    local = torch.cat([result.global_orient[0][:, None], result.body_pose[0]], 1)
    with torch.no_grad():
        joints, _, kp = skeleton(local, result.transl[0])
    aa = matrix_to_axis_angle(local.numpy().astype(np.float64))
    evidence = joint_confidence(conf, skeleton.kp_joint.cpu().numpy())
    uncertainty = stage1.uncertainty[sl]
    certainty = np.ones_like(evidence)
    certainty[:, 1:1 + NUM_BODY_JOINTS] = np.exp(-uncertainty / UNCERTAINTY_SCALE_DEG)
    after = result.reprojection_px_after[0].numpy()
    return FitResult(
        global_orient=aa[:, 0], body_pose=aa[:, 1:1 + NUM_BODY_JOINTS],
        transl=result.transl[0].numpy(), joints3d=joints.numpy(), keypoints3d=kp.numpy(),
        joint_confidence=evidence * certainty * valid[:, None],
        reprojection_px=float(after[valid].mean()) if valid.any() else 0.0,
        joint_uncertainty=uncertainty
    ), result.betas[0].numpy()


def estimate_track(model: Any, tokenizer: Any, body: Any, betas_fixed: np.ndarray | None,
                   keypoints2d: np.ndarray, world: np.ndarray, valid: np.ndarray,
                   K: np.ndarray, config: GenerativeConfig | None = None,
                   should_stop: Callable[[], bool] | None = None, fps: float | None = None
                   ) -> tuple[FitResult, np.ndarray]:
    """Both stages over one track: keypoints2d (F, 25, 3) pixels + confidence, world
    (F, 25, 3), valid (F,). Returns the result (as the fitting baseline's) and the track's
    betas; missed frames are filled in by refinement and marked invalid in the result."""
    cfg = config or GenerativeConfig()
    obs = observations(keypoints2d, world, valid, K)
    stage1 = sample_track(model, tokenizer, body, betas_fixed, obs, K, cfg, should_stop,
                          fps=fps)
    return refine_track(tokenizer, body, stage1, obs, K, cfg.refinement, should_stop=should_stop,
                        gaps=cfg.gaps)
