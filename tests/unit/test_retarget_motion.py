"""The retarget's maths: rest-pose correction, world rotations, leg scale, root path."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core import rotations, skeleton
from genhmr_core.limb_ik import two_bone_ik
from genhmr_core.retarget import motion, source
from genhmr_core.retarget.mapping import SOURCE_JOINTS
from genhmr_core.retarget.motion import RootMode, Skeleton

RNG = np.random.default_rng(7)


def _random_rotations(n: int, scale: float) -> np.ndarray:
    return rotations.axis_angle_to_matrix(RNG.normal(0.0, scale, (n, 3)))


def test_swing_turns_one_direction_onto_another() -> None:
    for a, b in [((1, 0, 0), (0, 0, 1)), ((1, 2, 3), (-2, 0.5, 1)), ((0, 0, 1), (0, 0, -1))]:
        turn = motion.swing(np.array(a, float), np.array(b, float))
        assert turn @ turn.T == pytest.approx(np.eye(3), abs=1e-12)
        assert np.linalg.det(turn) == pytest.approx(1.0)
        got = turn @ (np.array(a) / np.linalg.norm(a))
        assert got == pytest.approx(np.array(b) / np.linalg.norm(b), abs=1e-12)


def _source() -> Skeleton:
    """GenHMR's built-in skeleton, T-pose, world Z up (as a rig in the scene)."""
    heads = skeleton.builtin_rest_joints() @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]).T
    heads = heads + [0, 0, 1.0]
    names = list(SOURCE_JOINTS)
    tails = {n: heads[skeleton.JOINT_INDEX[n]] + [0, -0.05, 0.05] for n in names}
    return Skeleton(rest_rotation={n: _random_rotations(1, 1.0)[0] for n in names},
                    head={n: heads[skeleton.JOINT_INDEX[n]] for n in names}, tail=tails)


def _a_posed_target(src: Skeleton, size: float) -> tuple[Skeleton, dict[str, tuple[str, ...]]]:
    """A bigger character whose arms hang 45 degrees (rotated about the shoulders), with
    arbitrary bone rolls (rest rotations), one bone per joint."""
    heads = {n: size * h for n, h in src.head.items()}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        turn = rotations.axis_angle_to_matrix(np.array([0.0, sign * np.pi / 4, 0.0]))
        shoulder = heads[f"{side}_shoulder"].copy()
        for j in ("elbow", "wrist"):
            heads[f"{side}_{j}"] = shoulder + turn @ (heads[f"{side}_{j}"] - shoulder)
    names = list(SOURCE_JOINTS)
    target = Skeleton(rest_rotation={f"T_{n}": _random_rotations(1, 1.0)[0] for n in names},
                      head={f"T_{n}": heads[n] for n in names},
                      tail={f"T_{n}": heads[n] + [0, 0, 0.1] for n in names})
    return target, {n: (f"T_{n}",) for n in names}


def test_mapped_limbs_point_where_the_source_limbs_point() -> None:
    """With the rest-pose correction an A-posed target's limbs follow the T-posed source's
    exactly; without it the arms are off by the 45 degrees of the rest difference."""
    src = _source()
    tgt, bone_map = _a_posed_target(src, 1.2)
    frames = 5
    local = {j: _random_rotations(frames, 0.5) for j in SOURCE_JOINTS}
    world = {}
    for j in SOURCE_JOINTS:  # rotations compose down the hierarchy, like a posed rig
        parent = skeleton.PARENTS[skeleton.JOINT_INDEX[j]]
        base = world[skeleton.JOINT_NAMES[parent]] if parent >= 0 else np.eye(3)
        world[j] = base @ local[j]
    src_rot = {j: world[j] @ src.rest_rotation[j] for j in SOURCE_JOINTS}
    got = motion.target_rotations(bone_map, src_rot, src, tgt)
    plain = motion.target_rotations(bone_map, src_rot, src, tgt,
                                    {b: np.eye(3) for b in tgt.head})
    for joint, child in (("left_shoulder", "left_elbow"), ("right_elbow", "right_wrist"),
                         ("left_hip", "left_knee"), ("spine3", "neck")):
        rest_src = src.head[child] - src.head[joint]
        rest_tgt = tgt.head[f"T_{child}"] - tgt.head[f"T_{joint}"]
        bone = f"T_{joint}"
        for f in range(frames):
            want = world[joint][f] @ rest_src
            have = got[bone][f] @ tgt.rest_rotation[bone].T @ rest_tgt
            uncorrected = plain[bone][f] @ tgt.rest_rotation[bone].T @ rest_tgt
            assert motion.limb_angle_errors(want, have) < 1e-4
            if "shoulder" in joint or "elbow" in joint:
                # (not quite 45: the built-in arm leans 1 cm forward of the turn's plane)
                assert motion.limb_angle_errors(want, uncorrected) == pytest.approx(45.0,
                                                                                    abs=0.1)


def test_leg_scale_and_root_path() -> None:
    src = _source()
    tgt, bone_map = _a_posed_target(src, 1.2)
    scale = motion.leg_scale(bone_map, src, tgt)
    assert scale == pytest.approx(1.2)
    standing = 0.95
    pelvis = np.array([[0.0, 0.0, standing], [0.3, -0.1, standing + 0.2], [1.0, 0.5, standing]])
    rest_hips = np.array([5.0, 1.0, 1.1])
    for mode in RootMode.ALL:
        path = motion.root_path(pelvis, 0.0, standing, rest_hips, scale, mode)
        # Standing as in the rest pose puts the hips at their rest height; rises scale.
        assert path.hips[:, 2] == pytest.approx([1.1, 1.1 + 0.24, 1.1])
        travel = scale * (pelvis[:, :2] - pelvis[0, :2])
        if mode == RootMode.IN_PLACE:
            assert path.hips[:, :2] == pytest.approx(np.tile(rest_hips[:2], (3, 1)))
        else:
            assert path.hips[:, :2] == pytest.approx(rest_hips[:2] + travel)
        carried = mode in (RootMode.ROOT_BONE, RootMode.OBJECT)
        assert path.travel[:, :2] == pytest.approx(travel if carried else 0 * travel)
    with pytest.raises(ValueError, match="mode"):
        motion.root_path(pelvis, 0.0, standing, rest_hips, scale, "SIDEWAYS")


def test_standing_pelvis_height_of_the_builtin_body() -> None:
    heads = skeleton.builtin_rest_joints() @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]).T
    height = source.standing_pelvis_height(heads)
    ankle = heads[skeleton.JOINT_INDEX["pelvis"], 2] - heads[skeleton.JOINT_INDEX["left_ankle"], 2]
    assert ankle < height < ankle + 0.15  # the soles are a few cm below the ankles


def test_planted_stretches_ease_out_only_into_free_frames() -> None:
    planted = np.array([0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1], bool)
    weights = motion.planted_weights(planted, ramp=3)
    # 7 frames: 3 eased at the end; 2 frames: none eased; the last stretch runs to the end.
    assert weights.tolist() == pytest.approx([0, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 1, 1, 0,
                                              1, 1, 1])
    assert motion.stretch_starts(planted).tolist() == [-1, 1, 1, 1, 1, 1, 1, 1, -1, 9, 9, -1,
                                                       12, 12, 12]


def test_two_bone_ik_reaches_keeps_lengths_and_the_knee_side() -> None:
    hip, knee, ankle = np.array([0, 0, 1.0]), np.array([0, -0.1, 0.55]), np.array([0, 0, 0.1])
    for goal in (np.array([0.05, 0.02, 0.2]), np.array([0.0, 0.1, 0.15])):
        new_knee, new_ankle = two_bone_ik(hip, knee, ankle, goal)
        assert new_ankle == pytest.approx(goal, abs=1e-9)
        assert np.linalg.norm(new_knee - hip) == pytest.approx(np.linalg.norm(knee - hip))
        assert np.linalg.norm(new_ankle - new_knee) == pytest.approx(
            np.linalg.norm(ankle - knee))
        assert new_knee[1] < -0.05  # still bent forward (-Y), not flipped backwards
    # Out of reach: the leg straightens towards the goal, lengths kept.
    far = np.array([0.0, 0.0, -1.0])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, far)
    reach = np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
    assert np.linalg.norm(new_ankle - hip) == pytest.approx(reach, abs=1e-5)
    assert new_ankle[2] < 0.1
