"""Anny's walk cycle and what plays it back without Blender: F-curve evaluation, Blender bone
frames and forward kinematics, two-bone IK, and the loader on the real file (fetched by
tools/setup.sh). ``tests/blender/test_anny_walk_in_blender.py`` checks the same playback against
real Blender's own F-curves, bone frames and IK solver."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from genhmr.motion.armature import Armature, bone_rest_rotation, local_transform
from genhmr.motion.build import REGISTRY, load_registry
from genhmr.motion.fcurve import Keyframe, evaluate_fcurve
from genhmr.motion.ik import two_bone_ik
from genhmr.motion.resample import TARGET_FPS
from genhmr.motion.retarget import pose_joint_positions
from genhmr.motion.sources import anny
from genhmr.motion.sources.common import target_rest_joints
from scipy.spatial.transform import Rotation

from genhmr_core.skeleton import JOINT_INDEX


def _key(frame: float, value: float, left: float, right: float, span: float = 3.0,
         interpolation: str = "BEZIER") -> Keyframe:
    return Keyframe(frame, value, (frame - span, left), (frame + span, right), interpolation)


def test_bezier_segment_with_handles_at_thirds_is_a_cubic_in_time() -> None:
    # Handles a third of the way in time make the frame coordinate linear in the curve
    # parameter, so the value is the Bezier polynomial at s = (t - t0) / span.
    k0, k1 = _key(0, 1.0, 1.0, 2.0), _key(9, -1.0, 0.5, -1.0)
    t = np.linspace(0, 9, 19)
    s = t / 9
    expected = (1 - s)**3 * 1.0 + 3 * (1 - s)**2 * s * 2.0 + 3 * (1 - s) * s**2 * 0.5 + s**3 * -1
    np.testing.assert_allclose(evaluate_fcurve([k1, k0], t), expected, atol=1e-9)


def test_fcurve_holds_outside_its_keys_and_honours_linear_and_constant() -> None:
    keys = [_key(10, 2.0, 2.0, 2.0, interpolation="LINEAR"),
            _key(20, 4.0, 4.0, 4.0, interpolation="CONSTANT"), _key(30, 0.0, 0.0, 0.0)]
    values = evaluate_fcurve(keys, np.array([0.0, 10.0, 15.0, 25.0, 29.9, 30.0, 99.0]))
    np.testing.assert_allclose(values, [2.0, 2.0, 3.0, 4.0, 4.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="interpolation"):
        Keyframe(0.0, 0.0, (0.0, 0.0), (0.0, 0.0), "ELASTIC")


def test_fcurve_handles_past_the_next_key_are_pulled_back() -> None:
    # A right handle reaching past the next key would make the curve run backwards in time;
    # clamped, the curve is single-valued and still passes through both keys.
    k0 = Keyframe(0.0, 0.0, (-1.0, 0.0), (25.0, 5.0))
    k1 = Keyframe(10.0, 1.0, (9.0, 1.0), (11.0, 1.0))
    t = np.linspace(0.0, 10.0, 201)
    values = evaluate_fcurve([k0, k1], t)
    assert np.isfinite(values).all()
    assert values[0] == pytest.approx(0.0) and values[-1] == pytest.approx(1.0)
    assert values.max() < 5.0


@pytest.mark.parametrize("direction", [(0.3, 0.5, -0.8), (0.0, 0.0, -1.0), (0.0, -1.0, 0.0),
                                       (1e-5, -1.0, 0.0), (-0.2, -0.9, 0.1), (0.0, 1.0, 0.0)])
def test_bone_rest_frame_runs_along_the_bone_and_roll_turns_it(direction) -> None:
    d = np.array(direction) / np.linalg.norm(direction)
    frame = bone_rest_rotation(d, 0.0)
    np.testing.assert_allclose(frame.T @ frame, np.eye(3), atol=1e-6)
    assert np.linalg.det(frame) == pytest.approx(1.0, abs=1e-6)
    # Within 1e-4: Blender snaps bones a hair off -Y onto -Y, and so do we.
    np.testing.assert_allclose(frame[:, 1], d, atol=1e-4)
    rolled = bone_rest_rotation(d, 0.7)
    np.testing.assert_allclose(rolled[:, 1], d, atol=1e-4)
    angle = np.arccos(np.clip(frame[:, 0] @ rolled[:, 0], -1, 1))
    assert angle == pytest.approx(0.7, abs=1e-6)


def test_bone_pointing_down_gets_blenders_frame() -> None:
    # Blender: a bone pointing down (-Z) with roll 0 has X = +X and Z = +Y.
    np.testing.assert_allclose(bone_rest_rotation(np.array([0, 0, -1.0]), 0.0),
                               [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-12)


def test_forward_kinematics_carries_children_with_their_parent() -> None:
    rig = Armature.from_bones({
        "arm": (np.array([0.0, 0, 1]), np.array([0.0, 1, 1]), 0.0, "root"),  # listed first
        "root": (np.zeros(3), np.array([0.0, 0, 1]), 0.0, None),
    })
    assert rig.names == ["root", "arm"]
    turn = local_transform(1, euler_xyz=np.array([[0.0, np.pi / 2, 0.0]]))  # about root's Y
    pose = rig.pose({"root": turn}, 1)
    np.testing.assert_allclose(rig.heads(pose)[0], [[0, 0, 0], [0, 0, 1]], atol=1e-12)
    bent = rig.pose({"root": local_transform(1, euler_xyz=np.array([[np.pi / 2, 0, 0]]))}, 1)
    np.testing.assert_allclose(rig.heads(bent)[0, 1], [0, -1, 0], atol=1e-12)
    # A location key moves the bone along its own rest axes (the arm's Y runs along it, +Y).
    moved = rig.pose({"arm": local_transform(1, location=np.array([[0, 0.5, 0]]))}, 1)
    np.testing.assert_allclose(rig.heads(moved)[0, 1], [0, 0.5, 1], atol=1e-12)
    with pytest.raises(ValueError, match="unknown parent"):
        Armature.from_bones({"a": (np.zeros(3), np.ones(3), 0.0, "nobody")})


def test_two_bone_ik_reaches_keeps_lengths_and_bends_towards_the_pole() -> None:
    rng = np.random.default_rng(0)
    root = rng.normal(size=(50, 3))
    target = root + rng.normal(size=(50, 3)) * 0.4
    pole = root + rng.normal(size=(50, 3))
    mid, end = two_bone_ik(root, target, pole, 0.45, 0.4)
    reachable = np.linalg.norm(target - root, axis=1) < 0.85
    np.testing.assert_allclose(end[reachable], target[reachable], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(mid - root, axis=1), 0.45, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(end - mid, axis=1), 0.4, atol=1e-6)
    normal = np.cross(target - root, pole - root)
    assert np.abs((normal * (mid - root)).sum(1)).max() < 1e-6  # in the root-target-pole plane
    axis = (target - root) / np.linalg.norm(target - root, axis=1, keepdims=True)
    side = lambda p: p - root - ((p - root) * axis).sum(1, keepdims=True) * axis  # noqa: E731
    assert ((side(mid) * side(pole)).sum(1) > 0).all()  # on the pole's side
    # Out of reach: straight at the target.
    mid, end = two_bone_ik(np.zeros(3), np.array([2.0, 0, 0]), np.array([0, 1.0, 0]), 0.45, 0.4)
    np.testing.assert_allclose(end, [0.85, 0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="pole"):
        two_bone_ik(np.zeros(3), np.array([0.5, 0, 0]), np.array([2.0, 0, 0]), 0.45, 0.4)


def test_walk_cycle_walks_forward_with_planted_feet(motion_dir) -> None:
    [clip] = anny.load_anny_walk(motion_dir / "anny")
    assert clip.name == anny.CLIP_NAME and "CC0" in clip.license and clip.fps == TARGET_FPS
    assert clip.num_frames == 50  # 40 frames at 24 fps, one loop
    pos = pose_joint_positions(clip.rotations, target_rest_joints(), clip.root_position)
    pelvis = clip.root_position
    speed = (pelvis[-1, 2] - pelvis[0, 2]) / (clip.num_frames / clip.fps)
    assert 0.35 < speed < 0.8  # forward is +Z; a slow walk
    assert np.abs(pelvis[:, 0]).max() < 0.05  # straight ahead
    head = pos[:, JOINT_INDEX["head"]]
    assert (head[:, 1] > pelvis[:, 1] + 0.4).all()  # upright throughout
    for side in ("left", "right"):
        ankle = pos[:, JOINT_INDEX[f"{side}_ankle"]]
        step = np.linalg.norm(np.diff(ankle, axis=0), axis=1) * clip.fps
        # Planted for much of the cycle (the source itself slides ~0.1 m/s in stance), and
        # swung forward three times faster than the body moves.
        assert (step < 0.25).mean() > 0.4
        assert step.max() > 1.5
        assert 0.0 < ankle[:, 1].min() < 0.15  # near the floor
        # Knees are hinges bending forwards.
        rotvec = Rotation.from_matrix(clip.rotations[:, JOINT_INDEX[f"{side}_knee"]]).as_rotvec()
        assert rotvec[:, 0].min() > -0.05 and rotvec[:, 0].max() > 0.5
    # The arms swing opposite to the legs: left wrist forward while the left ankle is behind.
    rel = lambda j: pos[:, JOINT_INDEX[j], 2] - pelvis[:, 2]  # noqa: E731
    assert np.corrcoef(rel("left_wrist"), rel("left_ankle"))[0, 1] < -0.5
    assert np.corrcoef(rel("left_wrist"), rel("right_wrist"))[0, 1] < -0.5
    # Joints the positions do not determine are marked, the rest animated.
    frozen = {n for n, j in JOINT_INDEX.items() if j < 22 and not clip.animated[j]}
    assert frozen == {"head", "left_foot", "right_foot"}


def test_walk_cycle_positions_solve_back_onto_our_skeleton(motion_dir) -> None:
    # The solved rotations point every limb bone of our skeleton where the rig's joints are.
    points = {k: v @ anny.AXES.T for k, v in anny.walk_positions(motion_dir / "anny").items()}
    [clip] = anny.load_anny_walk(motion_dir / "anny")
    pos = pose_joint_positions(clip.rotations, target_rest_joints(), clip.root_position)
    for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle"),
                 ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")):
        ds = points[b] - points[a]
        dt = pos[:, JOINT_INDEX[b]] - pos[:, JOINT_INDEX[a]]
        cos = (ds * dt).sum(1) / np.linalg.norm(ds, axis=1) / np.linalg.norm(dt, axis=1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.01


def test_walk_cycle_bad_files_say_what_is_wrong(motion_dir, tmp_path) -> None:
    folder = tmp_path / "anny"
    folder.mkdir()
    (folder / anny.RIG_FILE).write_bytes((motion_dir / "anny" / anny.RIG_FILE).read_bytes())
    walk = json.loads((motion_dir / "anny" / anny.WALK_FILE).read_text())
    walk["animation_data"]["tail_bone"] = walk["animation_data"]["head"]
    (folder / anny.WALK_FILE).write_text(json.dumps(walk))
    with pytest.raises(ValueError, match="tail_bone"):
        anny.load_anny_walk(folder)
    (folder / anny.WALK_FILE).write_text(json.dumps({"frames": []}))
    with pytest.raises(ValueError, match="not an MPFB2 animation"):
        anny.load_anny_walk(folder)


def test_registry_includes_the_walk_and_can_leave_sources_out(motion_dir) -> None:
    assert "anny" in REGISTRY
    clips = load_registry(Path(motion_dir), ["anny", "climbing"])
    assert {c.source for c in clips} == {"anny", "climbing"}
    with pytest.raises(ValueError, match="unknown registry"):
        load_registry(Path(motion_dir), ["mocap_of_my_cat"])
