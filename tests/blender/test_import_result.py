"""Importing a result builds rigs whose evaluated poses match the result in 3D and in pixels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from synthetic_result import make_result, write_result

from genhmr_core.ground import ground_of_solve
from genhmr_core.result_format import load_result, save_result

MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))


@pytest.mark.parametrize(("size", "pan", "zoom"), [((640, 360), 0.0, 1.0), ((360, 640), 0.0, 1.0),
                                                   ((640, 360), 30.0, 1.0),
                                                   ((640, 360), 20.0, 1.5)],
                         ids=["landscape", "portrait", "panning-camera", "zooming-camera"])
def test_import_matches_result(driver, tmp_path: Path, size: tuple[int, int],
                               pan: float, zoom: float) -> None:
    """Bone heads where the result puts the joints (in the world frame), and, through the scene
    camera at every frame (keyed with the footage's rotation when it panned, and its lens when
    it zoomed), on the pixels where the result's joints project with that frame's lens."""
    video = MEDIA / "demo.mp4"
    src = str(video) if video.is_file() else "/nonexistent/video.mp4"
    path = write_result(tmp_path / "r.npz", source_video=src, image_size=size,
                        camera_pan_deg=pan, contacts=True, camera_zoom=zoom)
    offset = 11
    r = driver("import_synthetic", path, offset)
    assert r["status"] == ["FINISHED"]
    added = {k: r["after"][k] - r["before"][k] for k in r["before"]}
    assert added["objects"] == 4 and added["armatures"] == 2  # two rigs, camera, ground
    assert added["meshes"] == 1  # the ground plane (no bodies in this result)
    ground = r["ground"]
    assert ground["z"] == 0.0 and min(ground["size"]) >= 10.0 and ground["in_collection"]
    # The camera stands as high above the floor as genhmr_core.ground says (the result has no
    # ground_plane, as an older file: the add-on estimates it from the feet the same way).
    res = load_result(path)
    height = ground_of_solve(res.keypoints3d, res.global_orient, res.valid,
                             res.camera_rotation).camera_height
    assert r["camera"]["height"] == pytest.approx(height, abs=1e-4)
    # the camera's motion is an action too, and so is its lens's zoom
    assert added["actions"] == 2 + bool(pan) + (zoom != 1.0)
    assert added["collections"] == 1 and added["cameras"] == 1
    assert set(r["people"]) == {"GenHMR_person_3", "GenHMR_person_7"}
    for name, person in r["people"].items():
        assert person["bones"] == 55 and person["bone_names_ok"] and person["parents_ok"], person
        assert person["in_collection"]
        # 22 posed bones x 4 quaternion channels + 3 root location channels.
        assert person["fcurves"] == 22 * 4 + 3
        assert person["other_fcurves"] in ([], ["hide_render", "hide_viewport"])
        assert person["confidence_curves"] == 22 + 1  # per animated bone, and the person's
        assert person["key_frames"] == person["valid_frames"], name
        assert person["keys_per_curve"] == [len(person["valid_frames"])]
        assert person["interpolations"] == ["LINEAR"]
        assert person["frames_checked"] == len(person["valid_frames"])
        assert person["max_head_error_mm"] < 1.0, person
        assert person["max_pixel_error"] < 1.0, person
    # Foot contacts: one custom property per foot point (0..1), keyed at the valid frames with
    # the result's values, F-curves in the rig's action.
    names = ["left_heel", "left_foot_index", "right_heel", "right_foot_index"]
    for p, track in enumerate(res.track_ids):
        person = r["people"][f"GenHMR_person_{int(track)}"]
        assert person["contact_props"] == {f"contact_{n}": [0.0, 1.0] for n in names}
        for k, name in enumerate(names):
            keys = person["contacts"][f'["contact_{name}"]']
            assert [f for f, _ in keys] == [int(v) + offset
                                            for v in res.frame_indices[res.valid[p]]], name
            np.testing.assert_allclose([c for _, c in keys],
                                       res.foot_contact[p, res.valid[p], k], atol=1e-5)
    # Person 7 is tracked in video frames 7..14 of 5..16: hidden before and after, shown
    # between; person 3 is tracked from the first to the last frame: never hidden.
    first, last = 7 + offset, 14 + offset
    want = [[first - 1, True], [first, False], [last, False], [last + 1, True]]
    assert r["people"]["GenHMR_person_7"]["hide_keys"] == {"hide_viewport": want,
                                                          "hide_render": want}
    assert r["people"]["GenHMR_person_3"]["hide_keys"] == {}
    # Frame mapping: video frame v is keyed at scene frame offset + v (5..16 -> 16..27).
    assert r["people"]["GenHMR_person_3"]["key_frames"][0] == 5 + offset
    assert r["frame_range"] == [5 + offset, 16 + offset]
    cam = r["camera"]
    assert cam["is_scene_camera"] and cam["sensor_fit"] == "HORIZONTAL"
    if pan:  # keyed on every frame of the result, whoever is valid there
        assert cam["rotation_mode"] == "QUATERNION"
        assert cam["rotation_keys"] == list(range(5 + offset, 17 + offset))
    else:
        assert cam["rotation_mode"] == "XYZ" and cam["rotation_keys"] == []
    if zoom != 1.0:  # the lens keyed on every frame: the result's focal length in mm
        lens = np.array(cam["lens_keys"])
        assert lens[:, 0].tolist() == list(range(5 + offset, 17 + offset))
        np.testing.assert_allclose(lens[:, 1], res.camera_focal_px * cam["sensor_width"]
                                   / size[0], rtol=1e-5)
        assert lens[-1, 1] == pytest.approx(zoom * lens[0, 1], rel=1e-5)
    else:
        assert cam["lens_keys"] == []
    assert r["render"]["resolution"] == list(size) and r["render"]["fps"] == pytest.approx(30)
    if video.is_file():
        assert cam["backgrounds"] == 1 and cam["bg_source"] == "MOVIE_CLIP" and cam["show_bg"]
        assert cam["clip_frame_start"] == offset  # clip frame 1 == video frame 0
        assert added["movieclips"] == 1


def test_import_timing(driver, tmp_path: Path) -> None:
    small = write_result(tmp_path / "s.npz", num_frames=4)
    big = write_result(tmp_path / "b.npz", num_frames=1000, seed=1)
    r = driver("import_synthetic", small, 1, big)
    print(f"\nimport of {r['big']['people']} people x {r['big']['frames']} frames: "
          f"{r['big']['total_seconds']:.2f} s {r['big']['stages']}")
    assert r["big"]["total_seconds"] < 20


def test_the_rig_is_editable_by_hand(driver, tmp_path: Path) -> None:
    """The root's location channels are the world's axes (raising the hips is one curve), and
    Blender's Paste Flipped Pose gives the exact mirror image of a pose (left and right bones
    are mirror images, paired by Blender's own name flipping)."""
    path = write_result(tmp_path / "r.npz")
    r = driver("rig_conventions", path)
    assert np.array(r["pelvis_rest"]) == pytest.approx(
        np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]), abs=1e-6)
    assert r["raised"] == pytest.approx([0.0, 0.0, 0.1], abs=1e-6)
    assert r["paired"] == 2 * 24  # every left_/right_ bone (24 pairs) finds its partner
    assert r["asymmetric_pose"] > 0.1  # the posed frame is no mirror image of itself
    assert r["flip_error_m"] < 1e-5


def test_where_the_solve_is_unsure_shows(driver, tmp_path: Path) -> None:
    """Confidence keyed per animated bone and per person; a timeline marker at each unsure
    stretch (an artist's own markers kept, a rig's markers replaced when marked again); bones
    coloured by their confidence at the current frame, red below the threshold."""
    res = make_result(num_frames=12)  # scene frame = result frame index + 5 + 1
    res.joint_confidence[:] = 1.0
    res.joint_confidence[0, 6:9, :22] = 0.2
    res.joint_confidence[0, 9:11, :22] = 0.6
    path = save_result(res, tmp_path / "r.npz")
    r = driver("unsure_marks", path)
    assert len(r["curves"]) == 23
    person = r["curves"]['["genhmr_confidence"]']
    assert [k for k in person if k[0] in (11, 12, 13, 14)] == [[11, 1.0], [12, 0.2], [13, 0.2],
                                                               [14, 0.2]]
    assert r["curves"]['pose.bones["left_knee"]["genhmr_confidence"]'] == person
    # At the default threshold 0.5: one marker, on person 3's first unsure frame.
    assert r["at_import"] == {"keep me": 3, "GenHMR_person_3 unsure (3 f)": 12}
    c = r["colours"]
    assert c["palette"] == "CUSTOM" and c["show"]
    assert c["low"][0] > 0.8 and c["low"][1] < 0.3  # red
    assert c["high"][1] > 0.7 and c["high"][0] < 0.3  # green
    assert c["medium_at_0.7"][0] > 0.8 and c["medium_at_0.7"][1] < 0.7  # 0.6 < 0.7: orange
    # Marked again at 0.7: the 0.2 and 0.6 frames make one stretch; the old marker replaced.
    assert r["remarked"] == ["FINISHED"]
    assert r["after"] == {"keep me": 3, "GenHMR_person_3 unsure (5 f)": 12}
    # Keys only where sure: imported again (an update of the same rigs) with 0.5, the 0.2
    # frames (scene 12-14) have no bone keys, the 0.6 ones (15-16) and the rest keep theirs.
    assert r["again"] == ["FINISHED"]
    assert r["markers_again"] == r["after"]  # the import marks at the panel's threshold too
    solved = [f for f, _ in person]
    for path in ('pose.bones["left_knee"].rotation_quaternion', 'pose.bones["pelvis"].location'):
        assert r["sure_keys"][path] == [f for f in solved if f not in (12, 13, 14)], path


def test_fix_people_by_hand(driver, tmp_path: Path) -> None:
    """Split a rig at a frame (the new person plays on exactly), merge it back (the original
    again), merge another person in (frames gained with that person's rotations and place),
    delete a rig (nothing left behind); clear refusals."""
    r = driver("people_edits", write_result(tmp_path / "r.npz"))
    before = r["keyed_before"]
    assert r["split"] == ["FINISHED"]
    assert r["split_keys"] == {"3": [f for f in before["3"] if f < 13],
                               "8": [f for f in before["3"] if f >= 13]}
    assert r["split_error_m"] < 1e-5
    assert r["visible_at_15"] == {"GenHMR_person_3": False, "GenHMR_person_8": True}
    assert r["split_outside"][0] == "CANCELLED" and "one side" in r["split_outside"][1]
    assert r["merge_back"] == ["FINISHED"] and r["merge_back_keys"] == before["3"]
    # a result file imported on its own: no analysis for the backend to solve again
    assert "merged the keys as they are: " in r["merge_back_message"]
    assert "not an analysis" in r["merge_back_message"]
    assert r["merge_back_error_m"] < 1e-5
    assert r["merge"] == ["FINISHED"]
    assert r["merged_keys"] == sorted(set(before["3"]) | set(before["7"]))
    assert r["gained_rotation_error"] < 1e-4  # 7's rotations on 3's (larger) skeleton
    assert r["gained_pelvis_error_m"] < 1e-5  # and 7's place
    assert r["kept_error_m"] < 1e-5  # 3's own frames untouched
    assert r["left"] == ["GenHMR_person_3"] and r["orphans"] == []
    assert r["merge_alone"][0] == "CANCELLED" and "another GenHMR rig" in r["merge_alone"][1]
    assert r["delete"] == ["FINISHED"] and r["after_delete"] == []
    assert not any(m.startswith("GenHMR_person") for m in r["markers"])


def test_a_generative_result_keys_its_gaps_and_marks_them_unsure(driver, tmp_path: Path
                                                                 ) -> None:
    """The generative method bridges the frames a person was not seen in inside their track
    (``genhmr.generative.bridge_gaps``) and gives them confidence 0: the import keys them too
    (an F-curve between two seen keys would otherwise draw a straight line through the gap),
    with confidence 0, and marks them unsure; nothing is keyed before or after the track."""
    res = make_result(num_frames=12)  # scene frame = result frame index + 5 + 1
    res.method = "generative"
    res.valid[0, 8:11] = False  # a second gap (the fixture has one at 3-4)
    res.joint_confidence[:] = 1.0
    res.joint_confidence[~res.valid] = 0.0
    path = save_result(res, tmp_path / "r.npz")
    r = driver("unsure_marks", path)
    person = r["curves"]['["genhmr_confidence"]']
    seen = np.flatnonzero(res.valid[0])
    scene = list(range(seen[0] + 6, seen[-1] + 7))
    assert [f for f, _ in person] == scene  # the whole span, gaps included
    gaps = [f + 6 for f in np.flatnonzero(~res.valid[0]) if seen[0] < f < seen[-1]]
    assert gaps == [9, 10, 14, 15, 16]
    assert [v for f, v in person if f in gaps] == [0.0] * len(gaps)
    assert r["at_import"]["GenHMR_person_3 unsure (2 f)"] == 9
    assert r["at_import"]["GenHMR_person_3 unsure (3 f)"] == 14
