"""Multi-person 2D keypoints + 3D landmarks with MediaPipe's PoseLandmarker, offline, on CPU.

Why this design:

* The Tasks-API ``PoseLandmarker`` finds several people per image (the legacy ``solutions.pose``
  finds one); its model bundle is built offline from the tflite files inside the mediapipe wheel
  (:mod:`genhmr.detection.task_bundle`).
* Its BlazePose detector sees the image letterboxed into 224x224 px and misses people that end up
  small in that input: pedestrians ~100 px tall in SD video, and even a 400-px person in a wide
  1768x994 frame. So after a full-frame pass we run the same landmarker on square tiles
  (:mod:`genhmr.detection.tiling`), map the landmarks back to full-frame pixels, and merge the
  duplicates.
* ``tiling="auto"`` scans every tile level only on *scan* frames (the first frame, every
  ``rescan_every``-th frame, and any frame that does not directly follow the previous call); on
  the frames between, it runs the full frame plus one square crop around each person found in the
  previous frame (the "follow" crops, as MediaPipe's own video tracking does). A crop centred on
  a person gives steadier landmarks than a fixed tile that may cut them, and costs one call per
  person instead of a whole grid. When a followed person is not found again (the crop's
  detector is flaky on people ~70 px tall), that same frame is scanned at once; people entering
  small are found at the next scan frame, within ``rescan_every`` frames (the tracker bridges
  that gap). On vtest.avi this finds more people per frame than "on" for about half the calls.
  An earlier policy ("skip the finer levels once one large person is found") missed everybody
  else as soon as one person came close to the camera (vtest.avi frame 594, and the jumper of
  demo.mp4 while the walker crosses, frames ~110-180).
* One landmarker in IMAGE mode serves the full frame and every tile. VIDEO mode would need one
  instance (and its memory) per tile position, and on this CPU it was *slower* (its detector
  still runs every frame while fewer than ``num_poses`` people are tracked, and tracking then
  adds landmark passes) and it returned the same person twice on some frames. Measurements:
  docs/detection.md.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Literal, Self

import cv2
import numpy as np

from genhmr.boxes import landmark_box
from genhmr.detection.task_bundle import ensure_task_bundle
from genhmr.detection.tiling import Tile, merge_duplicates, plan_tiles

NUM_LANDMARKS = 33
# BlazePose topology indices used here (the same order as MediaPipe's PoseLandmark enum).
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
TORSO = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)


def torso_score(landmarks: np.ndarray) -> np.ndarray | float:
    """Mean visibility of the shoulders and hips: a detection's person score. ``landmarks``
    is (..., 33, 3); returns (...) (a float for one person)."""
    score = np.asarray(landmarks)[..., list(TORSO), 2].mean(axis=-1)
    return float(score) if np.ndim(score) == 0 else score

TilingMode = Literal["off", "on", "auto"]


@dataclasses.dataclass(frozen=True, eq=False)
class PersonDetection:
    """One person in one frame.

    Attributes:
        landmarks_px: (33, 3) float32 - x, y in pixels of the full frame (may lie outside it for
            body parts the model extrapolates), and a confidence in [0, 1]: MediaPipe's
            *visibility* (likelihood the point is in the frame and not occluded), which is what
            a reprojection loss should weight by. MediaPipe's *presence* only says whether the
            point is inside the image, so it stays high for occluded limbs.
        world_landmarks: (33, 3) float32 - MediaPipe world landmarks, metres, origin between the
            hips. Axes follow the image: +x toward image right, +y down, +z away from the camera
            (the nose of a person facing the camera has negative z).
        box: (4,) float32 x0, y0, x1, y1 in pixels: the landmarks' extent, padded by 10% of its
            height on every side, clipped to the frame.
        score: mean visibility of the two shoulders and two hips.
        source: which pass found it: "full", "coarse" or "fine" (for diagnostics).
        alignment_px: (2, 2) float32 or None - the landmark model's two alignment points (hip
            centre, and the point that sets the body's size and tilt) in frame pixels, from
            which the person's region in a neighbouring frame is built; only detectors that run
            the landmark model themselves know them.
    """

    landmarks_px: np.ndarray
    world_landmarks: np.ndarray
    box: np.ndarray
    score: float
    source: str = "full"
    alignment_px: np.ndarray | None = None

    @property
    def height_px(self) -> float:
        """Height of the unpadded landmark extent in pixels."""
        return float(np.ptp(self.landmarks_px[:, 1]))


@dataclasses.dataclass
class _Candidate:
    landmarks_px: np.ndarray
    world: np.ndarray
    score: float
    rank: float  # score used to order duplicates: truncated tile detections rank lower
    source: str


class PoseDetector:
    """Detect every person in BGR frames; see the module docstring for the strategy.

    Args:
        task_path: PoseLandmarker bundle; default :func:`ensure_task_bundle` (built if missing).
        max_people: most people returned per frame (the best scores win). It is also the
            landmarker's ``num_poses`` per call.
        tiling: "off" (full frame only), "on" (every tile level on every frame) or "auto" (every
            level on scan frames, follow crops around last frame's people in between).
        min_detection_confidence: BlazePose detector score threshold.
        min_presence_confidence: landmark model "a person is in this crop" threshold; it is
            what rejects most false detections on textured tiles.
        min_score: drop people whose torso visibility (``score``) is below this.
        rescan_every: in "auto", frames between two full tile scans (1 = scan every frame).
        follow_max_step_ms: in "auto", a frame whose timestamp is more than this after the
            previous call's (or not after it) is a scan frame: the previous people are stale.
        follow_scale: follow crop side as a multiple of the person's (padded) box size.
        fine_fraction: fine tile side as a fraction of the frame's short side.
        fine_overlap: minimum overlap between neighbouring fine tiles (fraction of the side).
        nms_iou: box IoU above which two candidates are the same person.
    """

    def __init__(
        self,
        task_path: str | Path | None = None,
        max_people: int = 6,
        tiling: TilingMode = "auto",
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_score: float = 0.3,
        rescan_every: int = 15,
        follow_max_step_ms: int = 250,
        follow_scale: float = 1.3,
        fine_fraction: float = 0.5,
        fine_overlap: float = 0.33,
        nms_iou: float = 0.4,
    ) -> None:
        if tiling not in ("off", "on", "auto"):
            raise ValueError(f"tiling must be 'off', 'on' or 'auto', not {tiling!r}")
        if max_people < 1:
            raise ValueError("max_people must be >= 1")
        self.task_path = ensure_task_bundle(Path(task_path) if task_path is not None else None)
        self.max_people = int(max_people)
        self.tiling: TilingMode = tiling
        self.min_score = float(min_score)
        if rescan_every < 1:
            raise ValueError("rescan_every must be >= 1")
        self.rescan_every = int(rescan_every)
        self.follow_max_step_ms = int(follow_max_step_ms)
        self.follow_scale = float(follow_scale)
        self.fine_fraction = float(fine_fraction)
        self.fine_overlap = float(fine_overlap)
        self.nms_iou = float(nms_iou)
        self.last_timestamp_ms: int | None = None
        self.calls_last_frame = 0  # landmarker calls spent on the last frame (diagnostics)
        self.scanned_last_frame = False  # whether the last frame ran every tile level
        self._follow_boxes: list[np.ndarray] = []  # people of the previous call ("auto")
        self._since_scan = 0
        self._plans: dict[tuple[int, int], list[tuple[str, list[Tile]]]] = {}
        self._lock = threading.Lock()

        import mediapipe as mp  # heavy import, deferred so importing genhmr stays cheap
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.task_path)),
            running_mode=vision.RunningMode.IMAGE,
            num_poses=self.max_people,
            min_pose_detection_confidence=float(min_detection_confidence),
            min_pose_presence_confidence=float(min_presence_confidence),
        )
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except Exception as exc:
            raise RuntimeError(f"MediaPipe could not load the pose bundle {self.task_path}: "
                               f"{exc}. Delete it to have it rebuilt.") from exc

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Free the landmarker's native resources (graph, interpreter, buffers)."""
        landmarker = getattr(self, "_landmarker", None)
        if landmarker is not None:
            landmarker.close()
            self._landmarker = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- detection ---------------------------------------------------------------------------
    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int = 0) -> list[PersonDetection]:
        """All people in one frame, best score first.

        ``frame_bgr`` is an (H, W, 3) uint8 image as OpenCV decodes it. With ``tiling="auto"``
        the detector remembers the previous call's people and ``timestamp_ms``: feed frames in
        order with increasing timestamps to get the cheap follow crops; a frame out of order (a
        re-run range, a seek) simply gets a full scan, so no reset is ever needed.
        """
        if self._landmarker is None:
            raise RuntimeError("PoseDetector is closed")
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.shape} "
                             f"{frame.dtype}")
        height, width = frame.shape[:2]
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # 30x faster than a reversed copy
        timestamp_ms = int(timestamp_ms)
        with self._lock:  # a MediaPipe graph must not be fed from two threads at once
            previous_ms, self.last_timestamp_ms = self.last_timestamp_ms, timestamp_ms
            follows = (
                self.tiling == "auto"
                and previous_ms is not None
                and 0 < timestamp_ms - previous_ms <= self.follow_max_step_ms
                and self._since_scan + 1 < self.rescan_every
            )
            candidates = self._run(rgb, Tile(0, 0, width, height), "full", width, height)
            calls = 1
            scan = self.tiling != "off" and not follows
            if follows:
                for tile in self._follow_tiles(width, height):
                    candidates += self._run(rgb, tile, "follow", width, height)
                    calls += 1
                self._since_scan += 1
                # Someone followed was not found again (occluded, or the crop's detector missed
                # them): scan this frame at once rather than lose them until the next scan.
                scan = len(self._merge(candidates, width, height)) < len(self._follow_boxes)
            if scan:
                for name, level in self._plan(width, height):
                    for tile in level:
                        candidates += self._run(rgb, tile, name, width, height)
                        calls += 1
                self._since_scan = 0
            self.calls_last_frame = calls
            self.scanned_last_frame = scan
            people = self._merge(candidates, width, height)
            self._follow_boxes = [p.box for p in people]
        return people

    def _follow_tiles(self, width: int, height: int) -> list[Tile]:
        """Square crops centred on the previous frame's people, inside the frame."""
        tiles: list[Tile] = []
        short = min(width, height)
        for box in self._follow_boxes:
            x0, y0, x1, y1 = (float(v) for v in box)
            side = self.follow_scale * max(x1 - x0, y1 - y0)
            side = round(min(max(side, 96.0), short))
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            left = round(min(max(cx - side / 2, 0), width - side))
            top = round(min(max(cy - side / 2, 0), height - side))
            tile = Tile(left, top, left + side, top + side)
            if tile not in tiles and tile != (0, 0, width, height):
                tiles.append(tile)
        return tiles

    def _plan(self, width: int, height: int) -> list[tuple[str, list[Tile]]]:
        key = (width, height)
        if key not in self._plans:
            self._plans[key] = plan_tiles(width, height, fine_fraction=self.fine_fraction,
                                          fine_overlap=self.fine_overlap)
        return self._plans[key]

    def _run(self, rgb: np.ndarray, tile: Tile, source: str, width: int,
             height: int) -> list[_Candidate]:
        """Landmark one tile; return candidates in full-frame pixels."""
        crop = rgb if tile == (0, 0, width, height) else np.ascontiguousarray(
            rgb[tile.y0:tile.y1, tile.x0:tile.x1])
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
        result = self._landmarker.detect(image)
        out: list[_Candidate] = []
        for pose, world in zip(result.pose_landmarks, result.pose_world_landmarks, strict=True):
            lm = np.array([(p.x, p.y, p.visibility if p.visibility is not None else 0.0)
                           for p in pose], dtype=np.float32)
            lm[:, 0] = lm[:, 0] * tile.width + tile.x0
            lm[:, 1] = lm[:, 1] * tile.height + tile.y0
            lm[:, 2] = np.clip(lm[:, 2], 0.0, 1.0)
            wl = np.array([(p.x, p.y, p.z) for p in world], dtype=np.float32)
            score = torso_score(lm)
            # Prefer views where the person fills more of the model's input (more pixels per
            # limb, steadier landmarks) and that do not cut the person at a tile edge.
            fill = min(float(np.ptp(lm[:, 1])) / max(tile.width, tile.height), 1.0)
            rank = score + 0.2 * fill - 0.5 * self._truncation(lm, tile, width, height)
            out.append(_Candidate(lm, wl, score, rank, source))
        return out

    @staticmethod
    def _truncation(lm: np.ndarray, tile: Tile, width: int, height: int) -> float:
        """Fraction of confident landmarks beyond a tile edge that is not a frame edge.

        Such a detection saw only part of the person (the rest is extrapolated), so when a
        better view of the same person exists elsewhere, that one should win the merge."""
        confident = lm[lm[:, 2] >= 0.5]
        if len(confident) == 0:
            return 1.0
        margin = 0.02 * max(tile.width, tile.height)
        x, y = confident[:, 0], confident[:, 1]
        cut = np.zeros(len(confident), dtype=bool)
        if tile.x0 > 0:
            cut |= x < tile.x0 + margin
        if tile.y0 > 0:
            cut |= y < tile.y0 + margin
        if tile.x1 < width:
            cut |= x > tile.x1 - margin
        if tile.y1 < height:
            cut |= y > tile.y1 - margin
        return float(cut.mean())

    def _merge(self, candidates: list[_Candidate], width: int,
               height: int) -> list[PersonDetection]:
        candidates = [c for c in candidates if c.score >= self.min_score]
        if not candidates:
            return []
        boxes = np.stack([landmark_box(c.landmarks_px, width, height, 0.1) for c in candidates])
        keep = merge_duplicates(
            boxes,
            np.array([c.rank for c in candidates]),
            np.stack([c.landmarks_px for c in candidates]),
            iou_threshold=self.nms_iou,
            max_keep=self.max_people,
        )
        people = [
            PersonDetection(
                landmarks_px=candidates[i].landmarks_px,
                world_landmarks=candidates[i].world,
                box=boxes[i],
                score=candidates[i].score,
                source=candidates[i].source,
            )
            for i in keep
        ]
        people.sort(key=lambda p: -p.score)
        return people
