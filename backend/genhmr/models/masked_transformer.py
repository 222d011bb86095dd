"""The condition-to-token masked transformer (GenHMR stage 1, adapted; DESIGN.md §2).

Given what the detector reports for one person over a short window — crop-normalised 2D
keypoints with confidences, MediaPipe's 3D world landmarks, a detected flag and the crop box in
focal units (see :mod:`genhmr.synthetic.conditioning`) — and a partly masked sequence of pose
tokens, it predicts the distribution of every token (MaskGIT), and regresses the camera-frame
global orientation (6D), the shape (betas) and a weak-perspective crop camera.

Sequence layout: ``[GLOBAL] + 25 keypoint tokens + num_tokens pose tokens``, one bidirectional
pre-LN transformer encoder over all of it.

* One token per keypoint (features of every frame of the window concatenated: 7 per frame), so
  the sequence length does not grow with the window and attention can relate body parts.
* ``[GLOBAL]`` carries the crop box of every frame and the detected flags; the regression heads
  read it.
* Pose tokens embed ``codebook_size + 1`` symbols (the last one is [MASK]) with learned slot
  positions; the token classifier shares the embedding matrix (weight tying), which keeps the
  default model at ~1.4 MB float32 so that tokenizer + transformer ship in ~3 MB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genhmr.body.skeleton_model import rotation_6d_to_matrix
from genhmr.models.checkpoint import check_payload, model_payload
from genhmr_core.keypoints import NUM_KEYPOINTS

CHECKPOINT_FORMAT = "genhmr-masked-pose-transformer"
CHECKPOINT_VERSION = 1
KEYPOINT_FEATURES = 7  # x, y, confidence, world x, y, z, detected
BOX_FEATURES = 4  # box cx/f, cy/f, half/f, detected
_IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class MaskedPoseTransformerConfig:
    """Sizes; stored in checkpoints. ``num_tokens``/``codebook_size`` must match the tokenizer.

    Defaults: ~0.36 M parameters, ~1.45 MB float32.
    """

    num_tokens: int = 32
    codebook_size: int = 512
    window: int = 1  # frames of conditioning per sample
    dim: int = 96
    layers: int = 4
    heads: int = 4
    ffn_dim: int = 192
    dropout: float = 0.1
    num_betas: int = 5

    def __post_init__(self) -> None:
        for name in ("num_tokens", "codebook_size", "window", "dim", "layers", "heads",
                     "ffn_dim", "num_betas"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be at least 1")
        if self.dim % self.heads:
            raise ValueError(f"model.dim ({self.dim}) must be divisible by model.heads "
                             f"({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("model.dropout must be in [0, 1)")

    @property
    def mask_id(self) -> int:
        """The [MASK] symbol: one past the last codebook index."""
        return self.codebook_size


@dataclass
class PoseCondition:
    """What the detector gives per person (the transformer's evidence); shapes as in
    :class:`genhmr.synthetic.conditioning.ConditioningBatch`."""

    keypoints_2d: Tensor  # (B, W, 25, 2) crop-normalised
    confidence: Tensor  # (B, W, 25)
    world: Tensor  # (B, W, 25, 3)
    detected: Tensor  # (B, W) bool
    box: Tensor  # (B, W, 3)

    @classmethod
    def from_batch(cls, batch: Any) -> PoseCondition:
        """The inputs of a ``ConditioningBatch`` (or anything with these attributes)."""
        return cls(batch.keypoints_2d, batch.confidence, batch.world, batch.detected, batch.box)

    def expand(self, repeats: int) -> PoseCondition:
        """Each sample repeated ``repeats`` times in a row (hypotheses in one batch)."""
        return PoseCondition(**{f.name: getattr(self, f.name).repeat_interleave(repeats, 0)
                                for f in dataclasses.fields(self)})


@dataclass
class MaskedPoseOutput:
    """What :meth:`MaskedPoseTransformer.forward` returns."""

    logits: Tensor  # (B, num_tokens, codebook_size) ([MASK] is never predicted)
    orient_6d: Tensor  # (B, 6) global orientation in camera axes, 6D
    betas: Tensor  # (B, num_betas)
    camera: Tensor  # (B, 3) weak-perspective crop camera (s, tx, ty), s > 0

    @property
    def global_orient(self) -> Tensor:
        """(B, 3, 3) rotation matrix of ``orient_6d``."""
        return rotation_6d_to_matrix(self.orient_6d.float())


class MaskedPoseTransformer(nn.Module):
    """Condition + masked pose tokens -> token logits, orientation, betas, camera."""

    def __init__(self, config: MaskedPoseTransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.keypoint_in = nn.Linear(KEYPOINT_FEATURES * c.window, c.dim)
        self.keypoint_embed = nn.Parameter(torch.zeros(NUM_KEYPOINTS, c.dim))
        self.global_in = nn.Linear(BOX_FEATURES * c.window, c.dim)
        self.global_embed = nn.Parameter(torch.zeros(1, c.dim))
        self.token_embed = nn.Embedding(c.codebook_size + 1, c.dim)
        self.position_embed = nn.Parameter(torch.zeros(c.num_tokens, c.dim))
        layer = nn.TransformerEncoderLayer(c.dim, c.heads, c.ffn_dim, c.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.dim)
        self.token_bias = nn.Parameter(torch.zeros(c.codebook_size))
        self.head = nn.Sequential(nn.Linear(c.dim, c.dim), nn.GELU(),
                                  nn.Linear(c.dim, 6 + c.num_betas + 3))
        self.register_buffer("identity_6d", torch.tensor(_IDENTITY_6D), persistent=False)
        for p in (self.keypoint_embed, self.global_embed, self.position_embed):
            nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    @property
    def num_tokens(self) -> int:
        return self.config.num_tokens

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def mask_id(self) -> int:
        return self.config.mask_id

    def embed_condition(self, cond: PoseCondition) -> Tensor:
        """(B, 1 + 25, dim): the [GLOBAL] token and one token per keypoint."""
        B, W = cond.keypoints_2d.shape[:2]
        expected = self.config.window
        if expected != W:
            raise ValueError(f"condition window {W}, model expects {expected}")
        det = cond.detected.to(cond.keypoints_2d.dtype)
        per_kp = torch.cat([cond.keypoints_2d, cond.confidence[..., None], cond.world,
                            det[:, :, None, None].expand(B, W, NUM_KEYPOINTS, 1)], -1)
        per_kp = per_kp.transpose(1, 2).reshape(B, NUM_KEYPOINTS, W * KEYPOINT_FEATURES)
        keypoints = self.keypoint_in(per_kp) + self.keypoint_embed
        glob = torch.cat([cond.box, det[..., None]], -1).reshape(B, 1, W * BOX_FEATURES)
        return torch.cat([self.global_in(glob) + self.global_embed, keypoints], 1)

    def forward(self, cond: PoseCondition, tokens: Tensor) -> MaskedPoseOutput:
        """``tokens`` (B, num_tokens) int64 in [0, codebook_size]; ``mask_id`` = [MASK]."""
        if tokens.shape[1:] != (self.num_tokens,):
            raise ValueError(f"tokens must be (B, {self.num_tokens}), got {tuple(tokens.shape)}")
        prefix = self.embed_condition(cond)
        x = torch.cat([prefix, self.token_embed(tokens) + self.position_embed], 1)
        x = self.norm(self.encoder(x))
        pose = x[:, prefix.shape[1]:]
        logits = pose @ self.token_embed.weight[:self.codebook_size].T + self.token_bias
        out = self.head(x[:, 0]).float()
        nb = self.config.num_betas
        cam = out[:, 6 + nb:]
        # s = exp(raw) around 1 (a person filling the crop); tx, ty in crop units
        camera = torch.cat([torch.exp(cam[:, :1].clamp(-5, 5)), cam[:, 1:]], -1)
        return MaskedPoseOutput(logits=logits, orient_6d=out[:, :6] + self.identity_6d,
                                betas=out[:, 6:6 + nb], camera=camera)

    def checkpoint_payload(self) -> dict[str, Any]:
        """Weights + config as plain types and tensors (``torch.load(weights_only=True)``)."""
        return model_payload(self, self.config, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def transformer_from_payload(payload: dict[str, Any], map_location: str | torch.device = "cpu"
                             ) -> MaskedPoseTransformer:
    """Rebuild the transformer (eval mode) from a checkpoint dict (``model.pt``/``last.pt``)."""
    check_payload(payload, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "masked pose transformer")
    model = MaskedPoseTransformer(MaskedPoseTransformerConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    return model.to(map_location).eval()


def widened_state_dict(state: dict[str, Tensor], old_window: int, new_window: int
                       ) -> dict[str, Tensor]:
    """A transformer's weights for a wider conditioning window that behave exactly like the
    narrower model on the centre frames.

    Why: the temporal model is fine-tuned from the single-frame default instead of trained
    from scratch (two CPU hours). Only the two input projections depend on the window: their
    columns are frame-major (``embed_condition``), so the old columns move to the centre frames
    and the new frames' columns start at zero. At step 0 the wider model ignores the extra
    frames; training then teaches it what they add.
    """
    if new_window < old_window or (new_window - old_window) % 2:
        raise ValueError(f"cannot widen a window of {old_window} frame(s) to {new_window}: "
                         "the new window must be larger by an even number of frames")
    lead = (new_window - old_window) // 2
    out = dict(state)
    for name, per_frame in (("keypoint_in.weight", KEYPOINT_FEATURES),
                            ("global_in.weight", BOX_FEATURES)):
        old = state[name]
        if old.shape[1] != per_frame * old_window:
            raise ValueError(f"{name} has {old.shape[1]} inputs, not {per_frame} x "
                             f"{old_window} frames")
        new = old.new_zeros(old.shape[0], per_frame * new_window)
        new[:, lead * per_frame:(lead + old_window) * per_frame] = old
        out[name] = new
    return out


def load_masked_transformer(checkpoint_path: str | Path,
                            map_location: str | torch.device = "cpu") -> tuple[Any, Any]:
    """(transformer, tokenizer) from a trainer checkpoint, which embeds its tokenizer so that
    one file ships both and they cannot be mismatched."""
    from genhmr.models.tokenizer import tokenizer_from_payload

    payload = torch.load(Path(checkpoint_path), map_location="cpu", weights_only=True)
    model = transformer_from_payload(payload, map_location)
    if "tokenizer" not in payload:
        raise ValueError(f"{checkpoint_path} holds no tokenizer")
    return model, tokenizer_from_payload(payload["tokenizer"], map_location)
