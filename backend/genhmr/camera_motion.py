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

Zoom (a changing focal length) and a moving camera centre (a walking camera operator) are not
modelled: the parallax of a translating camera is read as a small rotation.

Rotations are world-to-camera in OpenCV axes (x right, y down, z forward): ``R[f]`` turns a
direction in the world frame, which is the camera at the job's first frame, into camera ``f``'s
axes (``R[0]`` is the identity).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

# A camera that turned less than this over a whole clip is a fixed camera: what is left is
# background that moves on its own (demo.mp4's trees in the wind: 0.03 degrees at most), and
# 0.1 degree is 2 cm at 10 m.
STILL_TOLERANCE_DEG = 0.1


@dataclasses.dataclass(frozen=True)
class CameraMotionConfig:
    """Tuning of :func:`estimate_camera_motion` (pixels refer to the full-resolution frame)."""

    max_points: int = 300  # background corners per key frame
    work_width: int = 960  # frames wider than this are tracked at this width (speed)
    person_pad: float = 0.1  # each person's box grows by this share of its size on every side
    static_px: float = 0.3  # median background motion below this: the camera has not moved
    inlier_px: float = 1.5  # RANSAC: a point fits a rotation within this many pixels
    ransac_iterations: int = 200
    min_points: int = 30  # fewer background points than this: a new key frame
    min_kept: float = 0.5  # a new key frame when fewer than this share of its points remain
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class FrameMatch:
    """The background points one frame's rotation was fitted on: where they were in its key
    frame and where they are now (full-resolution pixels, the fit's inliers)."""

    frame: int
    key_frame: int
    before_px: np.ndarray  # (N, 2)
    after_px: np.ndarray  # (N, 2)


@dataclasses.dataclass
class CameraMotion:
    """The camera's rotation in each frame of a job."""

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

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

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
                        references=np.zeros(num_frames, dtype=np.int64))


def refit(motion: CameraMotion, K: np.ndarray) -> CameraMotion:
    """The same motion for intrinsics ``K``: every fitted frame's rotation fitted again on the
    points it rested on (no new tracking), chained as before. What a focal length found after
    the tracking (:mod:`genhmr.focal_from_turns`) needs: the turns read with the old focal
    length are off by about the focal error times the turn."""
    rotations = np.array(motion.rotations, dtype=np.float64)
    fitted = {m.frame: m for m in motion.matches}
    for f, reference in enumerate(motion.references):
        if f == 0:
            rotations[0] = np.eye(3)
            continue
        turn = np.eye(3)
        if f in fitted:
            m = fitted[f]
            turn = Rotation.align_vectors(rays(m.after_px, K), rays(m.before_px, K))[0].as_matrix()
        rotations[f] = turn @ rotations[reference]
    return dataclasses.replace(motion, rotations=rotations)


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


def estimate_camera_motion(frames: Iterable[np.ndarray], K: np.ndarray,
                           people_boxes: Sequence[np.ndarray] | None = None,
                           config: CameraMotionConfig | None = None,
                           should_stop: Callable[[], bool] | None = None) -> CameraMotion:
    """The camera's rotation in each of ``frames`` (BGR or gray, all one size) relative to the
    first; ``people_boxes[f]`` (N, 4) are the boxes (full-resolution pixels) of everybody in
    frame f, kept out of the background. See the module docstring for the method."""
    config = config or CameraMotionConfig()
    rng = np.random.default_rng(config.seed)
    rotations: list[np.ndarray] = []
    counts: list[int] = []
    statics: list[bool] = []
    keys: list[int] = []
    references: list[int] = []
    matches: list[FrameMatch] = []
    key_rotation = np.eye(3)
    key_points = current = np.zeros((0, 2), np.float32)
    key_count = 0
    previous = None
    scale = 1.0
    work_K = K
    for f, frame in enumerate(frames):
        if should_stop is not None and should_stop():
            raise InterruptedError("camera motion estimation cancelled")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if f == 0:
            scale = min(1.0, config.work_width / gray.shape[1])
            work_K = np.diag([scale, scale, 1.0]) @ np.asarray(K, dtype=np.float64)
        if scale != 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = (np.zeros((0, 4)) if people_boxes is None or f >= len(people_boxes)
                 else np.asarray(people_boxes[f], dtype=np.float64).reshape(-1, 4) * scale)
        rotation, is_static, count = key_rotation, True, key_count
        reference = keys[-1] if keys else 0
        if previous is not None and len(current):
            current, key_points = _follow(previous, gray, current, key_points, boxes, config)
            if len(current) >= max(2, config.min_points // 2):
                moved = np.median(np.linalg.norm(current - key_points, axis=1)) / scale
                is_static = bool(moved < config.static_px)
                count = len(current)
                if not is_static:
                    relative, inliers = fit_rotation(key_points, current, work_K,
                                                     config.inlier_px * scale,
                                                     config.ransac_iterations, rng)
                    rotation = relative @ key_rotation
                    count = int(inliers.sum())
                    matches.append(FrameMatch(f, keys[-1], key_points[inliers] / scale,
                                              current[inliers] / scale))
            else:
                rotation = rotations[-1] if rotations else key_rotation
                reference = max(f - 1, 0)
                is_static, count = False, len(current)
        if previous is None or len(current) < max(config.min_points,
                                                   config.min_kept * key_count):
            key_rotation = rotation
            key_points = current = _corners(gray, boxes, config)
            key_count = len(key_points)
            keys.append(f)
        rotations.append(rotation)
        counts.append(count)
        statics.append(is_static)
        references.append(reference)
        previous = gray
    if not rotations:
        raise ValueError("no frames to estimate camera motion from")
    return CameraMotion(rotations=np.stack(rotations), points=np.asarray(counts, np.int64),
                        static=np.asarray(statics, dtype=bool), key_frames=keys,
                        references=np.asarray(references, dtype=np.int64), matches=matches)


def _corners(gray: np.ndarray, boxes: np.ndarray, config: CameraMotionConfig) -> np.ndarray:
    mask = background_mask(gray.shape[:2], boxes, config.person_pad)
    min_distance = max(4.0, 0.02 * min(gray.shape[:2]))
    found = cv2.goodFeaturesToTrack(gray, maxCorners=config.max_points, qualityLevel=0.01,
                                    minDistance=min_distance, mask=mask, blockSize=7)
    return (np.zeros((0, 2), np.float32) if found is None
            else found.reshape(-1, 2).astype(np.float32))


def _follow(previous: np.ndarray, gray: np.ndarray, points: np.ndarray, key_points: np.ndarray,
            boxes: np.ndarray, config: CameraMotionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Points tracked from ``previous`` into ``gray`` (with their key-frame positions), keeping
    those that track back to where they were and are not on a person."""
    params = dict(winSize=(21, 21), maxLevel=3,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    forward, ok, _ = cv2.calcOpticalFlowPyrLK(previous, gray, points, None, **params)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, previous, forward, None, **params)
    height, width = gray.shape[:2]
    good = (ok.reshape(-1) == 1) & (ok_back.reshape(-1) == 1)
    good &= np.linalg.norm(back - points, axis=1) <= 0.5
    good &= (forward[:, 0] >= 0) & (forward[:, 0] < width) & (forward[:, 1] >= 0)
    good &= forward[:, 1] < height
    good &= ~_in_boxes(forward, boxes, config.person_pad)
    return forward[good], key_points[good]
