"""Pure-numpy checks of genhmr_core.scene_space against independent models of Blender.

Blender's camera projection and armature evaluation are re-implemented here from their
definitions (view plane with sensor fit and shift; pose matrix = parent pose @ parent rest^-1 @
rest @ basis), so the mapping can be checked without Blender; tests/blender checks the same
against real Blender.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from genhmr_core import rotations, scene_space, skeleton
from genhmr_core.ground import estimate_ground

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_result


def blender_pixel(point_cv: np.ndarray, s: dict[str, float], size: tuple[int, int],
                  fit: str = "HORIZONTAL") -> np.ndarray:
    """Pixel (from the top-left) where Blender's camera (scene_space placement) shows a point."""
    w, h = size
    # Camera local frame: x right, y up, looking down -z. cv (x, y, z) -> local (x, -y, -z).
    x, y, depth = point_cv[..., 0], -point_cv[..., 1], point_cv[..., 2]
    viewfac = w if fit == "HORIZONTAL" or (fit == "AUTO" and w >= h) else h
    scale = s["lens_mm"] * viewfac / s["sensor_width_mm"]  # pixels per unit at distance 1
    u = x / depth * scale + w / 2 - s["shift_x"] * viewfac
    v_up = y / depth * scale + h / 2 - s["shift_y"] * viewfac
    return np.stack([u, h - v_up], -1)


def test_camera_to_world_axes() -> None:
    out = scene_space.camera_to_world(np.array([[1.0, 2.0, 3.0]]), 1.5)
    np.testing.assert_allclose(out, [[1.0, 3.0, -0.5]])
    # Straight ahead of the camera lies on +Y at camera height.
    np.testing.assert_allclose(scene_space.camera_to_world(np.array([0, 0, 5.0]), 2.0),
                               [0, 5, 2])


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080), (360, 640)])
def test_blender_camera_settings_reproduce_projection(size: tuple[int, int]) -> None:
    w, h = size
    K = np.array([[900.0, 0, w / 2 + 17], [0, 900.0, h / 2 - 11], [0, 0, 1]])
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(2, 8, 50)])
    want = synthetic_result.project(pts, K)
    s = scene_space.blender_camera_settings(K, size)
    got = blender_pixel(pts, s, size, fit="HORIZONTAL")  # rig/camera.py sets HORIZONTAL
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_identity_pose_gives_identity_quaternions() -> None:
    rng = np.random.default_rng(2)
    rest = rotations.axis_angle_to_matrix(rng.normal(0, 1, (skeleton.NUM_JOINTS, 3)))
    go = np.array([[np.pi, 0.0, 0.0]] * 3)  # upright, facing the camera
    q = scene_space.bone_quaternions(go, np.zeros((3, skeleton.NUM_BODY_JOINTS, 3)), rest)
    assert q.shape == (3, skeleton.NUM_JOINTS, 4)
    np.testing.assert_allclose(np.abs(q[..., 0]), 1.0, atol=1e-9)


def evaluate_armature(heads: np.ndarray, rest_rot: np.ndarray, quats: np.ndarray,
                      root_loc: np.ndarray) -> np.ndarray:
    """Posed bone heads (J, 3) the way Blender evaluates an armature at the world origin."""
    n = len(heads)
    rest = np.tile(np.eye(4), (n, 1, 1))
    rest[:, :3, :3], rest[:, :3, 3] = rest_rot, heads
    basis = np.tile(np.eye(4), (n, 1, 1))
    basis[:, :3, :3] = rotations.quaternion_to_matrix(quats)
    basis[0, :3, 3] = root_loc
    pose = np.empty_like(rest)
    for j in range(n):
        p = skeleton.PARENTS[j]
        pose[j] = (rest[j] if p < 0 else pose[p] @ np.linalg.inv(rest[p]) @ rest[j]) @ basis[j]
    return pose[:, :3, 3]


def test_armature_heads_follow_joints3d() -> None:
    res = synthetic_result.make_result()
    height = estimate_ground(res.keypoints3d, res.valid).camera_height
    rng = np.random.default_rng(3)
    for p in range(res.num_people):
        heads = scene_space.rest_joints_in_armature(res.rest_joints[p])
        # Any bone roll must work: the maths takes the rest orientations as input.
        rest_rot = rotations.axis_angle_to_matrix(rng.normal(0, 1, (skeleton.NUM_JOINTS, 3)))
        quats = scene_space.bone_quaternions(res.global_orient[p], res.body_pose[p], rest_rot)
        root = scene_space.root_locations(res.transl[p], res.rest_joints[p], rest_rot[0], height)
        want = scene_space.camera_to_world(res.joints3d[p], height)
        for f in range(res.num_frames):
            got = evaluate_armature(heads, rest_rot, quats[f], root[f])
            np.testing.assert_allclose(got, want[f], atol=1e-9)


def test_a_turning_camera_leaves_the_people_where_they_are_in_the_world() -> None:
    """The same motion filmed by a panning camera (people in each frame's camera axes plus the
    camera's rotation) gives the same armature poses in the world as with a fixed camera."""
    fixed = synthetic_result.make_result()
    panned = synthetic_result.make_result(camera_pan_deg=25.0)
    rot = panned.camera_rotation
    assert np.abs(np.degrees(rotations.matrix_to_axis_angle(rot[-1]))).max() > 20
    assert not np.allclose(panned.joints3d, fixed.joints3d, atol=0.1)  # camera space differs
    height = estimate_ground(fixed.keypoints3d, fixed.valid).camera_height
    world = np.stack([scene_space.to_world_axes(person, rot) for person in panned.keypoints3d])
    assert estimate_ground(world, panned.valid).camera_height == pytest.approx(height)
    rest_rot = np.tile(np.eye(3), (skeleton.NUM_JOINTS, 1, 1))
    for p in range(2):
        np.testing.assert_allclose(
            scene_space.camera_to_world(panned.joints3d[p], height, rot),
            scene_space.camera_to_world(fixed.joints3d[p], height), atol=1e-9)
        quats = {name: scene_space.bone_quaternions(r.global_orient[p], r.body_pose[p],
                                                    rest_rot, camera_rotation=c)
                 for name, r, c in (("fixed", fixed, None), ("panned", panned, rot))}
        np.testing.assert_allclose(np.abs(np.sum(quats["fixed"] * quats["panned"], -1)), 1.0,
                                   atol=1e-9)
        root = scene_space.root_locations(panned.transl[p], panned.rest_joints[p], np.eye(3),
                                          height, rot)
        np.testing.assert_allclose(root, scene_space.root_locations(
            fixed.transl[p], fixed.rest_joints[p], np.eye(3), height), atol=1e-9)


def test_turned_blender_camera_sees_each_frame_as_the_footage() -> None:
    """Through the keyed camera (quaternion per frame at (0, 0, height)), a world point lands on
    the pixel where its camera-space point projects with K: rigs stay on the people."""
    res = synthetic_result.make_result(camera_pan_deg=25.0)
    rot, size = res.camera_rotation, tuple(int(v) for v in res.image_size)
    quats = scene_space.camera_quaternions(rot)
    np.testing.assert_allclose(
        quats[0], rotations.matrix_to_quaternion(
            rotations.axis_angle_to_matrix(np.array([np.pi / 2, 0.0, 0.0]))), atol=1e-12)
    assert (np.sum(quats[1:] * quats[:-1], -1) > 0).all()
    settings = scene_space.blender_camera_settings(res.camera_K, size)
    height = 1.7
    for f in range(res.num_frames):
        world = scene_space.camera_to_world(res.joints3d[0, f][None], height, rot[f][None])[0]
        local = (world - [0.0, 0.0, height]) @ rotations.quaternion_to_matrix(quats[f])
        seen_cv = local * [1.0, -1.0, -1.0]  # Blender camera-local -> OpenCV camera axes
        np.testing.assert_allclose(blender_pixel(seen_cv, settings, size),
                                   synthetic_result.project(res.joints3d[0, f], res.camera_K),
                                   atol=1e-6)


def test_quaternions_are_continuous() -> None:
    res = synthetic_result.make_result()
    rest = np.tile(np.eye(3), (skeleton.NUM_JOINTS, 1, 1))
    q = scene_space.bone_quaternions(res.global_orient[0], res.body_pose[0], rest)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    assert (dots >= 0).all()


def test_level_rotation_turns_the_floor_normal_up() -> None:
    up = np.array([0.0, -1.0, 0.0])
    np.testing.assert_allclose(scene_space.level_rotation(up), np.eye(3))
    tilted = rotations.axis_angle_to_matrix(np.array([0.2, 0.0, -0.1])) @ up
    level = scene_space.level_rotation(tilted)
    np.testing.assert_allclose(level @ tilted, up, atol=1e-12)
    np.testing.assert_allclose(level @ level.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(scene_space.level_rotation(-up) @ -up, up, atol=1e-12)
    assert scene_space.scene_rotations(None, up, 4) is None
    assert scene_space.scene_rotations(None, None, 4) is None
    fixed_tilted = scene_space.scene_rotations(None, tilted, 4)
    assert fixed_tilted.shape == (4, 3, 3)
    np.testing.assert_allclose(fixed_tilted[2] @ up, tilted, atol=1e-12)  # up, seen by the camera


def test_scene_is_level_with_a_tilted_floor() -> None:
    """A camera pitched down 15 degrees over a floor: with the floor's normal (in the first
    camera's axes) the feet land at z = 0 in the scene and the camera looks down."""
    res = synthetic_result.make_result()
    height = estimate_ground(res.keypoints3d, res.valid).camera_height
    pitch = rotations.axis_angle_to_matrix(np.array([np.radians(15.0), 0.0, 0.0]))
    seen = np.einsum("ij,pfkj->pfki", pitch, res.keypoints3d)  # the same scene, camera pitched
    normal = pitch @ np.array([0.0, -1.0, 0.0])
    turn = scene_space.scene_rotations(None, normal, res.num_frames)
    for p in range(res.num_people):
        np.testing.assert_allclose(scene_space.camera_to_world(seen[p], height, turn),
                                   scene_space.camera_to_world(res.keypoints3d[p], height),
                                   atol=1e-9)
    look = rotations.quaternion_to_matrix(scene_space.camera_quaternions(turn)[0]) @ [0, 0, -1.0]
    assert look[2] < -0.2  # looking down at the floor


def test_interleave_keyframes() -> None:
    out = scene_space.interleave_keyframes(np.array([1, 2]), np.array([0.5, 0.25]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1, 0.5, 2, 0.25])


@pytest.mark.parametrize(("valid", "expected"), [
    ([1, 1, 1, 1, 1], []),  # seen throughout: no keys
    ([0, 0, 0, 0, 0], []),
    ([0, 1, 1, 0, 1], [(10, True), (11, False)]),  # the gap stays visible
    ([1, 1, 1, 0, 0], [(10, False), (12, False), (13, True)]),
    ([0, 0, 1, 1, 0], [(11, True), (12, False), (13, False), (14, True)]),
    ([0, 0, 1, 0, 0], [(11, True), (12, False), (13, True)]),
])
def test_visibility_keys_show_a_person_only_while_tracked(valid, expected) -> None:
    frames = np.arange(10, 15)
    assert scene_space.visibility_keys(frames, np.array(valid, bool)) == expected
