"""The SMPL-X skeleton contract and the keypoint tables (genhmr_core.skeleton / .keypoints)."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.keypoints import (
    COCO17_NAMES,
    KEYPOINT_INDEX,
    KEYPOINT_NAMES,
    MEDIAPIPE_NAMES,
    NUM_KEYPOINTS,
    NUM_MEDIAPIPE,
    PREVIEW_EDGES,
    keypoint_attachments,
    mediapipe_to_keypoints_index,
)
from genhmr_core.skeleton import (
    JOINT_INDEX,
    JOINT_NAMES,
    NUM_BODY_JOINTS,
    NUM_JOINTS,
    PARENTS,
    builtin_offsets,
    builtin_rest_joints,
    children,
    joints_to_offsets,
    mirror_index,
    offsets_to_joints,
)


def test_55_unique_joints():
    assert NUM_JOINTS == len(JOINT_NAMES) == len(PARENTS) == 55
    assert len(set(JOINT_NAMES)) == 55
    assert {n: i for i, n in enumerate(JOINT_NAMES)} == JOINT_INDEX
    assert NUM_BODY_JOINTS == 21


def test_smplx_order_landmarks():
    """Spot checks of the SMPL-X order (the real model's kintree): body, jaw, eyes, hands."""
    assert JOINT_NAMES[0] == "pelvis" and JOINT_NAMES[15] == "head"
    assert JOINT_NAMES[20:25] == ("left_wrist", "right_wrist", "jaw", "left_eye_smplhf",
                                  "right_eye_smplhf")
    assert JOINT_NAMES[25] == "left_index1" and JOINT_NAMES[40] == "right_index1"
    assert JOINT_NAMES[54] == "right_thumb3"


def test_parents_precede_children_and_one_root():
    assert PARENTS[0] == -1
    assert all(0 <= p < j for j, p in enumerate(PARENTS) if j > 0)


def test_hierarchy_chains():
    def chain(name: str) -> list[str]:
        out, j = [], JOINT_INDEX[name]
        while j >= 0:
            out.append(JOINT_NAMES[j])
            j = PARENTS[j]
        return out

    assert chain("left_foot") == ["left_foot", "left_ankle", "left_knee", "left_hip", "pelvis"]
    assert chain("right_wrist")[:5] == ["right_wrist", "right_elbow", "right_shoulder",
                                        "right_collar", "spine3"]
    assert chain("jaw")[:3] == ["jaw", "head", "neck"]
    assert chain("left_thumb3")[:4] == ["left_thumb3", "left_thumb2", "left_thumb1", "left_wrist"]


def test_children():
    assert sorted(children(0)) == [JOINT_INDEX[n] for n in ("left_hip", "right_hip", "spine1")]
    assert len(children(JOINT_INDEX["left_wrist"])) == 5
    assert children(JOINT_INDEX["left_foot"]) == []
    assert sum(len(children(j)) for j in range(NUM_JOINTS)) == NUM_JOINTS - 1


def test_mirror_index_is_an_involution_swapping_sides():
    mirror = mirror_index()
    np.testing.assert_array_equal(mirror[mirror], np.arange(NUM_JOINTS))
    for i, name in enumerate(JOINT_NAMES):
        other = JOINT_NAMES[mirror[i]]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]
        elif name.startswith("right_"):
            assert other == "left_" + name[6:]
        else:
            assert other == name
    # The hierarchy is symmetric: the mirror of a joint's parent is the mirror's parent.
    for j in range(1, NUM_JOINTS):
        assert mirror[PARENTS[j]] == PARENTS[mirror[j]]


def test_builtin_rest_pose_is_mirror_symmetric():
    joints = builtin_rest_joints()
    mirrored = joints[mirror_index()] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored, joints, atol=1e-12)
    centre = [i for i, n in enumerate(JOINT_NAMES) if not n.startswith(("left_", "right_"))]
    np.testing.assert_allclose(joints[centre, 0], 0.0, atol=1e-12)


def test_offsets_round_trip():
    offsets = builtin_offsets()
    joints = offsets_to_joints(offsets)
    np.testing.assert_allclose(joints_to_offsets(joints), offsets, atol=1e-12)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 3, NUM_JOINTS, 3))  # batched
    np.testing.assert_allclose(offsets_to_joints(joints_to_offsets(batch)), batch, atol=1e-12)
    np.testing.assert_allclose(joints_to_offsets(offsets_to_joints(batch)), batch, atol=1e-12)


def test_offsets_to_joints_does_not_modify_its_input():
    offsets = builtin_offsets()
    before = offsets.copy()
    offsets_to_joints(offsets)
    np.testing.assert_array_equal(offsets, before)


def test_builtin_skeleton_proportions():
    """SMPL-X axes: Y up, facing +Z, subject's left at +X; about 1.7 m tall."""
    j = builtin_rest_joints()
    np.testing.assert_array_equal(j[0], 0.0)  # pelvis at the origin
    idx = JOINT_INDEX
    assert j[idx["head"], 1] > j[idx["neck"], 1] > j[idx["spine3"], 1] > 0
    assert j[idx["left_ankle"], 1] < j[idx["left_knee"], 1] < j[idx["left_hip"], 1] < 0
    assert j[idx["left_shoulder"], 0] > 0 > j[idx["right_shoulder"], 0]  # left is +X
    assert j[idx["left_foot"], 2] > j[idx["left_ankle"], 2]  # toes point forward (+Z)
    # The crown is ~0.12 m above the eyes; the floor ~0.02 m below the toe keypoint's joint
    # level (the ball of the foot), i.e. ~0.075 m below the ankle joint.
    height = (j[idx["left_eye_smplhf"], 1] + 0.12) - (j[idx["left_ankle"], 1] - 0.075)
    assert height == pytest.approx(1.72, abs=0.05)
    span = j[idx["left_middle3"], 0] - j[idx["right_middle3"], 0]
    assert span == pytest.approx(height, rel=0.12)  # arm span ~ height
    bones = np.linalg.norm(joints_to_offsets(j)[1:], axis=1)
    assert np.all(bones > 0.01) and np.all(bones < 0.45)


# --- keypoints ------------------------------------------------------------------------------------


def test_keypoint_names():
    assert KEYPOINT_NAMES[:17] == COCO17_NAMES
    assert len(COCO17_NAMES) == 17
    assert NUM_KEYPOINTS == len(KEYPOINT_NAMES) == len(set(KEYPOINT_NAMES))
    assert {n: i for i, n in enumerate(KEYPOINT_NAMES)} == KEYPOINT_INDEX


def test_keypoint_attachments_valid():
    joint, offset = keypoint_attachments()
    assert joint.shape == (NUM_KEYPOINTS,) and offset.shape == (NUM_KEYPOINTS, 3)
    assert joint.dtype.kind == "i"
    assert np.all((joint >= 0) & (joint < NUM_JOINTS))
    assert np.all(np.linalg.norm(offset, axis=1) < 0.15)  # attached close to their joint
    for name in ("left_shoulder", "left_elbow", "left_wrist", "left_knee", "left_ankle"):
        k = KEYPOINT_INDEX[name]
        assert JOINT_NAMES[joint[k]] == name
        np.testing.assert_array_equal(offset[k], 0.0)
    assert JOINT_NAMES[joint[KEYPOINT_INDEX["nose"]]] == "head"
    assert JOINT_NAMES[joint[KEYPOINT_INDEX["right_heel"]]] == "right_ankle"


def test_keypoint_attachments_are_mirror_symmetric():
    joint, offset = keypoint_attachments()
    mirror_j = mirror_index()
    for k, name in enumerate(KEYPOINT_NAMES):
        if name.startswith("left_"):
            m = KEYPOINT_INDEX["right_" + name[5:]]
        elif name.startswith("right_"):
            m = KEYPOINT_INDEX["left_" + name[6:]]
        else:
            m = k
        assert joint[m] == mirror_j[joint[k]], name
        np.testing.assert_allclose(offset[m], offset[k] * [-1.0, 1.0, 1.0], err_msg=name)


def test_keypoints_in_rest_pose_are_plausible():
    joint, offset = keypoint_attachments()
    kp = builtin_rest_joints()[joint] + offset
    idx = KEYPOINT_INDEX
    assert kp[idx["nose"], 2] > kp[idx["left_ear"], 2]  # the nose is in front of the ears
    assert kp[idx["nose"], 1] > kp[idx["left_shoulder"], 1]
    assert kp[idx["left_heel"], 2] < kp[idx["left_foot_index"], 2]
    assert kp[idx["left_eye"], 0] > 0 > kp[idx["right_eye"], 0]


def test_mediapipe_mapping():
    assert NUM_MEDIAPIPE == len(MEDIAPIPE_NAMES) == 33
    index = mediapipe_to_keypoints_index()
    assert index.shape == (NUM_KEYPOINTS,)
    assert np.all((index >= 0) & (index < NUM_MEDIAPIPE))
    assert len(set(index.tolist())) == NUM_KEYPOINTS
    for k, name in enumerate(KEYPOINT_NAMES):
        assert MEDIAPIPE_NAMES[index[k]] == name
    assert MEDIAPIPE_NAMES[0] == "nose" and MEDIAPIPE_NAMES[32] == "right_foot_index"


def test_preview_edges_name_keypoints():
    for a, b in PREVIEW_EDGES:
        assert a in KEYPOINT_INDEX and b in KEYPOINT_INDEX and a != b
    assert len(set(PREVIEW_EDGES)) == len(PREVIEW_EDGES)
