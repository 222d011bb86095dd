"""The real ``smplx`` code path on a generated file of the SMPL-X model format.

The file comes from ``tests/fixtures/make_smplx_model.py`` (built from our own skeleton, no
licensed data). These tests check that our loader reads it through ``smplx`` exactly as it would
read the user's real file, and that our own forward kinematics (``SkeletonModel``) built from the
SMPL-X rest joints reproduces ``smplx``'s posed joints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import smplx
import torch
from genhmr.body import SkeletonModel, SmplxModelError, load_smplx, smplx_skeleton
from genhmr.body.smplx_model import find_model_file, smplx_rest_joints

from genhmr_core.keypoints import KEYPOINT_INDEX
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, builtin_rest_joints

TOL = 2e-5  # metres; smplx computes in float32


@pytest.fixture(scope="module")
def model(smplx_model_dir):
    return load_smplx(smplx_model_dir)


def _random_pose(rng: np.random.Generator, batch: int, joints: int, scale: float = 0.5
                 ) -> np.ndarray:
    return rng.normal(scale=scale, size=(batch, joints, 3))


def _smplx_joints(layer, pose_aa: np.ndarray, transl: np.ndarray,
                  betas: np.ndarray | None = None) -> np.ndarray:
    """smplx forward: axis-angle pose (B, J', 3) in our joint order (= SMPL-X full-pose order),
    missing joints at zero; returns all of smplx's joints (B, 55 + extra, 3)."""
    batch = pose_aa.shape[0]
    pose = np.zeros((batch, NUM_JOINTS, 3))
    pose[:, : pose_aa.shape[1]] = pose_aa
    b = np.zeros((batch, 10))
    if betas is not None:
        b[:, : np.shape(betas)[-1]] = betas

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    with torch.no_grad():
        out = layer(betas=t(b), expression=t(np.zeros((batch, 10))), transl=t(transl),
                    global_orient=t(pose[:, 0]), body_pose=t(pose[:, 1:22].reshape(batch, -1)),
                    jaw_pose=t(pose[:, 22]), leye_pose=t(pose[:, 23]), reye_pose=t(pose[:, 24]),
                    left_hand_pose=t(pose[:, 25:40].reshape(batch, -1)),
                    right_hand_pose=t(pose[:, 40:55].reshape(batch, -1)))
    return out.joints.numpy()


def _fk(rest_joints: np.ndarray, pose_aa: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """Our FK: SkeletonModel on the given rest joints, axis-angle pose (B, J', 3)."""
    skel = SkeletonModel(rest_joints)
    rot = torch.as_tensor(axis_angle_to_matrix(pose_aa), dtype=torch.float32)
    joints, _, _ = skel(rot, torch.as_tensor(transl, dtype=torch.float32))
    return joints.numpy()


# --- the generated file itself ------------------------------------------------------------------


def test_generated_file_has_the_smplx_layout(smplx_model_dir):
    with np.load(smplx_model_dir / "SMPLX_NEUTRAL.npz", allow_pickle=False) as data:
        shapes = {k: data[k].shape for k in data.files}
        v = shapes["v_template"][0]
        assert shapes["v_template"] == (v, 3)
        assert shapes["f"][1] == 3
        assert shapes["J_regressor"] == (NUM_JOINTS, v)
        assert shapes["kintree_table"] == (2, NUM_JOINTS)
        assert shapes["weights"] == (v, NUM_JOINTS)
        assert shapes["shapedirs"] == (v, 3, 400)
        assert shapes["posedirs"] == (v, 3, (NUM_JOINTS - 1) * 9)
        for side in "lr":
            assert shapes[f"hands_components{side}"] == (45, 45)
            assert shapes[f"hands_mean{side}"] == (45,)
        assert shapes["lmk_faces_idx"] == (51,)
        assert shapes["lmk_bary_coords"] == (51, 3)
        assert shapes["dynamic_lmk_faces_idx"] == (79, 17)
        assert shapes["dynamic_lmk_bary_coords"] == (79, 17, 3)
        kintree = data["kintree_table"]
        assert kintree[0, 0] == 2**32 - 1
        assert tuple(kintree[0, 1:]) == PARENTS[1:]
        assert tuple(kintree[1]) == tuple(range(NUM_JOINTS))
        np.testing.assert_allclose(data["weights"].sum(1), 1.0)
        np.testing.assert_allclose(data["J_regressor"].sum(1), 1.0)
        assert data["f"].max() < v
        assert data["lmk_faces_idx"].max() < shapes["f"][0]
        np.testing.assert_allclose(data["J_regressor"] @ data["v_template"],
                                   builtin_rest_joints(), atol=1e-12)


def test_generator_is_deterministic(tmp_path, make_smplx_model, smplx_model_dir):
    again, = make_smplx_model(tmp_path)
    with np.load(again) as da, np.load(smplx_model_dir / "SMPLX_NEUTRAL.npz") as db:
        assert da.files == db.files
        for key in da.files:
            np.testing.assert_array_equal(da[key], db[key])


def test_plain_smplx_loads_both_layouts(smplx_model_dir, tmp_path, make_smplx_model):
    flat = smplx.SMPLX(model_path=str(smplx_model_dir), ext="npz")
    assert flat.get_num_verts() == 10475
    make_smplx_model(tmp_path, genders=("female",), layout="official")
    official = smplx.create(str(tmp_path), model_type="smplx", ext="npz", gender="female")
    assert official.name() == "SMPL-X"
    assert find_model_file(tmp_path, "female") == tmp_path / "smplx" / "SMPLX_FEMALE.npz"
    # The female file is a shorter body: the layer really read that file.
    female = smplx_rest_joints(load_smplx(tmp_path, gender="female"))
    assert np.ptp(female[:, 1]) < np.ptp(builtin_rest_joints()[:, 1])


def test_cli_writes_the_file(tmp_path):
    script = Path(__file__).parents[1] / "fixtures" / "make_smplx_model.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path), "--genders", "male"],
                         capture_output=True, text=True, check=True)
    assert (tmp_path / "SMPLX_MALE.npz").is_file()
    assert "SMPLX_MALE.npz" in out.stdout


# --- our loader ---------------------------------------------------------------------------------


def test_load_smplx_gives_an_smplx_layer(model, smplx_model_dir):
    assert isinstance(model, smplx.SMPLX)
    assert find_model_file(smplx_model_dir) == smplx_model_dir / "SMPLX_NEUTRAL.npz"
    skel = smplx_skeleton(model)
    assert isinstance(skel, SkeletonModel) and skel.name == "smplx"
    np.testing.assert_allclose(skel.rest_joints.numpy(), builtin_rest_joints(), atol=TOL)


@pytest.mark.parametrize("with_betas", [False, True])
def test_rest_joints_equal_smplx_forward_at_zero_pose(model, with_betas):
    rng = np.random.default_rng(1)
    betas = rng.normal(size=10) if with_betas else None
    ours = smplx_rest_joints(model, betas)
    theirs = _smplx_joints(model, np.zeros((1, 1, 3)), np.zeros((1, 3)), betas)
    np.testing.assert_allclose(ours, theirs[0, :NUM_JOINTS], atol=TOL)


def test_beta0_changes_height(model):
    base = smplx_rest_joints(model)
    taller = smplx_rest_joints(model, np.array([2.0]))
    head, ankle = JOINT_INDEX["head"], JOINT_INDEX["left_ankle"]
    ratio = (taller[head, 1] - taller[ankle, 1]) / (base[head, 1] - base[ankle, 1])
    assert ratio == pytest.approx(1.12, abs=1e-4)  # 6 % per unit of beta 0


def test_fk_matches_smplx_for_random_body_poses(model):
    rng = np.random.default_rng(2)
    batch = 8
    betas = rng.normal(size=(1, 10))
    pose = _random_pose(rng, batch, 22)
    transl = rng.normal(size=(batch, 3))
    theirs = _smplx_joints(model, pose, transl, betas)
    ours = _fk(smplx_rest_joints(model, betas[0]), pose, transl)
    np.testing.assert_allclose(ours, theirs[:, :NUM_JOINTS], atol=TOL)
    # Result-format convention: the posed pelvis is rest pelvis + transl.
    np.testing.assert_allclose(ours[:, 0], smplx_rest_joints(model, betas[0])[0] + transl,
                               atol=TOL)


def test_fk_matches_smplx_for_all_55_joints(model):
    """Jaw, eyes and fingers too: SMPL-X's full-pose order is our joint order."""
    rng = np.random.default_rng(3)
    batch = 4
    pose = _random_pose(rng, batch, NUM_JOINTS, scale=0.4)
    transl = rng.normal(size=(batch, 3))

    theirs = _smplx_joints(model, pose, transl)
    ours = _fk(smplx_rest_joints(model), pose, transl)
    np.testing.assert_allclose(ours, theirs[:, :NUM_JOINTS], atol=TOL)


def test_hand_mean_is_added_when_not_flat(smplx_model_dir):
    """``flat_hand_mean=False`` (smplx's default) adds the file's mean hand pose; our loader uses
    flat hands, so zero hand pose means an open hand in both."""
    layer = smplx.SMPLX(str(smplx_model_dir), ext="npz", use_pca=False, flat_hand_mean=False)
    with np.load(smplx_model_dir / "SMPLX_NEUTRAL.npz") as data:
        mean = np.concatenate([data["hands_meanl"], data["hands_meanr"]]).reshape(30, 3)
    with torch.no_grad():
        out = layer()
    pose = np.zeros((1, NUM_JOINTS, 3))
    pose[0, 25:] = mean
    ours = _fk(smplx_rest_joints(layer), pose, np.zeros((1, 3)))
    theirs = out.joints[0, :NUM_JOINTS].numpy()
    np.testing.assert_allclose(ours[0], theirs, atol=TOL)
    fingertip = JOINT_INDEX["left_index3"]
    assert np.linalg.norm(theirs[fingertip] - builtin_rest_joints()[fingertip]) > 1e-3


def test_smplx_keypoint_vertices_follow_our_keypoints(model):
    """The vertices smplx reads as nose/eyes/ears/heels sit on our keypoints, posed too."""
    rng = np.random.default_rng(4)
    batch = 3
    pose = _random_pose(rng, batch, 22, scale=0.3)
    transl = rng.normal(size=(batch, 3))
    joints = _smplx_joints(model, pose, transl)
    skel = smplx_skeleton(model)
    rot = torch.as_tensor(axis_angle_to_matrix(pose), dtype=torch.float32)
    _, _, kp = skel(rot, torch.as_tensor(transl, dtype=torch.float32))
    # smplx's extra joints after the 55: nose, reye, leye, rear, lear, then feet, then tips.
    order = ["nose", "right_eye", "left_eye", "right_ear", "left_ear"]
    extra = joints[:, NUM_JOINTS : NUM_JOINTS + 5]
    np.testing.assert_allclose(extra, kp[:, [KEYPOINT_INDEX[n] for n in order]].numpy(), atol=TOL)
    heels = joints[:, [NUM_JOINTS + 7, NUM_JOINTS + 10]]
    np.testing.assert_allclose(
        heels, kp[:, [KEYPOINT_INDEX["left_heel"], KEYPOINT_INDEX["right_heel"]]].numpy(),
        atol=TOL)


def test_v10_file_loads_without_writing_to_stdout(tmp_path, make_smplx_model, capsys):
    """SMPL-X v1.0 files have 10 shape directions; smplx prints a warning for them, which must
    not reach stdout (the backend server's protocol channel)."""
    make_smplx_model(tmp_path, v10=True)
    layer = load_smplx(tmp_path)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "WARNING" in captured.err
    assert layer.shapedirs.shape[-1] == 10
    np.testing.assert_allclose(smplx_rest_joints(layer), builtin_rest_joints(), atol=TOL)


def test_load_body_picks_smplx_or_the_default_body(smplx_model_dir):
    from genhmr.pipeline import BodyModelError, load_body

    body = load_body(str(smplx_model_dir))
    assert body.name == "smplx"
    np.testing.assert_allclose(body.skeleton().rest_joints.numpy(), builtin_rest_joints(),
                               atol=TOL)
    assert load_body("").name == "default"
    with pytest.raises(BodyModelError, match=r"SMPLX_MALE\.npz"):
        load_body(str(smplx_model_dir), gender="male")


# --- bad folders and files ----------------------------------------------------------------------


def test_missing_folder(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(SmplxModelError) as err:
        load_smplx(folder)
    msg = str(err.value)
    assert str(folder) in msg and "SMPLX_NEUTRAL.npz" in msg


def test_folder_without_the_file(tmp_path):
    (tmp_path / "readme.txt").write_text("not a model")
    with pytest.raises(SmplxModelError) as err:
        load_smplx(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg
    for name in ("SMPLX_NEUTRAL.npz", "SMPLX_MALE.npz", "SMPLX_FEMALE.npz"):
        assert name in msg


def test_folder_with_another_gender_or_pkl_only(tmp_path, smplx_model_dir):
    shutil.copy(smplx_model_dir / "SMPLX_NEUTRAL.npz", tmp_path / "SMPLX_MALE.npz")
    (tmp_path / "SMPLX_NEUTRAL.pkl").write_bytes(b"\x80")
    with pytest.raises(SmplxModelError) as err:
        find_model_file(tmp_path)
    msg = str(err.value)
    assert "SMPLX_MALE.npz" in msg  # says what it found
    assert ".npz version" in msg  # and that the .pkl is not enough


def test_unknown_gender(smplx_model_dir):
    with pytest.raises(SmplxModelError, match="gender"):
        load_smplx(smplx_model_dir, gender="other")


@pytest.mark.parametrize("content", [b"", b"garbage, not a zip archive" * 10])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    path.write_bytes(content)
    with pytest.raises(SmplxModelError) as err:
        load_smplx(tmp_path)
    assert str(path) in str(err.value)


def test_npz_lacking_arrays(tmp_path, smplx_model_dir):
    with np.load(smplx_model_dir / "SMPLX_NEUTRAL.npz") as data:
        arrays = {k: data[k] for k in data.files if k != "posedirs"}
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **arrays)
    with pytest.raises(SmplxModelError) as err:
        load_smplx(tmp_path)
    assert "SMPLX_NEUTRAL.npz" in str(err.value) and "posedirs" in str(err.value)
