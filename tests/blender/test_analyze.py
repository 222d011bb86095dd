"""The analyze operator (blocking ``execute`` path) with stand-in backends and bad set-ups.

The real backend runs through this same operator in the end-to-end test; here stand-in
processes make the failure modes happen on demand: a crash mid-job, an error event, and a
well-behaved job whose result exercises the strip -> scene frame mapping.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from synthetic_result import write_result

from genhmr_core.protocol import DEFAULT_REFINE_STEPS

MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))
DRIVERS = Path(__file__).resolve().parent / "drivers"


@pytest.fixture()
def fake_python(tmp_path: Path) -> Path:
    """An executable that the add-on runs as its backend "python" (``-m genhmr serve``)."""
    exe = tmp_path / "fake-python"
    exe.write_text(f"#!{sys.executable}\n" + (DRIVERS / "fake_backend.py").read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.mark.skipif(not (MEDIA / "demo.mp4").is_file(), reason="sample media not set up")
def test_analyze_failures_and_frame_mapping(driver, tmp_path: Path, fake_python: Path) -> None:
    result = write_result(tmp_path / "result.npz", first_frame=3, num_frames=8,
                          source_video=str(MEDIA / "demo.mp4"))
    record = tmp_path / "request.json"
    r = driver("analyze", fake_python, MEDIA / "demo.mp4", result, record, tmp_path / "jobs")

    crash = r["crash"]
    assert crash["status"] == ["ERROR"] and crash["unchanged"] and not crash["running"]
    assert "exit code 3" in crash["message"] and "MemoryError: out of memory" in crash["message"]
    assert "exit code 3" in crash["panel_error"]

    err = r["error"]
    assert err["status"] == ["ERROR"] and err["unchanged"]
    assert "no person found" in err["message"] and "no person found" in err["panel_error"]

    assert "does not exist" in r["not_configured"]["message"]
    assert "Video file not found" in r["missing_video"]["message"]
    assert "No movie strip named" in r["missing_strip"]["message"]
    for name in ("not_configured", "missing_video", "missing_strip"):
        assert r[name]["unchanged"] and r[name]["status"] == ["ERROR"]

    ok = r["result"]
    assert ok["status"] == ["FINISHED"], ok
    request = json.loads(record.read_text())
    assert request["video"] == str(MEDIA / "demo.mp4")
    assert (request["start"], request["end"]) == (3, 11)  # the strip's visible video frames
    assert request["device"] == "auto" and request["tiling"] == "auto"
    assert request["max_people"] == 6
    assert request["lens_35mm"] is None and request["focal_px"] is None  # the default lens
    assert request["person_height_m"] is None  # sizes estimated
    assert request["pose_smoothing_s"] == pytest.approx(1 / 30)  # the tremor taken out
    # the panel's default method, and the shipped model (no checkpoint set in the preferences)
    assert request["method"] == "generative" and request["checkpoint"] == ""
    assert request["refine_steps"] == DEFAULT_REFINE_STEPS  # the panel's default is the tuned one
    # Video frame v shows at scene frame strip.frame_start + v = 10 + v; the person was not
    # solved in result frames 3 and 4 (video 6, 7), so scene frames 16 and 17 have no key.
    assert ok["keyed_frames"] == [13, 14, 15, 18, 19, 20]
    assert ok["frame_range"] == [13, 20]
    assert ok["clip_frame_start"] == 10
    assert ok["result_path"].endswith("result.npz")
    assert ok["seconds"] < 10
