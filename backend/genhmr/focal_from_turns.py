"""The footage's focal length, read from how the background moved while the camera turned.

Why: without the artist's lens the job assumes 60 degrees across the picture's longer side
(``genhmr.camera.default_focal_px``), and every depth and size follows that guess (a 45 % short
focal length put Pose2Sim's people 45 % too near). A camera that turns gives its focal length
away: a pure turn maps each background ray by a rotation, ``x' ~ K R K^-1 x``, and only the
true ``K`` makes every matched point of a frame fit *one* rotation. With a wrong focal length
the points near the picture's edges sweep by a different amount from those near its centre,
and no rotation fits them all.

So for each candidate focal length (principal point at the centre, square pixels, as
``genhmr.camera.intrinsics``), each turned frame's background matches
(:class:`genhmr.camera_motion.FrameMatch`, already found by the camera-motion pass: no new
tracking) get their best rotation in closed form (Kabsch) and the reprojection residual is
summed; the focal length with the smallest residual wins. On a real frame turned by known
rotations (``genhmr.synthetic.turned_camera``) it lands within 1.3 % of the truth from a
start 30 % short or 40 % long, for turns of 3-40 degrees (docs/world_space.md).

A zoom lens (:attr:`genhmr.camera_motion.CameraMotion.zoomed`) changes the focal length from
frame to frame; its matches carry each frame's focal length over the first frame's, and the
candidate is the first frame's: each frame's turn is fitted with its own zoom set free
(``refine_zoom``), so only the turns tell the focal length, not the zoom the frames were read
with.

It is only believed when the turn is large enough and the residual clearly rises on both
sides of its minimum (``FocalConfig``): a tripod shot or a small wobble says nothing about the
focal length, and a camera that moves through the scene (a walking operator) adds parallax the
model does not have. The artist's focal length, when given, is never replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from .camera_motion import CameraMotion, FrameMatch, refine_zoom, refit


@dataclasses.dataclass(frozen=True)
class FocalConfig:
    min_turn_deg: float = 2.0  # frames turned less than this from their key frame are not used
    min_frames: int = 5  # fewer such frames: no estimate
    max_frames: int = 60  # at most this many, spread over the clip (time stays bounded)
    search: tuple[float, float] = (0.33, 3.0)  # candidates, as multiples of the starting focal
    grid: int = 41  # coarse candidates before the bounded search
    clip_px: float = 3.0  # a residual counts at most this much (points that moved on their own)
    # believed only if the residual at the estimate x/÷ `contrast_step` is at least
    # `min_contrast` times the residual at the estimate: a flat valley is no answer
    contrast_step: float = 1.15
    min_contrast: float = 1.25


@dataclasses.dataclass(frozen=True)
class FocalEstimate:
    focal_px: float
    residual_px: float  # root-mean-square reprojection residual at the estimate
    contrast: float  # residual at the estimate x/÷ contrast_step over the residual at it
    frames: int  # turned frames it rests on
    believed: bool  # passed FocalConfig's checks


def _unit_rays(points_px: np.ndarray, focal: float, centre: np.ndarray) -> np.ndarray:
    rays = np.concatenate([(points_px - centre) / focal, np.ones((len(points_px), 1))], axis=1)
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _best_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) R minimising sum |R a_i - b_i|^2 (Kabsch, no reflection)."""
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def residual_px(matches: Sequence[FrameMatch], focal: float, centre: np.ndarray,
                clip_px: float = 3.0, free_zoom: bool = False) -> float:
    """Root-mean-square reprojection residual (pixels, each point's clipped at ``clip_px``)
    of every match fitted by its own best rotation under focal length ``focal`` (the first
    frame's; each match's frames have theirs times its ``key_zoom`` and ``zoom``). With
    ``free_zoom`` each match's own zoom is fitted too (a zoom lens)."""
    total, count = 0.0, 0
    for m in matches:
        a = _unit_rays(m.before_px, focal * m.key_zoom, centre)
        after_focal = focal * m.zoom
        if free_zoom:
            rotation, after_focal = refine_zoom(a, m.after_px, after_focal, centre)
        else:
            rotation = _best_rotation(a, _unit_rays(m.after_px, after_focal, centre))
        moved = a @ rotation.T
        projected = after_focal * moved[:, :2] / moved[:, 2:] + centre
        error = np.minimum(np.linalg.norm(projected - m.after_px, axis=1), clip_px)
        total += float(np.sum(error**2))
        count += len(error)
    return float(np.sqrt(total / max(count, 1)))


def _turn_deg(m: FrameMatch, focal: float, centre: np.ndarray) -> float:
    rotation = _best_rotation(_unit_rays(m.before_px, focal * m.key_zoom, centre),
                              _unit_rays(m.after_px, focal * m.zoom, centre))
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


def estimate_focal(matches: Sequence[FrameMatch], K: np.ndarray,
                   config: FocalConfig | None = None,
                   free_zoom: bool = False) -> FocalEstimate | None:
    """The focal length (pixels; the first frame's) that best explains the turned frames'
    background matches, starting from intrinsics ``K`` (its principal point is kept); None when
    fewer than ``min_frames`` frames turned ``min_turn_deg`` from their key frame. Check
    ``believed``. ``free_zoom``: the matches come from a zoom lens (see the module)."""
    config = config or FocalConfig()
    start = float(K[0, 0])
    centre = np.array([K[0, 2], K[1, 2]], dtype=np.float64)
    turned = [m for m in matches if len(m.before_px) >= 8
              and _turn_deg(m, start, centre) >= config.min_turn_deg]
    if len(turned) < config.min_frames:
        return None
    if len(turned) > config.max_frames:
        turned = [turned[i] for i in np.linspace(0, len(turned) - 1, config.max_frames).astype(int)]

    def cost(log_focal: float) -> float:
        return residual_px(turned, float(np.exp(log_focal)), centre, config.clip_px,
                           free_zoom)

    grid = np.log(start) + np.linspace(np.log(config.search[0]), np.log(config.search[1]),
                                       config.grid)
    costs = [cost(g) for g in grid]
    i = int(np.argmin(costs))
    best = minimize_scalar(cost, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]),
                           method="bounded", options={"xatol": 1e-4})
    focal, residual = float(np.exp(best.x)), float(best.fun)
    step = np.log(config.contrast_step)
    contrast = min(cost(best.x - step), cost(best.x + step)) / max(residual, 1e-6)
    believed = (contrast >= config.min_contrast
                and config.search[0] * 1.01 < focal / start < config.search[1] / 1.01)
    return FocalEstimate(focal_px=focal, residual_px=residual, contrast=float(contrast),
                         frames=len(turned), believed=bool(believed))


def refocused(motion: CameraMotion, K: np.ndarray, config: FocalConfig | None = None
              ) -> tuple[CameraMotion, np.ndarray, FocalEstimate | None]:
    """The camera motion and intrinsics a job goes on with: when the turns tell the focal
    length (:func:`estimate_focal`, believed), ``K`` with that focal length (the first
    frame's) and the turns (and zoom, and whether the lens zoomed) read again with it
    (:func:`genhmr.camera_motion.refit`); otherwise both as they were. The estimate is returned
    either way (None: the camera did not turn enough)."""
    found = estimate_focal(motion.matches, K, config, free_zoom=motion.zoomed)
    if found is None or not found.believed:
        return motion, K, found
    new_K = np.array(K, dtype=np.float64)
    new_K[0, 0] = new_K[1, 1] = found.focal_px
    return refit(motion, new_K), new_K, found
