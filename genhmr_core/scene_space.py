"""From the backend's camera space to a Blender scene: axes, camera, bone rotations.

Conventions:

* Result files are in OpenCV camera space (x right, y down, z forward), each frame in the axes
  of the camera at that frame. When the camera turned, the result's ``camera_rotation[f]``
  (world-to-camera, world = the camera at the first frame) turns camera-``f`` points into the
  world frame (``R[f].T @ p``); without it every frame is already in the world frame.
* The Blender scene is Z-up. The generated camera sits at ``(0, 0, height)`` looking along +Y
  with a level horizon at the first frame (and turns with ``camera_rotation`` after it), so the
  world-frame OpenCV point ``(x, y, z)`` lands at ``(x, z, height - y)``. ``height`` is
  estimated so the people's feet rest on the ground plane z = 0.
* SMPL-X's model frame is Y-up facing +Z; armatures are built Z-up facing -Y (Blender's front
  view), i.e. ``(x, y, z) -> (x, -z, y)``.

Bone rest orientations come from Blender itself (``bone.matrix_local``), so these functions take
them as input and stay testable without Blender.
"""

from __future__ import annotations

import numpy as np

from .rotations import axis_angle_to_matrix, make_quaternions_continuous, matrix_to_quaternion
from .skeleton import NUM_BODY_JOINTS, NUM_JOINTS

CV_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
SMPLX_TO_ARMATURE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
CAMERA_EULER_XYZ = (np.pi / 2, 0.0, 0.0)
# OpenCV camera axes (x right, y down, z forward) -> Blender camera-local axes (y up, looking -z)
CV_TO_CAMERA_LOCAL = np.diag([1.0, -1.0, -1.0])
DEFAULT_SENSOR_WIDTH_MM = 36.0


def to_world_axes(points_cv: np.ndarray, camera_rotation: np.ndarray | None) -> np.ndarray:
    """Per-frame camera-space points (F, ..., 3) turned into the world frame (the camera at the
    first frame): ``camera_rotation[f].T @ p``; unchanged when ``camera_rotation`` is None."""
    points = np.asarray(points_cv, dtype=np.float64)
    if camera_rotation is None:
        return points
    rot = np.asarray(camera_rotation, dtype=np.float64)
    flat = points.reshape(points.shape[0], -1, 3)
    return np.einsum("fji,fnj->fni", rot, flat).reshape(points.shape)


def level_rotation(floor_normal: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation turning the world frame's floor normal (pointing up) onto the
    OpenCV up axis (0, -1, 0): the world frame made level with the floor."""
    n = np.asarray(floor_normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    up = np.array([0.0, -1.0, 0.0])
    axis = np.cross(n, up)
    s, c = float(np.linalg.norm(axis)), float(n @ up)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        return np.diag([1.0, -1.0, -1.0])  # upside down: half a turn about x
    k = axis / s
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    angle = np.arctan2(s, c)
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def scene_rotations(camera_rotation: np.ndarray | None, floor_normal: np.ndarray | None,
                    num_frames: int) -> np.ndarray | None:
    """Per-frame rotations (F, 3, 3) from the level world frame into each frame's camera, the
    ``camera_rotation`` argument of the functions below: the footage's camera rotation (world =
    the first frame's camera) after levelling the world with the floor. None when the camera
    neither turned nor is tilted against the floor (every frame is already level)."""
    level = np.eye(3) if floor_normal is None else level_rotation(floor_normal)
    if camera_rotation is None and np.allclose(level, np.eye(3), atol=1e-9):
        return None
    turn = (np.tile(np.eye(3), (num_frames, 1, 1)) if camera_rotation is None
            else np.asarray(camera_rotation, dtype=np.float64))
    return turn @ level.T


def camera_to_world(points_cv: np.ndarray, camera_height: float,
                    camera_rotation: np.ndarray | None = None) -> np.ndarray:
    """OpenCV camera-space points (..., 3) -> Blender world points (..., 3); with
    ``camera_rotation`` (F, 3, 3) the points are per frame (F, ..., 3), each in its own frame's
    camera axes."""
    out = to_world_axes(points_cv, camera_rotation) @ CV_TO_WORLD.T
    out[..., 2] += camera_height
    return out


def blender_camera_settings(camera_K: np.ndarray, image_size: tuple[int, int],
                            sensor_width_mm: float = DEFAULT_SENSOR_WIDTH_MM) -> dict[str, float]:
    """Lens, sensor and shift for a Blender camera reproducing the pinhole ``camera_K``.

    For a camera with ``sensor_fit = 'HORIZONTAL'``: the lens and Blender's shift are then both
    relative to the image width (with 'AUTO' fit they would be relative to the larger side,
    which differs for portrait video).
    """
    width, height = (int(v) for v in image_size)
    fx, cx, cy = float(camera_K[0, 0]), float(camera_K[0, 2]), float(camera_K[1, 2])
    big = float(width)
    return {
        "lens_mm": fx * sensor_width_mm / width,
        "sensor_width_mm": sensor_width_mm,
        "shift_x": (width / 2.0 - cx) / big,
        "shift_y": (cy - height / 2.0) / big,
    }


def blender_lens_mm(focal_px: np.ndarray, image_size: tuple[int, int],
                    sensor_width_mm: float = DEFAULT_SENSOR_WIDTH_MM) -> np.ndarray:
    """Blender lens (mm, ``sensor_fit = 'HORIZONTAL'``) of focal lengths in pixels (any shape),
    as :func:`blender_camera_settings` sets it: what a zooming lens is keyed with per frame.
    The shift does not change with the lens (it is relative to the width), so the principal
    point, and the footage behind the camera, stay where they are."""
    return np.asarray(focal_px, dtype=np.float64) * sensor_width_mm / float(image_size[0])


def rest_joints_in_armature(rest_joints: np.ndarray) -> np.ndarray:
    """SMPL-X-frame rest joints (J, 3) -> armature-space bone heads (J, 3)."""
    return np.asarray(rest_joints, dtype=np.float64) @ SMPLX_TO_ARMATURE.T


def camera_quaternions(camera_rotation: np.ndarray) -> np.ndarray:
    """(F, 4) (w, x, y, z) world rotations of the Blender camera for a result's
    ``camera_rotation`` (F, 3, 3): camera-local axes -> OpenCV camera axes -> world frame ->
    Blender world. At the identity this is :data:`CAMERA_EULER_XYZ` (looking along +Y).
    Continuous over time, so the F-curves interpolate the short way."""
    rot = np.asarray(camera_rotation, dtype=np.float64)
    matrices = CV_TO_WORLD @ np.swapaxes(rot, -1, -2) @ CV_TO_CAMERA_LOCAL
    return make_quaternions_continuous(matrix_to_quaternion(matrices), axis=0)


def bone_quaternions(global_orient: np.ndarray, body_pose: np.ndarray,
                     bone_rest: np.ndarray,
                     camera_rotation: np.ndarray | None = None) -> np.ndarray:
    """Pose-bone rotations (F, J, 4) (w, x, y, z) for keyframing an armature at the world origin.

    global_orient (F, 3) and body_pose (F, 21, 3) are SMPL-X axis-angles in camera space (turned
    into the world frame by ``camera_rotation`` (F, 3, 3) when the camera turned);
    bone_rest (J, 3, 3) is each bone's rest orientation in armature space (Blender's
    ``bone.matrix_local.to_3x3()``). Joints beyond the body (hands, jaw, eyes) stay at rest.
    The quaternions are made continuous over time so f-curves interpolate the short way.
    """
    go = axis_angle_to_matrix(global_orient)  # (F, 3, 3)
    local = np.broadcast_to(np.eye(3), (go.shape[0], NUM_JOINTS, 3, 3)).copy()
    local[:, 1:1 + NUM_BODY_JOINTS] = axis_angle_to_matrix(body_pose)
    p = SMPLX_TO_ARMATURE
    # Joint-local rotations expressed in the armature frame; the root also maps camera->world.
    local_arm = p @ local @ p.T
    if camera_rotation is not None:
        go = np.swapaxes(np.asarray(camera_rotation, dtype=np.float64), -1, -2) @ go
    local_arm[:, 0] = CV_TO_WORLD @ go @ p.T
    rest = np.asarray(bone_rest, dtype=np.float64)
    basis = np.swapaxes(rest, -1, -2)[None] @ local_arm @ rest[None]
    return make_quaternions_continuous(matrix_to_quaternion(basis), axis=0)


def root_locations(transl: np.ndarray, rest_joints: np.ndarray, bone_rest_root: np.ndarray,
                   camera_height: float, camera_rotation: np.ndarray | None = None
                   ) -> np.ndarray:
    """Pose-bone location (F, 3) of the root (pelvis) bone: its head follows the posed pelvis
    (camera space per frame, turned into the world frame by ``camera_rotation``)."""
    pelvis_cv = np.asarray(transl, dtype=np.float64) + np.asarray(rest_joints)[0]
    target = camera_to_world(pelvis_cv, camera_height, camera_rotation)
    rest_head = rest_joints_in_armature(rest_joints)[0]
    return (target - rest_head) @ np.asarray(bone_rest_root, dtype=np.float64)


def interleave_keyframes(frames: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Flat ``[f0, v0, f1, v1, ...]`` array for ``keyframe_points.foreach_set('co', ...)``."""
    return np.column_stack([np.asarray(frames, np.float64), np.asarray(values, np.float64)]
                           ).astype(np.float32).ravel()


def visibility_keys(frames: np.ndarray, valid: np.ndarray) -> list[tuple[int, bool]]:
    """(scene frame, hidden) keys that show a person only from their first to their last solved
    frame: before and after, their pose would just be held, a body standing where nobody is.
    Gaps inside the span stay visible (the motion is interpolated across them)."""
    frames = np.asarray(frames, dtype=np.int64)
    seen = frames[np.asarray(valid, dtype=bool)]
    if len(seen) == 0 or (seen[0] == frames[0] and seen[-1] == frames[-1]):
        return []
    keys: list[tuple[int, bool]] = []
    if seen[0] > frames[0]:
        keys.append((int(seen[0]) - 1, True))
    keys.append((int(seen[0]), False))
    if seen[-1] < frames[-1]:
        if seen[-1] != seen[0]:
            keys.append((int(seen[-1]), False))
        keys.append((int(seen[-1]) + 1, True))
    return keys
