"""Person detection: multi-person 2D keypoints and 3D landmarks from MediaPipe, offline on CPU.

Importing this package is cheap; mediapipe is imported when a :class:`PoseDetector` is made.
"""

from genhmr.detection.mediapipe_detector import NUM_LANDMARKS, PersonDetection, PoseDetector
from genhmr.detection.task_bundle import (
    BUNDLE_NAME,
    build_task_bundle,
    default_task_path,
    ensure_task_bundle,
)
from genhmr.detection.tiling import Tile, merge_duplicates, plan_tiles

__all__ = [
    "BUNDLE_NAME",
    "NUM_LANDMARKS",
    "PersonDetection",
    "PoseDetector",
    "Tile",
    "build_task_bundle",
    "default_task_path",
    "ensure_task_bundle",
    "merge_duplicates",
    "plan_tiles",
]
