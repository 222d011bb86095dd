"""A trained codebook, read-only: what the product needs of the tokenizer's quantiser.

Why not ``vector_quantize_pytorch.VectorQuantize`` itself, which trained it: importing that
library imports ``einx``, whose torch backend imports ``torch._dynamo`` (~2 s of CPU), in every
backend process and CLI job, for nothing the product uses. Decoding only reads the codes, and
encoding in eval mode is a nearest-code search. Training keeps the library (EMA updates,
dead-code resets, k-means init, DDP-synchronised statistics; ``PoseTokenizer(trainable=True)``).

The buffers carry the library's names and shapes (``_codebook.embed`` (1, K, D) and its EMA
statistics), so a checkpoint loads either way, strictly, and a frozen tokenizer saves the same
layout that a trainable one reads back. ``tests/backend/test_tokenizer.py`` holds the two to
the same codes and the same encodings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _CodebookState(nn.Module):
    """The library's ``EuclideanCodebook`` buffers for one head, under its names."""

    def __init__(self, codebook_size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("initted", torch.tensor(True))
        self.register_buffer("cluster_size", torch.zeros(1, codebook_size))
        self.register_buffer("embed_avg", torch.zeros(1, codebook_size, dim))
        self.register_buffer("embed", torch.zeros(1, codebook_size, dim))


class FrozenCodebook(nn.Module):
    """``codebook_size`` codes of ``dim`` values, found by a trained ``VectorQuantize``
    (one head, no projection in or out: the input dim is the code dim)."""

    def __init__(self, codebook_size: int, dim: int) -> None:
        super().__init__()
        self._codebook = _CodebookState(codebook_size, dim)

    @property
    def codes(self) -> Tensor:
        """(codebook_size, dim) the codes."""
        return self._codebook.embed[0]

    def nearest(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """(quantized (..., dim), indices (...)) the nearest code to each latent vector in
        Euclidean distance, as the library quantises in eval mode."""
        flat = latents.reshape(-1, latents.shape[-1])
        codes = self.codes.to(flat.dtype)
        indices = torch.cdist(flat, codes).argmin(dim=-1)
        return codes[indices].reshape(latents.shape), indices.reshape(latents.shape[:-1])
