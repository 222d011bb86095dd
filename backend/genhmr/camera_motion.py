"""How the camera turned during the clip (pan, tilt, roll), from the background.

Why: hand-held and panning footage (demo.mp4) puts the camera's own motion into every person's
root motion when the camera is assumed fixed. A camera that mostly turns (a phone held by a
standing person, a tripod head) moves background points by a pure rotation: a pixel's viewing
ray ``b = K^-1 (u, v, 1)`` becomes ``R b``, whatever the depth of the point. So the rotation can
be read from background points alone:

* Corners are found in the background of a *key frame* (people's boxes, padded, are masked
  out), followed frame to frame with pyramidal Lucas-Kanade (OpenCV), checked forwards and
  backwards, and dropped when they enter a person's box.
* Each frame's rotation is fitted *against the key frame* (not the previous frame), so the
  estimate does not random-walk: a tripod shot stays exactly static, and a slow pan adds up
  against a fixed reference. The fit is RANSAC over two-ray samples with the closed-form
  rotation between ray sets (``scipy``'s ``Rotation.align_vectors``, Kabsch), refined on the
  inliers.
* When the median background point has moved less than ``static_px`` from the key frame, the
  camera has not moved: the key frame's rotation is kept exactly (compression noise and people
  walking through are not read as motion).
* A new key frame is taken when too few points survive (they left the picture or were
  covered), chaining its rotation onto the previous key's.

**Zoom.** A zoom lens changes the focal length about the principal point: the key frame's ray
``K_key^-1 x`` turned by ``R`` is seen through ``K_f`` (``K`` with its focal length ``s`` times
the key frame's), ``x' ~ K_f R K_key^-1 x``. Every frame that moved is also fitted this way
(:func:`fit_rotation_zoom`: RANSAC over two-point samples, whose angle apart tells ``s`` in
closed form, then Gauss-Newton on the inliers), the zoom chained over the key frames like the
rotation. The turn-and-zoom reading is used only when the lens zoomed
(:func:`choose_lens`): at least ``zoom_frames`` frames' focal length ``zoom_tolerance``
(0.5 %) or more from the first frame's, and no fixed lens of another focal length explaining
it (a turn read with a wrong focal length looks partly like a zoom). Otherwise the turn-only
reading is kept, exactly as without zoom, and the zoom is exactly 1: a fixed lens keeps one
focal length.

A moving camera centre (a walking camera operator) is not modelled: the parallax of a
translating camera is read as a small rotation (or zoom).

Rotations are world-to-camera in OpenCV axes (x right, y down, z forward): ``R[f]`` turns a
direction in the world frame, which is the camera at the job's first frame, into camera ``f``'s
axes (``R[0]`` is the identity).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.spatial.transform import Rotation

# A camera that turned less than this over a whole clip is a fixed camera: what is left is
# background that moves on its own (demo.mp4's trees in the wind: 0.03 degrees at most), and
# 0.1 degree is 2 cm at 10 m.
STILL_TOLERANCE_DEG = 0.1
# A lens whose focal length never moved more than this share from the first frame's is a fixed
# lens (one focal length for the clip): read from a fixed lens, the zoom fit's own noise is
# under 0.1 %, and 0.5 % is 5 px at the edge of a 1920-pixel picture.
ZOOM_TOLERANCE = 0.005
# refine_zoom's damping: the most one Gauss-Newton step may change the focal length's logarithm
# (x/÷ 1.22) and the turn
MAX_LOG_FOCAL_STEP = 0.2
MAX_TURN_STEP_RAD = 0.1


@dataclasses.dataclass(frozen=True)
class CameraMotionConfig:
    """Tuning of :func:`estimate_camera_motion` (pixels refer to the full-resolution frame)."""

    max_points: int = 300  # background corners per key frame
    # frames whose longer side exceeds this are tracked shrunk by a whole factor (4K: speed;
    # :func:`work_shrink`)
    work_side: int = 1920
    person_pad: float = 0.1  # each person's box grows by this share of its size on every side
    static_px: float = 0.3  # median background motion below this: the camera has not moved
    inlier_px: float = 1.5  # RANSAC: a point fits a rotation within this many pixels
    # a followed point is kept only if it tracks back to within this many pixels of where it
    # was (full resolution: the same scene tolerance at any work size)
    back_px: float = 1.0
    ransac_iterations: int = 200
    min_points: int = 30  # fewer background points than this: a new key frame
    min_kept: float = 0.5  # a new key frame when fewer than this share of its points remain
    seed: int = 0
    zoom: bool = True  # also fit a turn with a zoom; used where the lens zoomed (ZOOM_TOLERANCE)
    zoom_tolerance: float = ZOOM_TOLERANCE
    zoom_frames: int = 3  # frames beyond the tolerance that make a zoom (one bad fit does not)
    max_zoom_step: float = 1.5  # a frame's focal length within this factor of its key frame's


@dataclasses.dataclass(frozen=True)
class FrameMatch:
    """The background points one frame's rotation was fitted on: where they were in its key
    frame and where they are now (full-resolution pixels, the fit's inliers)."""

    frame: int
    key_frame: int
    before_px: np.ndarray  # (N, 2)
    after_px: np.ndarray  # (N, 2)
    # the focal length at the key frame and at this frame over the first frame's (a zoom; both
    # 1 for a fixed lens)
    key_zoom: float = 1.0
    zoom: float = 1.0


@dataclasses.dataclass
class CameraMotion:
    """The camera's rotation (and the lens's zoom) in each frame of a job."""

    rotations: np.ndarray  # (F, 3, 3) float64 world-to-camera, world = camera at frame 0
    points: np.ndarray  # (F,) int: background points the frame's rotation rests on
    static: np.ndarray  # (F,) bool: the frame was judged not to have moved from its key frame
    key_frames: list[int]  # job frames where a new key frame was taken
    # How each frame's rotation was found, so it can be found again for another focal length
    # (:func:`refit`): the frame's rotation is ``fit @ rotations[reference]``, where ``fit`` is
    # fitted on ``matches`` (frames with a FrameMatch) or the identity (a frame that did not
    # move from its key frame, or lost its points, keeps the key's or the previous rotation).
    references: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))  # (F,) int
    matches: list[FrameMatch] = dataclasses.field(default_factory=list)
    # (F,) the focal length in each frame over the first frame's: exactly 1 everywhere for a
    # fixed lens (no zoom found beyond ZOOM_TOLERANCE); empty means 1 (built without it)
    zoom: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    # Both readings of the same tracks (:func:`estimate_camera_motion`), so that another focal
    # length can choose again (:func:`refit`): the turn alone and the turn with a zoom; the
    # fields above are the one chosen (:func:`choose_lens`). None in a reading itself.
    fixed_lens: CameraMotion | None = dataclasses.field(default=None, repr=False)
    zoom_lens: CameraMotion | None = dataclasses.field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def zooms(self) -> np.ndarray:
        """(F,) each frame's focal length over the first frame's (ones for a fixed lens)."""
        return (np.ones(self.num_frames) if len(self.zoom) == 0
                else np.asarray(self.zoom, dtype=np.float64))

    @property
    def zoomed(self) -> bool:
        """Whether the lens zoomed during the clip (its frames' focal lengths differ)."""
        return bool(np.any(self.zooms() != 1.0))

    def focal_px(self, K: np.ndarray) -> np.ndarray:
        """(F,) the focal length in pixels in each frame, ``K`` being the first frame's."""
        return float(K[0, 0]) * self.zooms()

    def angles_deg(self) -> np.ndarray:
        """(F,) total rotation of each frame from the first, in degrees (for reports)."""
        return np.degrees(Rotation.from_matrix(self.rotations).magnitude())

    def is_still(self, tolerance_deg: float = STILL_TOLERANCE_DEG) -> bool:
        """Whether the camera never turned more than ``tolerance_deg`` from the first frame."""
        return bool(self.angles_deg().max() < tolerance_deg)


def static_camera(num_frames: int) -> CameraMotion:
    """A camera that never moves (what the result holds when motion estimation is off)."""
    return CameraMotion(rotations=np.tile(np.eye(3), (num_frames, 1, 1)),
                        points=np.zeros(num_frames, dtype=np.int64),
                        static=np.ones(num_frames, dtype=bool), key_frames=[0],
                        references=np.zeros(num_frames, dtype=np.int64),
                        zoom=np.ones(num_frames))


def refit(motion: CameraMotion, K: np.ndarray,
          config: CameraMotionConfig | None = None) -> CameraMotion:
    """The same motion for intrinsics ``K`` (the first frame's): every fitted frame's rotation
    (and, in the turn-and-zoom reading, its zoom) fitted again on the points it rested on (no
    new tracking), chained as before; with both readings kept, the lens is chosen again
    (:func:`choose_lens`). What a focal length found after the tracking
    (:mod:`genhmr.focal_from_turns`) needs: the turns read with the old focal length are off
    by about the focal error times the turn, and the old focal length may have read a zoom
    into a fixed lens."""
    if motion.fixed_lens is not None and motion.zoom_lens is not None:
        return choose_lens(_refit_reading(motion.fixed_lens, K),
                           _refit_reading(motion.zoom_lens, K), K, config)
    return _refit_reading(motion, K)


def _refit_reading(motion: CameraMotion, K: np.ndarray) -> CameraMotion:
    """:func:`refit` of one reading: its own model (a zoom when its zoom is not all 1)."""
    rotations = np.array(motion.rotations, dtype=np.float64)
    zoom = motion.zooms().copy()
    zooming = motion.zoomed
    centre = np.array([K[0, 2], K[1, 2]], dtype=np.float64)
    fitted = {m.frame: m for m in motion.matches}
    matches = []
    for f, reference in enumerate(motion.references):
        if f == 0:
            rotations[0], zoom[0] = np.eye(3), 1.0
            continue
        turn, step = np.eye(3), 1.0
        if f in fitted:
            m = fitted[f]
            if zooming:
                key_K = zoomed(K, zoom[reference])
                turn, focal = refine_zoom(rays(m.before_px, key_K), m.after_px,
                                          float(key_K[0, 0]) * m.zoom / m.key_zoom, centre)
                step = focal / float(key_K[0, 0])
                matches.append(dataclasses.replace(m, key_zoom=float(zoom[reference]),
                                                   zoom=float(zoom[reference] * step)))
            else:
                turn = Rotation.align_vectors(rays(m.after_px, K),
                                              rays(m.before_px, K))[0].as_matrix()
                matches.append(m)
        rotations[f] = turn @ rotations[reference]
        zoom[f] = zoom[reference] * step if zooming else 1.0
    return dataclasses.replace(motion, rotations=rotations, matches=matches,
                               zoom=zoom if zooming else np.ones(len(zoom)))


def _frames_zooming(motion: CameraMotion, config: CameraMotionConfig) -> int:
    """How many frames' focal length lies ``zoom_tolerance`` or more from the first frame's."""
    return int(np.sum(_zoom_spread(motion) >= np.log1p(config.zoom_tolerance)))


def _zoom_spread(motion: CameraMotion) -> np.ndarray:
    """(F,) how far each frame's focal length lies from the first frame's (|log| of the ratio)."""
    return np.abs(np.log(motion.zooms()))


def _zoom_of_a_fixed_lens(zooming: CameraMotion, K: np.ndarray, config: CameraMotionConfig,
                          search: tuple[float, float] = (0.33, 3.0), grid: int = 21) -> bool:
    """Whether a fixed lens of some focal length (``search`` times ``K``'s) explains the
    turn-and-zoom reading ``zooming``: read again with it, no zoom is left.

    Why: the turn-and-zoom fit reads a turn seen with a wrong focal length partly as a zoom
    (on the turned real frames of ``tools/bench_camera_motion.py``, 1-12 % from a focal length
    30 % short or 40 % long, none with the true one); a real zoom stays whatever the focal
    length. The zoom left (the ``zoom_frames``-th largest, as the decision counts) falls
    steeply to nothing at the lens's true focal length, a few per cent wide, so a grid finds
    its valley and a bounded search its bottom; the candidates nearest ``K`` (``K`` first) are
    tried first, so a fixed lens read with a focal length a little off ends the search soon."""
    rank = config.zoom_frames - 1
    if rank >= zooming.num_frames:
        return True
    limit = np.log1p(config.zoom_tolerance)

    def left(log_ratio: float) -> float:
        again = _refit_reading(zooming, zoomed(K, float(np.exp(log_ratio))))
        return float(np.sort(_zoom_spread(again))[::-1][rank])

    if left(0.0) < limit:
        return True
    grid_x = np.linspace(np.log(search[0]), np.log(search[1]), grid)
    values = np.full(grid, np.inf)
    for i in np.argsort(np.abs(grid_x), kind="stable"):  # the focal lengths nearest K's first
        values[i] = left(float(grid_x[i]))
        if values[i] < limit:
            return True
    i = int(np.argmin(values))
    best = minimize_scalar(left, bounds=(grid_x[max(i - 1, 0)], grid_x[min(i + 1, grid - 1)]),
                           method="bounded", options={"xatol": 1e-4})
    return bool(best.fun < limit)


def choose_lens(fixed: CameraMotion, zooming: CameraMotion, K: np.ndarray,
                config: CameraMotionConfig | None = None) -> CameraMotion:
    """The reading a job goes on with, both kept in it: the turn-and-zoom one when at least
    ``zoom_frames`` frames' focal length lies ``zoom_tolerance`` from the first frame's and no
    fixed lens explains that (:func:`_zoom_of_a_fixed_lens`); else the turn-only one, whose
    zoom is exactly 1 (a fixed lens keeps one focal length, and its turns are the turn-only
    fit's, not the zoom fit's noisier ones)."""
    config = config or CameraMotionConfig()
    zooms = (_frames_zooming(zooming, config) >= config.zoom_frames
             and not _zoom_of_a_fixed_lens(zooming, K, config))
    chosen = zooming if zooms else dataclasses.replace(fixed, zoom=np.ones(fixed.num_frames))
    return dataclasses.replace(chosen, fixed_lens=fixed, zoom_lens=zooming)


def zoomed(K: np.ndarray, zoom: float) -> np.ndarray:
    """``K`` with its focal length (both axes) ``zoom`` times longer, the principal point kept:
    the same camera with its zoom lens turned."""
    out = np.array(K, dtype=np.float64)
    out[0, 0] *= zoom
    out[1, 1] *= zoom
    return out


def rays(points_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) unit viewing rays of pixels (N, 2) for intrinsics K."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    homogeneous = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    out = homogeneous @ np.linalg.inv(K).T
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def fit_rotation(before: np.ndarray, after: np.ndarray, K: np.ndarray, inlier_px: float,
                 iterations: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R with ``ray(after) ~ R ray(before)`` for matched pixels (N, 2), robust to
    points that moved on their own; returns (R, inlier mask). Needs N >= 2."""
    a, b = rays(before, K), rays(after, K)
    tolerance = inlier_px / float(K[0, 0])  # radians, small-angle
    best = np.zeros(len(a), dtype=bool)
    needed = iterations
    done = 0
    while done < needed:
        pick = rng.choice(len(a), size=2, replace=False)
        rotation, _ = Rotation.align_vectors(b[pick], a[pick])
        inliers = _angular_error(rotation, a, b) <= tolerance
        done += 1
        if inliers.sum() > best.sum():
            best = inliers
            # enough samples for a 99.9 % chance that one was all inliers (standard RANSAC)
            share = min(best.mean(), 1.0 - 1e-9)
            needed = min(iterations, int(np.ceil(np.log(1e-3) / np.log(1.0 - share**2))))
    if best.sum() < 2:
        best = np.ones(len(a), dtype=bool)
    rotation, _ = Rotation.align_vectors(b[best], a[best])
    inliers = _angular_error(rotation, a, b) <= tolerance
    if inliers.sum() >= 2:
        rotation, _ = Rotation.align_vectors(b[inliers], a[inliers])
    return rotation.as_matrix(), inliers


def zoom_candidates(a1: np.ndarray, a2: np.ndarray, c1: np.ndarray, c2: np.ndarray
                    ) -> np.ndarray:
    """(S, 2) focal lengths (pixels; NaN where none) of the frame that sees pixels ``c1``,
    ``c2`` (S, 2), relative to its principal point, at the angle apart of unit rays ``a1``,
    ``a2`` (S, 3) of its key frame: a turn keeps the angle between two rays, a zoom does not,
    so two points tell the focal length. With ``u = f^2``, ``p = c1.c2``, ``q_i = |c_i|^2`` and
    ``k`` the cosine, ``(p + u)^2 = k^2 (q1 + u)(q2 + u)`` is a quadratic in ``u``; a root
    counts when ``p + u`` has the sign of ``k``."""
    k = np.sum(a1 * a2, axis=1)
    p = np.sum(c1 * c2, axis=1)
    q1, q2 = np.sum(c1 * c1, axis=1), np.sum(c2 * c2, axis=1)
    k2 = k * k
    qa, qb, qc = 1.0 - k2, 2.0 * p - k2 * (q1 + q2), p * p - k2 * q1 * q2
    disc = qb * qb - 4.0 * qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(disc)
        u = np.stack([(-qb + root) / (2.0 * qa), (-qb - root) / (2.0 * qa)], axis=1)
        ok = (disc[:, None] >= 0) & (u > 0) & (np.sign(p[:, None] + u) == np.sign(k)[:, None])
        return np.where(ok, np.sqrt(np.where(ok, u, 1.0)), np.nan)


def _triad(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """(S, 3, 3) rotations taking ray ``a1`` onto ``b1`` and the plane of ``a1, a2`` onto that
    of ``b1, b2`` (each (S, 3), unit): the exact turn of a two-ray sample, for many at once."""
    def frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = np.cross(x, y)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return np.stack([x, n, np.cross(x, n)], axis=2)

    return frame(b1, b2) @ np.swapaxes(frame(a1, a2), 1, 2)


def _reprojection_px(rotation: np.ndarray, a: np.ndarray, after: np.ndarray, focal: np.ndarray,
                     centre: np.ndarray) -> np.ndarray:
    """Pixel distance between ``after`` (N, 2) and key-frame rays ``a`` (N, 3) turned by
    ``rotation`` (..., 3, 3) and seen with focal length ``focal`` (...,): (..., N); infinite
    for rays turned behind the camera."""
    moved = a @ np.swapaxes(rotation, -1, -2)
    z = moved[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixel = np.asarray(focal)[..., None, None] * moved[..., :2] / z[..., None] + centre
        error = np.linalg.norm(pixel - after, axis=-1)
    return np.where(z > 1e-6, error, np.inf)


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising sum |R a_i - b_i|^2 (no reflection)."""
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def turn_for_zoom(a: np.ndarray, after: np.ndarray, focal: float, centre: np.ndarray
                  ) -> tuple[np.ndarray, float]:
    """The turn (Kabsch) of key-frame rays ``a`` (N, 3) onto pixels ``after`` (N, 2) seen with
    focal length ``focal``, and its root-mean-square reprojection residual in pixels."""
    b = np.concatenate([(after - centre) / focal, np.ones((len(after), 1))], axis=1)
    rotation = _kabsch(a, b / np.linalg.norm(b, axis=1, keepdims=True))
    error = _reprojection_px(rotation, a, after, np.float64(focal), centre)
    return rotation, float(np.sqrt(np.mean(np.minimum(error, 1e6) ** 2)))


def refine_zoom(a: np.ndarray, after: np.ndarray, focal: float, centre: np.ndarray,
                iterations: int = 6) -> tuple[np.ndarray, float]:
    """The turn and focal length that put key-frame rays ``a`` (N, 3) on pixels ``after``
    (N, 2) best in pixels (all of them inliers), from the turn that fits ``focal``:
    Gauss-Newton on the turn (a small rotation on top) and the focal length's logarithm, with
    the projection's exact derivatives. Four unknowns, a handful of steps.

    Each step moves the focal length by at most ``MAX_LOG_FOCAL_STEP`` in its logarithm and
    the turn by at most ``MAX_TURN_STEP_RAD``, and the last finite answer is kept: read from a
    focal length far from the true one (:func:`_zoom_of_a_fixed_lens` tries 0.33-3x), an
    undamped step could overshoot until the focal length overflowed and the least squares
    failed on NaNs (a zooming turned clip of ``tools/bench_camera_motion.py``, 2026-12-04).
    Near the answer the steps are far smaller than either bound."""
    rotation = turn_for_zoom(a, after, focal, centre)[0]
    log_focal = float(np.log(focal))
    for _ in range(iterations):
        f = float(np.exp(log_focal))
        m = a @ rotation.T
        x, y, z = m[:, 0], m[:, 1], np.maximum(m[:, 2], 1e-9)
        projected = np.stack([x / z, y / z], axis=1)
        residual = (f * projected + centre - after).reshape(-1)
        # d(projection)/dm (N, 2, 3), and dm/d(small rotation w) = -[m]x  (m' = m + w x m)
        dpi = np.zeros((len(m), 2, 3))
        dpi[:, 0, 0] = dpi[:, 1, 1] = 1.0 / z
        dpi[:, 0, 2], dpi[:, 1, 2] = -x / z**2, -y / z**2
        cross = np.zeros((len(m), 3, 3))
        cross[:, 0, 1], cross[:, 0, 2] = m[:, 2], -m[:, 1]
        cross[:, 1, 0], cross[:, 1, 2] = -m[:, 2], m[:, 0]
        cross[:, 2, 0], cross[:, 2, 1] = m[:, 1], -m[:, 0]
        jacobian = np.concatenate([f * dpi @ cross, f * projected[..., None]], axis=2)
        jacobian = jacobian.reshape(-1, 4)
        if not (np.isfinite(jacobian).all() and np.isfinite(residual).all()):
            break
        step = np.linalg.lstsq(jacobian, -residual, rcond=None)[0]
        turn = float(np.linalg.norm(step[:3]))
        if turn > MAX_TURN_STEP_RAD:
            step[:3] *= MAX_TURN_STEP_RAD / turn
        step[3] = float(np.clip(step[3], -MAX_LOG_FOCAL_STEP, MAX_LOG_FOCAL_STEP))
        rotation = Rotation.from_rotvec(step[:3]).as_matrix() @ rotation
        log_focal += float(step[3])
        if np.abs(step).max() < 1e-9:
            break
    return rotation, float(np.exp(log_focal))


def _zoom_hypotheses(a: np.ndarray, after: np.ndarray, focal: float, centre: np.ndarray,
                     picks: np.ndarray, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Turns (S', 3, 3) and focal lengths (S',) of two-point samples ``picks`` (S, 2): every
    focal length within ``max_step`` of ``focal`` that fits a sample, with its exact turn."""
    c1, c2 = after[picks[:, 0]] - centre, after[picks[:, 1]] - centre
    focals = zoom_candidates(a[picks[:, 0]], a[picks[:, 1]], c1, c2).reshape(-1)
    sample = np.repeat(np.arange(len(picks)), 2)
    keep = np.isfinite(focals) & (focals > focal / max_step) & (focals < focal * max_step)
    f, i = focals[keep], sample[keep]
    b1 = np.concatenate([c1[i] / f[:, None], np.ones((len(f), 1))], axis=1)
    b2 = np.concatenate([c2[i] / f[:, None], np.ones((len(f), 1))], axis=1)
    b1 /= np.linalg.norm(b1, axis=1, keepdims=True)
    b2 /= np.linalg.norm(b2, axis=1, keepdims=True)
    return _triad(a[picks[i, 0]], a[picks[i, 1]], b1, b2), f


def _inliers(turns: np.ndarray, focals: np.ndarray, a: np.ndarray, after: np.ndarray,
             centre: np.ndarray, inlier_px: float) -> np.ndarray:
    """(S, N) whether each point lands within ``inlier_px`` of ``after`` under each hypothesis
    (turn (S, 3, 3), focal length (S,)); compared without dividing, for speed."""
    moved = turns @ a.T  # (S, 3, N)
    z = moved[:, 2]
    dx = focals[:, None] * moved[:, 0] - z * (after[:, 0] - centre[0])
    dy = focals[:, None] * moved[:, 1] - z * (after[:, 1] - centre[1])
    return (dx * dx + dy * dy <= inlier_px * inlier_px * z * z) & (z > 1e-6)


def fit_rotation_zoom(before: np.ndarray, after: np.ndarray, K: np.ndarray, inlier_px: float,
                      iterations: int, rng: np.random.Generator, max_step: float = 1.5,
                      batch: int = 25) -> tuple[np.ndarray, float, np.ndarray]:
    """Turn R and zoom s with ``after ~ K_s R K^-1 before`` (``K_s``: ``K`` with its focal length
    s times longer, the principal point kept) for matched pixels (N, 2), robust to points that
    moved on their own; returns (R, s, inlier mask). RANSAC over two-point samples, each solved
    exactly (:func:`zoom_candidates`, :func:`_triad`) and scored ``batch`` at a time until a
    sample free of outliers is all but certain; then the inliers' best turn and zoom
    (:func:`refine_zoom`). ``max_step``: a frame's focal length is taken to lie within this
    factor of ``K``'s. Needs N >= 2."""
    before = np.asarray(before, np.float64).reshape(-1, 2)
    after = np.asarray(after, np.float64).reshape(-1, 2)
    focal, centre = float(K[0, 0]), np.array([K[0, 2], K[1, 2]])
    a = rays(before, K)
    best, zoom = np.zeros(len(a), dtype=bool), 1.0
    done, needed = 0, iterations
    while done < needed:
        first = rng.integers(0, len(a), batch)
        picks = np.stack([first, (first + rng.integers(1, len(a), batch)) % len(a)], axis=1)
        done += batch
        turns, focals = _zoom_hypotheses(a, after, focal, centre, picks, max_step)
        if not len(focals):
            continue
        inliers = _inliers(turns, focals, a, after, centre, inlier_px)
        top = int(np.argmax(inliers.sum(axis=1)))
        if inliers[top].sum() > best.sum():
            best, zoom = inliers[top], float(focals[top] / focal)
            share = min(best.mean(), 1.0 - 1e-9)  # the standard RANSAC bound, as fit_rotation
            needed = min(iterations, int(np.ceil(np.log(1e-3) / np.log(1.0 - share**2))))
    if best.sum() < 2:
        best = np.ones(len(a), dtype=bool)
    for _ in range(2):  # refit on the inliers, take the inliers of the refit, once more
        fitted = best
        rotation, found = refine_zoom(a[fitted], after[fitted], zoom * focal, centre)
        zoom = found / focal
        inliers = _inliers(rotation[None], np.array([found]), a, after, centre, inlier_px)[0]
        if inliers.sum() < 2 or np.array_equal(inliers, best):
            break
        best = inliers
    return rotation, zoom, fitted  # the points the answer rests on (refit finds it again)


def _angular_error(rotation: Rotation, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.clip(np.sum(rotation.apply(a) * b, axis=1), -1.0, 1.0)
    return np.arccos(cos)


def background_mask(shape: tuple[int, int], boxes: np.ndarray, pad: float) -> np.ndarray:
    """uint8 mask (H, W): 255 where the background may be tracked, 0 on people's padded boxes."""
    height, width = shape
    mask = np.full((height, width), 255, dtype=np.uint8)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        dx, dy = pad * (x1 - x0), pad * (y1 - y0)
        c0, r0 = max(int(x0 - dx), 0), max(int(y0 - dy), 0)
        c1, r1 = min(int(np.ceil(x1 + dx)), width), min(int(np.ceil(y1 + dy)), height)
        mask[r0:r1, c0:c1] = 0
    return mask


def _in_boxes(points: np.ndarray, boxes: np.ndarray, pad: float) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    size = boxes[:, 2:] - boxes[:, :2]
    lo, hi = boxes[:, :2] - pad * size, boxes[:, 2:] + pad * size
    p = points[:, None, :]
    return np.any(np.all((p >= lo) & (p <= hi), axis=2), axis=1)


@dataclasses.dataclass
class _ZoomChain:
    """The turn-and-zoom reading of a clip, kept beside the turn-only one while tracking
    (:func:`estimate_camera_motion` returns one of the two)."""

    key_rotation: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(3))
    key_zoom: float = 1.0
    rotations: list[np.ndarray] = dataclasses.field(default_factory=list)
    zooms: list[float] = dataclasses.field(default_factory=list)
    counts: list[int] = dataclasses.field(default_factory=list)
    matches: list[FrameMatch] = dataclasses.field(default_factory=list)

    def add(self, rotation: np.ndarray, zoom: float, count: int) -> None:
        self.rotations.append(rotation)
        self.zooms.append(zoom)
        self.counts.append(count)


def estimate_camera_motion(frames: Iterable[np.ndarray], K: np.ndarray,
                           people_boxes: Sequence[np.ndarray] | None = None,
                           config: CameraMotionConfig | None = None,
                           should_stop: Callable[[], bool] | None = None) -> CameraMotion:
    """The camera's rotation in each of ``frames`` (BGR or gray, all one size) relative to the
    first, and the lens's zoom; ``people_boxes[f]`` (N, 4) are the boxes (full-resolution
    pixels) of everybody in frame f, kept out of the background. ``K``: the first frame's
    intrinsics (square pixels). See the module docstring for the method, and
    :class:`CameraTracker` for the same reading fed one frame at a time."""
    tracker = CameraTracker(K, config)
    for f, frame in enumerate(frames):
        if should_stop is not None and should_stop():
            raise InterruptedError("camera motion estimation cancelled")
        tracker.add(frame, None if people_boxes is None or f >= len(people_boxes)
                    else people_boxes[f])
    return tracker.motion()


class CameraTracker:
    """:func:`estimate_camera_motion` one frame at a time: :meth:`add` each frame in order
    with the boxes of the people in it, then :meth:`motion`.

    Why a tracker: a job decodes its clip once, for detection; the camera's reading follows the
    same frames as they go by (``perception.detect_frames``' ``on_final``) instead of decoding
    the clip a second time (3-4 ms of CPU per frame of HD video).

    Every frame that moved is fitted twice on the same points: a turn alone (as the product
    always did) and a turn with a zoom (:func:`fit_rotation_zoom`), each reading chained over
    the key frames. The clip is said to zoom when at least ``zoom_frames`` frames' focal length
    lies ``zoom_tolerance`` or more from the first frame's; then the turn-and-zoom reading is
    returned, else the turn-only one with the zoom exactly 1: a fixed lens is never given the
    zoom fit's noise, and its turns are exactly what they were."""

    def __init__(self, K: np.ndarray, config: CameraMotionConfig | None = None) -> None:
        self.K = np.asarray(K, dtype=np.float64)
        self.config = config or CameraMotionConfig()
        self._rng = np.random.default_rng(self.config.seed)
        # the turn-only fit's draws stay as they were
        self._zoom_rng = np.random.default_rng(self.config.seed + 1)
        self._rotations: list[np.ndarray] = []
        self._counts: list[int] = []
        self._statics: list[bool] = []
        self._keys: list[int] = []
        self._references: list[int] = []
        self._matches: list[FrameMatch] = []
        self._chain = _ZoomChain()
        self._key_rotation = np.eye(3)
        self._key_points = self._current = np.zeros((0, 2), np.float32)
        self._key_count = 0
        self._previous: np.ndarray | None = None
        self._shrink = 1
        self._work_K = self.K

    @property
    def num_frames(self) -> int:
        return len(self._rotations)

    def add(self, frame: np.ndarray, boxes: np.ndarray | None = None) -> None:
        """The next frame (BGR or gray) and the boxes (N, 4), full-resolution pixels, of the
        people in it."""
        config, chain, f = self.config, self._chain, len(self._rotations)
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if f == 0:
            self._shrink = work_shrink(gray.shape[:2], config.work_side)
            self._work_K = np.diag([1.0 / self._shrink, 1.0 / self._shrink, 1.0]) @ self.K
        scale, work_K = 1.0 / self._shrink, self._work_K
        if self._shrink > 1:
            gray = shrunk(gray, self._shrink)
        boxes = (np.zeros((0, 4)) if boxes is None
                 else np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale)
        keys, current, key_points = self._keys, self._current, self._key_points
        rotation, is_static, count = self._key_rotation, True, self._key_count
        zoom_state = (chain.key_rotation, chain.key_zoom, self._key_count)
        reference = keys[-1] if keys else 0
        if self._previous is not None and len(current):
            current, key_points = _follow(self._previous, gray, current, key_points, boxes,
                                          config, scale)
            if len(current) >= max(2, config.min_points // 2):
                moved = np.median(np.linalg.norm(current - key_points, axis=1)) / scale
                is_static = bool(moved < config.static_px)
                count = len(current)
                zoom_state = (chain.key_rotation, chain.key_zoom, count)
                if not is_static:
                    relative, inliers = fit_rotation(key_points, current, work_K,
                                                     config.inlier_px * scale,
                                                     config.ransac_iterations, self._rng)
                    rotation = relative @ self._key_rotation
                    count = int(inliers.sum())
                    self._matches.append(FrameMatch(f, keys[-1], key_points[inliers] / scale,
                                                    current[inliers] / scale))
                if not is_static and config.zoom:
                    zoom_state = _fit_zoom(chain, f, keys[-1], key_points, current, work_K,
                                           scale, config, self._zoom_rng)
            else:
                rotation = self._rotations[-1] if self._rotations else self._key_rotation
                zoom_state = ((chain.rotations[-1], chain.zooms[-1], len(current))
                              if chain.rotations else zoom_state)
                reference = max(f - 1, 0)
                is_static, count = False, len(current)
        if self._previous is None or len(current) < max(config.min_points,
                                                        config.min_kept * self._key_count):
            self._key_rotation = rotation
            chain.key_rotation, chain.key_zoom = zoom_state[0], zoom_state[1]
            key_points = current = _corners(gray, boxes, config)
            self._key_count = len(key_points)
            keys.append(f)
        self._current, self._key_points = current, key_points
        self._rotations.append(rotation)
        chain.add(*zoom_state)
        self._counts.append(count)
        self._statics.append(is_static)
        self._references.append(reference)
        self._previous = gray

    def motion(self) -> CameraMotion:
        """The reading of the frames added so far (:func:`estimate_camera_motion`)."""
        if not self._rotations:
            raise ValueError("no frames to estimate camera motion from")
        chain = self._chain
        common = dict(static=np.asarray(self._statics, dtype=bool), key_frames=list(self._keys),
                      references=np.asarray(self._references, dtype=np.int64))
        fixed = CameraMotion(rotations=np.stack(self._rotations),
                             points=np.asarray(self._counts, np.int64),
                             matches=list(self._matches), zoom=np.ones(len(self._rotations)),
                             **common)
        if not self.config.zoom:
            return fixed
        return choose_lens(fixed, CameraMotion(
            rotations=np.stack(chain.rotations), points=np.asarray(chain.counts, np.int64),
            matches=list(chain.matches), zoom=np.asarray(chain.zooms, dtype=np.float64),
            **common), self.K, self.config)


def work_shrink(shape: tuple[int, int], work_side: int) -> int:
    """The whole factor a frame of ``shape`` (H, W) is shrunk by for tracking: the smallest
    that brings its longer side to at most ``work_side`` (1 for HD, 2 for 4K).

    Why whole factors: OpenCV's area resize by one is a block average, 0.1 ms for an HD frame,
    against 3-7 ms by any other factor; shrinking a portrait 1088 x 1920 Pose2Sim view to 960
    px across cost more than tracking it at full resolution (2.2 against 1.1 s of CPU per 100
    frames). Why HD at full resolution: how precisely the points follow the background is what
    the focal length read from the turns rests on. A 40-degree pan through a lens zooming
    1.0-1.5x, read from a focal 40 % long: at full resolution the focal found is 1.5 % off
    (portrait) and 3.4 % (landscape); tracked at 960 px along the longer side, 5.8 % and not
    found at all (the landscape case of the product before 2026-12-04, which tracked at 960 px
    across)."""
    return max(1, -(-max(int(shape[0]), int(shape[1])) // max(int(work_side), 1)))


def shrunk(gray: np.ndarray, factor: int) -> np.ndarray:
    """``gray`` shrunk by the whole ``factor`` (each work pixel the mean of a factor x factor
    block; a remainder row or column at the bottom or right is left out, so pixel (0, 0) and
    the scale of the intrinsics stay exact)."""
    h, w = gray.shape[0] // factor, gray.shape[1] // factor
    return cv2.resize(gray[:h * factor, :w * factor], (w, h), interpolation=cv2.INTER_AREA)


def _fit_zoom(chain: _ZoomChain, f: int, key_frame: int, key_points: np.ndarray,
              current: np.ndarray, work_K: np.ndarray, scale: float,
              config: CameraMotionConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, float, int]:
    """Frame f's turn and zoom against its key frame (work-resolution points), chained onto the
    key's: (rotation, focal length over the first frame's, inliers); its match is kept."""
    relative, step, inliers = fit_rotation_zoom(
        key_points, current, zoomed(work_K, chain.key_zoom), config.inlier_px * scale,
        config.ransac_iterations, rng, config.max_zoom_step)
    zoom = chain.key_zoom * step
    chain.matches.append(FrameMatch(f, key_frame, key_points[inliers] / scale,
                                    current[inliers] / scale, key_zoom=chain.key_zoom,
                                    zoom=zoom))
    return relative @ chain.key_rotation, zoom, int(inliers.sum())


def _corners(gray: np.ndarray, boxes: np.ndarray, config: CameraMotionConfig) -> np.ndarray:
    mask = background_mask(gray.shape[:2], boxes, config.person_pad)
    min_distance = max(4.0, 0.02 * min(gray.shape[:2]))
    found = cv2.goodFeaturesToTrack(gray, maxCorners=config.max_points, qualityLevel=0.01,
                                    minDistance=min_distance, mask=mask, blockSize=7)
    return (np.zeros((0, 2), np.float32) if found is None
            else found.reshape(-1, 2).astype(np.float32))


def _follow(previous: np.ndarray, gray: np.ndarray, points: np.ndarray, key_points: np.ndarray,
            boxes: np.ndarray, config: CameraMotionConfig,
            scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points tracked from ``previous`` into ``gray`` (with their key-frame positions), keeping
    those that track back to where they were and are not on a person."""
    params = dict(winSize=(21, 21), maxLevel=3,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    forward, ok, _ = cv2.calcOpticalFlowPyrLK(previous, gray, points, None, **params)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, previous, forward, None, **params)
    height, width = gray.shape[:2]
    good = (ok.reshape(-1) == 1) & (ok_back.reshape(-1) == 1)
    good &= np.linalg.norm(back - points, axis=1) <= config.back_px * scale
    good &= (forward[:, 0] >= 0) & (forward[:, 0] < width) & (forward[:, 1] >= 0)
    good &= forward[:, 1] < height
    good &= ~_in_boxes(forward, boxes, config.person_pad)
    return forward[good], key_points[good]
