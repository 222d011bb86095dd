"""Stage 2: 2D-pose-guided refinement of the sampled poses (GenHMR's second stage).

Stage 1 (the masked transformer's iterative sampling) gives, per person and frame, token logits,
a global orientation in the camera frame, a translation and a shape. Here those become free
variables and are optimised so the body's 25 keypoints, projected through the real camera,
land on the detector's 2D keypoints:

* **Soft tokens.** The pose is ``tokenizer.decode_logits(logits)``: the expected codebook vector
  under ``softmax(logits)``. Optimising logits keeps every candidate pose inside what the
  tokenizer can express, i.e. near the space of real poses, which is the point of refining in
  token space rather than in joint angles.
* **Robust, confidence-weighted reprojection.** Geman-McClure on residuals measured in units of
  the person's size, weighted by the detector's confidence: one wild keypoint (a swapped wrist,
  a hallucinated foot) cannot drag the body. Its scale shrinks over the steps (graduated
  non-convexity), so a poor start still gets gradients.
* **A prior towards stage 1**: the decoded rotations and the orientation stay near the
  stage-1 result, and the depth near its stage-1 value (2D evidence hardly constrains it).
* **The detector's 3D landmarks** (optional, ``landmarks_3d`` > 0): the hip-centred keypoints
  should match MediaPipe's metric "world" landmarks, Geman-McClure again (scale
  ``landmarks_sigma`` metres) since their depth errors are large and one-sided. Off in GenHMR's
  paper (2D only); our conditioning already includes these landmarks, and the benchmark shows
  what they add (docs/generative.md).
* **Temporal smoothness** for video: second differences of the 3D joints across consecutive
  frames of a track.

Everything is batched as (people P, frames F): one optimiser step updates every frame of every
person. Keypoints come from forward kinematics with per-person rest skeletons and keypoint
offsets measured on the body's mesh (the same rigid attachment ``BodyModel.skeleton`` uses), so
a step costs FK only; with ``refine_shape`` the rest skeleton is rebuilt from the betas each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from genhmr.body.body_model import BodyModel
from genhmr.body.skeleton_model import (
    forward_kinematics,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)
from genhmr.fused_adam import FusedAdam
from genhmr.models.draft_decoder import DraftDecoder, draft_for
from genhmr.models.tokenizer import PoseTokenizer
from genhmr_core.keypoints import KEYPOINT_INDEX, keypoint_attachments
from genhmr_core.protocol import DEFAULT_KEYPOINT_CONFIDENCE, DEFAULT_REFINE_STEPS
from genhmr_core.skeleton import PARENTS

_KP_JOINT = torch.as_tensor(keypoint_attachments()[0])
_FK_JOINTS = int(_KP_JOINT.max()) + 1
_PARENTS = torch.as_tensor(PARENTS[1:])
_HIPS = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]
Decoder = PoseTokenizer | DraftDecoder  # what refinement decodes logits with


@dataclass
class RefinementConfig:
    """Stage-2 settings. The defaults were chosen with ``tools/bench_generative.py`` on the
    held-out clips (docs/generative.md, "Choosing the refinement defaults"): 50 steps rather
    than 20-30 (the 2D loss anneals over the steps; fewer left ~2-6 mm of PA-MPJPE), smoothness
    10 and the 3D-landmark term at 0.25 (higher weights import the landmarks' jitter). The two
    robust scales were then set on real footage and checked on synthetic
    (``tools/sweep_refinement.py``, docs/generative.md "On real footage"): the 2D scale 0.04
    (was 0.05) and the 3D landmarks' 0.2 m (was 0.1), PA-MPJPE 66.1 -> 64.2 mm on Pose2Sim and
    60.2 -> 56.9 mm on the synthetic clips."""

    steps: int = DEFAULT_REFINE_STEPS
    # Early steps decode with the tokenizer's draft decoder (``genhmr.models.draft_decoder``:
    # a fifth of the decoder's arithmetic) where one was distilled for the tokenizer; the last
    # ``polish_steps``, and the pose refinement returns, with the decoder itself. On the
    # Pose2Sim tracks 35 draft + 15 polish steps scored as 50 on the decoder (PA-MPJPE 64.1
    # against 64.3 mm, acceleration error 17.2 against 17.0) in 62 % of the CPU time; 40 + 10:
    # 64.2 mm, 17.7 (docs/performance.md). ``draft=False``: every step on the decoder.
    draft: bool = True
    polish_steps: int = 15
    # Soft tokens are softmax(logits / temperature) @ codebook. Stage 1's logits can be broad
    # where the transformer hesitated; a temperature below 1 starts refinement from (near) the
    # pose stage 1 chose instead of from the average of its candidates.
    temperature: float = 1.0
    lr_logits: float = 0.2  # raw logit units (the effective step on softmax inputs is lr / T)
    lr_orient: float = 0.01
    lr_transl: float = 0.01
    lr_betas: float = 0.02
    robust_sigma: float = 0.04  # Geman-McClure scale, as a fraction of the person's size
    # Graduated non-convexity: the scale starts this large and shrinks geometrically to
    # ``robust_sigma`` over the steps. Geman-McClure's gradient vanishes for residuals well
    # beyond its scale, so from a poor stage-1 start every keypoint would look like an outlier.
    robust_sigma_start: float = 0.5
    prior_pose: float = 0.02  # squared rotation-matrix distance of the body pose to stage 1
    prior_orient: float = 0.02
    prior_depth: float = 1.0  # squared relative depth change
    smooth: float = 10.0  # squared second difference of the joints (m), per frame
    landmarks_3d: float = 0.25  # weight of the detector's 3D landmarks (0 = 2D only)
    landmarks_sigma: float = 0.2  # their Geman-McClure scale, metres
    refine_shape: bool = False
    min_confidence: float = DEFAULT_KEYPOINT_CONFIDENCE  # keypoints below this are ignored
    # Pull towards ``RefinementInput.anchor_joints`` (squared metres, per anchored frame). A
    # re-run on part of a track anchors the frames just outside it to the solution they already
    # have, so smoothness carries the new stretch into its neighbours without a step.
    anchor: float = 1000.0


@dataclass
class RefinementInput:
    """Stage-1 estimates and 2D evidence, shaped (P people, F frames, ...).

    ``valid`` marks the frames where a person was detected (the 2D, landmark and prior terms
    use only those). ``tracked`` (default: ``valid``) marks the frames that belong to the
    person's track; smoothness links consecutive tracked frames, so a frame the detector
    missed inside a track is filled in smoothly from its neighbours instead of holding a
    stale pose (which showed as acceleration spikes). Global orientation and translation are
    in the camera frame (OpenCV axes), so the body's keypoints are in camera space and
    project with ``K``.
    """

    logits: Tensor  # (P, F, T, C)
    global_orient: Tensor  # (P, F, 3, 3)
    transl: Tensor  # (P, F, 3)
    betas: Tensor  # (P, B)
    keypoints_2d: Tensor  # (P, F, 25, 2) pixels
    confidence: Tensor  # (P, F, 25)
    K: Tensor  # (3, 3) or (P, F, 3, 3)
    valid: Tensor  # (P, F) bool
    # The detector's hip-centred metric 3D landmarks, camera axes (P, F, 25, 3); NaN = missing.
    # Only used with ``RefinementConfig.landmarks_3d`` > 0.
    landmarks_3d: Tensor | None = None
    tracked: Tensor | None = None  # (P, F) bool; None = ``valid``
    # Joints to hold where they are (P, F, 22, 3) and how much each frame is held (P, F; 0 =
    # free), used with ``RefinementConfig.anchor``.
    anchor_joints: Tensor | None = None
    anchor_weight: Tensor | None = None
    # Body joints whose rotations are given, not refined: ``keep_pose`` (P, F, 21, 3, 3) where
    # ``keep_mask`` (21,) is True (an artist's hand-edited bones).
    keep_pose: Tensor | None = None
    keep_mask: Tensor | None = None
    # The means' denominators; None = these inputs' own (:class:`LossScale`).
    scale: LossScale | None = None
    # (P,) each person's uniform size (``JobResult.body_scale``: people sized by the floor);
    # None = 1. Their body is their shape scaled by it about the model origin.
    body_scale: Tensor | None = None


@dataclass
class LossScale:
    """The denominators that turn refinement's sums into means: the data term's total keypoint
    weight, the number of detected frames (the priors, anchors and smoothness), the landmark
    term's total weight. By default each refinement takes its own inputs'; a long track refined
    in chunks gives every chunk the whole track's (:func:`loss_scale`), so each frame sees the
    same balance of terms as in one piece (Adam's steps do not depend on a constant factor
    on the whole loss, but they do on the ratio between its terms)."""

    keypoint_weight: float
    frames: float
    landmark_weight: float


def loss_scale(confidence: Tensor, valid: Tensor, landmarks_3d: Tensor | None,
               config: RefinementConfig) -> LossScale:
    """:class:`LossScale` of inputs shaped as :class:`RefinementInput`'s, refined with
    ``config`` (its confidence floor; the landmarks count only when their term is on)."""
    weight = _keypoint_weight(confidence, valid, config.min_confidence)
    if config.landmarks_3d <= 0:
        landmarks_3d = None
    landmark_weight = 0.0 if landmarks_3d is None else float(
        (weight * torch.isfinite(landmarks_3d).all(-1)).sum())
    return LossScale(keypoint_weight=float(weight.sum()),
                     frames=float(valid.to(torch.float32).sum()),
                     landmark_weight=landmark_weight)


def _keypoint_weight(confidence: Tensor, valid: Tensor, min_confidence: float) -> Tensor:
    weight = confidence.to(torch.float32) * (confidence > min_confidence)
    return weight * valid.to(torch.bool).unsqueeze(-1)


@dataclass
class RefinementResult:
    logits: Tensor  # (P, F, T, C)
    body_pose: Tensor  # (P, F, 21, 3, 3) decoded from the refined logits
    global_orient: Tensor  # (P, F, 3, 3)
    transl: Tensor  # (P, F, 3)
    betas: Tensor  # (P, B)
    keypoints_3d: Tensor  # (P, F, 25, 3) camera space
    reprojection_px_before: Tensor  # (P, F) confidence-weighted mean pixel error
    reprojection_px_after: Tensor  # (P, F)
    losses: list[float]  # total loss per step


def project(points: Tensor, K: Tensor) -> Tensor:
    """Pinhole projection (..., N, 3) -> (..., N, 2) with intrinsics (..., 3, 3) or (3, 3)."""
    z = points[..., 2:3].clamp(min=1e-3)
    xy = points[..., :2] / z
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    return torch.stack([fx * xy[..., 0] + cx, fy * xy[..., 1] + cy], dim=-1)


def keypoint_rig(body: BodyModel, betas: Tensor, scale: Tensor | float = 1.0
                 ) -> tuple[Tensor, Tensor]:
    """Per-shape FK offsets (B, J, 3) and keypoint offsets (B, 25, 3) from the body's mesh;
    ``scale`` (B,) or a number: each person's uniform size (``JobResult.body_scale``)."""
    size = torch.as_tensor(scale, dtype=betas.dtype).reshape(-1, 1, 1)
    rest_j = body.rest_joints(betas) * size
    rest_k = body.rest_keypoints(betas) * size
    offsets = torch.cat([rest_j[:, :1], rest_j[:, 1:] - rest_j[:, _PARENTS]], dim=1)
    return offsets[:, :_FK_JOINTS], rest_k - rest_j[:, _KP_JOINT]


def pose_keypoints(offsets: Tensor, kp_offsets: Tensor, local_rot: Tensor, transl: Tensor
                   ) -> tuple[Tensor, Tensor]:
    """Joints (B, 22, 3) and keypoints (B, 25, 3) by FK with rigidly attached keypoints."""
    joints, rots = forward_kinematics(offsets, local_rot, transl, _FK_JOINTS)
    kp = joints[:, _KP_JOINT] + (rots[:, _KP_JOINT] @ kp_offsets.unsqueeze(-1)).squeeze(-1)
    return joints[:, :22], kp


def person_scale(keypoints_2d: Tensor, confidence: Tensor, min_conf: float) -> Tensor:
    """Per (P, F): the diagonal of the box of confident keypoints (pixels), at least 1."""
    ok = (confidence > min_conf).unsqueeze(-1)
    big = torch.finfo(keypoints_2d.dtype).max
    lo = torch.where(ok, keypoints_2d, big).amin(dim=-2)
    hi = torch.where(ok, keypoints_2d, -big).amax(dim=-2)
    diag = (hi - lo).norm(dim=-1)
    return torch.where(ok.any(dim=-2).squeeze(-1), diag, torch.ones_like(diag)).clamp(min=1.0)


def weighted_pixel_error(projected: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    err = (projected - target).norm(dim=-1)
    return (err * weight).sum(-1) / weight.sum(-1).clamp(min=1e-8)


def refine(tokenizer: PoseTokenizer, body: BodyModel, inputs: RefinementInput,
           config: RefinementConfig | None = None,
           should_stop: Callable[[], bool] | None = None) -> RefinementResult:
    """Optimise logits, orientation, translation (and shape) against the 2D keypoints.

    ``should_stop`` is polled before every step; when it returns True the refinement raises
    ``InterruptedError`` (a cancelled job must not wait for a long track to finish)."""
    cfg = config or RefinementConfig()
    P, F, T, C = inputs.logits.shape
    n = P * F
    dtype = torch.float32
    valid = inputs.valid.to(torch.bool)
    weight = _keypoint_weight(inputs.confidence, valid, cfg.min_confidence)
    means = inputs.scale or loss_scale(inputs.confidence, valid, inputs.landmarks_3d, cfg)
    target = inputs.keypoints_2d.to(dtype)
    K = inputs.K.to(dtype)
    if K.ndim == 2:
        K = K.expand(P, F, 3, 3)
    scale = person_scale(target, weight, 0.0).detach()

    logits0 = inputs.logits.detach().to(dtype)
    orient0 = inputs.global_orient.detach().to(dtype)
    transl0 = inputs.transl.detach().to(dtype)

    logits = logits0.clone().requires_grad_(True)
    orient6 = matrix_to_rotation_6d(orient0).clone().requires_grad_(True)
    transl = transl0.clone().requires_grad_(True)
    betas = inputs.betas.detach().to(dtype).clone().requires_grad_(cfg.refine_shape)
    groups = [([logits], cfg.lr_logits), ([orient6], cfg.lr_orient), ([transl], cfg.lr_transl)]
    if cfg.refine_shape:
        groups.append(([betas], cfg.lr_betas))
    # One fused pass over each variable per step: torch's default CPU Adam makes about ten
    # (sqrt, divide, add, ... each over all 32 x 512 logits of every frame), a tenth of a
    # step's time; the fused kernel computes the same update (to float rounding). Called
    # without torch.optim, which imports torch._dynamo (genhmr.fused_adam).
    optimizer = FusedAdam(groups)
    # Gradients of these only: the backward pass then skips the weight gradients of the
    # tokenizer's decoder (a fifth of refinement's CPU time, and they piled up in its .grad).
    variables = [p for params, _ in groups for p in params]
    size = 1.0 if inputs.body_scale is None else inputs.body_scale.detach().to(dtype)
    rig = None if cfg.refine_shape else keypoint_rig(body, betas.detach(), size)

    tracked = valid if inputs.tracked is None else inputs.tracked.to(torch.bool) | valid
    consecutive = (tracked[:, 2:] & tracked[:, 1:-1] & tracked[:, :-2]).to(dtype)
    depth0 = transl0[..., 2].clamp(min=0.1)
    frame_weight = valid.to(dtype)
    num_valid = max(means.frames, 1.0)
    use_landmarks = cfg.landmarks_3d > 0 and inputs.landmarks_3d is not None
    if use_landmarks:
        landmarks = inputs.landmarks_3d.to(dtype)
        landmark_weight = weight * torch.isfinite(landmarks).all(-1)
        landmarks = torch.nan_to_num(landmarks)

    keep = None
    if inputs.keep_pose is not None and inputs.keep_mask is not None \
            and bool(inputs.keep_mask.any()):
        keep = (inputs.keep_mask.to(torch.bool).view(1, 1, 21, 1, 1),
                inputs.keep_pose.detach().to(dtype))
    use_anchor = cfg.anchor > 0 and inputs.anchor_joints is not None \
        and inputs.anchor_weight is not None and bool((inputs.anchor_weight > 0).any())
    if use_anchor:
        anchor_joints = inputs.anchor_joints.detach().to(dtype)
        anchor_weight = inputs.anchor_weight.detach().to(dtype)

    def evaluate(decoder: Decoder = tokenizer) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        body_pose = decoder.decode_logits(logits.reshape(n, T, C), cfg.temperature).reshape(
            P, F, 21, 3, 3)
        if keep is not None:
            body_pose = torch.where(keep[0], keep[1], body_pose)
        orient = rotation_6d_to_matrix(orient6)
        local = torch.cat([orient.unsqueeze(2), body_pose], dim=2).reshape(n, 22, 3, 3)
        offsets, kp_off = rig if rig is not None else keypoint_rig(body, betas, size)
        offsets = offsets.repeat_interleave(F, dim=0)
        kp_off = kp_off.repeat_interleave(F, dim=0)
        joints, kp = pose_keypoints(offsets, kp_off, local, transl.reshape(n, 3))
        return body_pose, orient, joints.reshape(P, F, 22, 3), kp.reshape(P, F, 25, 3), \
            project(kp.reshape(P, F, 25, 3), K)

    draft_steps = max(cfg.steps - cfg.polish_steps, 0) if cfg.draft else 0
    draft = draft_for(tokenizer) if draft_steps > 0 else None
    # The pose prior's target, per decoder: each decoder's own reading of stage 1, so that the
    # prior measures how far refinement moved the pose, not how the draft differs.
    start_pose: dict[int, Tensor] = {}
    losses: list[float] = []
    before = None
    for step in range(cfg.steps):
        if should_stop is not None and should_stop():
            raise InterruptedError("refinement cancelled")
        optimizer.zero_grad()
        progress = step / max(cfg.steps - 1, 1)
        sigma = max(cfg.robust_sigma_start, cfg.robust_sigma) ** (1 - progress) \
            * cfg.robust_sigma ** progress
        decoder = draft if draft is not None and step < draft_steps else tokenizer
        body_pose, orient, joints, keypoints, projected = evaluate(decoder)
        if step == 0:  # the start, decoded once: the pose prior's target and the error before
            start_pose[id(decoder)] = body_pose.detach()
            if decoder is not tokenizer:
                with torch.no_grad():
                    start_pose[id(tokenizer)], _, _, _, projected0 = evaluate(tokenizer)
            else:
                projected0 = projected.detach()
            before = weighted_pixel_error(projected0, target, weight)
        pose0 = start_pose[id(decoder)]
        r2 = ((projected - target).norm(dim=-1) / scale.unsqueeze(-1)) ** 2
        robust = r2 / (r2 + sigma ** 2)
        data = (robust * weight).sum() / max(means.keypoint_weight, 1e-8)
        prior = (cfg.prior_pose * ((body_pose - pose0) ** 2).sum((-1, -2)).mean(-1)
                 + cfg.prior_orient * ((orient - orient0) ** 2).sum((-1, -2))
                 + cfg.prior_depth * ((transl[..., 2] - depth0) / depth0) ** 2)
        prior = (prior * frame_weight).sum() / num_valid
        loss = data + prior
        if use_landmarks:
            rel_kp = keypoints - keypoints[..., _HIPS, :].mean(-2, keepdim=True)
            d2 = ((rel_kp - landmarks) ** 2).sum(-1)
            gm = d2 / (d2 + cfg.landmarks_sigma ** 2)
            loss = loss + cfg.landmarks_3d * (gm * landmark_weight).sum() \
                / max(means.landmark_weight, 1e-8)
        if use_anchor:
            held = ((joints - anchor_joints) ** 2).sum(-1).mean(-1)
            loss = loss + cfg.anchor * (held * anchor_weight).sum() / num_valid
        if F >= 3 and cfg.smooth > 0:
            # Articulation (pelvis-relative joints) and root path separately, so that neither
            # can hide the other's jitter.
            rel = joints - joints[..., :1, :]
            accel = rel[:, 2:] - 2 * rel[:, 1:-1] + rel[:, :-2]
            root = joints[..., 0, :]
            root_accel = root[:, 2:] - 2 * root[:, 1:-1] + root[:, :-2]
            smooth = (((accel ** 2).sum(-1).mean(-1) + (root_accel ** 2).sum(-1))
                      * consecutive).sum() / num_valid
            loss = loss + cfg.smooth * smooth
        loss.backward(inputs=variables)
        optimizer.step()
        losses.append(float(loss.detach()))

    with torch.no_grad():
        body_pose, orient, _, kp, projected = evaluate()
        after = weighted_pixel_error(projected, target, weight)
    if before is None:  # no step: nothing moved
        before = after
    return RefinementResult(logits=logits.detach(), body_pose=body_pose, global_orient=orient,
                            transl=transl.detach(), betas=betas.detach(), keypoints_3d=kp,
                            reprojection_px_before=before, reprojection_px_after=after,
                            losses=losses)
