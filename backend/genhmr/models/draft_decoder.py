"""A small stand-in for the tokenizer's decoder, distilled from it, for refinement's early steps.

Why: refinement (``genhmr.models.refinement``) runs the tokenizer's decoder forward and
backward over every frame at every one of its 50 steps, and that decoder is ~95 % of
refinement's CPU time (~11 MFLOP per pose each way; docs/performance.md). Fewer steps cost
accuracy, but the early steps only need to head the right way: the robust 2D term is still
wide and the pose moves a lot. A decoder a fifth of the size, trained to reproduce the real
decoder's output on the soft tokens refinement feeds it, takes those steps; the last steps
run on the real decoder, so the pose refinement ends on is the real decoder's, fitted at full
precision.

The draft reads the teacher's codebook (soft tokens are ``softmax(logits) @ codebook`` as
before) and has the teacher's shape of network (the tokenizer's own mixer blocks), only
narrower and with one block at joint resolution. Its checkpoint names the teacher it was
distilled from (a fingerprint of the teacher's decoder weights and codebook), so a draft is
never paired with another tokenizer.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import weakref
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genhmr.models.checkpoint import check_payload, model_payload
from genhmr.models.tokenizer import (
    IDENTITY_6D,
    NUM_BODY_JOINTS,
    MixerBlock,
    PoseTokenizer,
    Resample,
    decode_sequence_first,
    soft_probs,
)

CHECKPOINT_FORMAT = "genhmr-draft-decoder"
CHECKPOINT_VERSION = 1
# The draft of the shipped generative checkpoint's tokenizer (python -m genhmr.train.draft_decoder)
DEFAULT_DRAFT = Path(__file__).resolve().parent / "assets" / "genhmr_default_draft.pt"

log = logging.getLogger(__name__)
_drafts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class DraftConfig:
    """Sizes of the draft decoder (the teacher's ``TokenizerConfig`` fields of the same name
    are 128 / 192 / 64 / 2 / 1)."""

    num_tokens: int = 32
    code_dim: int = 32
    hidden_dim: int = 64
    channel_mlp_dim: int = 96
    token_mlp_dim: int = 32
    joint_blocks: int = 1
    token_blocks: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < (0 if f.name.endswith("blocks") else 1):
                raise ValueError(f"draft.{f.name} is too small: {getattr(self, f.name)}")


class DraftDecoder(nn.Module):
    """(B, num_tokens, code_dim) code vectors -> (B, 21, 3, 3), like
    ``PoseTokenizer.decode_quantized``, with the teacher's codebook for soft decoding."""

    def __init__(self, config: DraftConfig, codebook: Tensor, teacher: str) -> None:
        super().__init__()
        self.config = config
        c = config
        self.teacher = teacher
        self.token_in = nn.Linear(c.code_dim, c.hidden_dim)
        self.token_embed = nn.Parameter(torch.zeros(c.num_tokens, c.hidden_dim))
        self.token_blocks = nn.Sequential(*[
            MixerBlock(c.num_tokens, c.hidden_dim, c.token_mlp_dim, c.channel_mlp_dim)
            for _ in range(c.token_blocks)])
        self.resample = Resample(c.num_tokens, NUM_BODY_JOINTS)
        self.joint_blocks = nn.Sequential(*[
            MixerBlock(NUM_BODY_JOINTS, c.hidden_dim, c.token_mlp_dim, c.channel_mlp_dim)
            for _ in range(c.joint_blocks)])
        self.norm = nn.LayerNorm(c.hidden_dim)
        self.out = nn.Linear(c.hidden_dim, 6)
        self.register_buffer("codebook", codebook.detach().clone().float())
        self.register_buffer("identity_6d", torch.tensor(IDENTITY_6D), persistent=False)
        nn.init.normal_(self.token_embed, std=0.02)

    def decode_quantized(self, quantized: Tensor) -> Tensor:
        """The same layout as the teacher's (sequence-first inside, one product per mixing)."""
        x = self.token_in(quantized.transpose(0, 1)) + self.token_embed.unsqueeze(1)
        return decode_sequence_first(x, self.token_blocks, self.resample, self.joint_blocks,
                                     self.norm, self.out, self.identity_6d)

    def decode_logits(self, logits: Tensor, temperature: float = 1.0) -> Tensor:
        """(B, num_tokens, codebook_size) logits -> (B, 21, 3, 3), as the teacher's."""
        return self.decode_quantized(soft_probs(logits, temperature) @ self.codebook)

    def forward(self, logits: Tensor) -> Tensor:
        """The training pass (what DDP wraps): :meth:`decode_logits` at temperature 1."""
        return self.decode_logits(logits)

    def checkpoint_payload(self) -> dict[str, Any]:
        payload = model_payload(self, self.config, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
        payload["teacher"] = self.teacher
        return payload


def teacher_fingerprint(tokenizer: PoseTokenizer) -> str:
    """A short hash of the tokenizer's decoder weights and codebook: what a draft was
    distilled from. Rounded to float32 bytes, so the same checkpoint gives the same name on
    any machine."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tokenizer.state_dict().items()):
        if name.startswith(("token_in", "token_embed", "dec_", "vq.")):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def new_draft(tokenizer: PoseTokenizer, config: DraftConfig | None = None) -> DraftDecoder:
    """An untrained draft for ``tokenizer`` (its codebook, its fingerprint)."""
    config = config or DraftConfig(num_tokens=tokenizer.num_tokens,
                                   code_dim=tokenizer.config.code_dim)
    return DraftDecoder(config, tokenizer.codebook, teacher_fingerprint(tokenizer))


def load_draft(path: str | Path, tokenizer: PoseTokenizer) -> DraftDecoder:
    """The draft decoder in ``path``, checked against ``tokenizer``: raises ``ValueError`` when
    it was distilled from another tokenizer."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    check_payload(payload, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "draft decoder")
    expected = teacher_fingerprint(tokenizer)
    if payload.get("teacher") != expected:
        raise ValueError(f"draft decoder {Path(path).name} was distilled from another tokenizer "
                         f"({payload.get('teacher')}, this one is {expected})")
    draft = DraftDecoder(DraftConfig(**payload["model_config"]), tokenizer.codebook, expected)
    draft.load_state_dict(payload["model"])
    return draft.eval()


def draft_for(tokenizer: PoseTokenizer, path: str | Path | None = None) -> DraftDecoder | None:
    """The draft decoder distilled from ``tokenizer`` (``path``, default the shipped one), or
    None when there is none for it (a tokenizer trained by the artist, a missing or damaged
    file): refinement then runs every step on the tokenizer's own decoder, as it did before
    drafts existed. Looked up once per tokenizer object."""
    if tokenizer in _drafts:
        return _drafts[tokenizer]
    draft = None
    path = Path(path) if path is not None else DEFAULT_DRAFT
    if path.is_file():
        try:
            draft = load_draft(path, tokenizer).to(tokenizer.codebook.device)
        except (OSError, EOFError, KeyError, RuntimeError, ValueError,
                pickle.UnpicklingError) as exc:
            log.info("draft decoder %s not used: %s", path.name, exc)
    _drafts[tokenizer] = draft
    return draft


def register_draft(tokenizer: PoseTokenizer, draft: DraftDecoder | None) -> None:
    """Make ``draft`` the one :func:`draft_for` gives for ``tokenizer`` (None: no draft), e.g.
    a draft distilled for a tokenizer of one's own. Refused when it was distilled from
    another tokenizer."""
    if draft is not None and draft.teacher != teacher_fingerprint(tokenizer):
        raise ValueError("this draft decoder was distilled from another tokenizer")
    _drafts[tokenizer] = draft
