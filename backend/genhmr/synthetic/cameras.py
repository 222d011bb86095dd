"""Random perspective cameras for synthetic conditioning (numpy only).

Why: the generative model learns from 3D motion projected into images it never saw, so the
cameras must cover what artists film with: any yaw around the person, mostly eye-level but
sometimes high or low, a little roll, 2-12 m away, the person not always centred, phone and
DSLR fields of view, landscape and portrait frames, and in most clips a camera that moves
(WHAM's augmentation: yaw U[0, 2pi), pitch N(5 deg, 22 deg), roll N(0, 7.5 deg), depth
U[2, 12] m, lateral offset, moving cameras in 75 % of clips).

Conventions match :mod:`genhmr.camera`: OpenCV camera axes (x right, y down, z forward), a
world->camera rotation ``R`` and translation ``t`` (``x_cam = R @ x_world + t``) and a pinhole
``K`` with square pixels and the principal point at the image centre. The world is SMPL-X's:
metres, Y up. Everything is drawn from a caller's :class:`numpy.random.Generator`, so a seed
reproduces a camera exactly.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from genhmr.camera import focal_for_fov, intrinsics

UP = np.array([0.0, 1.0, 0.0])

# Typical video frames: phone landscape/portrait, SD, HD, full HD.
DEFAULT_IMAGE_SIZES: tuple[tuple[int, int], ...] = (
    (1920, 1080), (1080, 1920), (1280, 720), (720, 1280), (854, 480), (640, 480), (480, 640),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """Distributions of the camera sampler; defaults are WHAM's augmentation.

    Angles in degrees, distances in metres. ``min_person_px`` (optional) pulls the camera in
    so the person is at least that tall in pixels (detectors miss small people; the render set
    needs > 200 px). ``truncation_fraction`` of clips allow the person to be cut by up to
    ``truncation_margin`` of the image at the edges; the others keep every point inside with
    ``margin`` to spare.
    """

    pitch_mean: float = 5.0
    pitch_std: float = 22.0
    pitch_limits: tuple[float, float] = (-35.0, 70.0)
    roll_std: float = 7.5
    roll_limit: float = 25.0
    distance: tuple[float, float] = (2.0, 12.0)
    lateral: float = 0.7  # person offset as a fraction of the free room in the image
    hfov: tuple[float, float] = (35.0, 80.0)  # horizontal field of view of phone/DSLR video
    image_sizes: tuple[tuple[int, int], ...] = DEFAULT_IMAGE_SIZES
    moving_fraction: float = 0.75
    margin: float = 0.03  # fraction of the image side kept free around the person
    truncation_fraction: float = 0.05
    truncation_margin: float = -0.12
    min_person_px: float | None = None
    min_camera_height: float = 0.25  # above the floor
    # Moving cameras: amplitudes of the smooth random drifts over a clip.
    move_yaw: float = 20.0
    move_pitch: float = 6.0
    move_roll: float = 3.0
    move_dolly: float = 0.25  # fraction of the distance
    move_lateral: float = 0.3  # fraction of the free room
    move_hz: tuple[float, float] = (0.03, 0.2)
    pan_fraction: float = 0.5  # moving cameras that stand still and turn (the rest travel)
    follow_smoothing_s: float = 0.5  # how far behind the operator follows the subject


@dataclasses.dataclass
class CameraTrack:
    """A camera over T frames: world->camera ``R`` (T, 3, 3), ``t`` (T, 3), ``K`` (T, 3, 3)."""

    R: np.ndarray
    t: np.ndarray
    K: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    moving: bool = False
    truncation_allowed: bool = False

    @property
    def num_frames(self) -> int:
        return int(self.R.shape[0])

    @property
    def centres(self) -> np.ndarray:
        """(T, 3) camera centres in the world."""
        return -np.einsum("tji,tj->ti", self.R, self.t)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (T, N, 3) -> camera points (T, N, 3)."""
        return np.einsum("tij,tnj->tni", self.R, np.asarray(points, np.float64)) + self.t[:, None]

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (T, N, 3) -> pixels (T, N, 2) (points behind the camera are garbage)."""
        return project_camera_points(self.to_camera(points), self.K)

    def frame(self, index: int) -> CameraTrack:
        """One frame as a 1-frame track."""
        sl = slice(index, index + 1)
        return CameraTrack(self.R[sl], self.t[sl], self.K[sl], self.image_size, self.moving,
                           self.truncation_allowed)


def project_camera_points(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera points (T, N, 3) with per-frame K (T, 3, 3) -> pixels (T, N, 2); the batched form
    of :func:`genhmr.camera.project`."""
    z = np.maximum(points_cam[..., 2:3], 1e-6)
    focal = np.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]
    centre = K[:, :2, 2][:, None]
    return points_cam[..., :2] / z * focal + centre


def look_at(eye: np.ndarray, target: np.ndarray, roll: np.ndarray | float = 0.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R (T, 3, 3), t (T, 3)) of OpenCV cameras at ``eye`` (T, 3) looking at
    ``target`` (T, 3), rolled by ``roll`` radians about the optical axis (positive turns the
    image clockwise as seen by the viewer)."""
    eye, target = np.atleast_2d(eye).astype(np.float64), np.atleast_2d(target).astype(np.float64)
    forward = target - eye
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, UP)
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    # Looking straight up or down: any horizontal right vector will do.
    right = np.where(norm > 1e-6, right / np.maximum(norm, 1e-12), np.array([1.0, 0.0, 0.0]))
    down = np.cross(forward, right)
    R = np.stack([right, down, forward], axis=-2)
    roll = np.broadcast_to(np.asarray(roll, np.float64), (R.shape[0],))
    c, s = np.cos(roll), np.sin(roll)
    Rz = np.zeros_like(R)
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1.0
    R = Rz @ R
    t = -np.einsum("tij,tj->ti", R, eye)
    return R, t


def smooth_noise(rng: np.random.Generator, num_frames: int, fps: float,
                 hz: tuple[float, float], waves: int = 3) -> np.ndarray:
    """(T,) smooth random signal in [-1, 1]: a few sinusoids of random frequency and phase,
    like a handheld operator's slow drift (no frame-to-frame shake)."""
    time = np.arange(num_frames) / fps
    freq = rng.uniform(hz[0], hz[1], waves)
    phase = rng.uniform(0, 2 * np.pi, waves)
    weight = rng.uniform(0.3, 1.0, waves)
    signal = (weight[:, None] * np.sin(2 * np.pi * freq[:, None] * time + phase[:, None])).sum(0)
    return signal / weight.sum()


def _gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Smooth (T, ...) along time with edge padding (operator lag, smooth dolly)."""
    if sigma_frames < 0.5 or x.shape[0] < 2:
        return x.copy()
    radius = int(3 * sigma_frames)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    pad = np.concatenate([np.repeat(x[:1], radius, 0), x, np.repeat(x[-1:], radius, 0)])
    out = np.empty_like(x, dtype=np.float64)
    for i in range(x.shape[0]):
        out[i] = np.tensordot(kernel, pad[i:i + 2 * radius + 1], axes=(0, 0))
    return out


def _pushback(points_cam: np.ndarray, K: np.ndarray, size: tuple[int, int],
              margin: float) -> np.ndarray:
    """(T,) distance to move each frame's camera back along its optical axis so every point
    projects inside the image with ``margin`` (a fraction of each side; negative lets points
    out) and lies at least 0.3 m in front of the camera."""
    width, height = size
    half = np.array([width / 2 - margin * width, height / 2 - margin * height])
    half = np.maximum(half, 1.0)
    focal = np.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]
    # |f x / (z + d)| <= half  <=>  z + d >= f |x| / half
    need = np.abs(points_cam[..., :2] * focal) / half - points_cam[..., 2:3]
    need = np.maximum(need.max(-1), 0.3 - points_cam[..., 2])
    return np.maximum(need.max(-1), 0.0)


def sample_camera(rng: np.random.Generator, points: np.ndarray, fps: float = 30.0,
                  config: CameraConfig | None = None, floor_y: float | None = None,
                  image_size: tuple[int, int] | None = None) -> CameraTrack:
    """A random camera filming ``points`` (T, N, 3), world positions of the person's keypoints
    (or any points that must stay in frame) over a clip of T frames at ``fps``.

    The camera aims at the person (static cameras at the clip's mean position, moving ones
    follow it with a lag, either turning on the spot or travelling along), sits at a random
    yaw/pitch/distance, is rolled a little, and puts the person off-centre by a random
    fraction of the free room. Afterwards it is moved back
    along its optical axis where needed so the person stays in frame (unless the clip allows
    truncation) and raised if it would sit under the floor. ``image_size`` fixes the frame
    size (width, height) instead of drawing it from ``config.image_sizes``.
    """
    cfg = config or CameraConfig()
    points = np.asarray(points, np.float64)
    if points.ndim == 2:
        points = points[None]
    T = points.shape[0]
    size = image_size or tuple(cfg.image_sizes[rng.integers(len(cfg.image_sizes))])
    width, height = int(size[0]), int(size[1])
    hfov = rng.uniform(*cfg.hfov)
    focal = focal_for_fov(width, hfov)
    K = np.repeat(intrinsics(width, height, focal)[None], T, 0)
    moving = bool(rng.random() < cfg.moving_fraction)
    truncated = bool(rng.random() < cfg.truncation_fraction)
    floor = float(points[..., 1].min()) if floor_y is None else float(floor_y)

    centre = points.mean(1)  # (T, 3)
    extent = np.ptp(points, axis=1).max(0)  # per-axis extent over the clip
    body_size = max(float(extent.max()), 0.5)
    # How tall the person looks: their height, or most of their length when lying down.
    body_height = max(float(extent[1]), 0.6 * body_size)
    if moving:
        target = _gaussian_smooth(centre, cfg.follow_smoothing_s * fps)
    else:
        target = np.repeat(centre.mean(0, keepdims=True), T, 0)
    # A panning camera stands near one spot and turns to follow; a travelling one moves along.
    panning = moving and bool(rng.random() < cfg.pan_fraction)
    anchor = np.repeat(target.mean(0, keepdims=True), T, 0) if panning else target

    yaw = rng.uniform(0.0, 2 * np.pi)
    pitch = np.clip(rng.normal(cfg.pitch_mean, cfg.pitch_std), *cfg.pitch_limits)
    roll = np.clip(rng.normal(0.0, cfg.roll_std), -cfg.roll_limit, cfg.roll_limit)
    lo, hi = cfg.distance
    if cfg.min_person_px:
        hi = min(hi, focal * body_height / cfg.min_person_px)
        lo = min(lo, hi)
    distance = rng.uniform(lo, hi)
    lateral = rng.uniform(-1.0, 1.0, 2) * cfg.lateral

    yaw_t = np.full(T, yaw)
    pitch_t = np.full(T, math.radians(pitch))
    roll_t = np.full(T, math.radians(roll))
    dist_t = np.full(T, distance)
    lat_t = np.repeat(lateral[None], T, 0)
    if moving:
        def drift() -> np.ndarray:
            return smooth_noise(rng, T, fps, cfg.move_hz)

        yaw_t += math.radians(cfg.move_yaw) * drift()
        pitch_t += math.radians(cfg.move_pitch) * drift()
        roll_t += math.radians(cfg.move_roll) * drift()
        dist_t *= 1.0 + cfg.move_dolly * drift()
        lat_t += cfg.move_lateral * np.stack([drift(), drift()], -1)
        lat_t = np.clip(lat_t, -1.0, 1.0)
    lo_pitch, hi_pitch = (math.radians(v) for v in cfg.pitch_limits)
    pitch_t = np.clip(pitch_t, lo_pitch, hi_pitch)
    margin = cfg.truncation_margin if truncated else cfg.margin

    def smooth_max(x: np.ndarray) -> np.ndarray:
        """A per-frame requirement as the camera can meet it: constant for a static camera,
        a smooth curve never below it for a moving one."""
        if not moving:
            return np.full(T, x.max())
        window = max(3, int(0.6 * fps))
        padded = np.concatenate([np.full(window, x[0]), x, np.full(window, x[-1])])
        runmax = np.array([padded[i:i + 2 * window + 1].max() for i in range(T)])
        # sigma = window / 3: the smoothed curve stays above x almost everywhere, so the
        # final maximum rarely adds a kink.
        return np.maximum(_gaussian_smooth(runmax, window / 3), x)

    def build() -> tuple[np.ndarray, np.ndarray]:
        direction = np.stack([np.sin(yaw_t) * np.cos(pitch_t), np.sin(pitch_t),
                              np.cos(yaw_t) * np.cos(pitch_t)], -1)
        R, t = look_at(anchor + dist_t[:, None] * direction, target, roll_t)
        # Lateral offset: shift the camera in its own image plane so the person sits
        # off-centre, by a fraction of the room left beside them at this distance.
        person_px = focal * body_size / dist_t
        free = np.maximum(np.array([width, height])[None] - person_px[:, None], 0.0) / 2
        t[:, :2] += lat_t * free * dist_t[:, None] / focal
        # Then back along the optical axis until every point is in frame.
        push = _pushback(np.einsum("tij,tnj->tni", R, points) + t[:, None], K,
                         (width, height), margin)
        t[:, 2] += smooth_max(push)
        return R, t

    # Requirements that move the camera: stand above the floor (look down more steeply from
    # higher up, with less of a vertical off-centre shift) and, if asked, show the person at
    # least ``min_person_px`` tall (come closer).
    # Each rebuild keeps the person in frame, which may undo a little of either: iterate.
    for _ in range(16):
        R, t = build()
        centres = -np.einsum("tji,tj->ti", R, t)
        low = floor + cfg.min_camera_height - centres[:, 1]
        if (low > 1e-6).any():
            reach = np.linalg.norm(centres - anchor, axis=-1)
            need = (floor + cfg.min_camera_height + 0.02 - anchor[:, 1]) / reach
            # Smooth additive corrections (a maximum of two curves would kink the path).
            # Over-correct a little: moving back along a rising optical axis lowers the camera.
            short = np.maximum(np.arcsin(np.clip(need, -1, 1)) - pitch_t, 0.0)
            pitch_t += smooth_max(1.5 * short + 0.01 * (short > 0))
            # The off-centre shift may be what lowered the camera: shift it upward instead.
            lat_t[:, 1] += smooth_max(np.maximum(-lat_t[:, 1], 0.0))
            continue
        if cfg.min_person_px:
            uv = project_camera_points(np.einsum("tij,tnj->tni", R, points) + t[:, None], K)
            size_px = np.ptp(uv, axis=1).max(-1)
            if size_px.min() < 0.98 * cfg.min_person_px and dist_t.min() > 1.0:
                dist_t = np.maximum(dist_t * np.clip(size_px / cfg.min_person_px, 0.5, 1.0),
                                    1.0)
                continue
        break
    # Rarely the loop above runs out before the floor holds: then lift the camera bodily (and
    # move back once more if that cut the person).
    centres = -np.einsum("tji,tj->ti", R, t)
    low = floor + cfg.min_camera_height - centres[:, 1]
    if (low > 0).any():
        t -= np.einsum("tij,j->ti", R, UP) * smooth_max(np.maximum(low, 0.0))[:, None]
        t[:, 2] += smooth_max(_pushback(np.einsum("tij,tnj->tni", R, points) + t[:, None], K,
                                        (width, height), margin))
    return CameraTrack(R=R, t=t, K=K, image_size=(width, height), moving=moving,
                       truncation_allowed=truncated)
