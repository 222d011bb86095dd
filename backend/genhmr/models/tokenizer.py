"""The pose tokenizer: a VQ-VAE from the 21 SMPL-X body rotations to a few discrete tokens.

GenHMR's masked transformer never regresses rotations directly: it predicts a distribution over
codebook entries for each of ``num_tokens`` token slots, and this module turns tokens back into a
body pose. Three decoder entry points matter downstream:

* :meth:`PoseTokenizer.decode_indices` — hard tokens (stage-1 sampling keeps the argmax/sample);
* :meth:`PoseTokenizer.decode_logits` — ``softmax(logits / T) @ codebook``, differentiable in the
  logits: stage-2 refinement optimises these logits against 2D keypoints;
* :meth:`PoseTokenizer.decode_quantized` — continuous vectors (what training reconstructs).

Encoder and decoder are small MLP-mixers rather than 1D convolutions: the SMPL-X joint order is a
tree flattened parents-first, so "neighbours" on the joint axis are not neighbours on the body and
a convolution's locality prior buys nothing, while a token-mixing MLP learns which joints go
together. Quantisation is ``vector_quantize_pytorch.VectorQuantize`` with EMA codebook updates,
dead-code reset and k-means initialisation (the TokenHMR recipe, scaled down so that the shipped
checkpoint stays around a megabyte); a loaded tokenizer reads its codes through
:class:`~genhmr.models.frozen_codebook.FrozenCodebook` instead, which does not import the library.

Rotations enter and leave as matrices; internally the 6D representation of
:mod:`genhmr.body.skeleton_model` is used. The global orientation is *not* part of the pose here:
the pelvis is held at identity, so token statistics do not depend on which way the person faces.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genhmr.body.skeleton_model import (
    SkeletonModel,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)
from genhmr.models.checkpoint import check_payload, model_payload
from genhmr.models.frozen_codebook import FrozenCodebook
from genhmr_core.skeleton import NUM_BODY_JOINTS, mirror_index

CHECKPOINT_FORMAT = "genhmr-pose-tokenizer"
CHECKPOINT_VERSION = 1
NUM_FK_JOINTS = NUM_BODY_JOINTS + 1  # pelvis + body: the joints whose positions the losses see

# 6D of the identity rotation: the decoder predicts a residual on it so an untrained decoder
# already outputs the rest pose instead of a degenerate (collinear-column) rotation.
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # the identity rotation in 6D (first two columns)


@dataclass
class TokenizerConfig:
    """Sizes of the tokenizer; stored in every checkpoint so the model rebuilds from it alone.

    The defaults give ~0.34 M parameters: 1.49 MB float32 with the codebook and its EMA buffers.
    """

    num_tokens: int = 32  # token slots per pose (what the masked transformer predicts)
    codebook_size: int = 512
    code_dim: int = 32  # dimension of each codebook vector
    hidden_dim: int = 128  # channel width of the mixer blocks
    channel_mlp_dim: int = 192  # hidden width of the per-position channel MLPs
    token_mlp_dim: int = 64  # hidden width of the across-positions token-mixing MLPs
    joint_blocks: int = 2  # mixer blocks at joint resolution (21), in encoder and in decoder
    token_blocks: int = 1  # mixer blocks at token resolution (num_tokens), in each
    ema_decay: float = 0.99  # codebook EMA decay
    dead_code_threshold: float = 2.0  # a code whose EMA usage count falls below this is reset
    kmeans_init: bool = True  # initialise the codebook by k-means on the first training batch
    kmeans_iters: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"model.{f.name} must not be negative, got {value}")
        for name in ("num_tokens", "codebook_size", "code_dim", "hidden_dim", "channel_mlp_dim",
                     "token_mlp_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be at least 1")
        if self.codebook_size < 2:
            raise ValueError("model.codebook_size must be at least 2")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"model.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.dead_code_threshold < 0:
            raise ValueError("model.dead_code_threshold must not be negative")


@dataclass
class TokenizerLossConfig:
    """Weights of the training losses (see :func:`tokenizer_losses`).

    The matrix MSE of a 10 degree error is only ~0.007 while it moves a limb's joints by
    centimetres, so the rotation term needs a large weight to be heard next to the position
    terms; it is the only term that sees twist about a bone. Tune on real motion data.
    """

    rotation: float = 10.0  # mean squared error of the 3x3 rotation matrices
    joints: float = 5.0  # mean Euclidean FK joint error in metres (5 x 2 cm = 0.1)
    keypoints: float = 5.0  # the same for the 25 surface keypoints of the default body
    commitment: float = 0.02  # VQ commitment: pulls encoder outputs towards their codes


@dataclass
class TokenizerOutput:
    """What :meth:`PoseTokenizer.encode` returns."""

    indices: Tensor  # (B, num_tokens) int64 codebook indices
    quantized: Tensor  # (B, num_tokens, code_dim) the chosen codes (straight-through in training)
    latents: Tensor  # (B, num_tokens, code_dim) encoder output before quantisation
    commit_loss: Tensor  # scalar; zero outside training


@dataclass
class TokenizerForward:
    """What ``PoseTokenizer(pose)`` returns in training: the reconstruction and its encoding."""

    rotmat: Tensor  # (B, 21, 3, 3) reconstructed body pose
    encoding: TokenizerOutput


class MixerBlock(nn.Module):
    """One MLP-mixer block over a (B, L, D) sequence: token mixing across L, then channels."""

    def __init__(self, length: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(nn.Linear(length, token_hidden), nn.GELU(),
                                       nn.Linear(token_hidden, length))
        self.norm_channels = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(nn.Linear(dim, channel_hidden), nn.GELU(),
                                         nn.Linear(channel_hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.token_mlp(self.norm_tokens(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm_channels(x))

    def forward_sequence_first(self, x: Tensor) -> Tensor:
        """The same block over an (L, B, D) sequence-first layout.

        Token mixing is then one matrix product ``W @ x.view(L, B * D)`` instead of a
        transpose, a copy and a product (and the same again in the backward pass): the
        decoder, which refinement runs forward and backward over every frame at every step,
        takes ~15 % less CPU time, with the same numbers (docs/performance.md).
        """
        length, batch, dim = x.shape
        first, second = self.token_mlp[0], self.token_mlp[2]
        h = self.norm_tokens(x).reshape(length, batch * dim)
        h = torch.addmm(first.bias.unsqueeze(1), first.weight, h)
        h = torch.addmm(second.bias.unsqueeze(1), second.weight, self.token_mlp[1](h))
        x = x + h.view(length, batch, dim)
        return x + self.channel_mlp(self.norm_channels(x))


class Resample(nn.Module):
    """A learned linear map along the sequence axis: (B, L_in, D) -> (B, L_out, D)."""

    def __init__(self, length_in: int, length_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(length_in, length_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.transpose(1, 2)).transpose(1, 2)

    def forward_sequence_first(self, x: Tensor) -> Tensor:
        """(L_in, B, D) -> (L_out, B, D), one matrix product (see ``MixerBlock``)."""
        length, batch, dim = x.shape
        out = torch.addmm(self.linear.bias.unsqueeze(1), self.linear.weight,
                          x.reshape(length, batch * dim))
        return out.view(-1, batch, dim)


def soft_probs(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(logits / temperature)`` over the codes: the distributions soft decoding reads
    (the tokenizer's decoder and its draft).

    Dividing by 1 changes nothing but costs a pass over every logit, forward and backward:
    refinement decodes 32 x 512 logits per frame at every step, and the two passes were about a
    tenth of its time; so a temperature of 1 is not divided by."""
    return torch.softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)


def decode_sequence_first(x: Tensor, token_blocks: nn.Sequential, resample: Resample,
                          joint_blocks: nn.Sequential, norm: nn.LayerNorm, out: nn.Linear,
                          identity_6d: Tensor) -> Tensor:
    """The decoder's body over (num_tokens, B, D) embedded codes -> (B, 21, 3, 3) rotations
    (the tokenizer's decoder and its draft, ``genhmr.models.draft_decoder``, share it).

    Sequence-first (L, B, D) inside: every token mixing is then one plain matrix product
    (``MixerBlock.forward_sequence_first``); the same weights and the same function as the
    blocks' own (B, L, D) forward, to rounding."""
    for block in token_blocks:
        x = block.forward_sequence_first(x)
    x = resample.forward_sequence_first(x)
    for block in joint_blocks:
        x = block.forward_sequence_first(x)
    # float32 from here on, also under bf16 autocast: Gram-Schmidt needs the precision
    d6 = out(norm(x)).float().transpose(0, 1) + identity_6d
    return rotation_6d_to_matrix(d6)


def _blocks(count: int, length: int, cfg: TokenizerConfig) -> nn.Sequential:
    return nn.Sequential(*[MixerBlock(length, cfg.hidden_dim, cfg.token_mlp_dim,
                                      cfg.channel_mlp_dim) for _ in range(count)])


class PoseTokenizer(nn.Module):
    """VQ-VAE over the 21 SMPL-X body joint rotations (global orientation excluded).

    ``sync_codebook`` is a run-time choice, not part of the config: under
    ``torch.distributed`` the codebook's EMA statistics, dead-code resets and k-means init must
    be all-reduced across ranks or every rank drifts to its own codebook. The library decides
    this at construction time from ``torch.distributed.is_initialized()`` when left ``None``;
    trainers pass it explicitly. It has no effect in eval mode (no collectives there).

    ``trainable=False`` (what :func:`tokenizer_from_payload` builds) keeps the codes in a
    :class:`FrozenCodebook`: the same weights, codes and eval-mode encodings, no EMA updates,
    and no import of the training library.
    """

    def __init__(self, config: TokenizerConfig, sync_codebook: bool | None = None,
                 trainable: bool = True) -> None:
        super().__init__()
        self.config = config
        self.trainable = bool(trainable)
        c, joints = config, NUM_BODY_JOINTS
        # encoder: per-joint 6D -> hidden, + a learned embedding saying which joint it is
        self.joint_in = nn.Linear(6, c.hidden_dim)
        self.joint_embed = nn.Parameter(torch.zeros(joints, c.hidden_dim))
        self.enc_joint_blocks = _blocks(c.joint_blocks, joints, c)
        self.enc_resample = Resample(joints, c.num_tokens)
        self.enc_token_blocks = _blocks(c.token_blocks, c.num_tokens, c)
        self.enc_norm = nn.LayerNorm(c.hidden_dim)
        self.enc_out = nn.Linear(c.hidden_dim, c.code_dim)
        self.vq = (_training_quantizer(c, sync_codebook) if self.trainable
                   else FrozenCodebook(c.codebook_size, c.code_dim))
        # decoder: code -> hidden, + a learned embedding per token slot
        self.token_in = nn.Linear(c.code_dim, c.hidden_dim)
        self.token_embed = nn.Parameter(torch.zeros(c.num_tokens, c.hidden_dim))
        self.dec_token_blocks = _blocks(c.token_blocks, c.num_tokens, c)
        self.dec_resample = Resample(c.num_tokens, joints)
        self.dec_joint_blocks = _blocks(c.joint_blocks, joints, c)
        self.dec_norm = nn.LayerNorm(c.hidden_dim)
        self.dec_out = nn.Linear(c.hidden_dim, 6)
        self.register_buffer("identity_6d", torch.tensor(IDENTITY_6D), persistent=False)
        nn.init.normal_(self.joint_embed, std=0.02)
        nn.init.normal_(self.token_embed, std=0.02)

    # -- sizes -----------------------------------------------------------------------------------

    @property
    def num_tokens(self) -> int:
        return self.config.num_tokens

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def codebook(self) -> Tensor:
        """(codebook_size, code_dim) the current codes, in the decoder's input space.

        The library keeps the codes in a buffer (``vq._codebook.embed``) that its EMA rewrites
        in place every training step, and maps them through ``project_out`` (an identity here,
        since ``code_dim`` is also the VQ's input dim) before returning quantised vectors; this
        applies the same map so ``softmax(logits) @ codebook`` matches what ``encode`` yields.
        Not a parameter: no gradient flows into the codebook from soft decoding.
        """
        if not self.trainable:
            return self.vq.codes
        return self.vq.project_out(self.vq.codebook)

    # -- encoder ---------------------------------------------------------------------------------

    def encode_latents(self, pose: Tensor) -> Tensor:
        """(B, 21, 3, 3) rotation matrices -> (B, num_tokens, code_dim) pre-quantisation."""
        _check_pose(pose)
        x = self.joint_in(matrix_to_rotation_6d(pose)) + self.joint_embed
        x = self.enc_joint_blocks(x)
        x = self.enc_token_blocks(self.enc_resample(x))
        return self.enc_out(self.enc_norm(x))

    def encode(self, pose: Tensor) -> TokenizerOutput:
        """Tokenise body poses (B, 21, 3, 3).

        In training mode this also updates the codebook (EMA, dead-code reset, k-means on the
        first call): call it once per optimiser step. In eval mode it is a pure function, and
        so it always is for a tokenizer built with ``trainable=False`` (commitment loss 0, as
        the library gives in eval mode).
        """
        latents = self.encode_latents(pose)
        if not self.trainable:
            quantized, indices = self.vq.nearest(latents)
            return TokenizerOutput(indices=indices, quantized=quantized, latents=latents,
                                   commit_loss=latents.new_zeros(()))
        quantized, indices, _, breakdown = self.vq(latents, return_loss_breakdown=True)
        return TokenizerOutput(indices=indices, quantized=quantized, latents=latents,
                               commit_loss=breakdown.commitment)

    # -- decoder ---------------------------------------------------------------------------------

    def decode_quantized(self, quantized: Tensor) -> Tensor:
        """(B, num_tokens, code_dim) code vectors -> (B, 21, 3, 3) rotation matrices."""
        if quantized.ndim != 3 or quantized.shape[1:] != (self.num_tokens, self.config.code_dim):
            raise ValueError(f"quantized must be (B, {self.num_tokens}, {self.config.code_dim}), "
                             f"got {tuple(quantized.shape)}")
        x = self.token_in(quantized.transpose(0, 1)) + self.token_embed.unsqueeze(1)
        return decode_sequence_first(x, self.dec_token_blocks, self.dec_resample,
                                     self.dec_joint_blocks, self.dec_norm, self.dec_out,
                                     self.identity_6d)

    def decode_indices(self, indices: Tensor) -> Tensor:
        """(B, num_tokens) integer token indices -> (B, 21, 3, 3)."""
        if indices.ndim != 2 or indices.shape[1] != self.num_tokens:
            raise ValueError(f"indices must be (B, {self.num_tokens}), got {tuple(indices.shape)}")
        if indices.dtype.is_floating_point:
            raise TypeError("indices must be integers; use decode_logits for distributions")
        return self.decode_quantized(self.codebook[indices.long()])

    def decode_probs(self, probs: Tensor) -> Tensor:
        """(B, num_tokens, codebook_size) token distributions -> (B, 21, 3, 3).

        The expected code ``probs @ codebook``; a one-hot distribution decodes exactly like its
        index.
        """
        if probs.ndim != 3 or probs.shape[1:] != (self.num_tokens, self.codebook_size):
            raise ValueError(f"probs must be (B, {self.num_tokens}, {self.codebook_size}), "
                             f"got {tuple(probs.shape)}")
        return self.decode_quantized(probs @ self.codebook.to(probs.dtype))

    def decode_logits(self, logits: Tensor, temperature: float = 1.0) -> Tensor:
        """(B, num_tokens, codebook_size) logits -> (B, 21, 3, 3) via ``softmax(logits / T)``.

        Differentiable in ``logits``: stage-2 refinement optimises them directly. Lower
        temperatures approach the hard decode of ``logits.argmax(-1)``.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return self.decode_probs(soft_probs(logits, temperature))

    # -- training --------------------------------------------------------------------------------

    def forward(self, pose: Tensor) -> TokenizerForward:
        """Encode, quantise and decode (B, 21, 3, 3): the training pass (what DDP wraps)."""
        encoding = self.encode(pose)
        return TokenizerForward(rotmat=self.decode_quantized(encoding.quantized),
                                encoding=encoding)

    def checkpoint_payload(self) -> dict[str, Any]:
        """Weights + config as plain types and tensors (``torch.load(weights_only=True)``)."""
        return model_payload(self, self.config, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def _training_quantizer(c: TokenizerConfig, sync_codebook: bool | None) -> nn.Module:
    """The library's VQ layer, imported here: importing it costs ~2 s of CPU (it brings in
    ``torch._dynamo``), which only training needs to pay."""
    from vector_quantize_pytorch import VectorQuantize

    return VectorQuantize(
        dim=c.code_dim, codebook_size=c.codebook_size, decay=c.ema_decay,
        commitment_weight=1.0,  # weighted in tokenizer_losses, next to the other terms
        threshold_ema_dead_code=c.dead_code_threshold, kmeans_init=c.kmeans_init,
        kmeans_iters=c.kmeans_iters, sync_codebook=sync_codebook)


def _check_pose(pose: Tensor) -> None:
    if pose.ndim != 4 or pose.shape[1:] != (NUM_BODY_JOINTS, 3, 3):
        raise ValueError(f"pose must be (B, {NUM_BODY_JOINTS}, 3, 3) body rotations "
                         f"(global orientation excluded), got {tuple(pose.shape)}")


def tokenizer_from_payload(payload: dict[str, Any], map_location: str | torch.device = "cpu",
                           trainable: bool = False) -> PoseTokenizer:
    """Rebuild a tokenizer from a checkpoint dict (``model.pt`` or a trainer's ``last.pt``), in
    eval mode; with its codes frozen (:class:`FrozenCodebook`) unless ``trainable``."""
    check_payload(payload, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "pose tokenizer")
    model = PoseTokenizer(TokenizerConfig(**payload["model_config"]), sync_codebook=False,
                          trainable=trainable)
    model.load_state_dict(payload["model"])
    return model.to(map_location).eval()


def load_tokenizer(checkpoint_path: str | Path, map_location: str | torch.device = "cpu"
                   ) -> PoseTokenizer:
    """Load a trained tokenizer (eval mode) from ``model.pt`` or ``last.pt``."""
    payload = torch.load(Path(checkpoint_path), map_location="cpu", weights_only=True)
    return tokenizer_from_payload(payload, map_location)


# -- skeleton, losses and metrics (shared with the transformer's trainer) ------------------------


def default_skeleton() -> SkeletonModel:
    """FK model of the default body at betas 0, with its 25 surface keypoints.

    The losses and metrics measure joints on the license-free default body, the body the
    product uses when no SMPL-X files are given (proportions close to an average adult). Its
    keypoints (nose, eyes, ears, heels, toes, fingers) are what the 2D detector sees, and they
    hang off the leaf joints (head, feet, wrists) whose rotations move no other body joint.
    """
    from genhmr.body.default_body import load_default_body

    return load_default_body().skeleton()


def body_points(skeleton: SkeletonModel, body_rot: Tensor) -> tuple[Tensor, Tensor]:
    """FK joints (B, 22, 3) and keypoints (B, 25, 3) in metres of body poses (B, 21, 3, 3),
    pelvis at its rest position with identity orientation: errors are pelvis-aligned."""
    batch = body_rot.shape[0]
    eye = torch.eye(3, dtype=body_rot.dtype, device=body_rot.device).expand(batch, 1, 3, 3)
    local = torch.cat([eye, body_rot], dim=1)
    transl = torch.zeros(batch, 3, dtype=body_rot.dtype, device=body_rot.device)
    joints, _, keypoints = skeleton(local, transl, num_joints=NUM_FK_JOINTS)
    return joints, keypoints


def tokenizer_losses(pred_rot: Tensor, target_rot: Tensor, commit_loss: Tensor,
                     skeleton: SkeletonModel, weights: TokenizerLossConfig) -> dict[str, Tensor]:
    """The weighted training loss and its unweighted terms.

    ``rotation`` is the matrix MSE (chordal distance; smooth, no angle singularity at 0);
    ``joints`` the mean FK joint distance in metres, which weights errors near the root more
    (they move whole limbs) than the rotation term does; ``keypoints`` the same for the surface
    keypoints, the only position term that sees the head, feet and wrist rotations;
    ``commit`` the VQ commitment (the codebook itself follows the encoder by EMA, no loss).
    """
    rotation = (pred_rot - target_rot).square().mean()
    with torch.no_grad():
        target_joints, target_kp = body_points(skeleton, target_rot)
    pred_joints, pred_kp = body_points(skeleton, pred_rot)
    joints = (pred_joints - target_joints).norm(dim=-1).mean()
    keypoints = (pred_kp - target_kp).norm(dim=-1).mean()
    loss = (weights.rotation * rotation + weights.joints * joints
            + weights.keypoints * keypoints + weights.commitment * commit_loss)
    return {"loss": loss, "rotation": rotation.detach(), "joints": joints.detach(),
            "keypoints": keypoints.detach(), "commit": commit_loss.detach()}


def rotation_angle_deg(a: Tensor, b: Tensor) -> Tensor:
    """Geodesic angle (...,) in degrees between rotation matrices a and b (..., 3, 3)."""
    cos = ((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))


def mean_rotation(rot: Tensor) -> Tensor:
    """Chordal mean (..., 3, 3) of rotations (N, ..., 3, 3): the SO(3) projection of the
    arithmetic mean (the "predict the average pose" baseline)."""
    u, _, vh = torch.linalg.svd(rot.double().mean(0))
    d = torch.ones(u.shape[:-1], dtype=u.dtype, device=u.device)
    d[..., -1] = torch.sign(torch.linalg.det(u @ vh))
    return (u * d.unsqueeze(-2) @ vh).to(rot.dtype)


def codebook_usage(counts: Tensor) -> dict[str, float]:
    """Fraction of codes used and perplexity (exp entropy, in codes) of a usage histogram."""
    total = counts.sum().clamp(min=1).double()
    p = counts.double() / total
    entropy = -(p * torch.log(p.clamp(min=1e-30))).sum()
    return {"codebook_used": float((counts > 0).double().mean()),
            "perplexity": float(torch.exp(entropy))}


_MIRROR_BODY = torch.as_tensor(mirror_index()[1:NUM_FK_JOINTS] - 1)


def mirror_pose(pose: Tensor) -> Tensor:
    """Left/right mirror of body poses (B, 21, 3, 3) in SMPL-X axes (left is +X).

    Reflecting the body in the YZ plane swaps each left joint with its right twin and conjugates
    every local rotation by S = diag(-1, 1, 1). Exact for a left/right symmetric skeleton (the
    default body is).
    """
    s = torch.tensor([-1.0, 1.0, 1.0], dtype=pose.dtype, device=pose.device)
    swapped = pose[:, _MIRROR_BODY.to(pose.device)]
    return swapped * s.view(3, 1) * s.view(1, 3)


