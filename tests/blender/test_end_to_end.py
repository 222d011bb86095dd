"""The whole product on real footage: installed extension -> Analyze on a movie strip -> the real
backend process -> keyframed rigs that line up with the video, and a corrupt video that leaves
the scene untouched. Uses the dev venv's Python as the backend interpreter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))


def test_analyze_a_strip_with_the_real_backend(driver, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4096))
    r = driver("end_to_end", MEDIA / "demo.mp4", corrupt, tmp_path / "jobs",
               tmp_path / "scene.blend", timeout=900)

    good = r["good"]
    assert good["status"] == ["FINISHED"], good
    assert good["error"] == ""
    assert good["frame_indices"] == list(range(40, 56))  # exactly the strip's video frames
    assert good["created"]["armatures"] == len(good["rigs"]) >= 1
    assert good["created"]["cameras"] == 1
    # Every rig is keyed on the frames its person was seen (scene = video + 1) and, the
    # generative method bridging them, the frames between (nothing before or after).
    assert good["method"] == "generative"
    for keyed, valid in zip(good["keyed"], good["valid"], strict=True):
        assert keyed == list(range(valid[0] + 1, valid[-1] + 2))
    # The keyframed rig, seen through the Blender camera, is where the backend put the body.
    assert good["max_pixel_error"] < 1.0, good["max_pixel_error"]
    # every person has the default body, skinned to their rig, over them in the picture
    assert len(good["bodies"]) == len(good["rigs"])
    for body in good["bodies"]:
        assert body["vertices"] == 13718 and body["armature_modifier"], body
        assert body["iou"] > 0.5, body

    # demo.mp4's man stands on a box at these frames: a block as tall as his level stands under
    # him (its top at his support height, its foot on the floor, his pelvis over it while a
    # foot rests on it: from frame ~46 he leans out over the edge to jump, his feet lift, and
    # his pelvis passes the edge); the woman walks on the floor.
    levels = [float(np.median(lv)) for lv in good["levels"]]
    assert max(levels) > 1.0 and min(levels) == 0.0, levels
    man = int(np.argmax(levels))
    (block,) = good["supports"]
    assert block["low"][2] == pytest.approx(0.0, abs=1e-6)
    assert block["high"][2] == pytest.approx(levels[man], abs=0.01)
    on_box = np.isclose(good["levels"][man], levels[man]) & np.array(good["resting"][man])
    assert on_box.sum() >= 5, on_box
    xy = np.array(good["pelvis_xy"][man])[on_box]
    assert (xy >= np.array(block["low"][:2])).all() and (xy <= np.array(block["high"][:2])).all()

    bad = r["corrupt"]
    assert bad["status"] == ["ERROR"] and bad["unchanged"] and not bad["running"]
    assert "cannot open video" in bad["message"] or "cannot open video" in bad["panel_error"]

    assert r["reloaded"]["rigs"] == sorted(good["rigs"])
    assert r["reloaded"]["keys"] > 0
    assert r["reloaded"]["bodies"] == sorted(f"{name}_body" for name in good["rigs"])
