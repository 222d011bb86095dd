"""Resampling clips in time: to the training frame rate, and faster or slower (augmentation).

Rotations are interpolated with slerp per joint (never Euler angles), positions linearly.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

TARGET_FPS = 30.0


def sample_times(num_frames: int, fps: float, fps_out: float, speed: float = 1.0) -> np.ndarray:
    """Source-time stamps (s) of the output frames: ``speed`` > 1 plays the motion faster."""
    duration = (num_frames - 1) / fps
    count = int(np.floor(duration / speed * fps_out + 1e-6)) + 1
    return np.arange(count) * speed / fps_out


def resample_rotations(rotations: np.ndarray, times_in: np.ndarray,
                       times_out: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) sampled at ``times_in`` -> (T', J, 3, 3) at ``times_out`` (clamped)."""
    times_out = np.clip(times_out, times_in[0], times_in[-1])
    frames, joints = rotations.shape[:2]
    if frames == 1:
        return np.repeat(rotations, len(times_out), axis=0)
    out = np.empty((len(times_out), joints, 3, 3))
    for j in range(joints):
        out[:, j] = Slerp(times_in, Rotation.from_matrix(rotations[:, j]))(times_out).as_matrix()
    return out


def resample_positions(positions: np.ndarray, times_in: np.ndarray,
                       times_out: np.ndarray) -> np.ndarray:
    flat = positions.reshape(len(times_in), -1)
    out = np.stack([np.interp(times_out, times_in, flat[:, k]) for k in range(flat.shape[1])],
                   axis=1)
    return out.reshape((len(times_out),) + positions.shape[1:])


def resample(rotations: np.ndarray, root_position: np.ndarray, fps: float,
             fps_out: float = TARGET_FPS, speed: float = 1.0,
             times_in: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rotations and root positions at ``fps_out`` (source frames at ``times_in`` if uneven)."""
    if times_in is None:
        times_in = np.arange(rotations.shape[0]) / fps
        times_out = sample_times(rotations.shape[0], fps, fps_out, speed)
    else:
        duration = times_in[-1] - times_in[0]
        times_out = times_in[0] + np.arange(int(np.floor(duration / speed * fps_out + 1e-6)) + 1
                                            ) * speed / fps_out
    return (resample_rotations(rotations, times_in, times_out),
            resample_positions(root_position, times_in, times_out))
