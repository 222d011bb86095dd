"""MaskGIT masking for training and uncertainty-guided iterative decoding (GenHMR stage 1).

* :func:`mask_tokens` — the training corruption: a ratio ``cos(pi/2 * r)``, ``r ~ U(0, 1)``
  (MaskGIT's cosine schedule: mostly heavy masking, sometimes light) of each sample's tokens
  becomes [MASK], at least one; a few % of the others become random codes, so the model also
  learns to doubt visible tokens (what decoding feeds back to it are its own guesses).
* :func:`iterative_decode` — start fully masked; at iteration t of T predict every token, draw
  a candidate for each masked slot (argmax, or a temperature sample for hypotheses), and commit
  the most confident so that ``N - floor(N cos(pi/2 t / T))`` tokens are committed after it.
  Committed tokens are never re-masked. Confidence is the chosen token's probability under
  the model (temperature 1), optionally perturbed by annealed Gumbel noise (MaskGIT's
  "choice temperature") to diversify hypotheses. Each token's logits are kept from the
  iteration that committed it: that is the distribution it was chosen from, the per-token
  uncertainty the product shows, and stage-2 refinement's starting point.
* :func:`joint_uncertainty` — per-joint uncertainty in degrees from the token distributions,
  through the tokenizer decoder (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from genhmr.models.draft_decoder import DraftDecoder
from genhmr.models.masked_transformer import (
    MaskedPoseOutput,
    MaskedPoseTransformer,
    PoseCondition,
)
from genhmr.models.tokenizer import PoseTokenizer


@dataclass
class MaskedTokens:
    """A training corruption of target tokens (B, N)."""

    tokens: Tensor  # (B, N) model input: targets with [MASK] and random codes put in
    masked: Tensor  # (B, N) bool: replaced by [MASK]
    replaced: Tensor  # (B, N) bool: replaced by a random code (never where masked)
    ratio: Tensor  # (B,) the drawn mask ratio


def mask_ratio(r: Tensor) -> Tensor:
    """MaskGIT's cosine schedule: fraction of tokens still masked at progress r in [0, 1]."""
    return torch.cos(0.5 * math.pi * r)


def mask_tokens(targets: Tensor, mask_id: int, codebook_size: int, generator: torch.Generator,
                random_rate: float = 0.05) -> MaskedTokens:
    """Corrupt (B, N) targets for training (a pure function of ``generator``'s state).

    ``num_masked = clamp(ceil(N * cos(pi/2 * r)), 1, N)`` random slots get [MASK]; each other
    slot is replaced by a uniformly random code with probability ``random_rate``. Randomness
    is drawn on the CPU generator and moved to ``targets``' device.
    """
    B, N = targets.shape
    ratio = mask_ratio(torch.rand(B, generator=generator))
    count = (ratio * N).ceil().long().clamp(1, N)
    rank = torch.rand(B, N, generator=generator).argsort(-1).argsort(-1)
    masked = rank < count[:, None]
    replaced = (torch.rand(B, N, generator=generator) < random_rate) & ~masked
    random_codes = torch.randint(0, codebook_size, (B, N), generator=generator)
    dev = targets.device
    masked, replaced = masked.to(dev), replaced.to(dev)
    tokens = torch.where(replaced, random_codes.to(dev), targets)
    tokens = torch.where(masked, torch.full_like(targets, mask_id), tokens)
    return MaskedTokens(tokens=tokens, masked=masked, replaced=replaced, ratio=ratio.to(dev))


def decode_schedule(num_tokens: int, iterations: int) -> list[int]:
    """Tokens committed after each iteration: ``N - floor(N cos(pi/2 t/T))``, at least one
    more per iteration, all N at the end (so fewer iterations when T > N)."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    out: list[int] = []
    for t in range(1, iterations + 1):
        kept = num_tokens - math.floor(num_tokens * math.cos(0.5 * math.pi * t / iterations))
        kept = min(num_tokens, max(kept, (out[-1] if out else 0) + 1))
        out.append(num_tokens if t == iterations else kept)
        if out[-1] == num_tokens:
            break
    return out


@dataclass
class DecodeResult:
    """What :func:`iterative_decode` returns (B = samples x hypotheses)."""

    tokens: Tensor  # (B, N) int64
    logits: Tensor  # (B, N, C) each token's logits from the iteration that committed it
    confidence: Tensor  # (B, N) probability of the chosen token
    entropy: Tensor  # (B, N) entropy (nats) of each token's distribution
    log_likelihood: Tensor  # (B,) sum of the chosen tokens' log-probabilities
    committed_at: Tensor  # (B, N) int64 iteration (0-based) that committed each token


def _gumbel(shape: torch.Size, generator: torch.Generator | None, device: torch.device
            ) -> Tensor:
    u = torch.rand(shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    return (-torch.log(-torch.log(u))).to(device)


@torch.no_grad()
def iterative_decode(predict: Callable[[Tensor], Tensor], batch: int, num_tokens: int,
                     mask_id: int, iterations: int = 8, temperature: float | Tensor = 0.0,
                     choice_noise: float = 0.0, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu", gumbel: Tensor | None = None
                     ) -> DecodeResult:
    """Uncertainty-guided decoding of ``batch`` token sequences from fully masked.

    ``predict(tokens (B, N)) -> logits (B, N, C)``. ``temperature`` (scalar, or (B,) per row)
    0 picks the argmax (deterministic); > 0 samples from ``softmax(logits / temperature)``.
    ``choice_noise`` scales Gumbel noise added to the log-confidence when choosing which slots
    to commit, annealed to 0 over the iterations (MaskGIT), on the rows that sample (greedy
    rows, temperature 0, are never perturbed). Random draws use ``generator``
    (CPU), so a seed reproduces hypotheses.

    ``gumbel`` (B, N, C), when given, is the Gumbel noise of the temperature draw at every
    iteration instead of fresh noise: rows given the same field make the same random choice
    wherever their logits agree. Alternatives for a stretch of frames use it (one field for all
    the frames of one alternative), so an alternative is one other motion, not a new random
    pose in every frame (``genhmr.generative.sample_range``).
    """
    device = torch.device(device)
    tokens = torch.full((batch, num_tokens), mask_id, dtype=torch.long, device=device)
    committed = torch.zeros(batch, num_tokens, dtype=torch.bool, device=device)
    committed_at = torch.full((batch, num_tokens), -1, dtype=torch.long, device=device)
    kept_logits: Tensor | None = None
    chosen_logp = torch.zeros(batch, num_tokens, device=device)
    temp = torch.as_tensor(temperature, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    schedule = decode_schedule(num_tokens, iterations)
    for it, kept in enumerate(schedule):
        logits = predict(tokens).float()
        if kept_logits is None:
            kept_logits = torch.zeros_like(logits)
        logp = torch.log_softmax(logits, -1)
        if bool((temp > 0).any()):
            noise = gumbel.to(device) if gumbel is not None \
                else _gumbel(logits.shape, generator, device)
            noisy = logits / temp.clamp(min=1e-6) + noise
            candidate = torch.where(temp > 0, noisy, logits).argmax(-1)
        else:
            candidate = logits.argmax(-1)
        conf = logp.gather(-1, candidate[..., None])[..., 0]
        score = conf.clone()
        if choice_noise > 0:
            anneal = choice_noise * (1.0 - it / len(schedule))
            sampled_rows = (temp.view(-1, 1) > 0).float()  # greedy rows stay greedy
            score = score + anneal * sampled_rows * _gumbel(score.shape, generator, device)
        score = score.masked_fill(committed, float("inf"))
        top = score.topk(kept, dim=-1).indices
        now = torch.zeros_like(committed).scatter_(1, top, True)
        new = now & ~committed
        tokens = torch.where(new, candidate, tokens)
        kept_logits = torch.where(new[..., None], logits, kept_logits)
        chosen_logp = torch.where(new, conf, chosen_logp)
        committed_at = torch.where(new, torch.full_like(committed_at, it), committed_at)
        committed = now
    assert kept_logits is not None and bool(committed.all())
    logp = torch.log_softmax(kept_logits, -1)
    entropy = -(logp.exp() * logp).sum(-1)
    return DecodeResult(tokens=tokens, logits=kept_logits, confidence=chosen_logp.exp(),
                        entropy=entropy, log_likelihood=chosen_logp.sum(-1),
                        committed_at=committed_at)


def select_best(result: DecodeResult, num_hypotheses: int, score: Tensor | None = None
                ) -> tuple[DecodeResult, Tensor]:
    """Per sample, the hypothesis (rows ``i*H .. i*H+H-1``) of highest ``score`` (B*H,)
    (default: the log-likelihood of its tokens), and the chosen row index (B,) into
    ``result``."""
    H = num_hypotheses
    ll = (result.log_likelihood if score is None else score).view(-1, H)
    rows = ll.argmax(-1) + torch.arange(ll.shape[0], device=ll.device) * H
    pick = DecodeResult(**{k: v[rows] for k, v in vars(result).items()})
    return pick, rows


# Scores every hypothesis (B*H rows) given its tokens and the heads read with them; higher is
# better. E.g. minus the 2D reprojection error (``genhmr.generative.reprojection_score``).
HypothesisScore = Callable[[DecodeResult, MaskedPoseOutput], Tensor]


@dataclass
class PosePrediction:
    """Stage-1 output for B samples: the best hypothesis and the regression heads read with
    its tokens filled in."""

    decode: DecodeResult  # the chosen hypothesis per sample
    heads: MaskedPoseOutput  # orientation, betas, camera (and one-pass logits) given its tokens
    all_hypotheses: DecodeResult  # every hypothesis (B * H rows)


@torch.no_grad()
def predict_pose(model: MaskedPoseTransformer, cond: PoseCondition, iterations: int = 8,
                 num_hypotheses: int = 1, temperature: float = 1.0, choice_noise: float = 2.0,
                 generator: torch.Generator | None = None,
                 score: HypothesisScore | None = None) -> PosePrediction:
    """Decode tokens for each sample: hypothesis 0 greedy, the others sampled at
    ``temperature`` with Gumbel choice noise; keep the best and read the heads.

    "Best" is the most likely token sequence, or with ``score`` the highest-scoring hypothesis
    (the heads are then read for every hypothesis, in one pass)."""
    B, H = cond.keypoints_2d.shape[0], num_hypotheses
    device = cond.keypoints_2d.device
    expanded = cond.expand(H) if H > 1 else cond
    temps = torch.full((H,), float(temperature))
    temps[0] = 0.0
    temps = temps.repeat(B).to(device)
    result = iterative_decode(lambda tok: model(expanded, tok).logits, B * H, model.num_tokens,
                              model.mask_id, iterations, temperature=temps,
                              choice_noise=choice_noise if H > 1 else 0.0,
                              generator=generator, device=device)
    if H == 1:
        return PosePrediction(decode=result, heads=model(cond, result.tokens),
                              all_hypotheses=result)
    if score is None:
        best, _ = select_best(result, H)
        return PosePrediction(decode=best, heads=model(cond, best.tokens), all_hypotheses=result)
    heads = model(expanded, result.tokens)
    best, rows = select_best(result, H, score(result, heads))
    return PosePrediction(decode=best, heads=MaskedPoseOutput(
        **{k: v[rows] for k, v in vars(heads).items()}), all_hypotheses=result)


def _angle_deg(a: Tensor, b: Tensor) -> Tensor:
    """Geodesic angle (degrees) between rotations, from the chordal distance
    (||A - B||_F = 2 sqrt(2) sin(theta / 2)): unlike acos of the trace it stays accurate for
    the tiny angles that confident tokens produce."""
    chord = (a - b).flatten(-2).norm(dim=-1) / (2 * math.sqrt(2))
    return torch.rad2deg(2 * torch.asin(chord.clamp(max=1.0)))


@torch.no_grad()
def joint_uncertainty(decoder: PoseTokenizer | DraftDecoder, tokens: Tensor, logits: Tensor,
                      chunk: int = 4) -> Tensor:
    """Per-joint uncertainty (B, 21) in degrees of decoded poses.

    ``decoder``: the tokenizer, or its draft decoder (``genhmr.models.draft_decoder``), at a
    fifth of the cost: the product passes the draft where there is one (on the Pose2Sim
    tracks its uncertainties correlate 0.96 with the decoder's, 0.7 deg apart on average).

    For each token slot i the decoder is run with slot i's code replaced by its *expected*
    code under the predicted distribution (``softmax(logits_i) @ codebook``) and the rotation
    change of every joint is measured; the per-joint uncertainty is the root sum of squares
    over slots. This folds together how spread a token's distribution is (a one-hot one
    changes nothing) and how much the decoder moves each joint for that slot (tokens are not
    tied to joints: the decoder's sensitivity is what maps them). It costs N decodes per pose.
    A symmetric bimodal distribution whose mean is the chosen code reads as certain: the
    entropy (``DecodeResult.entropy``) is the complementary signal.

    ``chunk`` poses (``chunk * N`` decodes) at a time, so that each layer's activations stay
    in the CPU's cache: with the decoder's sequence-first layout 4 poses (128 decodes) are
    fastest, 7 ms per pose against 10-11 with 16 on one thread (and 16 against 64 before;
    docs/performance.md). Same numbers.
    """
    B, N = tokens.shape
    codebook = decoder.codebook
    hard = codebook[tokens]  # (B, N, D)
    base = decoder.decode_quantized(hard)
    eye = torch.eye(N, dtype=torch.bool, device=tokens.device)
    out = []
    for start in range(0, B, chunk):
        # the expected codes chunk by chunk: all at once held a second copy of every logit
        # (64 KB a frame, 0.6 GB for a 10,000-frame track)
        e = torch.softmax(logits[start:start + chunk].float(), -1) @ codebook.float()
        h = hard[start:start + chunk]
        b = h.shape[0]
        codes = torch.where(eye[None, :, :, None], e[:, None], h[:, None])  # (b, N, N, D)
        rot = decoder.decode_quantized(codes.reshape(b * N, N, -1)).view(b, N, -1, 3, 3)
        angle = _angle_deg(rot, base[start:start + chunk, None])  # (b, N, 21)
        out.append(angle.square().sum(1).sqrt())
    return torch.cat(out)
