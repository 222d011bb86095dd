"""Per-person body shape from bone lengths over the whole clip.

A person's proportions do not change during a clip, so the shape is solved once per track,
before the pose fit, from robust (median) bone lengths of the detector's metric 3D keypoints in
confident frames. The body's rest keypoints are linear in its shape coefficients, so matching
lengths is a tiny, well-posed least-squares problem; a prior keeps coefficients near the average
body where the evidence is weak, and the solution is clamped to the body's sensible range.

Monocular video cannot tell a tall person far away from a short one nearby; the detector's
metric landmarks come from a learned average-sized body, so mostly the *proportions* (limb
ratios, shoulder to hip width) carry information, and height stays close to the average.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from genhmr_core.keypoints import KEYPOINT_INDEX

from ..body.body_model import BodyModel
from ..fused_adam import FusedAdam

# (keypoint, keypoint, weight). Hip width gets a low weight: SMPL-X puts its "hip" keypoints on
# the internal hip joints, closer together than a detector's hip landmarks.
BONES: tuple[tuple[str, str, float], ...] = (
    ("left_shoulder", "left_elbow", 1.0), ("right_shoulder", "right_elbow", 1.0),
    ("left_elbow", "left_wrist", 1.0), ("right_elbow", "right_wrist", 1.0),
    ("left_hip", "left_knee", 1.0), ("right_hip", "right_knee", 1.0),
    ("left_knee", "left_ankle", 1.0), ("right_knee", "right_ankle", 1.0),
    ("left_shoulder", "right_shoulder", 1.0), ("left_hip", "right_hip", 0.25),
    ("left_shoulder", "left_hip", 1.0), ("right_shoulder", "right_hip", 1.0),
)  # fmt: skip


@dataclasses.dataclass
class ShapeConfig:
    min_confidence: float = 0.6  # both ends of a bone must be at least this visible
    min_frames: int = 5  # fewer confident frames: the bone gives no evidence
    prior_weight: float = 0.02  # pulls each coefficient towards 0 in units of its half-range
    iterations: int = 150
    learning_rate: float = 0.05


@dataclasses.dataclass
class ShapeEstimate:
    betas: np.ndarray  # (B,) body shape coefficients
    observed: np.ndarray  # (N,) median bone lengths in metres (NaN: no evidence)
    fitted: np.ndarray  # (N,) the same bones on the shaped body
    frames_used: np.ndarray  # (N,) confident frames behind each median

    @property
    def relative_error(self) -> float:
        """Mean |fitted - observed| / observed over bones with evidence (0 if none)."""
        ok = np.isfinite(self.observed)
        if not ok.any():
            return 0.0
        return float(np.mean(np.abs(self.fitted[ok] - self.observed[ok]) / self.observed[ok]))


def _bone_index() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.array([KEYPOINT_INDEX[x] for x, _, _ in BONES])
    b = np.array([KEYPOINT_INDEX[y] for _, y, _ in BONES])
    w = np.array([weight for _, _, weight in BONES])
    return a, b, w


def observed_bone_lengths(world: np.ndarray, conf: np.ndarray, config: ShapeConfig
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Median length (N,) of each bone over frames where both ends are confident, and the
    number of those frames (N,); NaN where fewer than ``min_frames``."""
    a, b, _ = _bone_index()
    lengths = np.linalg.norm(world[:, a] - world[:, b], axis=-1)  # (F, N)
    good = (conf[:, a] >= config.min_confidence) & (conf[:, b] >= config.min_confidence)
    good &= np.isfinite(lengths) & (lengths > 1e-3)
    counts = good.sum(0)
    medians = np.full(len(BONES), np.nan)
    for n in np.flatnonzero(counts >= config.min_frames):
        medians[n] = float(np.median(lengths[good[:, n], n]))
    return medians, counts


def estimate_betas(body: BodyModel, world: np.ndarray, conf: np.ndarray,
                   config: ShapeConfig | None = None) -> ShapeEstimate:
    """Shape coefficients for one track: world (F, K, 3) metric keypoints, conf (F, K)."""
    cfg = config or ShapeConfig()
    observed, counts = observed_bone_lengths(np.asarray(world, dtype=np.float64),
                                             np.asarray(conf, dtype=np.float64), cfg)
    a, b, w = _bone_index()
    has = np.isfinite(observed)
    lo, hi = body.shape_limits[:, 0], body.shape_limits[:, 1]
    half_range = ((hi - lo) / 2).clamp(min=1e-6)
    betas = torch.zeros(body.num_betas, requires_grad=True)
    with torch.no_grad():  # rest keypoints are exactly linear in the shape: precompute the map
        base = body.rest_keypoints(None)[0]
        dirs = body.rest_keypoints(torch.eye(body.num_betas)) - base  # (B, K, 3)

    def rest_keypoints(b: torch.Tensor) -> torch.Tensor:
        return base + torch.einsum("b,bkc->kc", b, dirs)

    if has.any():
        target = torch.as_tensor(observed[has], dtype=torch.float32)
        weight = torch.as_tensor(w[has], dtype=torch.float32)
        ia, ib = torch.as_tensor(a[has]), torch.as_tensor(b[has])
        opt = FusedAdam([([betas], cfg.learning_rate)])  # no torch.optim: genhmr.fused_adam
        for _ in range(cfg.iterations):
            opt.zero_grad()
            kp = rest_keypoints(betas)
            length = torch.linalg.norm(kp[ia] - kp[ib], dim=-1)
            loss = (weight * ((length - target) / target) ** 2).sum() / weight.sum()
            loss = loss + cfg.prior_weight * ((betas / half_range) ** 2).mean()
            loss.backward()
            opt.step()
            with torch.no_grad():
                betas.copy_(torch.maximum(torch.minimum(betas, hi), lo))
    with torch.no_grad():
        kp = rest_keypoints(betas)
        fitted = torch.linalg.norm(kp[torch.as_tensor(a)] - kp[torch.as_tensor(b)], dim=-1)
    return ShapeEstimate(betas=betas.detach().numpy().astype(np.float64), observed=observed,
                         fitted=fitted.numpy().astype(np.float64), frames_used=counts)
