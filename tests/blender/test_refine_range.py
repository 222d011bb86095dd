"""Re-run refinement on a range from Blender (the artist's loop, issue #14): the installed
extension's ``genhmr.refine_range`` driving the real backend (warm between re-runs) on a real
analysis of the sample clip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))


def test_refine_a_range_of_a_rig_with_the_real_backend(driver, tmp_path: Path) -> None:
    r = driver("refine_range", MEDIA / "demo.mp4", tmp_path / "jobs", timeout=900)
    assert r["analyze"] == ["FINISHED"]

    rerun = r["rerun"]
    assert rerun["status"] == ["FINISHED"], rerun
    assert "frames 48-62 re-refined" in rerun["message"]
    # Only keys inside the range change, and the bones' rotations do change there.
    assert rerun["changed_frames"] and min(rerun["changed_frames"]) >= 48
    assert max(rerun["changed_frames"]) <= 62
    assert rerun["rotation_channels_changed"] >= 40 and rerun["moved_m"] > 0.005
    # The ends join their neighbours: the bones' frame-to-frame moves across the range's ends
    # (scene 47->48 and 62->63; index 0 is 41->42) are no larger than nearby moves were.
    before, after = np.array(rerun["step_before"]), np.array(rerun["step_after"])
    for edge in (48 - 42, 62 - 41):
        near = before[max(edge - 3, 0):edge + 4]
        assert after[edge] <= near.max() * 1.25 + 1e-3, (edge, after[edge], near)

    assert r["undo"]["restored"]  # one undo step brings every old key back
    # ... and the job folder's revision: a re-run after the undo starts from the analysis (the
    # first range as analysed in the result file), not from the undone re-run; redo brings
    # the re-run back (keys and revision).
    assert r["redo"]["restored"] and r["undo"]["again"]
    after_undo = r["after_undo"]
    assert after_undo["status"] == ["FINISHED"], after_undo
    assert after_undo["rerun_had_changed_it"] and after_undo["first_range_as_analysed"]
    # analysis 0, the re-run 1, undo 0, redo 1, undo 0, the new re-run 2 (1 is dropped)
    assert after_undo["revisions"] == [0, 1, 0, 1, 0, 2], after_undo

    warm = r["warm"]
    assert warm["status"] == ["FINISHED"] and warm["was_warm"], warm
    assert "frames 41-70 re-refined" in warm["message"]
    print(f"re-run, 30 frames, warm backend: {warm['seconds']:.2f} s "
          f"(first re-run, 15 frames, 150 steps, starting the backend: {rerun['seconds']:.2f} s)")

    keep = r["keep"]
    assert keep["status"] == ["FINISHED"] and keep["elbow_changed"] == []
    assert keep["others_changed"] > 0

    cancel = r["cancel"]
    assert cancel["status"] == ["CANCELLED"] and cancel["unchanged"]
    assert cancel["result_unchanged"] and "unchanged" in cancel["message"]

    for case, text in (("unknown", "does not know its analysis"), ("gone", "is gone"),
                       ("outside", "is not in video frames")):
        assert r[case]["status"] == ["ERROR"] and r[case]["unchanged"], r[case]
        assert text in r[case]["error"], r[case]
    assert r["shut_down"]


def test_alternatives_for_a_range_with_the_real_backend(driver, tmp_path: Path) -> None:
    """Sample K readings of a range, step through them, accept one (one undo step), discard
    (hand edits come back), cancel."""
    r = driver("alternatives", MEDIA / "demo.mp4", tmp_path / "jobs", timeout=900)
    assert r["analyze"] == ["FINISHED"]
    assert not any(r["idle"][op] for op in ("show", "accept", "discard"))
    assert r["idle"]["sample"]

    sample = r["sample"]
    assert sample["status"] == ["FINISHED"], sample
    assert sample["unchanged"] and sample["shown"] == 0 and sample["count"] == 3
    assert sample["range"] == [48, 62]
    assert sample["rerun_blocked"] and sample["split_blocked"] and sample["sample_blocked"]
    assert sample["accept_needs_a_choice"]

    show = r["show"]
    assert show["status"] == [["FINISHED"]] * 4
    for index, frames in show["changed"].items():
        assert frames and min(frames) >= 48 and max(frames) <= 62, (index, frames)
    assert show["distinct"] and show["wrapped_to_own"]

    accept = r["accept"]
    assert accept["status"] == ["FINISHED"], accept
    assert accept["keys_are_alternative_2"] and accept["revision"] == 1
    assert not accept["pending"] and accept["set_removed"]
    # one undo step: the rig's own keys and the revision before, the choice open again
    assert r["undo"] == {"own_keys": True, "revision": 0, "shown": 0}

    discard = r["discard"]
    assert discard["sampled"] == ["FINISHED"] and discard["alternative_shown"]
    assert discard["status"] == ["FINISHED"] and discard["hand_edit_back"]
    assert not discard["pending"] and discard["revision"] == 0

    cancel = r["cancel"]
    assert cancel["status"] == ["CANCELLED"] and cancel["unchanged"] and not cancel["pending"]
