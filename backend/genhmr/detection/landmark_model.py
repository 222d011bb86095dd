"""BlazePose landmarks for a given person region (ROI), with MediaPipe's ROI tracking maths.

Why this exists: MediaPipe's pose APIs find people with the BlazePose *detector*, which is
face-driven and misses people who turn away from the camera. We find people with a person-box
detector instead and run only the BlazePose *landmark* network (``pose_landmark_full``, converted
to ONNX by ``tools/convert_landmark_model.py``) on each person's region, and from the second
frame on we carry the region over from the previous frame's landmarks, as MediaPipe's own video
tracking does.

Everything below reimplements, in numpy/OpenCV, what MediaPipe's graphs do around the network
(``mediapipe/modules/pose_landmark/*.pbtxt`` and the calculators they name), so the output
matches MediaPipe's to a fraction of a pixel for the same region:

* **Region of interest** (``Roi``): a square in pixels, with a rotation. The crop maps the ROI's
  corners onto the corners of the 256x256 input (``ImageToTensorCalculator``: bilinear,
  replicated border, RGB scaled to [0, 1]).
* **ROI from landmarks** (``PoseLandmarksToRoi``): the network predicts 39 points; 33 and 34 are
  auxiliary *alignment* points. Point 33 (hip centre) is the centre, twice the distance 33->34 is
  the side, and the direction 33->34 is turned to point straight up ("rotation target 90
  degrees"); then the square is scaled by 1.25 (``RectTransformationCalculator``).
* **Decoding** (``TensorsToPoseLandmarksAndSegmentation``): visibility and presence are logits
  (sigmoid applied here); the pose flag already went through a sigmoid inside the network. Each
  point is refined by the 7x7 confidence-weighted mean of its heatmap channel when that window's
  peak confidence is >= 0.5 (``RefineLandmarksFromHeatmapCalculator``, kept with its exact
  arithmetic, including its half-cell offset, so that we match MediaPipe).
* **Back to the image**: points are rotated by the ROI angle and scaled by its side
  (``LandmarkProjectionCalculator``); world landmarks (metres, hip-centred) are rotated about the
  camera axis by the same angle (``WorldLandmarkProjectionCalculator``), which gives exactly the
  Tasks API's ``pose_world_landmarks`` axes: +x image right, +y down, +z away from the camera.

MediaPipe additionally smooths the two alignment points over time (a heavy One-Euro filter)
before building the next ROI; we do not (no state, any frame order), so our tracking ROI follows
the person more closely. Measured on demo.mp4 frames 45-75 (the walking woman, ~365 px tall):
with the ROI MediaPipe used, our landmarks differ from its own by 0.54 px on average (world
landmarks 0.22 mm); with our own ROI chain, by 3.2 px on average (27 mm in world landmarks,
which are sensitive to the ROI), with one frame where a crossing leg came out differently.
Batching several ROIs into one call is supported but is not faster per ROI on CPU.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genhmr.detection.onnx_session import cpu_session

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "assets" / "pose_landmark_full.onnx"
INPUT_SIZE = 256  # the network's square input, pixels
NUM_LANDMARKS = 33  # BlazePose topology, as MediaPipe's PoseLandmark enum
NUM_MODEL_LANDMARKS = 39  # 33 + 2 alignment points + 4 unused
HIP_CENTRE, ALIGNMENT_END = 33, 34  # the auxiliary points that define the tracking ROI
ROI_SCALE = 1.25  # MediaPipe's RectTransformation scale for pose ROIs
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
_INPUT_NAME = "image"
_OUTPUTS = ("landmarks", "pose_flag", "heatmap", "world_landmarks")


class LandmarkModelError(RuntimeError):
    """The landmark model file is missing or cannot be loaded."""


@dataclasses.dataclass(frozen=True)
class Roi:
    """A square region of the frame, in pixels, turned by ``rotation`` radians.

    ``rotation`` follows MediaPipe: positive turns the square clockwise on screen (image y points
    down); the network sees the region turned back upright. Zero for an upright person.
    """

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    def input_to_image(self) -> np.ndarray:
        """(2, 3) affine matrix from network-input pixels (0..256) to frame pixels.

        The input's corner (0, 0) is the ROI's top-left corner and (256, 256) its bottom-right
        one, as in MediaPipe's crop (corners onto corners, not pixel centres)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / INPUT_SIZE
        linear = np.array([[c, -s], [s, c]]) * k
        offset = np.array([self.cx, self.cy]) - linear @ np.array([INPUT_SIZE / 2, INPUT_SIZE / 2])
        return np.hstack([linear, offset[:, None]])

    def corners(self) -> np.ndarray:
        """(4, 2) frame-pixel corners: top-left, top-right, bottom-right, bottom-left of the
        upright view (for drawing and for tests)."""
        pts = np.array([[0, 0, 1], [INPUT_SIZE, 0, 1], [INPUT_SIZE, INPUT_SIZE, 1],
                        [0, INPUT_SIZE, 1]], dtype=np.float64)
        return pts @ self.input_to_image().T


def normalize_radians(angle: float) -> float:
    """Angle in [-pi, pi), as MediaPipe normalises ROI rotations."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def roi_from_box(box: Sequence[float] | np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """Upright square ROI for a person box ``(x0, y0, x1, y1)`` in pixels.

    A box carries no body orientation, so the ROI is upright (rotation 0), centred on the box,
    with the box's long side times ``scale``. With a tight person box, the default 1.25 gives the
    margin MediaPipe gives around its own detections (its ROI side is 1.25x a circle that just
    holds the body); the first tracked frame then settles the region on the body itself.
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    side = max(x1 - x0, y1 - y0)
    if not side > 0:
        raise ValueError(f"person box must have a positive size, got {tuple(box)}")
    return Roi((x0 + x1) / 2.0, (y0 + y1) / 2.0, side * scale, 0.0)


def roi_from_landmarks(landmarks_px: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """The ROI for the next frame from this frame's alignment points (MediaPipe's tracking).

    ``landmarks_px`` holds x, y in pixels in its first two columns: either all 39 model points
    (rows 33 and 34 are used) or just those two alignment points. Centre = hip centre; side =
    2 x |hip centre -> alignment point| x ``scale``; rotation turns the hip->alignment direction
    to straight up.
    """
    pts = np.asarray(landmarks_px, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2 or not (pts.shape[0] == 2 or pts.shape[0] > ALIGNMENT_END):
        raise ValueError("expected the 2 alignment points or at least 35 landmarks (x, y), got "
                         f"shape {pts.shape}")
    aux = pts[:2, :2] if pts.shape[0] == 2 else pts[[HIP_CENTRE, ALIGNMENT_END], :2]
    (x0, y0), (x1, y1) = aux
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rotation = normalize_radians(math.pi / 2.0 - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(float(x0), float(y0), side, rotation)


def alignment_from_pose(landmarks_px: np.ndarray, reach: float = 1.08) -> np.ndarray:
    """(2, 2) alignment points (hip centre, alignment end) estimated from 33 body landmarks.

    For poses that come without the network's own alignment points (MediaPipe Tasks' results):
    a region built from an upright box around a bent or leaning person centres on the box, not
    on the hips, and the landmark model then often draws the person standing next to them
    (Pose2Sim cam03: the man leaning over the woman). Centre = the mid-hip; the alignment end
    lies towards the mid-shoulder, at the distance of the farthest landmark from the mid-hip
    times ``reach``. The network's own alignment circle is a little larger than the landmarks'
    reach: 1.08 matches its radius at the median (0.82-1.01 of it before that factor, 10th-90th
    percentile, on 60 frames each of demo.mp4, Pose2Sim cam01 and vtest.avi; centre within 1 %
    of the radius, direction within 1.2 degrees)."""
    pts = np.asarray(landmarks_px, dtype=np.float64)[:NUM_LANDMARKS, :2]
    if pts.shape != (NUM_LANDMARKS, 2) or not np.isfinite(pts).all():
        raise ValueError(f"expected 33 finite landmarks (x, y), got shape {pts.shape}")
    hips = pts[[23, 24]].mean(axis=0)
    up = pts[[11, 12]].mean(axis=0) - hips
    length = float(np.hypot(*up))
    up = up / length if length > 0 else np.array([0.0, -1.0])
    radius = float(np.hypot(*(pts - hips).T).max()) * reach
    return np.stack([hips, hips + radius * up])


@dataclasses.dataclass(frozen=True, eq=False)
class LandmarkResult:
    """The landmark network's answer for one ROI.

    Attributes:
        landmarks_px: (33, 3) float32 - x, y in frame pixels (may lie outside the frame for body
            parts the model extrapolates) and visibility in [0, 1] (likelihood the point is in
            view and not occluded; MediaPipe's ``visibility``).
        world_landmarks: (33, 3) float32 - metres, origin between the hips, axes of MediaPipe's
            Tasks ``pose_world_landmarks``: +x image right, +y down, +z away from the camera.
        presence: probability that the ROI holds a person (the network's pose flag); MediaPipe
            drops results below 0.5.
        roi: the region the landmarks were computed in.
        next_roi: the region to use for this person in the next frame
            (:func:`roi_from_landmarks` of ``auxiliary_px``).
        auxiliary_px: (2, 2) float32 - the alignment points (hip centre, alignment end) in frame
            pixels, which define ``next_roi``.
    """

    landmarks_px: np.ndarray
    world_landmarks: np.ndarray
    presence: float
    roi: Roi
    next_roi: Roi
    auxiliary_px: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def refine_from_heatmap(xy_norm: np.ndarray, heatmap: np.ndarray,
                        kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """MediaPipe's heatmap refinement of normalised landmark positions.

    ``xy_norm`` (N, 2) in [0, 1] of the input; ``heatmap`` (H, W, N) logits. A point whose cell
    is inside the heatmap moves to the confidence-weighted mean cell of the ``kernel`` x
    ``kernel`` window around it, if the window's peak confidence reaches ``min_confidence``. Cell
    indices are divided by the size without a half-cell shift, as MediaPipe does.
    """
    height, width, count = heatmap.shape
    col = np.trunc(xy_norm[:, 0] * width).astype(np.int64)  # C++ int(): toward zero
    row = np.trunc(xy_norm[:, 1] * height).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    half = (kernel - 1) // 2
    steps = np.arange(-half, half + 1)
    cols = col[:, None] + steps[None, :]  # (N, k)
    rows = row[:, None] + steps[None, :]
    col_ok = (cols >= 0) & (cols < width)
    row_ok = (rows >= 0) & (rows < height)
    channel = np.arange(count)[:, None, None]
    conf = _sigmoid(heatmap[np.clip(rows, 0, height - 1)[:, :, None],
                            np.clip(cols, 0, width - 1)[:, None, :], channel].astype(np.float64))
    conf = conf * (row_ok[:, :, None] & col_ok[:, None, :])  # (N, k, k)
    total = conf.sum(axis=(1, 2))
    peak = conf.max(axis=(1, 2))
    refine = inside & (peak >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    mean_col = (conf * cols[:, None, :]).sum(axis=(1, 2)) / safe / width
    mean_row = (conf * rows[:, :, None]).sum(axis=(1, 2)) / safe / height
    out = xy_norm.astype(np.float64).copy()
    out[refine, 0] = mean_col[refine]
    out[refine, 1] = mean_row[refine]
    return out


def crop_input(frame_bgr: np.ndarray, roi: Roi) -> np.ndarray:
    """The (256, 256, 3) float32 RGB network input for ``roi`` of a BGR frame, in [0, 1].

    Bilinear resampling in 8 bits, replicated border, then scaled to [0, 1], as MediaPipe's CPU
    ``ImageToTensorCalculator`` does (so the numbers match it, not just the geometry)."""
    import cv2

    if not roi.size > 0:
        raise ValueError(f"ROI size must be positive, got {roi}")
    patch = cv2.warpAffine(frame_bgr, roi.input_to_image(), (INPUT_SIZE, INPUT_SIZE),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    return patch[:, :, ::-1].astype(np.float32) * np.float32(1.0 / 255.0)


class RoiLandmarker:
    """Run the BlazePose landmark network on person ROIs of BGR frames (onnxruntime, CPU).

    Args:
        model_path: the ONNX file; default the one shipped in ``detection/assets``.
        num_threads: onnxruntime intra-op threads. Two by default: the backend shares a small
            CPU with the person detector and the rest of the pipeline.
    """

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 2) -> None:
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        if not self.model_path.is_file():
            raise LandmarkModelError(
                f"The pose landmark model {self.model_path} is missing; restore it from the "
                "repository or rebuild it with tools/convert_landmark_model.py.")
        try:
            self._session = cpu_session(self.model_path, num_threads)
        except Exception as exc:
            raise LandmarkModelError(
                f"The pose landmark model {self.model_path} cannot be loaded ({exc}); restore it "
                "from the repository or rebuild it with tools/convert_landmark_model.py.") from exc
        names_in = [i.name for i in self._session.get_inputs()]
        names_out = [o.name for o in self._session.get_outputs()]
        if names_in != [_INPUT_NAME] or not set(_OUTPUTS) <= set(names_out):
            raise LandmarkModelError(
                f"The pose landmark model {self.model_path} has inputs {names_in} and outputs "
                f"{names_out}, not the ones tools/convert_landmark_model.py writes; rebuild it.")
        self._lock = threading.Lock()

    def landmarks(self, frame_bgr: np.ndarray, roi: Roi) -> LandmarkResult:
        """Landmarks of the person in ``roi`` of an (H, W, 3) uint8 BGR frame."""
        return self.landmarks_many(frame_bgr, [roi])[0]

    def landmarks_many(self, frame_bgr: np.ndarray, rois: Sequence[Roi]) -> list[LandmarkResult]:
        """Landmarks for several ROIs of one frame, in one batched network call (same results
        as one call per ROI; one lock, one allocation)."""
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.shape} "
                             f"{frame.dtype}")
        if not rois:
            return []
        return self.landmarks_from_inputs(np.stack([crop_input(frame, roi) for roi in rois]),
                                          rois)

    def landmarks_from_inputs(self, batch: np.ndarray, rois: Sequence[Roi]) -> list[LandmarkResult]:
        """Landmarks from network inputs already cropped (:func:`crop_input`) for ``rois`` and
        perhaps edited (the other people painted over, :mod:`.masking`); ``batch`` is
        (N, 256, 256, 3) float32 RGB in [0, 1]."""
        if len(batch) != len(rois):
            raise ValueError(f"{len(batch)} inputs for {len(rois)} regions")
        if not rois:
            return []
        with self._lock:  # onnxruntime is thread-safe, but two runs would oversubscribe the CPU
            outputs = self._session.run(list(_OUTPUTS), {_INPUT_NAME: batch})
        raw, flags, heatmaps, worlds = outputs
        return [self._decode(raw[i], float(flags[i, 0]), heatmaps[i], worlds[i], roi)
                for i, roi in enumerate(rois)]

    @staticmethod
    def _decode(raw: np.ndarray, flag: float, heatmap: np.ndarray, world: np.ndarray,
                roi: Roi) -> LandmarkResult:
        points = raw.reshape(NUM_MODEL_LANDMARKS, 5).astype(np.float64)
        xy_norm = refine_from_heatmap(points[:, :2] / INPUT_SIZE, heatmap)
        matrix = roi.input_to_image()
        xy = (xy_norm * INPUT_SIZE) @ matrix[:, :2].T + matrix[:, 2]
        landmarks = np.empty((NUM_LANDMARKS, 3), dtype=np.float32)
        landmarks[:, :2] = xy[:NUM_LANDMARKS]
        landmarks[:, 2] = _sigmoid(points[:NUM_LANDMARKS, 3])
        w = world.reshape(NUM_MODEL_LANDMARKS, 3)[:NUM_LANDMARKS].astype(np.float64)
        c, s = math.cos(roi.rotation), math.sin(roi.rotation)
        world_out = np.stack([c * w[:, 0] - s * w[:, 1], s * w[:, 0] + c * w[:, 1], w[:, 2]],
                             axis=1).astype(np.float32)
        auxiliary = xy[[HIP_CENTRE, ALIGNMENT_END]]
        return LandmarkResult(
            landmarks_px=landmarks,
            world_landmarks=world_out,
            presence=flag,
            roi=roi,
            next_roi=roi_from_landmarks(auxiliary),
            auxiliary_px=auxiliary.astype(np.float32),
        )
