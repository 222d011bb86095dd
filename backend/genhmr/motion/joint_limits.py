"""Anatomical joint limits for the 21 SMPL-X body joints, and a procedural pose sampler.

Each joint's local rotation is written as intrinsic Euler angles in an order chosen for that
joint so that its large motions are the first and last angles (full range) and the middle one
(±90° in any Euler decomposition) is small: knee flexion first; the elbow's twist first and
its flexion last (``XZY``). The shoulder, a ball joint whose arm-down pose sits on every Euler
order's singularity, is limited by swing and twist instead: the arm may point anywhere but
into the chest or far behind the back, and its twist stays within a range.

Ranges are generous adult ranges of motion (clinical goniometry: hip flexion to ~145° with the
knee bent, knee ~155°, elbow ~150°, forearm pro/supination ~90°, wrist flexion/extension
~80°) in SMPL-X's T-pose axes; the right side mirrors the left. The elbow's middle angle
allows ±40°: retargeted elbows carry some off-hinge rotation (the two sides' rest corrections
differ), and the data is the reference. The registry motion lies within the limits for most
frames of every joint (``tests/backend/test_motion_data.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .clip import NUM_POSE_JOINTS
from .retarget import POSE_JOINT_NAMES, rotation_between


@dataclass(frozen=True)
class JointLimit:
    order: str  # intrinsic Euler order (scipy upper case)
    low: tuple[float, float, float]  # degrees, per angle in ``order``
    high: tuple[float, float, float]


def _mirror(limit: JointLimit) -> JointLimit:
    """The right side: mirroring x -> -x keeps angles about X and negates those about Y, Z."""
    low, high = [], []
    for axis, lo, hi in zip(limit.order, limit.low, limit.high, strict=True):
        if axis == "X":
            low.append(lo)
            high.append(hi)
        else:
            low.append(-hi)
            high.append(-lo)
    return JointLimit(limit.order, tuple(low), tuple(high))


_LEFT: dict[str, JointLimit] = {
    "hip": JointLimit("XZY", (-145.0, -30.0, -45.0), (30.0, 50.0, 45.0)),
    "knee": JointLimit("XYZ", (-2.0, -15.0, -10.0), (155.0, 25.0, 10.0)),
    "ankle": JointLimit("XYZ", (-55.0, -35.0, -35.0), (55.0, 35.0, 35.0)),
    "foot": JointLimit("XYZ", (-45.0, -15.0, -10.0), (50.0, 15.0, 10.0)),
    "collar": JointLimit("XYZ", (-15.0, -30.0, -20.0), (15.0, 20.0, 40.0)),
    "elbow": JointLimit("XZY", (-100.0, -40.0, -155.0), (100.0, 40.0, 5.0)),
    "wrist": JointLimit("ZYX", (-80.0, -40.0, -70.0), (80.0, 40.0, 70.0)),
}
_CENTRE: dict[str, JointLimit] = {
    "spine1": JointLimit("XYZ", (-25.0, -20.0, -20.0), (40.0, 20.0, 20.0)),
    "spine2": JointLimit("XYZ", (-20.0, -20.0, -20.0), (40.0, 20.0, 20.0)),
    "spine3": JointLimit("XYZ", (-20.0, -20.0, -20.0), (30.0, 20.0, 20.0)),
    "neck": JointLimit("XYZ", (-45.0, -50.0, -35.0), (45.0, 50.0, 35.0)),
    "head": JointLimit("XYZ", (-40.0, -50.0, -40.0), (60.0, 50.0, 50.0)),
}



@dataclass(frozen=True)
class SwingTwistLimit:
    """A ball joint: the bone direction (``axis`` at rest, in the parent's frame) may not come
    within ``medial_deg`` of pointing straight across the body (-axis) nor more than
    ``back_deg`` behind the frontal plane; twist about the bone stays in [low, high] deg."""

    axis: tuple[float, float, float]
    medial_deg: float
    back_deg: float
    twist_low: float
    twist_high: float


SHOULDER_LIMITS = {"left_shoulder": SwingTwistLimit((1.0, 0.0, 0.0), 35.0, 50.0, -100.0, 100.0),
                   "right_shoulder": SwingTwistLimit((-1.0, 0.0, 0.0), 35.0, 50.0, -100.0,
                                                     100.0)}

LIMITS: dict[str, JointLimit] = dict(_CENTRE)
for _name, _limit in _LEFT.items():
    LIMITS[f"left_{_name}"] = _limit
    LIMITS[f"right_{_name}"] = _mirror(_limit)
BODY_JOINTS = POSE_JOINT_NAMES[1:]
assert set(LIMITS) | set(SHOULDER_LIMITS) == set(BODY_JOINTS)


def swing_twist(rotations: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bone directions (N, 3) and twist angles (N,) in degrees about the bone."""
    direction = rotations @ axis
    swing = rotation_between(np.broadcast_to(axis, direction.shape), direction)
    twist = np.swapaxes(swing, -1, -2) @ rotations  # a rotation about ``axis``
    angle = Rotation.from_matrix(twist).as_rotvec() @ axis
    return direction, np.degrees(angle)


def _swing_ok(direction: np.ndarray, limit: SwingTwistLimit) -> np.ndarray:
    axis = np.asarray(limit.axis)
    medial = direction @ -axis < np.cos(np.radians(limit.medial_deg))
    back = direction[:, 2] > -np.sin(np.radians(limit.back_deg))
    return medial & back


def _shoulder_within(rotations: np.ndarray, limit: SwingTwistLimit,
                     tolerance_deg: float) -> np.ndarray:
    direction, twist = swing_twist(rotations, np.asarray(limit.axis))
    return (_swing_ok(direction, limit) & (twist >= limit.twist_low - tolerance_deg)
            & (twist <= limit.twist_high + tolerance_deg))


def _sample_shoulder(count: int, rng: np.random.Generator, limit: SwingTwistLimit
                     ) -> np.ndarray:
    """Uniform directions on the allowed part of the sphere, uniform twist."""
    axis = np.asarray(limit.axis)
    out = np.empty((0, 3))
    while len(out) < count:
        d = rng.normal(size=(2 * count + 8, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        out = np.concatenate([out, d[_swing_ok(d, limit)]])
    direction = out[:count]
    twist = rng.uniform(limit.twist_low, limit.twist_high, count)
    swing = rotation_between(np.broadcast_to(axis, direction.shape), direction)
    return swing @ Rotation.from_rotvec(np.radians(twist)[:, None] * axis).as_matrix()


def to_angles(rotations: np.ndarray, joint: str) -> np.ndarray:
    """(N, 3, 3) local rotations of one joint -> (N, 3) degrees in its Euler order."""
    return Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_euler(
        LIMITS[joint].order, degrees=True)


def from_angles(angles: np.ndarray, joint: str) -> np.ndarray:
    return Rotation.from_euler(LIMITS[joint].order, angles, degrees=True).as_matrix()


def within_limits(body_pose: np.ndarray, tolerance_deg: float = 0.0) -> np.ndarray:
    """(N, 21) bool: whether each joint of each pose (N, 21, 3, 3) lies within its limits."""
    out = np.empty(body_pose.shape[:2], dtype=bool)
    for k, joint in enumerate(BODY_JOINTS):
        if joint in SHOULDER_LIMITS:
            out[:, k] = _shoulder_within(body_pose[:, k], SHOULDER_LIMITS[joint], tolerance_deg)
            continue
        a = to_angles(body_pose[:, k], joint)
        lim = LIMITS[joint]
        out[:, k] = ((a >= np.array(lim.low) - tolerance_deg)
                     & (a <= np.array(lim.high) + tolerance_deg)).all(axis=1)
    return out


def sample_poses(count: int, rng: np.random.Generator, data_poses: np.ndarray | None = None,
                 uniform_fraction: float = 0.5, noise_deg: float = 8.0) -> np.ndarray:
    """Procedural body poses (count, 21, 3, 3) within the joint limits.

    Each joint is drawn independently: with probability ``uniform_fraction`` uniformly within
    its limits, otherwise from the same joint of a random data pose (a different pose per
    joint) perturbed by ``noise_deg`` and clamped to the limits. The data part keeps each
    joint's real distribution while breaking the correlations of the few source clips; the
    uniform part reaches the corners of joint space no clip visits.
    """
    out = np.empty((count, NUM_POSE_JOINTS - 1, 3, 3))
    for k, joint in enumerate(BODY_JOINTS):
        if joint in SHOULDER_LIMITS:
            out[:, k] = _sample_shoulder(count, rng, SHOULDER_LIMITS[joint])
            if data_poses is not None and len(data_poses):
                use_data = np.flatnonzero(rng.random(count) >= uniform_fraction)
                picks = data_poses[rng.integers(0, len(data_poses), len(use_data)), k]
                noise = Rotation.from_rotvec(rng.normal(0.0, np.radians(noise_deg),
                                                        (len(use_data), 3))).as_matrix()
                noisy = picks @ noise
                ok = _shoulder_within(noisy, SHOULDER_LIMITS[joint], 0.0)
                out[use_data[ok], k] = noisy[ok]
            continue
        lim = LIMITS[joint]
        low, high = np.array(lim.low), np.array(lim.high)
        angles = rng.uniform(low, high, size=(count, 3))
        if data_poses is not None and len(data_poses):
            use_data = rng.random(count) >= uniform_fraction
            n = int(use_data.sum())
            picks = data_poses[rng.integers(0, len(data_poses), n), k]
            data_angles = to_angles(picks, joint) + rng.normal(0.0, noise_deg, size=(n, 3))
            angles[use_data] = np.clip(data_angles, low, high)
        out[:, k] = from_angles(angles, joint)
    return out
