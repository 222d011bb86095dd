"""The skinned body mesh on each rig: structure, rest shape and skinning against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_result import make_result, posed_result, write_result

from genhmr_core import result_format, skeleton
from genhmr_core.body_mesh import BodyMesh, from_smplx_arrays

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BODY = ROOT / "backend" / "genhmr" / "body" / "assets" / "default_body.npz"


@pytest.fixture(scope="session")
def smplx_body(smplx_model_dir: Path) -> BodyMesh:
    """The generated SMPL-X-format model file turned into a BodyMesh, as the backend does."""
    with np.load(smplx_model_dir / "SMPLX_NEUTRAL.npz", allow_pickle=False) as data:
        return from_smplx_arrays(data["v_template"], data["f"], data["weights"],
                                 data["shapedirs"], data["J_regressor"], name="smplx-neutral")


def _body(kind: str, smplx_body: BodyMesh) -> BodyMesh:
    if kind == "smplx":
        return smplx_body
    if not DEFAULT_BODY.is_file():
        pytest.skip(f"default body asset not built yet: {DEFAULT_BODY}")
    with np.load(DEFAULT_BODY, allow_pickle=False) as data:
        return BodyMesh.from_arrays(data, prefix="")


@pytest.mark.parametrize("kind", ["smplx", "default", "default sized"])
def test_body_mesh_import(driver, tmp_path: Path, smplx_body: BodyMesh, kind: str) -> None:
    """Structure of each person's mesh, its rest shape and its skinning, against numpy;
    "sized": the second person at 1.2 times their shape's size (``body_scale``, as the
    floor sizes people), the mesh scaled with the bones."""
    body = _body(kind.split()[0], smplx_body)
    b = body.num_betas
    betas = np.zeros((2, b))
    # Second person: a clear shape, one coefficient beyond the body's slider range.
    betas[1] = np.resize([1.5, -1.0, 0.7, 0.4, -0.5], b) * (np.arange(b) < 5)
    path = write_result(tmp_path / "r.npz", body=body, betas=betas,
                        body_scale=(1.0, 1.2) if kind.endswith("sized") else None)
    r = driver("body_mesh", path, timeout=300)
    assert r["status"] == ["FINISHED"]
    added = {k: r["after"][k] - r["before"][k] for k in r["before"]}
    # two bodies and the ground plane; two rigs, the camera, the bodies and the ground
    assert added["meshes"] == 3 and added["objects"] == 6 and added["materials"] == 1
    assert added["shape_keys"] == 2 and added["armatures"] == 2
    for p, (rig, person) in enumerate(sorted(r["people"].items())):
        assert person is not None, f"no body mesh for {rig}"
        assert person["vertices"] == body.num_vertices
        assert person["polygons"] == len(body.faces) and person["faces_equal"]
        assert person["triangles"] and person["smooth"]
        assert person["groups"] == list(skeleton.JOINT_NAMES) == r["bone_names"]
        assert person["max_weight_error"] < 1e-6
        assert person["modifiers"] == [["ARMATURE", rig, True]]
        assert person["parent"] == rig and person["parent_inverse_identity"]
        assert person["matrix_world_equals_rig"] and person["in_collection"]
        assert person["shape_keys"] == ["Basis", *body.shape_names]
        assert person["shape_values"] == pytest.approx(betas[p], abs=1e-6)
        for (lo, hi), value, limits in zip(person["slider_ranges"], betas[p],
                                           body.shape_limits, strict=True):
            assert lo <= min(value, limits[0]) + 1e-6 and hi >= max(value, limits[1]) - 1e-6
        assert person["materials"] == ["GenHMR Skin"]
        if len(body.uvs):
            assert person["uv_layers"] == 1 and person["uv_error"] < 1e-6
        else:
            assert person["uv_layers"] == 0
        assert person["rest_error"] < 1e-4, person["rest_error"]
        # the body shows only while its person is tracked, like the rig
        assert person["visibility_keys"] == person["expected_visibility"]
        # Dual quaternions are not linear blend skinning, but the body must still be where it is.
        dqs = person["dqs_vs_lbs"]
        assert dqs["frames"] > 0 and dqs["mean"] < 0.01 and dqs["max"] < 0.08, dqs
    for name, lbs in r["lbs"].items():
        assert lbs["frames"] > 0 and lbs["max"] < 1e-4, (name, lbs)
    assert r["lbs_preserve_volume"] == [False, False]
    assert not r["lbs_report"]["warnings"]
    seconds = r["lbs_report"]["mesh_seconds"]
    print(f"\n{kind} body: mesh build seconds",
          {k: {s: round(t, 3) for s, t in v.items()} for k, v in seconds.items()},
          "\nrest error (m):", {k: v["rest_error"] for k, v in r["people"].items()},
          "\nDQS vs numpy LBS (m):", {k: v["dqs_vs_lbs"] for k, v in r["people"].items()},
          "\nBlender LBS vs numpy LBS (m):", r["lbs"])
    assert all(s["total"] < 5.0 for s in seconds.values())

    fail = r["failure"]
    assert fail["raised"] == "injected mesh failure" and fail["calls"] == 2
    assert fail["after"] == fail["before"], fail
    assert r["without_mesh"]["meshes"] == []
    assert r["without_mesh"]["added"]["meshes"] == 1  # only the ground plane
    assert r["without_mesh"]["added"]["armatures"] == 2


CANDY_POSES = ["rest", "arms_down", "arms_forward", "forearm_twist", "upper_arm_twist",
               "hip_flex", "knee_bend", "thigh_twist"]
TWISTS = ("forearm_twist", "upper_arm_twist", "thigh_twist")


@pytest.mark.parametrize("kind", ["smplx", "default"])
def test_preserve_volume_keeps_limbs_thick(driver, tmp_path: Path, smplx_body: BodyMesh,
                                           kind: str) -> None:
    """Skin bound to shoulders, elbows, hips and knees keeps its distance to the bone in typical
    poses with dual quaternions; plain linear blend skinning collapses it at 90-degree twists
    (the candy wrapper). See drivers/candy_wrapper.py for the measure."""
    body = _body(kind, smplx_body)
    path = result_format.save_result(posed_result(body, CANDY_POSES), tmp_path / "r.npz")
    r = driver("candy_wrapper", path, ",".join(CANDY_POSES), timeout=300)
    print(f"\n{kind} body: vertices checked {r['vertices_checked']}, per bone {r['per_bone']}")
    print("  posed/rest distance to the bone, min (1st percentile); core | blend zones")
    for pose, row in r["poses"].items():
        print(f"  {pose:16s}" + "".join(
            f"  {mode}: " + " | ".join(f"{v[s]['min']:.3f} ({v[s]['p1']:.3f})"
                                      for s in ("core", "blend"))
            for mode, v in row.items()))
    assert r["vertices_checked"]["core"] > 400 and r["vertices_checked"]["blend"] > 100
    assert min(r["per_bone"].values()) > 20
    poses = r["poses"]
    for zone in ("core", "blend"):
        rest = poses["rest"]["dqs"][zone]
        assert rest["min"] > 0.999 and rest["max"] < 1.001, rest
    for pose, row in poses.items():
        assert row["dqs"]["core"]["min"] > 0.5, (pose, row)
        assert row["lbs"]["max_vs_numpy"] < 1e-4, (pose, row)
    for pose in TWISTS:
        dqs, lbs = poses[pose]["dqs"]["blend"], poses[pose]["lbs"]["blend"]
        assert dqs["min"] > 0.85, (pose, dqs)
        # The candy wrapper: LBS loses a measurable part of the limb's thickness at a twist.
        assert lbs["min"] < dqs["min"] - 0.1, (pose, dqs, lbs)


@pytest.mark.parametrize("kind", ["default", "smplx"])
def test_render_shows_a_body(driver, tmp_path: Path, smplx_body: BodyMesh, kind: str) -> None:
    """A Workbench still of the posed body: a skin-coloured figure, taller than wide."""
    body = _body(kind, smplx_body)
    poses = ["arms_forward", "arms_down", "knee_bend"]
    path = result_format.save_result(posed_result(body, poses), tmp_path / "r.npz")
    png = tmp_path / "body.png"
    r = driver("render_body", path, png, poses.index("arms_down"), timeout=300)
    print(f"\n{kind} body render: {r}")
    assert r["status"] == ["FINISHED"] and png.is_file()
    assert 0.08 < r["fraction"] < 0.6, r
    (top, bottom), (left, right) = r["bbox_rows"], r["bbox_cols"]
    height, width = bottom - top + 1, right - left + 1
    assert height > 1.8 * width and height > 0.7 * 480, r  # a standing figure fills the frame
    red, green, blue = r["body_colour"]
    assert red > green > blue, r  # lit skin, not grey background or black holes


def test_importing_again_updates_instead_of_duplicating(driver, tmp_path: Path,
                                                        smplx_body: BodyMesh) -> None:
    """A newer result of the same video updates the earlier import: no second collection,
    camera, material or ``.001`` names; person 3's rig stays the same object (what the artist
    built on it survives) and moves as the new result says; a new person joins, a missing one
    is kept and reported."""
    body = _body("default", smplx_body)
    first = write_result(tmp_path / "first.npz", body=body)
    res = make_result(body=body, seed=1)
    res.track_ids = np.array([3, 9])
    second = result_format.save_result(res, tmp_path / "second.npz")
    r = driver("reimport", first, second, timeout=300)
    rep = r["report"]
    assert rep["updated"] and rep["collection"] == "GenHMR synthetic.mp4"
    assert rep["armatures"] == ["GenHMR_person_3", "GenHMR_person_9"]
    assert rep["warnings"][-1] == "GenHMR_person_7: not in the new result, left as it was"
    assert r["numbered"] == []
    # One more person (rig, body, the rig's motion and the body's visibility keys); nothing
    # else more or less.
    assert r["added"] == {"objects": 2, "armatures": 1, "actions": 2, "collections": 0,
                          "cameras": 0, "movieclips": 0, "meshes": 1, "materials": 0,
                          "shape_keys": 1}, r["added"]
    assert r["same_object"] and r["prop_parent"] == "GenHMR_person_3"
    assert r["in_artist_collection"] and r["retarget_source"] == "GenHMR_person_3"
    assert r["bodies_on_rig"] == ["GenHMR_person_3_body"]
    assert r["max_head_difference_m"] < 1e-5


def test_a_kept_rig_takes_a_new_size(driver, tmp_path: Path, smplx_body: BodyMesh) -> None:
    """A rig reshaped to 1.2 times its person's size (a merge sized them on the floor again):
    the bones and the whole mesh, Basis and shape keys, scale together; the same size again
    leaves the mesh's coordinates (an artist's sculpt) alone."""
    body = _body("default", smplx_body)
    path = write_result(tmp_path / "r.npz", body=body)
    r = driver("resize_body", path, timeout=300)
    assert r["status"] == ["FINISHED"]
    assert r["size_before"] == pytest.approx(1.0) and r["error_before"] < 1e-4
    assert r["size_after"] == pytest.approx(1.2) and r["error_after"] < 1e-4, r
    assert r["bone_error"] < 1e-5, r
    assert r["sculpt_kept"] and r["rewritten_at_new_size"] and r["error_back"] < 1e-4, r
