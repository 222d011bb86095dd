"""When each foot is planted: per-frame contact probability for heels and toes.

Why: foot locking (keeping a planted foot still in the world) and retargeting with foot IK both
need to know when a foot is on the ground, and artists want to see it on the timeline. Two cues,
each from where it is reliable:

* **Height** over the person's support (the floor, or the level they stand on: the box top),
  from the solved 3D feet in the world frame (:mod:`genhmr_core.ground`). The 3D stage's depth
  noise moves feet up and down by several centimetres, so this cue is lenient: a foot more than
  ``max_height_m`` above its support is in the air (a step, a jump).
* **Speed in the image**: a planted foot does not move in the footage (once the camera's own
  turn is taken out). The detector's 2D keypoints are far steadier than the solved depth, so
  the speed cue comes from them: pixels per frame over the person's height in pixels, i.e.
  body heights per second.

Each cue is a soft step (a logistic), the product is smoothed over time (a few frames), and
frames where the person was not seen have probability 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .ground import FOOT_POINT_NAMES, FOOT_POINTS, LEVEL_MERGE_M, Ground
from .temporal import gaussian_smooth

CONTACT_POINTS: tuple[str, ...] = FOOT_POINT_NAMES
CONTACT_INDEX = FOOT_POINTS


@dataclasses.dataclass(frozen=True)
class ContactConfig:
    max_height_m: float = 0.12  # above its support by more than this: in the air
    height_softness_m: float = 0.03
    # body heights per second in the image: a swinging foot moves 1.2-2.4 (2-4 m/s), a planted
    # one 0 plus the detector's jitter (up to ~0.5 on demo.mp4's man against the sun)
    max_speed: float = 0.6
    speed_softness: float = 0.15
    speed_span_s: float = 0.067  # speed measured over this much time on each side
    smooth_s: float = 0.1  # temporal smoothing (Gaussian sigma)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def support_heights(foot_heights: np.ndarray, levels: tuple[float, ...],
                    tolerance_m: float = LEVEL_MERGE_M) -> np.ndarray:
    """(F,) height of the level each frame's lowest foot rests on or above (the highest support
    level not more than ``tolerance_m`` above it; the floor, 0, when none). The tolerance is
    the one levels are merged with (``ground.LEVEL_MERGE_M``): the solved feet on one surface
    spread that far, and a level merged from them must still hold them all."""
    lows = np.asarray(foot_heights, dtype=np.float64)
    levels_arr = np.sort(np.asarray(levels, dtype=np.float64))
    out = np.zeros(lows.shape)
    for level in levels_arr:
        out = np.where(lows >= level - tolerance_m, level, out)
    return out


def person_height_px(keypoints2d: np.ndarray, valid: np.ndarray) -> float:
    """Median over valid frames of the vertical extent of the confident keypoints (F, K, 3)."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    extents = [np.ptp(frame[frame[:, 2] >= 0.5, 1]) for frame in kp[np.asarray(valid, bool)]
               if (frame[:, 2] >= 0.5).sum() >= 2]
    return max(float(np.median(extents)), 1.0) if extents else 1.0


def image_speed(points2d: np.ndarray, valid: np.ndarray, fps: float,
                height_px: float, span: int = 1) -> np.ndarray:
    """(F, N) speed of each 2D point (F, N, 2+) in person heights per second: central
    differences over the ``span``-th valid neighbour on each side (a wider span averages the
    detector's frame-to-frame jitter out); NaN where it cannot be told."""
    pts = np.asarray(points2d, dtype=np.float64)[..., :2]
    valid = np.asarray(valid, dtype=bool)
    frames = np.flatnonzero(valid)
    speed = np.full(pts.shape[:2], np.nan)
    if len(frames) < 2:
        return speed
    height = max(float(height_px), 1.0)
    for i, f in enumerate(frames):
        before = frames[max(i - span, 0)]
        after = frames[min(i + span, len(frames) - 1)]
        if after == before:
            continue
        step = np.linalg.norm(pts[after] - pts[before], axis=-1) / (after - before)
        speed[f] = step * fps / height
    return speed


def steady_pixels(points2d: np.ndarray, camera_K: np.ndarray,
                  camera_rotation: np.ndarray | None) -> np.ndarray:
    """Pixels (F, N, 2+) of a turning (or zooming) camera re-projected into the first frame's
    camera (their viewing rays, cast with each frame's intrinsics, turned by
    ``camera_rotation[f].T``), so a point that stays still in the world stays still in these
    pixels while the camera pans or zooms. ``camera_K``: (3, 3), or (F, 3, 3) for a lens that
    zoomed; ``camera_rotation`` None: the camera did not turn. Extra columns (confidence) are
    kept. A camera that neither turned nor zoomed gives the pixels back as they are."""
    pts = np.asarray(points2d, dtype=np.float64)
    if camera_rotation is None and np.ndim(camera_K) == 2:
        return pts
    K = np.broadcast_to(np.asarray(camera_K, dtype=np.float64), (len(pts), 3, 3))
    homogeneous = np.concatenate([pts[..., :2], np.ones(pts.shape[:-1] + (1,))], axis=-1)
    rays = np.einsum("fij,fnj->fni", np.linalg.inv(K), homogeneous)
    world = (rays if camera_rotation is None else
             np.einsum("fji,fnj->fni", np.asarray(camera_rotation, dtype=np.float64), rays))
    image = world @ K[0].T
    out = pts.copy()
    out[..., :2] = image[..., :2] / np.where(np.abs(image[..., 2:]) > 1e-9, image[..., 2:], 1e-9)
    return out


def foot_contacts(keypoints3d_world: np.ndarray, keypoints2d: np.ndarray, valid: np.ndarray,
                  fps: float, ground: Ground, config: ContactConfig | None = None,
                  camera_K: np.ndarray | None = None,
                  camera_rotation: np.ndarray | None = None) -> np.ndarray:
    """(F, 4) contact probability of left heel, left toe, right heel, right toe
    (:data:`CONTACT_POINTS`) for one person: keypoints (F, K, 3) in the world frame and in the
    image (the detector's, with confidence), valid (F,), the clip's frame rate and floor. With a
    turning camera (``camera_rotation`` (F, 3, 3) and ``camera_K``) or a zooming lens
    (``camera_K`` (F, 3, 3), each frame's) the image speed is measured in
    :func:`steady_pixels`, so the camera's pan or zoom is not read as the feet moving."""
    config = config or ContactConfig()
    valid = np.asarray(valid, dtype=bool)
    points = list(CONTACT_INDEX)
    if camera_rotation is not None and camera_K is None:
        raise ValueError("camera_rotation needs camera_K")
    if camera_K is not None:
        keypoints2d = steady_pixels(keypoints2d, camera_K, camera_rotation)
    heights = ground.height_above(np.asarray(keypoints3d_world)[:, points])
    support = support_heights(heights.min(axis=1), ground.levels)
    over = heights - support[:, None]
    near = _logistic((config.max_height_m - over) / config.height_softness_m)
    speed = image_speed(np.asarray(keypoints2d)[:, points], valid, fps,
                        person_height_px(keypoints2d, valid),
                        span=max(1, round(config.speed_span_s * fps)))
    still = np.where(np.isnan(speed), 0.5,
                     _logistic((config.max_speed - np.nan_to_num(speed)) / config.speed_softness))
    contact = gaussian_smooth(near * still, valid, config.smooth_s * fps)
    return np.where(valid[:, None], contact, 0.0).astype(np.float32)


def sliding_mm_per_frame(points_world: np.ndarray, contact: np.ndarray,
                         threshold: float = 0.5) -> float:
    """Mean horizontal movement (mm per frame) of foot points (F, 4, 3; world frame, OpenCV axes
    so the floor is x-z) between consecutive frames where the point is in contact in both: the
    foot-sliding measure. NaN when no point is in contact for two frames in a row."""
    pts = np.asarray(points_world, dtype=np.float64)
    planted = np.asarray(contact) >= threshold
    both = planted[1:] & planted[:-1]
    step = np.linalg.norm((pts[1:] - pts[:-1])[..., [0, 2]], axis=-1)
    return float(1000.0 * step[both].mean()) if both.any() else float("nan")
