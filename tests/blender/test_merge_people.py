"""Merge two rigs that are one person from Blender (the artist's loop, issue #14): the installed
extension's ``genhmr.merge_people`` driving the real backend, which merges the two tracks of a
real analysis of the sample clip and solves the joined one again."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))


def test_merge_two_rigs_of_one_person_with_the_real_backend(driver, tmp_path: Path) -> None:
    r = driver("merge_people", MEDIA / "demo.mp4", tmp_path / "jobs", timeout=900)
    assert r["analyze"] == ["FINISHED"] and r["import"] == ["FINISHED"]
    whole, pieces = r["whole"], r["pieces"]
    gap = [f for f in whole if pieces["keep"][-1] < f < pieces["other"][0]]
    assert pieces["keep"] == whole[:3] and len(gap) == 4
    assert pieces["other"] == [f for f in whole if f > gap[-1]]

    # A failed or cancelled merge leaves both rigs (and the job folder) as they were.
    failed = r["failed"]
    assert failed["status"] == ["ERROR"] and failed["unchanged"], failed
    assert "merge failed, the rigs are unchanged" in failed["error"]
    assert "damaged" in failed["error"] and "Traceback" not in failed["error"]
    cancel = r["cancel"]
    assert cancel["status"] == ["CANCELLED"] and cancel["unchanged"], cancel
    assert cancel["result_unchanged"] and "unchanged" in cancel["message"]

    no_backend = r["no_backend"]
    assert no_backend["status"] == ["FINISHED"], no_backend
    assert "merged the keys as they are: The backend Python set in the GenHMR preferences " \
           "does not exist" in no_backend["message"]
    assert no_backend["keyed"] == pieces["keep"] + pieces["other"]  # the gap stays a gap
    assert no_backend["result_unchanged"] and no_backend["undone"]

    merged = r["merge"]
    assert merged["status"] == ["FINISHED"], merged
    assert "solved again" in merged["message"], merged["message"]
    # One rig, keyed over both pieces AND the frames between them (the re-solve bridges the
    # gap; merging the keys alone cannot), the other rig and its data gone.
    assert merged["keyed"] == whole
    assert merged["left"] == [r["keep"]]
    assert merged["objects_of_other"] == [] and merged["orphans"] == []
    # the job folder has one person fewer
    assert merged["tracks"] == [t for t in r["tracks_in_pieces"] if t != r["other_track"]]
    # The bridge joins the pieces: no jump of the pelvis, which sits where the result says.
    steps = np.array(merged["pelvis_steps"])
    assert steps.max() <= 3 * np.median(steps) + 0.01, steps
    assert merged["pelvis_error_m"] < 1e-3
    assert merged["visible_in_gap"]
    # The gap is marked unsure: nobody was seen there.
    assert [gap[0], f"{r['keep']} unsure ({len(gap)} f)"] in merged["markers"], merged["markers"]
    print(f"merge of {len(whole)} frames, solved again with the warm backend: "
          f"{merged['seconds']:.2f} s")

    assert r["undo"]["restored"]  # one undo step brings both rigs back, keys and all

    gone = r["gone"]
    assert gone["status"] == ["FINISHED"] and gone["left"] == [r["keep"]], gone
    assert "merged the keys as they are: the analysis folder" in gone["message"]
    assert "is gone" in gone["message"]
    assert gone["keyed"] == pieces["keep"] + pieces["other"]  # the gap stays a gap
    assert r["shut_down"]
