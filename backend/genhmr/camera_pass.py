"""The camera's motion read during the detection pass, from the frames it decodes anyway.

Why: a job used to decode its clip twice, once to detect people and once more to follow the
background for the camera's turns (3-4 ms of CPU per HD frame, 0.6-1.7 s on the benchmark
clips). :class:`CameraFollower` is handed every frame by ``perception.detect_frames``
(``on_final``) once no backfill walk can add a person to it any more, and follows the
background there (:class:`genhmr.camera_motion.CameraTracker`), keeping the few grey frames the
background's vertical lines will look at (:func:`genhmr.vertical_lines.line_rows`).

People are kept out of the background by every box the detector gave the frame. The tracks made
afterwards keep a subset of those (tracking drops short-lived ghosts, never adds a box), so the
background can only lose points the tracks' boxes would have left in: on a fixed camera (every
benchmark clip) the reading is the one the second pass gave.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .camera_motion import CameraMotion, CameraTracker
from .vertical_lines import line_rows

if TYPE_CHECKING:
    from .tracking import FrameDetections


@dataclasses.dataclass
class CameraReading:
    """What the detection pass read of the camera: ``motion`` over its frames, seen through
    ``K`` (the lens the job was told, ``known_focal_px``, or the default guess when that is
    None), and the grey frames (job row -> frame) kept for the vertical lines."""

    motion: CameraMotion
    K: np.ndarray
    known_focal_px: float | None
    line_frames: dict[int, np.ndarray]

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames


class CameraFollower:
    """Follows the camera through a clip's frames: called as a detection pass's ``on_final``
    (every box the detector gave a frame masked), or fed with :meth:`add` (the job's second
    pass over the video, ``pipeline._read_camera``, with the tracks' boxes).

    Args:
        K: the first frame's intrinsics, as the solve will use them.
        expected_frames: how many frames the pass should give (the job's range); picks the
            vertical lines' frames. When the clip ends elsewhere, the lines read their frames
            from the video again (``vertical_lines.background_lines``).
        known_focal_px: the lens ``K`` was made with when the job was told it (the artist's or
            the file's), None for the default guess; handed on in the reading, so that the
            solve neither looks it up again nor lets the turns override it."""

    def __init__(self, K: np.ndarray, expected_frames: int,
                 known_focal_px: float | None = None) -> None:
        self.K = np.asarray(K, dtype=np.float64)
        self.known_focal_px = known_focal_px
        self._tracker = CameraTracker(self.K)
        self._wanted = set(line_rows(max(int(expected_frames), 0)).tolist())
        self._line_frames: dict[int, np.ndarray] = {}
        self.seconds = 0.0  # CPU-bound time spent here, for the job's "camera" stage

    @property
    def num_frames(self) -> int:
        return self._tracker.num_frames

    def __call__(self, detections: FrameDetections, frame: np.ndarray) -> None:
        self.add(frame, np.array([p.box for p in detections.people], np.float64))

    def add(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        """The next frame (BGR or grey) and the boxes (N, 4) of the people to keep out."""
        t = time.perf_counter()
        row = self._tracker.num_frames
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if row in self._wanted:
            self._line_frames[row] = gray
        self._tracker.add(gray, np.asarray(boxes, np.float64).reshape(-1, 4))
        self.seconds += time.perf_counter() - t

    def reading(self) -> CameraReading | None:
        """The reading of every frame given, or None when none was."""
        if self._tracker.num_frames == 0:
            return None
        return CameraReading(self._tracker.motion(), self.K, self.known_focal_px,
                             self._line_frames)
