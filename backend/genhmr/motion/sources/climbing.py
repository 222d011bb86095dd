"""Climbing sequences shipped with ``holosoma-retargeting==0.1.0`` (Apache-2.0 per its metadata).

Five motion-capture sequences (climbing up and down boxes, one crawl up a ramp), stored as
float32 (T, 53, 3) world joint *positions* in metres, Z up, at 120 Hz (inferred: not stored).
Joint order is the package's ``MOCAP_DEMO_JOINTS`` (below). Rotations are solved from positions
(:func:`~genhmr.motion.retarget.rotations_from_positions`): head yaw, foot roll and toes cannot
be recovered and are marked not animated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..clip import MotionClip
from ..resample import TARGET_FPS
from .common import clip_from_positions

LICENSE = "holosoma-retargeting 0.1.0 demo data (Apache-2.0)"
SOURCE_FPS = 120.0
NUM_SEQUENCES = 5
AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Z up -> Y up

_FINGERS = [f"{f}{k}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3)]
MOCAP_JOINTS: tuple[str, ...] = (
    "Hips", "Spine", "Spine1", "Neck", "Head",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", *(f"LeftHand{f}" for f in _FINGERS),
    "RightShoulder", "RightArm", "RightForeArm", "RightHand",
    *(f"RightHand{f}" for f in _FINGERS),
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "LeftFootMod", "RightFootMod",
)

# rotations_from_positions' point names -> mocap joint names ("%" = Left/Right).
POINTS = {"pelvis": "Hips", "spine": "Spine", "chest": "Spine1", "neck": "Neck", "head": "Head",
          "%_collar": "%Shoulder", "%_shoulder": "%Arm", "%_elbow": "%ForeArm",
          "%_wrist": "%Hand", "%_index1": "%HandIndex1", "%_pinky1": "%HandPinky1",
          "%_hip": "%UpLeg", "%_knee": "%Leg", "%_ankle": "%Foot", "%_foot": "%ToeBase"}


def sequence_clip(path: Path, name: str) -> MotionClip:
    data = np.load(path, allow_pickle=False)
    if data.ndim != 3 or data.shape[1:] != (len(MOCAP_JOINTS), 3):
        raise ValueError(f"{path}: expected (T, {len(MOCAP_JOINTS)}, 3) positions, "
                         f"got {data.shape}")
    step = round(SOURCE_FPS / TARGET_FPS)
    positions = data[::step].astype(np.float64) @ AXES.T
    points = {}
    for key, joint in POINTS.items():
        for side in (("left", "Left"), ("right", "Right")) if "%" in key else (("", ""),):
            points[key.replace("%", side[0])] = positions[:, MOCAP_JOINTS.index(
                joint.replace("%", side[1]))]
    return clip_from_positions(name, "climbing", LICENSE, points)


def load_climbing(folder: Path) -> list[MotionClip]:
    return [sequence_clip(folder / f"mocap_climb_seq_{i}.npy", f"climbing/seq_{i}")
            for i in range(NUM_SEQUENCES)]
