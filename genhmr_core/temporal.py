"""Filters over time for per-frame values with gaps (frames where a person was not seen).

Plain numpy, shared by the foot contacts and the depth smoothing: every filter takes ``valid``
(F,) and ignores invalid frames (they neither contribute nor receive anything meaningful), and
per-frame ``weights`` where some frames deserve less trust than others.
"""

from __future__ import annotations

import numpy as np


def gaussian_smooth(values: np.ndarray, valid: np.ndarray, sigma_frames: float,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing along axis 0 of (F, ...) over valid frames, each frame counted with
    its weight (normalised, so a constant stays constant and edges are not pulled to 0);
    invalid frames come out as 0."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if sigma_frames <= 0:
        return np.where(valid.reshape((-1,) + (1,) * (values.ndim - 1)), values, 0.0)
    w = valid.astype(np.float64) * (1.0 if weights is None else np.asarray(weights, float))
    shape = (-1,) + (1,) * (values.ndim - 1)
    data = np.where(w.reshape(shape) > 0, values, 0.0) * w.reshape(shape)
    radius = max(1, int(np.ceil(3 * sigma_frames)))
    num = np.zeros_like(data)
    den = np.zeros(len(values))
    for offset in range(-radius, radius + 1):
        k = np.exp(-0.5 * (offset / sigma_frames) ** 2)
        lo, hi = max(0, -offset), min(len(values), len(values) - offset)
        if lo >= hi:
            continue
        num[lo:hi] += k * data[lo + offset:hi + offset]
        den[lo:hi] += k * w[lo + offset:hi + offset]
    out = num / np.maximum(den, 1e-12).reshape(shape)
    return np.where((valid & (den > 0)).reshape(shape), out, 0.0)


def rolling_median(values: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """(F,) median of the valid values within ``radius`` frames of each frame (NaN where no
    valid frame is in reach)."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    out = np.full(len(values), np.nan)
    for f in range(len(values)):
        lo, hi = max(0, f - radius), min(len(values), f + radius + 1)
        window = values[lo:hi][valid[lo:hi]]
        if len(window):
            out[f] = np.median(window)
    return out


def min_cost_path(unary: np.ndarray, pairwise: np.ndarray,
                  skip: np.ndarray | None = None) -> np.ndarray:
    """The state sequence (F,) that minimises ``sum_t unary[t, s_t] + sum_t pairwise[t, s_t,
    s_t+1]`` (Viterbi): unary (F, S) is what each state costs in each frame, pairwise
    (F-1, S, S) what going from one state to the next costs. Ties go to the lower state, so
    state 0 should be "as observed".

    ``skip`` (F-2, S, S), optional, adds ``sum_t skip[t, s_t, s_t+2]``: what the states of
    frames two apart cost together. The chain is then of second order, solved exactly as a
    first-order one whose states are pairs of consecutive states (S^2 of them)."""
    unary = np.asarray(unary, dtype=np.float64)
    pairwise = np.asarray(pairwise, dtype=np.float64)
    num_frames, num_states = unary.shape
    if pairwise.shape != (max(num_frames - 1, 0), num_states, num_states):
        raise ValueError(f"pairwise must be ({num_frames - 1}, {num_states}, {num_states}), "
                         f"got {pairwise.shape}")
    if skip is not None:
        return _second_order_path(unary, pairwise, np.asarray(skip, dtype=np.float64))
    if num_frames == 0:
        return np.zeros(0, dtype=np.int64)
    cost = unary[0].copy()
    back = np.zeros((num_frames, num_states), dtype=np.int64)
    for t in range(1, num_frames):
        total = cost[:, None] + pairwise[t - 1]  # (previous state, state)
        back[t] = total.argmin(axis=0)
        cost = total.min(axis=0) + unary[t]
    path = np.empty(num_frames, dtype=np.int64)
    path[-1] = int(cost.argmin())
    for t in range(num_frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _second_order_path(unary: np.ndarray, pairwise: np.ndarray,
                       skip: np.ndarray) -> np.ndarray:
    """:func:`min_cost_path` with ``skip`` terms: node t is the pair (s_t, s_t+1), which
    carries ``pairwise[t]`` and ``unary[t + 1]`` (node 0 also ``unary[0]``); going from pair
    (a, b) to pair (b', d) costs ``skip[t, a, d]`` when b' = b, and cannot happen otherwise."""
    num_frames, num_states = unary.shape
    if skip.shape != (max(num_frames - 2, 0), num_states, num_states):
        raise ValueError(f"skip must be ({num_frames - 2}, {num_states}, {num_states}), "
                         f"got {skip.shape}")
    if num_frames < 3:
        return min_cost_path(unary, pairwise)
    pairs = pairwise + unary[1:, None, :]  # (F-1, a, b)
    pairs[0] += unary[0][:, None]
    a, b, d = np.meshgrid(*[np.arange(num_states)] * 3, indexing="ij")
    step = np.full((num_frames - 2, num_states ** 2, num_states ** 2), np.inf)
    step[:, (a * num_states + b).ravel(), (b * num_states + d).ravel()] = \
        skip[:, a.ravel(), d.ravel()]
    chosen = min_cost_path(pairs.reshape(num_frames - 1, -1), step)
    return np.concatenate([chosen[:1] // num_states, chosen % num_states])


def consistent_choice(points: np.ndarray, score: np.ndarray, valid: np.ndarray,
                      motion_scale: float = 0.05, score_weight: float = 1.0,
                      max_gap: int = 15) -> np.ndarray:
    """(F,) which of H candidates to keep in each frame so that the sequence moves little:
    ``points`` (F, H, K, 3) each candidate's points (e.g. pelvis-relative keypoints, metres),
    ``score`` (F, H) how good each is on its own (higher is better, e.g. a log-likelihood per
    token), ``valid`` (F,) frames that take part (others get candidate 0).

    A frame's cost is ``score_weight * (best score - its score)``; going from one frame's
    candidate to the next costs their mean point distance over ``motion_scale``, so a
    candidate that is slightly less likely but continuous with its neighbours beats a likelier
    one that jumps (a single turned-round or mirrored frame). Frames more than ``max_gap``
    apart are not linked.
    """
    points = np.asarray(points, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    choice = np.zeros(len(valid), dtype=np.int64)
    frames = np.flatnonzero(valid)
    if len(frames) == 0:
        return choice
    unary = score_weight * (score[frames].max(axis=1, keepdims=True) - score[frames])
    a, b = points[frames[:-1]], points[frames[1:]]  # (n - 1, H, K, 3)
    moved = np.linalg.norm(a[:, :, None] - b[:, None], axis=-1).mean(-1)  # (n - 1, H, H)
    linked = (np.diff(frames) <= max_gap)[:, None, None]
    choice[frames] = min_cost_path(unary, np.where(linked, moved / motion_scale, 0.0))
    return choice
