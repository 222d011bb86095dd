"""The versioned result file (genhmr_core.result_format): the backend/add-on contract."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genhmr_core import result_format as rf
from genhmr_core.keypoints import KEYPOINT_NAMES, MEDIAPIPE_NAMES
from genhmr_core.result_format import (
    FIELDS,
    FORMAT_VERSION,
    JobResult,
    ResultFormatError,
    empty_result,
    load_result,
    save_result,
)
from genhmr_core.skeleton import JOINT_NAMES, PARENTS, builtin_rest_joints


def _filled(num_people: int = 2, num_frames: int = 5, seed: int = 0) -> JobResult:
    rng = np.random.default_rng(seed)
    k = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
    res = empty_result("/videos/clip.mp4", 29.97, (1280, 720), k,
                       np.arange(10, 10 + num_frames), num_people)
    res.track_ids = np.arange(num_people) * 3 + 1
    res.valid = rng.random(res.valid.shape) > 0.3
    res.rest_joints[:] = builtin_rest_joints()
    for name, (_, kind) in FIELDS.items():
        if kind == "f" and name not in ("camera_K", "rest_joints"):
            arr = getattr(res, name)
            arr[...] = rng.normal(size=arr.shape)
    res.body_model, res.method, res.backend_version = "smplx", "fit", "0.1.0"
    return res


def _assert_same(a: JobResult, b: JobResult) -> None:
    for name, (_, kind) in FIELDS.items():
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == y.shape, name
        if kind == "f":
            np.testing.assert_allclose(y, x.astype(np.float32), err_msg=name)
        else:
            np.testing.assert_array_equal(y, x, err_msg=name)
    for name in ("source_video", "body_model", "method", "backend_version"):
        assert getattr(a, name) == getattr(b, name)
    assert b.fps == pytest.approx(a.fps)


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_round_trip(tmp_path):
    res = _filled()
    path = save_result(res, tmp_path / "job" / "result.npz")
    assert path == tmp_path / "job" / "result.npz" and path.is_file()
    back = load_result(path)
    _assert_same(res, back)
    assert back.num_people == 2 and back.num_frames == 5


def test_optional_joint_uncertainty_round_trips_and_may_be_absent(tmp_path):
    res = _filled()
    assert load_result(save_result(res, tmp_path / "none.npz")).joint_uncertainty is None
    assert "joint_uncertainty" not in _npz_arrays(tmp_path / "none.npz")
    res.joint_uncertainty = np.random.default_rng(3).uniform(0, 40, (2, 5, 21))
    back = load_result(save_result(res, tmp_path / "with.npz"))
    np.testing.assert_allclose(back.joint_uncertainty, res.joint_uncertainty.astype(np.float32))
    res.joint_uncertainty = np.zeros((2, 5, 22))
    with pytest.raises(ResultFormatError, match="joint_uncertainty"):
        save_result(res, tmp_path / "bad.npz")


def test_optional_camera_rotation_round_trips_and_must_hold_rotations(tmp_path):
    from scipy.spatial.transform import Rotation

    res = _filled()
    assert load_result(save_result(res, tmp_path / "static.npz")).camera_rotation is None
    pan = Rotation.from_euler("y", np.linspace(0, 20, 5)[:, None], degrees=True).as_matrix()
    res.camera_rotation = pan
    back = load_result(save_result(res, tmp_path / "pan.npz"))
    np.testing.assert_allclose(back.camera_rotation, pan, atol=1e-6)
    assert back.camera_rotation.dtype == np.float32
    for bad, match in ((np.tile(np.eye(3), (4, 1, 1)), "dim F"),
                       (pan * 2.0, "rotation matrix"),
                       (pan * np.array([1.0, 1.0, -1.0]), "rotation matrix")):  # a mirror
        res.camera_rotation = bad
        with pytest.raises(ResultFormatError, match=match):
            save_result(res, tmp_path / "bad.npz")


def test_optional_camera_focal_px_round_trips_and_gives_each_frame_its_intrinsics(tmp_path):
    """A zooming lens: every frame's focal length, fy scaled with fx, the principal point kept;
    without the field every frame has camera_K (files written before it mean what they did)."""
    res = _filled()
    K = res.intrinsics()
    assert K.shape == (5, 3, 3) and np.array_equal(K, np.repeat(res.camera_K[None], 5, 0))
    assert load_result(save_result(res, tmp_path / "fixed.npz")).camera_focal_px is None
    res.camera_K = np.array([[1000.0, 0.0, 640.0], [0.0, 1100.0, 360.0], [0.0, 0.0, 1.0]])
    res.camera_focal_px = np.linspace(1000.0, 1500.0, 5)
    back = load_result(save_result(res, tmp_path / "zoom.npz"))
    assert back.camera_focal_px.dtype == np.float32
    K = back.intrinsics()
    np.testing.assert_allclose(K[:, 0, 0], [1000, 1125, 1250, 1375, 1500])
    np.testing.assert_allclose(K[:, 1, 1], 1.1 * K[:, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(K[:, :2, 2], np.tile([640.0, 360.0], (5, 1)))
    for bad, match in ((np.full(4, 1000.0), "dim F"), (np.full(5, -1.0), "positive"),
                       (np.array([1000.0, np.nan, 1000, 1000, 1000]), "positive")):
        res.camera_focal_px = bad
        with pytest.raises(ResultFormatError, match=match):
            save_result(res, tmp_path / "bad.npz")


def test_optional_foot_contact_round_trips_and_holds_probabilities(tmp_path):
    res = _filled()
    assert load_result(save_result(res, tmp_path / "none.npz")).foot_contact is None
    res.foot_contact = np.random.default_rng(4).uniform(0, 1, (2, 5, 4))
    back = load_result(save_result(res, tmp_path / "contact.npz"))
    np.testing.assert_allclose(back.foot_contact, res.foot_contact, atol=1e-6)
    for bad, match in ((np.zeros((2, 5, 3)), "dim"), (np.full((2, 5, 4), 1.5), "[0, 1]")):
        res.foot_contact = bad
        with pytest.raises(ResultFormatError, match=match):
            save_result(res, tmp_path / "bad.npz")


def test_optional_body_scale_round_trips_defaults_to_ones_and_must_be_positive(tmp_path):
    res = _filled()
    back = load_result(save_result(res, tmp_path / "none.npz"))
    assert back.body_scale is None
    np.testing.assert_array_equal(back.body_scales(), np.ones(2))
    res.body_scale = np.array([1.0, 1.18])
    back = load_result(save_result(res, tmp_path / "sized.npz"))
    np.testing.assert_allclose(back.body_scales(), [1.0, 1.18], atol=1e-6)
    for bad, match in ((np.ones(3), "dim"), (np.array([1.0, 0.0]), "positive"),
                       (np.array([1.0, np.nan]), "positive")):
        res.body_scale = bad
        with pytest.raises(ResultFormatError, match=match):
            save_result(res, tmp_path / "bad.npz")


def test_optional_world_trajectories_round_trip_and_must_be_finite(tmp_path):
    res = _filled()
    back = load_result(save_result(res, tmp_path / "none.npz"))
    assert back.root_world is None and back.support_height is None
    rng = np.random.default_rng(5)
    res.root_world = rng.normal(0.0, 2.0, (2, 5, 3))
    res.support_height = np.where(rng.uniform(size=(2, 5)) > 0.5, 2.2, 0.0)
    back = load_result(save_result(res, tmp_path / "world.npz"))
    np.testing.assert_allclose(back.root_world, res.root_world, atol=1e-5)
    np.testing.assert_allclose(back.support_height, res.support_height, atol=1e-6)
    for name, bad, match in (("root_world", np.zeros((2, 5)), "dim"),
                             ("root_world", np.full((2, 5, 3), np.nan), "finite"),
                             ("support_height", np.full((2, 5), np.inf), "finite")):
        good = getattr(res, name)
        setattr(res, name, bad)
        with pytest.raises(ResultFormatError, match=match):
            save_result(res, tmp_path / "bad.npz")
        setattr(res, name, good)


def test_optional_ground_plane_round_trips_and_needs_a_unit_normal(tmp_path):
    res = _filled()
    assert load_result(save_result(res, tmp_path / "none.npz")).ground_plane is None
    res.ground_plane = np.array([0.0, -1.0, 0.0, -1.6])
    back = load_result(save_result(res, tmp_path / "floor.npz"))
    np.testing.assert_allclose(back.ground_plane, [0.0, -1.0, 0.0, -1.6], atol=1e-6)
    for bad in (np.array([0.0, -2.0, 0.0, -1.6]), np.array([0.0, -1.0, 0.0, np.nan]),
                np.zeros(3)):
        res.ground_plane = bad
        with pytest.raises(ResultFormatError, match="ground_plane"):
            save_result(res, tmp_path / "bad.npz")


def test_round_trip_no_people(tmp_path):
    res = _filled(num_people=0, num_frames=3)
    back = load_result(save_result(res, tmp_path / "r.npz"))
    assert back.num_people == 0 and back.num_frames == 3
    assert back.joints3d.shape == (0, 3, len(JOINT_NAMES), 3)


def test_stored_dtypes_and_metadata(tmp_path):
    path = save_result(_filled(), tmp_path / "r.npz")
    data = _npz_arrays(path)
    for name, (_, kind) in FIELDS.items():
        assert data[name].dtype == {"f": np.float32, "i": np.int64, "b": np.bool_}[kind], name
    for name in rf.METADATA:
        assert name in data, name
    assert str(data["format"]) == rf.FORMAT_NAME
    assert int(data["format_version"]) == FORMAT_VERSION
    assert tuple(data["joint_names"]) == JOINT_NAMES
    assert tuple(data["joint_parents"]) == PARENTS
    assert tuple(data["keypoint_names"]) == KEYPOINT_NAMES
    assert tuple(data["landmark_names"]) == MEDIAPIPE_NAMES
    # Nothing in the file needs pickle: every array is numeric, bool or fixed-width unicode.
    assert all(arr.dtype.kind in "fiubU" for arr in data.values())


def test_file_is_a_plain_npz(tmp_path):
    path = save_result(_filled(), tmp_path / "r.npz")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {f"{n}.npy" for n in FIELDS} <= names


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "r.npz"
    save_result(_filled(seed=1), path)
    save_result(_filled(seed=2), path)
    _assert_same(_filled(seed=2), load_result(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "r.npz"
    save_result(_filled(seed=1), path)
    before = path.read_bytes()

    def broken(fh, arrays, compresslevel=1):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(rf, "save_npz", broken)
    with pytest.raises(OSError, match="disk full"):
        save_result(_filled(seed=2), path)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # temp file removed

    with pytest.raises(OSError):
        save_result(_filled(), tmp_path / "new.npz")
    assert not (tmp_path / "new.npz").exists()


def test_invalid_result_is_not_written(tmp_path):
    res = _filled()
    res.transl = res.transl[:, :, :2]
    with pytest.raises(ResultFormatError, match="transl"):
        save_result(res, tmp_path / "r.npz")
    assert not any(tmp_path.iterdir())


def _rewrite(path: Path, **changes) -> Path:
    data = _npz_arrays(path)
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    out = path.with_name("edited.npz")
    np.savez(out, **data)
    return out


def test_newer_version_is_refused_with_a_clear_message(tmp_path):
    path = _rewrite(save_result(_filled(), tmp_path / "r.npz"),
                    format_version=np.array(FORMAT_VERSION + 1))
    with pytest.raises(ResultFormatError) as err:
        load_result(path)
    msg = str(err.value)
    assert str(FORMAT_VERSION + 1) in msg and str(FORMAT_VERSION) in msg
    assert "Update the add-on" in msg
    assert str(path) in msg


def test_missing_field(tmp_path):
    path = _rewrite(save_result(_filled(), tmp_path / "r.npz"), body_pose=None)
    with pytest.raises(ResultFormatError, match="lacks fields: body_pose"):
        load_result(path)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("transl", np.zeros((2, 5, 2), np.float32), "transl"),
    ("joints3d", np.zeros((2, 4, 55, 3), np.float32), "joints3d: dim F is 4, expected 5"),
    ("keypoints2d", np.zeros((2, 5, 17, 3), np.float32), "keypoints2d: dim K"),
    ("valid", np.zeros((2,), bool), "valid: expected 2 dims"),
    ("track_ids", np.zeros(2, np.float32), "track_ids: expected dtype kind 'i'"),
    ("camera_K", np.zeros((3, 4), np.float32), "camera_K"),
])
def test_wrong_shape_or_dtype(tmp_path, field, value, match):
    path = _rewrite(save_result(_filled(), tmp_path / "r.npz"), **{field: value})
    with pytest.raises(ResultFormatError, match=match):
        load_result(path)


@pytest.mark.parametrize("field", ["source_video", "body_pose", "an_extra_array"])
def test_pickled_object_arrays_are_refused(tmp_path, field):
    """Known fields and unknown extra arrays alike: a file holding any object array is refused
    (loading it would unpickle, i.e. run code from the file)."""
    path = save_result(_filled(), tmp_path / "r.npz")
    data = _npz_arrays(path)
    data[field] = np.array([{"evil": "payload"}], dtype=object)
    out = tmp_path / "pickled.npz"
    np.savez(out, **data)  # numpy pickles the object array
    with pytest.raises(ResultFormatError,
                       match=rf"holds pickled Python objects \(array '{field}'\)"):
        load_result(out)


def test_missing_metadata(tmp_path):
    path = _rewrite(save_result(_filled(), tmp_path / "r.npz"), fps=None)
    with pytest.raises(ResultFormatError, match="lacks fields: fps"):
        load_result(path)


def test_damaged_and_empty_files_get_one_sentence_each(tmp_path):
    """What is wrong with the file, in one line, never a traceback or numpy's own words."""
    path = save_result(_filled(), tmp_path / "r.npz")
    blob = path.read_bytes()
    middle = len(blob) // 2
    flipped = blob[:middle] + bytes(b ^ 0xFF for b in blob[middle:middle + 64]) + \
        blob[middle + 64:]
    cases = (("empty.npz", b"", "is empty \\(0 bytes\\)"),
             ("half.npz", blob[:middle], "is damaged \\(cut short or corrupted"),
             ("tail.npz", blob[middle:], "not a GenHMR result file \\(not an .npz archive\\)"),
             ("text.npz", b"frame,x,y\n1,2,3\n", "not a GenHMR result file \\(not an .npz"),
             ("flipped.npz", flipped, "is damaged"))
    for name, content, match in cases:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ResultFormatError, match=match) as info:
            load_result(bad)
        message = str(info.value)
        assert "\n" not in message and "pickle" not in message and "No data left" not in message


def test_a_plain_npy_is_not_a_result(tmp_path):
    path = tmp_path / "r.npz"
    with path.open("wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ResultFormatError, match="not a GenHMR result file"):
        load_result(path)


def test_not_a_result_file(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ResultFormatError, match="not a GenHMR result file"):
        load_result(other)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"definitely not a zip file")
    with pytest.raises(ResultFormatError, match=r"not an \.npz archive"):
        load_result(garbage)
    with pytest.raises(ResultFormatError, match="Result file not found"):
        load_result(tmp_path / "missing.npz")


def test_different_joint_or_keypoint_set(tmp_path):
    path = save_result(_filled(), tmp_path / "r.npz")
    names = np.array(tuple(reversed(JOINT_NAMES)))
    with pytest.raises(ResultFormatError, match="joint set"):
        load_result(_rewrite(path, joint_names=names))
    with pytest.raises(ResultFormatError, match="keypoint set"):
        load_result(_rewrite(path, keypoint_names=np.array(KEYPOINT_NAMES[:-1])))


def test_empty_result_shapes_validate():
    res = empty_result("v.mp4", 30, (640, 480), np.eye(3), np.arange(7), 3)
    res.validate()
    assert res.body_pose.shape == (3, 7, 21, 3)
    assert res.keypoints2d.shape == (3, 7, len(KEYPOINT_NAMES), 3)
    assert res.detector_landmarks2d.shape == (3, 7, len(MEDIAPIPE_NAMES), 3)
    assert not res.valid.any()


def test_fields_table_is_documented():
    """docs/result_format.md lists every field of FIELDS with its shape, and the metadata."""
    doc = (Path(__file__).parents[2] / "docs" / "result_format.md").read_text(encoding="utf-8")
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells
    kinds = {"f": "float32", "i": "int64", "b": "bool"}
    for name, (shape, kind) in {**FIELDS, **rf.OPTIONAL_FIELDS}.items():
        assert name in rows, name
        want = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        assert rows[name][1] == want, name
        assert rows[name][2] == kinds[kind], name
    for name in rf.METADATA:
        assert name in rows, name
    assert f"# Result file format (version {FORMAT_VERSION})" in doc


def test_save_accepts_str_and_pathlike(tmp_path):
    path = save_result(_filled(), os.fspath(tmp_path / "s.npz"))
    assert isinstance(path, Path) and path.is_file()
