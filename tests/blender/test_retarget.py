"""Retargeting onto characters built in the test: Rigify (metarig and generated rig), Mixamo,
Unreal (UE5, UE4) and a hand-made rig, driven through the installed extension's operators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_result import squat_result, write_result

from genhmr_core.result_format import save_result

LIMB_TOLERANCE_DEG = 5.0


@pytest.fixture(scope="module")
def motion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two people with random poses, turns and travel over 24 frames (known motion), and foot
    contacts that plant each foot for a few frames at a time."""
    return write_result(tmp_path_factory.mktemp("retarget") / "r.npz", num_frames=24,
                        contacts=True)


def _check_follows(rig: dict, frames: list[int], name: str) -> None:
    assert rig["status"] == ["FINISHED"], name
    assert rig["after"] == rig["before"], f"{name}: helper objects or constraints left behind"
    assert rig["key_frames"] == list(range(frames[0], frames[1] + 1)), name
    assert max(rig["max_limb_deg"]) < LIMB_TOLERANCE_DEG, (name, rig["max_limb_deg"])
    # Foot heights follow the source's, scaled by the leg-length ratio.
    src, tgt = np.array(rig["src_feet"]), np.array(rig["tgt_feet"])
    scale = rig["tgt_travel"] / rig["src_travel"]
    assert np.ptp(src) > 0.05  # the feet do move
    change_src, change_tgt = src - src.mean(0), tgt - tgt.mean(0)
    assert np.abs(change_tgt - scale * change_src).max() < 0.03, name


@pytest.mark.slow
def test_retarget_onto_each_rig_family(driver, motion: Path) -> None:
    """Auto-mapped from each family's preset (or names), every mapped limb points where the
    source's does in every frame, the feet rise and fall with the source's scaled by leg
    length, and the hips travel the scaled distance; no helpers left behind."""
    kinds = ["mixamo", "mixamo_scaled", "ue5", "ue4", "generic", "metarig", "rigify"]
    r = driver("retarget", motion, *kinds, timeout=240, GENHMR_TEST_FOOT_LOCK="0")
    assert r["import"] == ["FINISHED"]
    families = {k: r["rigs"][k]["mapped_from"] for k in kinds}
    assert families == {"mixamo": "Mixamo", "mixamo_scaled": "Mixamo",
                        "ue5": "Unreal Mannequin (UE5)", "ue4": "Unreal Mannequin (UE4)",
                        "generic": "names and hierarchy", "metarig": "Rigify metarig",
                        "rigify": "Rigify rig (FK controls)"}
    for kind in kinds:
        rig = r["rigs"][kind]
        _check_follows(rig, r["frames"], kind)
        # The hips travel the source's distance scaled by the ratio of leg lengths.
        assert rig["src_travel"] > 0.2
        assert rig["tgt_travel"] / rig["src_travel"] == pytest.approx(rig["leg_ratio"],
                                                                      rel=0.01), kind
    assert len(r["rigs"]["generic"]["joints"]) == 22
    # Rigify's generated rig is keyed on its controls, measured on its deform bones.
    assert any("thigh_fk.L" in p for p in r["rigs"]["rigify"]["paths"])
    assert not any("DEF-" in p for p in r["rigs"]["rigify"]["paths"])


@pytest.mark.slow
def test_root_motion_modes_rest_match_presets_and_errors(driver, motion: Path) -> None:
    r = driver("retarget", motion, "root_modes", "rest_match", "presets", "errors",
               "replace", timeout=180, GENHMR_TEST_FOOT_LOCK="0")
    frames = r["frames"]
    modes = r["root_modes"]
    for mode, rig in modes.items():
        if mode == "IN_PLACE":  # no travel to take the leg scale from; limbs still follow
            assert max(rig["max_limb_deg"]) < LIMB_TOLERANCE_DEG, mode
        else:
            _check_follows(rig, frames, mode)
    # On a root bone: Unreal's root carries the travel, the hips stay above it.
    root = modes["ROOT_BONE"]
    root_travel = np.linalg.norm(np.subtract(root["root_bone_xy_end"],
                                             root["root_bone_xy_start"]))
    assert root_travel > 0.2
    assert 'pose.bones["root"].location' in root["paths"]
    # On the object: the object's location is keyed, the bones' travel is the object's.
    assert "location" in modes["OBJECT"]["paths"]
    assert modes["OBJECT"]["tgt_travel"] == pytest.approx(root["tgt_travel"], rel=0.02)
    # In place: the hips stay over the same spot.
    xy = np.array(modes["IN_PLACE"]["tgt_hips_xy"])
    assert np.ptp(xy, axis=0).max() < 1e-4
    # Use current pose as rest match: the A-posed Mixamo character posed into a T-pose.
    match = r["rest_match"]
    assert match["captured"] == ["FINISHED"] and match["matches"] == 22
    assert abs(match["arm_dir"]["Left"][2]) < 1e-3  # the arm was horizontal when captured
    _check_follows(match, frames, "rest match")
    # Presets: saved in the extension's user folder (never the add-on's), loaded back equal.
    p = r["presets"]
    assert p["saved"] == ["FINISHED"] and p["files"] == ["Hero rig.json"]
    assert not p["folder"].startswith(p["addon_folder"])
    assert p["loaded"] == ["FINISHED"] and p["round_trip"]
    added = p["rows"]["added"]  # a row added after the first takes its joint, no bone yet
    assert added[1] == [added[0][0], ""] and p["rows"]["back"]
    # The Mixamo preset names only 4 of the generic rig's bones (Hips, Spine, Neck, Head).
    assert p["builtin_on_generic"][0] == "CANCELLED"
    assert "does not fit" in p["builtin_on_generic"][1]
    # Clear errors, and the character untouched by a refused retarget.
    e = r["errors"]
    assert e["unmapped"][0] == "CANCELLED" and "left_elbow" in e["unmapped"][1]
    assert e["loop"][0] == "CANCELLED" and "loop" in e["loop"][1]
    assert e["not_a_rig"][0] == "CANCELLED" and "GenHMR rig" in e["not_a_rig"][1]
    assert e["keys_unchanged"]
    # Replace in Range: another person's motion re-baked on frames 10-15 of the same action.
    rep = r["replace"]
    assert rep["status"] == ["FINISHED"] and rep["same_action"] and rep["same_channels"]
    assert rep["same_key_counts"] and rep["outside_changed"] == 0
    assert rep["inside_changed"] > 0.5 * rep["inside"]


@pytest.mark.slow
def test_pinned_feet_hold_still(driver, tmp_path: Path) -> None:
    """A squat with both feet planted: the Mixamo character's legs are in other proportions,
    so following the source's limb directions alone slides its feet; pinned where the
    source's contacts say they rest, they hold still, and the arms still follow exactly."""
    squat = save_result(squat_result(), tmp_path / "squat.npz")
    lock = driver("retarget", squat, "foot_lock")["foot_lock"]
    assert lock["on"]["steps"] == lock["off"]["steps"] > 20
    assert lock["off"]["slide_mm"] > 1.0, (lock["off"]["slide_mm"], lock["on"]["slide_mm"])
    assert lock["on"]["slide_mm"] < 0.1 * lock["off"]["slide_mm"], (lock["on"]["slide_mm"],
                                                                   lock["off"]["slide_mm"])
    arms = lock["on"]["max_limb_deg"][2:4] + lock["on"]["max_limb_deg"][6:8]
    assert max(arms) < LIMB_TOLERANCE_DEG
    assert max(lock["off"]["max_limb_deg"]) < LIMB_TOLERANCE_DEG
