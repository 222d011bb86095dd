"""The world's up in the camera's axes from the background's vertical lines (their vanishing
point), with the people's up as a prior.

Why: the floor's tilt (the camera's pitch and roll) from the people's body axes
(``ground.up_from_bodies``) is 4-11 degrees off on Pose2Sim's calibrated views (4-17 after the
feet's arbitration), because the detector reads people's pitch against the camera several
degrees short; a floor shared by everybody needs it to within a degree or two. Man-made scenes
(rooms, buildings, poles) and trees are full of vertical edges, and with the intrinsics ``K``
known their vanishing point is the world's up direction: ``up = +-K^-1 v``. That gives pitch and
roll, not yaw.

Method (pure numpy; the line segments come from the backend, ``genhmr.vertical_lines``):

* **Plane normals.** A segment and the camera centre span a plane whose unit normal is
  ``n = (K^-1 a) x (K^-1 b)`` for endpoints ``a``, ``b``; a vertical edge's plane contains the
  up vector ``u``: ``n . u = 0``. Two segments give a candidate ``u = n_i x n_j``; a vanishing
  point at infinity (a level camera, vertical lines parallel in the picture) needs no special
  case. Segments from frames of a turning camera have their normals turned into the first
  frame's axes (``R[f].T n``), so all frames vote on one ``u``.
* **Candidates near the prior only.** A candidate is turned to the prior's side (which sign is
  up) and kept only within ``max_prior_deg`` of it (30 degrees by default; the job narrows it
  to :data:`PEOPLE_PRIOR_DEG` around the people's up). A pitched camera sees floor lines that run
  away from it nearly vertical in the picture; pairs of them meet at the horizon, 90 degrees
  from up, which this rules out.
* **Residuals in pixels.** A segment fits ``u`` by the distance (px) of its endpoints from the
  line through its midpoint and the vanishing point ``K R[f] u``. Measured as an angle instead
  (``|n . u|``), a short, imprecise segment counts as much as a long one, and on Pose2Sim the
  treadmill's long edges, running away from the camera, out-voted the room's vertical edges
  (cam02 4-7 degrees off, cam04 up to 23); in pixels the threshold follows the detector's
  precision (``inlier_px``, 1 px: at 2 px cam02 is 3.6 degrees off).
* **Robust fit.** Candidates from ``iterations`` random pairs, scored by MSAC (each segment
  adds its squared residual, capped at ``inlier_px``); the best is refined by least squares on
  its inliers (the smallest right singular vector of their normals, weighted by length, since a
  segment's pixel residual grows with its length), the inliers chosen again, until they settle.
* **When not to trust it** (returns None, the caller keeps the people's up): fewer than
  ``min_inliers`` segments agree; they all lie in nearly one plane (one pole or one door
  frame: their planes spread by less than ``min_spread_deg`` about ``u``, which leaves ``u``
  free along that plane); or the refined ``u`` ends more than ``max_prior_deg`` from the prior.

Axes: OpenCV camera axes (x right, y down, z forward) of the job's first frame; the up vector
points up, i.e. to negative y for a level camera (``ground.UP``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

# The cone around the people's up (their lean into their travel taken out,
# ``ground.without_lean``): it has been up to 9.5 degrees off on Pose2Sim and 20 on a synthetic
# standing jump; at 30 degrees a runner's clip took a wrong answer 31 degrees off, whose lines
# outnumbered the right one's (132 to 110; docs/world_space.md). Around the camera's own up
# (no people to ask) the default 30 stays: a camera pitched 25-34 degrees must still be found.
PEOPLE_PRIOR_DEG = 25.0


@dataclasses.dataclass(frozen=True)
class VerticalConfig:
    """Tuning of :func:`estimate_vertical` (module docstring)."""

    inlier_px: float = 1.0  # a segment fits an up vector within this many pixels
    iterations: int = 2000  # random segment pairs tried
    max_prior_deg: float = 30.0  # candidates, and the answer, at most this far from the prior
    # fewer segments agreeing: no answer (300 random segments: up to 18 agree by chance)
    min_inliers: int = 30
    min_spread_deg: float = 2.0  # the agreeing segments' planes spread at least this much
    refinements: int = 10  # least-squares rounds at most (they stop when the inliers settle)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Vertical:
    """The world's up found from the background's vertical lines."""

    up: np.ndarray  # (3,) unit, the first frame's camera axes, pointing up
    inliers: int  # segments that agree with it
    segments: int  # segments looked at
    spread_deg: float  # how widely the agreeing segments' planes spread about ``up``
    rms_px: float  # the agreeing segments' root-mean-square residual
    prior_deg: float  # angle between ``up`` and the prior


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-300)


def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1)


def segment_normals(segments: np.ndarray, K: np.ndarray,
                    rotations: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) unit normals of the planes through the camera centre and each segment (N, 4:
    ``x0, y0, x1, y1`` px), in the first frame's axes: ``rotations`` (N, 3, 3) world-to-camera
    of each segment's frame, or None for a fixed camera."""
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    K_inv = np.linalg.inv(np.asarray(K, dtype=np.float64))
    a = _homogeneous(segments[:, :2]) @ K_inv.T
    b = _homogeneous(segments[:, 2:]) @ K_inv.T
    normals = np.cross(a, b)
    if rotations is not None:
        normals = np.einsum("nji,nj->ni", np.asarray(rotations, dtype=np.float64), normals)
    return _unit(normals)


def residuals_px(segments: np.ndarray, K: np.ndarray, ups: np.ndarray,
                 rotations: np.ndarray | None = None) -> np.ndarray:
    """(H, N) distance (px) of each segment's endpoints from the line through its midpoint and
    the vanishing point of each up vector ``ups`` (H, 3; first frame's axes). Both endpoints
    are the same distance from a line through the midpoint, so one number per segment."""
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    ups = np.asarray(ups, dtype=np.float64).reshape(-1, 3)
    K = np.asarray(K, dtype=np.float64)
    if rotations is None:
        points = (ups @ K.T)[:, None, :]  # (H, 1, 3): the vanishing points, homogeneous
    else:
        points = np.einsum("ij,njk,hk->hni", K, np.asarray(rotations, dtype=np.float64), ups)
    middle = _homogeneous(0.5 * (segments[:, :2] + segments[:, 2:]))  # (N, 3)
    lines = np.cross(middle[None], points)  # (H, N, 3)
    norm = np.hypot(lines[..., 0], lines[..., 1])
    distance = np.abs(lines @ np.array([0.0, 0.0, 1.0]) + np.einsum(
        "hnk,nk->hn", lines[..., :2], segments[:, :2]))
    # a vanishing point on the segment's midpoint fits no direction in particular
    return np.where(norm > 1e-12, distance / np.maximum(norm, 1e-12), np.inf)


def _refine(normals: np.ndarray, lengths: np.ndarray, inliers: np.ndarray,
            prior: np.ndarray) -> np.ndarray:
    """Least-squares up of the inliers: the direction closest to all their planes, each plane
    weighted by its segment's length (a pixel residual grows with it)."""
    _, _, vt = np.linalg.svd(normals[inliers] * lengths[inliers, None], full_matrices=False)
    up = vt[-1]
    return up if up @ prior >= 0 else -up


def _spread_deg(normals: np.ndarray) -> float:
    """About the angular standard deviation of the planes (their normals) about the common
    direction: the second singular value over the first. Near 0 when the planes are one plane,
    which leaves the up free along it."""
    s = np.linalg.svd(normals, compute_uv=False)
    return float(np.degrees(np.arctan2(s[1], s[0])))


def estimate_vertical(segments: np.ndarray, K: np.ndarray, prior: np.ndarray,
                      rotations: np.ndarray | None = None,
                      config: VerticalConfig | None = None) -> Vertical | None:
    """The world's up (first frame's camera axes) from line segments (N, 4 px; candidates for
    vertical edges, people left out) and the camera's intrinsics ``K``, or None when the lines
    do not tell it (see the module docstring). ``prior`` (3,): the up expected (the people's),
    which picks the sign and bounds the answer; ``rotations`` (N, 3, 3): world-to-camera of each
    segment's frame when the camera turned."""
    config = config or VerticalConfig()
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    prior = _unit(np.asarray(prior, dtype=np.float64).reshape(3))
    if rotations is not None:
        rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    usable = np.isfinite(segments).all(axis=1) & (lengths > 0)
    if rotations is not None:
        usable &= np.isfinite(rotations).all(axis=(1, 2))
    segments, lengths = segments[usable], lengths[usable]
    rotations = None if rotations is None else rotations[usable]
    if len(segments) < max(config.min_inliers, 2):
        return None
    normals = segment_normals(segments, K, rotations)
    cos_cone = np.cos(np.radians(config.max_prior_deg))
    # segments whose plane passes farther than the cone from the prior fit no candidate
    reachable = np.flatnonzero(np.abs(normals @ prior) <= np.sin(np.radians(
        config.max_prior_deg)))
    if len(reachable) < max(config.min_inliers, 2):
        return None
    rng = np.random.default_rng(config.seed)
    pairs = reachable[rng.integers(0, len(reachable), (config.iterations, 2))]
    candidates = np.cross(normals[pairs[:, 0]], normals[pairs[:, 1]])
    norm = np.linalg.norm(candidates, axis=1)
    candidates = candidates[norm > 1e-9] / norm[norm > 1e-9, None]
    candidates *= np.where(candidates @ prior < 0, -1.0, 1.0)[:, None]
    candidates = candidates[candidates @ prior >= cos_cone]
    if not len(candidates):
        return None
    cost = np.concatenate([
        np.square(np.minimum(residuals_px(segments, K, chunk, rotations),
                             config.inlier_px)).sum(axis=1)
        for chunk in np.array_split(candidates, max(1, len(candidates) // 128))])
    up = candidates[int(np.argmin(cost))]
    inliers = residuals_px(segments, K, up, rotations)[0] < config.inlier_px
    for _ in range(config.refinements):
        if inliers.sum() < 2:
            return None
        up = _refine(normals, lengths, inliers, prior)
        again = residuals_px(segments, K, up, rotations)[0] < config.inlier_px
        if np.array_equal(again, inliers):
            break
        inliers = again
    residual = residuals_px(segments, K, up, rotations)[0]
    inliers = residual < config.inlier_px
    prior_deg = float(np.degrees(np.arccos(np.clip(up @ prior, -1.0, 1.0))))
    count = int(inliers.sum())
    if count < config.min_inliers or prior_deg > config.max_prior_deg:
        return None
    spread = _spread_deg(normals[inliers])
    if spread < config.min_spread_deg:
        return None
    return Vertical(up=up, inliers=count, segments=len(segments), spread_deg=spread,
                    rms_px=float(np.sqrt(np.mean(np.square(residual[inliers])))),
                    prior_deg=prior_deg)
