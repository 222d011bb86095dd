"""Export Motion: FBX, BVH and glTF written by Blender's exporters re-import with the same
bones, frames and motion; errors leave nothing behind; the batch CLI's real main()."""

from __future__ import annotations

from pathlib import Path

from synthetic_result import write_result


def test_export_reimport_and_errors(driver, tmp_path: Path) -> None:
    """Person 7 of the synthetic result (keyed hidden outside its track, hidden at the current
    frame, three non-deforming bones, a skinned cube) out as FBX, BVH and glb, back in through
    Blender's importers into an empty scene: same bones, same frames, and every frame's bone
    rotations (world, relative to rest) and pelvis and wrist positions as before; a BVH of
    the rig placed, turned and scaled with a translating bone comes back in world space. Then
    the errors: a mesh
    active, an armature without animation, a folder that does not exist: CANCELLED with one
    line, nothing written, nothing changed. (One driver run: each costs a Blender start.)"""
    path = write_result(tmp_path / "r.npz")
    out = tmp_path / "out"
    out.mkdir()
    r = driver("export_motion", path, out)
    assert r["frames"] == 8  # video frames 7..14 at scene offset 11: keys 18..25
    for fmt in ("FBX", "BVH", "GLTF"):
        info = r["exports"][fmt]
        assert info["status"] == ["FINISHED"] and info["exists"], fmt
        # the artist's state is back: range, frame, active object in Pose Mode, selection,
        # keyed visibility (not muted), no temporary collection, no new data
        assert info["unchanged"], fmt
    assert r["after"] == r["before"]
    assert r["before"]["mode"] == "POSE" and r["before"]["rig_hidden"][0]
    got = r["reimports"]
    # FBX and glTF: only deform bones; BVH: every bone
    assert got["FBX"]["bones"] == got["GLTF"]["bones"] == r["deform_bones"] == 52
    assert got["BVH"]["bones"] == r["bones"] == 55
    assert set(got["BVH"]["bone_names"]) >= set(got["FBX"]["bone_names"])
    assert got["FBX"]["bone_names"] == got["GLTF"]["bone_names"]
    for fmt, info in got.items():
        assert info["armatures"] == 1, fmt
        assert info["frames"] == info["span"] == r["frames"], (fmt, info)
        assert info["max_deg"] < 0.05, (fmt, info)
        # world space at unit scale: FBX "FBX All" scaling, BVH rewritten Y up
        assert info["max_mm"] < 0.1, (fmt, info)
        if fmt != "BVH_placed":
            assert all(abs(s - 1.0) < 1e-6 for s in info["scale"]), (fmt, info)
    assert got["FBX"]["skinned"] == got["GLTF"]["skinned"] == [True]  # the cube came along
    assert got["BVH"]["meshes"] == 0
    # "FBX All" scaling: the file says metres (100 cm per unit) and no object is scaled, so
    # Unity and Unreal import the rig at its size with a scale of 1 (Blender's default would
    # put a scale of 100 on the armature)
    assert r["fbx_file"]["unit"] == [100.0]
    assert all(abs(v - 1.0) < 1e-4 for s in r["fbx_file"]["scales"] for v in s)
    # BVH position channels: on the root only while no other bone translates; once one does,
    # on every bone not connected to its parent (Blender's exporter decides for all at once;
    # GenHMR bones are all disconnected), so the motion stays exact
    channels = r["placed_channels"]
    assert channels["BVH"] == [6] + [3] * 54
    assert channels["BVH_placed"] == [6] * 55 and got["BVH_placed"]["bones"] == 55
    # errors
    errors = r["errors"]
    for case, info in errors.items():
        assert info["status"] == ["CANCELLED"], case
        assert not info["written"] and info["unchanged"], case
        assert len(info["message"].strip().splitlines()) == 1, info["message"]
    assert "is a mesh, not an armature" in errors["mesh"]["message"]
    assert "'still_rig' has no animation to export" in errors["no_animation"]["message"]
    assert "does not exist" in errors["bad_folder"]["message"]
    # the sub-panel (under the GenHMR tab) for armatures only, and File > Export
    ui = r["ui"]
    assert ui["parent"] == "GENHMR_PT_view3d" and ui["poll_armature"] and not ui["poll_mesh"]
    assert ui["calls"] == ["label:GenHMR_person_7", "operator:genhmr.export_motion"]
    assert ui["export_menu"] == ["menu_export"]


def test_batch_cli(driver, tmp_path: Path) -> None:
    """``main()`` enables the extension from its own package name, writes one file per person
    (FBX re-imports with all 55 bones over the rig's key span), filters people, and turns bad
    input into one message and a non-zero exit before touching the scene."""
    path = write_result(tmp_path / "r.npz")
    out = tmp_path / "out"
    out.mkdir()
    r = driver("batch_export", path, out)
    runs = r["runs"]
    assert r["enabled_by_main"] and r["help_exit"] == 0
    assert runs["all_fbx"] == {"written": ["fbx/person_3.fbx", "fbx/person_7.fbx"],
                               "message": ""}
    for name, span in r["spans"].items():
        again = r["reimported"][f"fbx/{name.removeprefix('GenHMR_')}.fbx"]
        assert again["bones"] == 55 and again["frames"] == again["span"] == span, name
    assert runs["person_7_gltf"]["written"] == ["glb/person_7.glb"]
    for case, words in {"missing_result": "result file not found",
                        "corrupt_result": "is not a GenHMR result file",
                        "unknown_person": "no person 9 in the result (people: 3, 7)",
                        "unknown_target": "no armature named 'Nobody'",
                        "no_retarget": "retargeting is not available in this version"}.items():
        message = runs[case]["message"]
        assert message.startswith("GenHMR batch: error: ") and words in message, (case, message)
        assert "\n" not in message and runs[case]["written"] == [], case
    assert r["untouched"]
    assert runs["bad_format"]["message"] == 2  # argparse: usage and the error, status 2
    if r["retarget_available"]:  # each person baked onto a copy of the character: its deform
        # bones, over the same frames as the GenHMR rig's export
        assert runs["target"] == {"written": ["target/person_3.fbx", "target/person_7.fbx"],
                                  "message": ""}
        for name, span in r["spans"].items():
            again = r["reimported"][f"target/{name.removeprefix('GenHMR_')}.fbx"]
            assert again["bones"] == r["character_deform_bones"] > 0, name
            assert again["frames"] == again["span"] == span, name
