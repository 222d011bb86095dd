"""Named surface keypoints and their correspondence with MediaPipe's 33 pose landmarks.

A keypoint is a point rigidly attached to one skeleton joint (an offset in the SMPL-X rest
frame, rotated with that joint). This is how a 2D detector's landmarks (nose, ears, heels, ...)
constrain a skeleton that has no such joints, and how the result file reports COCO-17 keypoints
for the recovered body.
"""

from __future__ import annotations

import numpy as np

from .skeleton import JOINT_INDEX

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# COCO-17 plus feet and hands: what MediaPipe gives beyond COCO and what foot locking needs.
EXTRA_NAMES: tuple[str, ...] = (
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    "left_index", "right_index", "left_pinky", "right_pinky",
)  # fmt: skip

KEYPOINT_NAMES: tuple[str, ...] = COCO17_NAMES + EXTRA_NAMES
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
KEYPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

# (joint, offset in the SMPL-X rest frame) for the subject's left side; the right mirrors x.
_LEFT_ATTACHMENTS: dict[str, tuple[str, tuple[float, float, float]]] = {
    "left_eye": ("head", (0.032, 0.045, 0.085)),
    "left_ear": ("head", (0.075, 0.03, -0.005)),
    "left_shoulder": ("left_shoulder", (0.0, 0.0, 0.0)),
    "left_elbow": ("left_elbow", (0.0, 0.0, 0.0)),
    "left_wrist": ("left_wrist", (0.0, 0.0, 0.0)),
    "left_hip": ("left_hip", (0.015, 0.0, 0.0)),
    "left_knee": ("left_knee", (0.0, 0.0, 0.0)),
    "left_ankle": ("left_ankle", (0.0, 0.0, 0.0)),
    "left_heel": ("left_ankle", (0.0, -0.055, -0.06)),
    "left_foot_index": ("left_foot", (0.005, -0.015, 0.075)),
    "left_index": ("left_wrist", (0.09, -0.005, 0.025)),
    "left_pinky": ("left_wrist", (0.078, -0.005, -0.038)),
}
_CENTRE_ATTACHMENTS: dict[str, tuple[str, tuple[float, float, float]]] = {
    "nose": ("head", (0.0, 0.02, 0.105)),
}


def keypoint_attachments() -> tuple[np.ndarray, np.ndarray]:
    """Joint index (K,) and rest-frame offset (K, 3) of every keypoint in KEYPOINT_NAMES."""
    joint = np.zeros(NUM_KEYPOINTS, dtype=np.int64)
    offset = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    table = dict(_CENTRE_ATTACHMENTS)
    for name, (jname, (x, y, z)) in _LEFT_ATTACHMENTS.items():
        table[name] = (jname, (x, y, z))
        table["right_" + name[5:]] = ("right_" + jname[5:] if jname.startswith("left_") else jname,
                                      (-x, y, z))
    for name, (jname, off) in table.items():
        k = KEYPOINT_INDEX[name]
        joint[k] = JOINT_INDEX[jname]
        offset[k] = off
    return joint, offset


# MediaPipe Pose's 33 landmarks (subject's left/right), in model output order.
MEDIAPIPE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

NUM_MEDIAPIPE = len(MEDIAPIPE_NAMES)


def mediapipe_to_keypoints_index() -> np.ndarray:
    """For each of our keypoints, the MediaPipe landmark index carrying it (all are covered)."""
    mp = {name: i for i, name in enumerate(MEDIAPIPE_NAMES)}
    return np.array([mp[name] for name in KEYPOINT_NAMES], dtype=np.int64)


# Bones drawn in previews (pairs of keypoint names).
PREVIEW_EDGES: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_ankle", "left_heel"), ("left_heel", "left_foot_index"),
    ("left_ankle", "left_foot_index"), ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"), ("right_ankle", "right_foot_index"),
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
)  # fmt: skip
