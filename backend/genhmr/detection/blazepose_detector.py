"""MediaPipe's BlazePose person *detector* on its own: where people are and how their bodies lie.

Why this exists: the person detector of :class:`~.person_pose_detector.PersonPoseDetector` misses
some people that BlazePose's own detector finds (on Pose2Sim cam03/cam04, the man seen close up
from above), so BlazePose is a second source of proposals. It used to be MediaPipe's whole
multi-person landmarker (Tasks API), run on the full frame: 21-33 ms of CPU per call and 1.2 s to
load, of which the proposals used only where each person is and how their body lies, since our
own landmark model is run in every person's region anyway. This module runs just the detector
network (``pose_detection.tflite`` from the mediapipe wheel, converted to ONNX by
``tools/convert_pose_detector.py``) with onnxruntime: 12-13 ms of CPU per call, no graph to load.

The steps around the network reimplement what MediaPipe's pose detector graph does
(``PoseDetectorGraph`` in mediapipe/tasks, ``pose_detection_cpu.pbtxt``), so its results are
MediaPipe's own:

* **Input**: the whole frame letterboxed into 224x224 (aspect kept, centred, black bars),
  bilinear, RGB scaled to [-1, 1].
* **Anchors** (``SsdAnchorsCalculator``): 5 layers with strides 8, 16, 32, 32, 32 over the
  224-px input, two anchors per cell and layer (aspect 1 and its interpolated scale), layers
  of equal stride merged: 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors, each centred on its cell,
  unit size (``fixed_anchor_size``).
* **Decoding** (``TensorsToDetectionsCalculator``, reversed x/y order): per anchor 12 values,
  a box (centre x, y, width, height) and 4 keypoints, in input pixels relative to the anchor
  centre; the score is the sigmoid of the clipped logit, kept from 0.5.
* **Weighted non-maximum suppression** (``NonMaxSuppressionCalculator``, WEIGHTED, IoU > 0.5):
  each kept detection is the score-weighted mean of the boxes and keypoints it suppresses.
* **Keypoints**: 0 is the hip centre and 1 a point whose distance from it is the radius of a
  circle around the whole body, its direction the body's "up" (2 and 3 do the same for the
  upper body). Keypoints 0 and 1 are the *alignment points* from which MediaPipe builds the
  landmark model's region (:func:`~.landmark_model.roi_from_landmarks`), exactly as it does
  from the landmark model's own alignment points when following a person.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import numpy as np

from genhmr.boxes import box_iou
from genhmr.detection.landmark_model import Roi, roi_from_landmarks
from genhmr.detection.onnx_session import cpu_session

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "assets" / "pose_detection.onnx"
INPUT_SIZE = 224
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
NUM_ANCHORS = 2254
NUM_KEYPOINTS = 4
SCORE_CLIP = 100.0  # logits are clipped to +-this before the sigmoid, as MediaPipe does
_INPUT_NAME = "image"
_OUTPUTS = ("boxes", "scores")


class PoseDetectorModelError(RuntimeError):
    """The pose detector model file is missing or cannot be loaded."""


@dataclasses.dataclass(frozen=True, eq=False)
class BodyDetection:
    """One person found by the BlazePose detector, in frame pixels.

    Attributes:
        score: the detector's confidence in [0, 1].
        box: (4,) float64 x0, y0, x1, y1 of the detector's own box, a square around the head
            and shoulders (the detector is anchored on faces); not clipped to the frame.
        keypoints: (4, 2) float64 - hip centre, full-body alignment point, upper-body centre,
            upper-body alignment point.
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray

    @property
    def alignment_px(self) -> np.ndarray:
        """(2, 2) the hip centre and the full-body alignment point (what the landmark model's
        region is built from)."""
        return self.keypoints[:2]

    def roi(self) -> Roi:
        """The landmark model's region for this person, as MediaPipe builds it."""
        return roi_from_landmarks(self.alignment_px)


def ssd_anchors(input_size: int = INPUT_SIZE,
                strides: tuple[int, ...] = ANCHOR_STRIDES) -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1] of the input, in the network's output order.

    Consecutive layers with the same stride share one grid; each layer puts two anchors on every
    cell of it (with ``fixed_anchor_size`` their sizes do not matter: all are 1)."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells,
                             indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, 2 * same, axis=0))
        layer += same
    return np.concatenate(centres)


def letterbox_matrix(width: int, height: int, input_size: int = INPUT_SIZE) -> np.ndarray:
    """(2, 3) affine map from input pixels (0..input_size) to frame pixels: the frame's longer
    side fills the input, centred, corners onto corners (MediaPipe's keep-aspect crop)."""
    side = float(max(width, height))
    scale = side / input_size
    return np.array([[scale, 0.0, (width - side) / 2.0],
                     [0.0, scale, (height - side) / 2.0]])


def network_input(frame_bgr: np.ndarray, input_size: int = INPUT_SIZE) -> np.ndarray:
    """The (1, 224, 224, 3) float32 RGB input in [-1, 1] for a BGR frame (black bars)."""
    height, width = frame_bgr.shape[:2]
    patch = cv2.warpAffine(frame_bgr, letterbox_matrix(width, height, input_size),
                           (input_size, input_size),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    rgb = patch[:, :, ::-1].astype(np.float32)
    return ((rgb - np.float32(127.5)) * np.float32(1.0 / 127.5))[None]


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
           min_score: float, input_size: int = INPUT_SIZE
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections scoring at least ``min_score``: scores (N,), boxes (N, 4) x0, y0, x1, y1
    and keypoints (N, 4, 2), in [0, 1] of the input.

    ``raw_boxes`` (2254, 12): centre x, y, width, height, then 4 x (x, y), in input pixels
    relative to the anchor centre; ``raw_scores`` (2254,) logits."""
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw = np.asarray(raw_boxes, np.float64).reshape(-1, 4 + 2 * NUM_KEYPOINTS)[keep] / input_size
    centre = anchors[keep]
    box_centre = raw[:, :2] + centre
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([box_centre - half, box_centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + centre[:, None, :]
    return scores[keep], boxes, keypoints


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: best score first, every remaining
    detection overlapping it with IoU > ``iou_threshold`` (itself included) is merged into it,
    box corners and keypoints averaged with the scores as weights; the merged detection keeps
    the best score. Many anchors fire on one person, and their mean is steadier than any one."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out_scores, out_boxes, out_keypoints = [], [], []
    while len(remaining):
        best = remaining[0]
        overlap = box_iou(boxes[best], boxes[remaining])[0] > iou_threshold
        overlap[0] = True  # the best box always merges with itself (even when empty)
        members = remaining[overlap]
        weights = scores[members]
        out_scores.append(scores[best])
        out_boxes.append((boxes[members] * weights[:, None]).sum(axis=0) / weights.sum())
        out_keypoints.append((keypoints[members] * weights[:, None, None]).sum(axis=0)
                             / weights.sum())
        remaining = remaining[~overlap]
    if not out_scores:
        return (np.zeros(0), np.zeros((0, 4)), np.zeros((0, NUM_KEYPOINTS, 2)))
    return np.array(out_scores), np.stack(out_boxes), np.stack(out_keypoints)


class BlazePoseDetector:
    """Find people with MediaPipe's BlazePose detector network (onnxruntime, CPU).

    Args:
        model_path: the ONNX file; default the one shipped in ``detection/assets``.
        min_score: detection score threshold (MediaPipe's ``min_pose_detection_confidence``).
        iou_threshold: weighted-NMS overlap above which two detections are one person
            (MediaPipe's ``min_suppression_threshold``).
        max_people: most detections returned, best score first.
        num_threads: onnxruntime intra-op threads.
    """

    def __init__(self, model_path: str | Path | None = None, min_score: float = 0.5,
                 iou_threshold: float = 0.5, max_people: int = 6, num_threads: int = 2) -> None:
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        self.max_people = int(max_people)
        rebuild = "restore it from the repository or rebuild it with " \
                  "tools/convert_pose_detector.py"
        if not self.model_path.is_file():
            raise PoseDetectorModelError(
                f"The pose detector model {self.model_path} is missing; {rebuild}.")
        try:
            self._session = cpu_session(self.model_path, num_threads)
        except Exception as exc:
            raise PoseDetectorModelError(
                f"The pose detector model {self.model_path} cannot be loaded ({exc}); "
                f"{rebuild}.") from exc
        names_in = [i.name for i in self._session.get_inputs()]
        names_out = [o.name for o in self._session.get_outputs()]
        if names_in != [_INPUT_NAME] or list(_OUTPUTS) != names_out:
            raise PoseDetectorModelError(
                f"The pose detector model {self.model_path} has inputs {names_in} and outputs "
                f"{names_out}, not the ones tools/convert_pose_detector.py writes; {rebuild}.")
        self._anchors = ssd_anchors()
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray) -> list[BodyDetection]:
        """Everybody the detector finds in an (H, W, 3) uint8 BGR frame, best score first."""
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.shape} "
                             f"{frame.dtype}")
        height, width = frame.shape[:2]
        with self._lock:  # onnxruntime is thread-safe, but two runs would oversubscribe the CPU
            raw_boxes, raw_scores = self._session.run(list(_OUTPUTS),
                                                      {_INPUT_NAME: network_input(frame)})
        scores, boxes, keypoints = weighted_nms(
            *decode(raw_boxes[0], raw_scores[0], self._anchors, self.min_score),
            self.iou_threshold)
        matrix = letterbox_matrix(width, height)
        linear, offset = matrix[:, :2] * INPUT_SIZE, matrix[:, 2]  # [0, 1] of the input -> px

        def to_frame(points: np.ndarray) -> np.ndarray:
            return points @ linear.T + offset

        return [BodyDetection(float(s), to_frame(b.reshape(2, 2)).reshape(4), to_frame(k))
                for s, b, k in zip(scores[:self.max_people], boxes, keypoints, strict=False)]
