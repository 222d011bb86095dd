"""How long MediaPipe's errors persist over time, measured on real footage (numpy only).

Why: the noise model's sizes are fitted on renders (``noise.fit``), but the renders come in
4-frame sequences, which show only the frame-to-frame correlation. On real footage (Pose2Sim
``Demo_MultiPerson`` against its triangulated truth) a large part of the error holds for
seconds: MediaPipe misjudges a person's size and lean and keeps misjudging it. Trained on
noise that decorrelates in a fifth of a second, the temporal model learns to average its
window's landmarks and trusts the mean; on real footage the mean carries the offset
(docs/synthetic.md, "Persistence on real footage").

The model (``noise._ar1_mixed``): each error is a fast AR(1) plus, with ``share`` of the
variance, a slow one; its autocorrelation at a lag of L frames is
``(1 - share) * fast ** L + share * slow ** L``. :func:`fit_two_timescales` fits that curve to
the measured autocorrelations of several errors at once, with one slow time shared by all (a
100-frame clip cannot tell one slow time from another above a few seconds).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from genhmr.camera import ray_rotation
from genhmr.synthetic import noise as noise_model

LAGS = (1, 2, 3, 4, 6, 8, 12, 15, 20, 30, 45, 60)  # frames
SLOW_SECONDS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)  # 1/e times the slow part may take
CLIP_Z = 5.0  # standardised residuals beyond this (a swapped limb) are left out


@dataclasses.dataclass
class TwoTimescales:
    """One error's persistence, as lag-1 correlations per frame of the data it came from."""

    fast: float
    slow: float
    share: float  # of the variance in the slow part
    rms: float  # fit residual over the lags

    def curve(self, lags: np.ndarray) -> np.ndarray:
        lags = np.asarray(lags, np.float64)
        return (1 - self.share) * self.fast ** lags + self.share * self.slow ** lags


def autocorrelation(series: np.ndarray, sequence: np.ndarray, frame: np.ndarray,
                    lags: tuple[int, ...] = LAGS) -> np.ndarray:
    """Pooled autocorrelation (len(lags),) of ``series`` (M, ...) over pairs of samples of one
    sequence that lie ``lag`` frames apart. Each column is centred and scaled robustly (median,
    MAD) over all samples first, so a per-sequence offset counts as persistence, and values
    beyond ``CLIP_Z`` are left out of the pairs they are in."""
    x = np.asarray(series, np.float64).reshape(len(series), -1)
    centre = np.median(x, axis=0)
    spread = 1.4826 * np.median(np.abs(x - centre), axis=0)
    z = (x - centre) / np.maximum(spread, 1e-12)
    ok = np.abs(z) < CLIP_Z
    index = {(int(s), int(f)): i for i, (s, f) in enumerate(zip(sequence, frame, strict=True))}
    out = []
    for lag in lags:
        first, second = [], []
        for (s, f), i in index.items():
            j = index.get((s, f + lag))
            if j is not None:
                first.append(i)
                second.append(j)
        if len(first) < 10:
            out.append(np.nan)
            continue
        a, b = z[first], z[second]
        both = ok[first] & ok[second]
        a, b = np.where(both, a, 0.0), np.where(both, b, 0.0)
        out.append(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())))
    return np.array(out)


def fit_two_timescales(acfs: dict[str, np.ndarray], lags: tuple[int, ...], fps: float,
                       slow_seconds: tuple[float, ...] = SLOW_SECONDS
                       ) -> dict[str, TwoTimescales]:
    """Least-squares fit of the two-timescale curve to each autocorrelation, one slow time
    (from ``slow_seconds``) shared by all; lags with no measurement (NaN) are skipped."""
    lag = np.asarray(lags, np.float64)
    fasts = np.linspace(0.3, 0.995, 140)
    shares = np.linspace(0.0, 0.95, 96)
    best: tuple[float, dict[str, TwoTimescales]] | None = None
    for seconds in slow_seconds:
        slow = float(np.exp(-1.0 / (seconds * fps)))
        fits, total = {}, 0.0
        for name, acf in acfs.items():
            seen = np.isfinite(acf)
            f = fasts[:, None, None] ** lag[seen]
            s = slow ** lag[seen]
            curve = (1 - shares[None, :, None]) * f + shares[None, :, None] * s
            err = ((curve - acf[seen]) ** 2).mean(-1)
            i, j = np.unravel_index(int(np.argmin(err)), err.shape)
            fits[name] = TwoTimescales(fast=float(fasts[i]), slow=slow, share=float(shares[j]),
                                       rms=float(np.sqrt(err[i, j])))
            total += float(err[i, j])
        if best is None or total < best[0]:
            best = (total, fits)
    assert best is not None
    return best[1]


def residual_series(pairs: noise_model.Pairs) -> dict[str, np.ndarray]:
    """The errors the noise model draws over time, measured on (truth, detection) pairs:

    * ``2d``: keypoint pixel error over the person's scale (M, 25, 2);
    * ``world``: the world landmarks after each frame's best similarity to the truth, with the
      landmarks' mean offsets (``world_bias``) fitted first, in metres (M, 25, 3);
    * ``world_rotation``: that similarity's rotation away from the camera-ray frame (M, 3);
    * ``world_scale``: its log scale over the model's height law (M, 1).
    """
    model = noise_model.fit(pairs)  # for the bias and the height law only
    x, K, W = pairs.known_cam, pairs.K, pairs.det_world
    scale_px = noise_model.person_scale_px(x, K, pairs.body_height)[:, None, None]
    out = {"2d": (pairs.det_2d - noise_model.project(x, K)) / scale_px}
    frames = noise_model.torso_frames(x) if pairs.frames is None else pairs.frames
    pts = x + (frames @ model.world_bias[:, :, None])[..., 0]
    known = pts - noise_model._hip_mid(pts)[:, None]
    seen = W - noise_model._hip_mid(W)[:, None]
    s, R = noise_model._similarity(known, seen)
    out["world"] = W - s[:, None, None] * (known @ np.swapaxes(R, -1, -2))
    ray = ray_rotation(noise_model._hip_mid(x))
    out["world_rotation"] = noise_model._matrix_to_rotvec(R @ np.swapaxes(ray, -1, -2))
    law = np.log(model.world_scale) + model.world_scale_exponent * np.log(
        pairs.body_height / model.reference_height)
    out["world_scale"] = (np.log(np.maximum(s, 1e-6)) - law)[:, None]
    return out


def with_persistence(model: noise_model.NoiseModel, fits: dict[str, TwoTimescales],
                     frame_dt: float, provenance: dict) -> noise_model.NoiseModel:
    """``model`` with the world landmarks' time structure replaced by the fitted one (its
    sizes kept): their fast correlation, the slow one, and the slow shares of their points,
    rotation and scale, converted from the data's frame time to the model's ``rho_dt``.

    The 2D keypoints' time structure is measured (``fits["2d"]``) but not taken: on Pose2Sim
    the truth is triangulated from these very 2D detections, so their residual holds the
    triangulation's own reprojection error (7-12 px, persistent by construction) as much as
    the detector's. The world landmarks are a separate output of the network, measured against
    the truth independently of how it was built."""
    def per_model_step(rho: float) -> float:
        return float(rho ** (model.rho_dt / frame_dt))

    out = dataclasses.replace(model, provenance=dict(model.provenance))
    # What the renders alone gave, kept through refits (the curve the tool compares with).
    replaced = model.provenance.get("persistence", {}).get("replaced",
                                                           {"world_rho": model.world_rho})
    out.world_rho = per_model_step(fits["world"].fast)
    out.slow_rho = per_model_step(fits["world"].slow)
    out.world_slow_share = fits["world"].share
    out.world_rot_slow_share = fits["world_rotation"].share
    out.world_scale_slow_share = fits["world_scale"].share
    out.provenance["persistence"] = {**provenance, "replaced": replaced}
    return out
