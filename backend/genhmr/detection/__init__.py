"""Person detection: every person in a frame, with BlazePose landmarks, offline on CPU.

The default detector is :class:`PersonPoseDetector` (person boxes and BlazePose's own detector,
:class:`BlazePoseDetector`, then the BlazePose landmark model in each person's region, followed
from frame to frame); :class:`PoseDetector` is MediaPipe's own multi-person landmarker on tiles
(the previous default, kept for comparisons). Importing this package is cheap: onnxruntime and
mediapipe are imported when a detector is made.
"""

from genhmr.detection.blazepose_detector import BlazePoseDetector, BodyDetection
from genhmr.detection.landmark_model import LandmarkResult, Roi, RoiLandmarker
from genhmr.detection.mediapipe_detector import NUM_LANDMARKS, PersonDetection, PoseDetector
from genhmr.detection.person_boxes import PersonBoxDetector
from genhmr.detection.person_pose_detector import PersonPoseDetector
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
    "BlazePoseDetector",
    "BodyDetection",
    "LandmarkResult",
    "PersonBoxDetector",
    "PersonDetection",
    "PersonPoseDetector",
    "PoseDetector",
    "Roi",
    "RoiLandmarker",
    "Tile",
    "build_task_bundle",
    "default_task_path",
    "ensure_task_bundle",
    "merge_duplicates",
    "plan_tiles",
]
