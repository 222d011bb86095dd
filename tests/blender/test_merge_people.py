"""Fix people from Blender (the artist's loop, issue #14): the installed extension's
``genhmr.split_person``, ``genhmr.delete_person`` and ``genhmr.merge_people`` driving the real
backend, which splits, drops and merges the people of a real analysis of the sample clip in its
job folder (a merged track solved again)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MEDIA = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))


def test_split_drop_and_merge_people_with_the_real_backend(driver, tmp_path: Path) -> None:
    r = driver("merge_people", MEDIA / "demo.mp4", tmp_path / "jobs", timeout=900)
    assert r["analyze"] == ["FINISHED"] and r["import"] == ["FINISHED"]
    whole, pieces = r["whole"], r["pieces"]
    other_track = r["other_track"]
    middle = other_track - 1

    # Split: bad input (keys on one side only) changes nothing, in Blender or the analysis.
    bad = r["split_bad"]
    assert bad["status"] == ["ERROR"] and bad["unchanged"], bad
    assert middle not in bad["tracks"]
    # Through the backend: the new person has its own id in the analysis, both halves keep
    # their keys.
    split = r["split"]
    assert split["status"] == ["FINISHED"] and "in Blender only" not in split["message"], split
    assert split["keep"] == whole[:3] and split["new"] == whole[3:]
    assert split["tracks"][-1] == middle
    # A re-run of refinement works on the person split off.
    rerun = r["rerun_new"]
    assert rerun["status"] == ["FINISHED"] and "re-refined" in rerun["message"], rerun
    assert rerun["keyed"] == rerun["before"]
    # The modal path an artist's click runs, driven by timer events: the re-run is applied,
    # and Esc cancels it, leaving the rig as it was; both end with the panel idle.
    modal = r["modal"]
    for run in modal.values():
        assert run["started"] == ["RUNNING_MODAL"], run
        assert not (run["running"] or run["active"] or run["timer"]), run
    assert modal["done"]["status"] == ["FINISHED"] and modal["done"]["changed"], modal
    assert modal["done"]["steps"] >= 1 and "re-refined" in modal["done"]["message"]
    assert modal["esc"]["status"] == ["CANCELLED"] and not modal["esc"]["changed"], modal
    assert modal["esc"]["message"] == "Cancelled: the rig is unchanged"
    # Delete, undo, redo, undo: the job folder follows the revision the scene shows, so the
    # person the undo brought back is a person of the analysis and refinement re-runs on it.
    undone = r["undo_delete"]
    assert undone["deleted"] == ["FINISHED"] and undone["back"] and undone["redone"], undone
    assert undone["rerun"] == ["FINISHED"], (undone["error"], undone["message"])
    assert "re-refined" in undone["message"], undone
    assert middle in undone["tracks"]
    before_delete = undone["revisions"][0]
    deleted, rerun_at = before_delete + 1, before_delete + 2
    assert undone["revisions"] == [before_delete, deleted, before_delete, deleted,
                                   before_delete, rerun_at], undone
    # Split and Delete run modally from the panel: Esc on a split leaves the rig, the
    # analysis's files and the scene's revision as they were; a Delete runs to the end.
    esc = r["modal_split_esc"]
    assert esc["started"] == ["RUNNING_MODAL"] and esc["status"] == ["CANCELLED"], esc
    assert esc["unchanged"] and esc["folder_unchanged"], esc
    assert esc["revision"][0] == esc["revision"][1], esc
    assert not (esc["running"] or esc["active"]), esc
    # Delete drops the person from the analysis too: a re-import does not bring it back.
    drop = r["drop"]
    assert drop["modal"]["started"] == ["RUNNING_MODAL"], drop
    assert not (drop["modal"]["running"] or drop["modal"]["active"]), drop
    assert drop["status"] == ["FINISHED"], drop
    assert f"person {middle} from the analysis" in drop["message"]
    assert middle not in drop["tracks"] and other_track in drop["tracks"]
    assert f"GenHMR_person_{middle}" not in drop["rigs"] + drop["after_import"]
    assert drop["after_import"] == drop["rigs"]
    gap = [f for f in whole if pieces["keep"][-1] < f < pieces["other"][0]]
    assert pieces["keep"] == whole[:3] and len(gap) == 4
    assert pieces["other"] == [f for f in whole if f > gap[-1]]

    # A failed or cancelled merge leaves both rigs (and the job folder) as they were.
    failed = r["failed"]
    assert failed["status"] == ["ERROR"] and failed["unchanged"], failed
    assert "merge failed, the rigs are unchanged" in failed["error"]
    assert "damaged" in failed["error"] and "Traceback" not in failed["error"]
    failed_split = r["failed_split"]
    assert failed_split["status"] == ["ERROR"] and failed_split["unchanged"], failed_split
    assert "split failed, the rig is unchanged" in failed_split["error"], failed_split
    assert "Traceback" not in failed_split["error"]
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
    # The kept rig takes the merged person's new body shape: bones, body and joints.
    reshaped = merged["reshaped"]
    assert reshaped["rest_error_m"] < 1e-5 and reshaped["shape_error"] < 1e-5, reshaped
    assert reshaped["joint_error_m"] < 1e-3, reshaped
    assert reshaped["size_error_m"] < 1e-5, reshaped  # the body mesh at the person's size
    assert reshaped["mode"] == "OBJECT" and reshaped["active"] == r["keep"]
    print(f"the merge moved the kept rig's bones by up to {1000 * reshaped['rest_change_m']:.1f}"
          f" mm; the merged person's size x{reshaped['body_scale']:.3f}")
    # The gap is marked unsure: nobody was seen there.
    assert [gap[0], f"{r['keep']} unsure ({len(gap)} f)"] in merged["markers"], merged["markers"]
    print(f"merge of {len(whole)} frames, solved again with the warm backend: "
          f"{merged['seconds']:.2f} s")

    assert r["undo"]["restored"]  # one undo step brings both rigs back, keys and all
    # ... and the analysis the scene shows has both people: each splits in the job folder.
    for split in r["undo"]["splits"]:
        assert split["status"] == ["FINISHED"], split
        assert "in Blender only" not in split["message"], split
    assert other_track in r["undo"]["tracks_after_splits"]
    assert len(r["undo"]["tracks_after_splits"]) == len(r["tracks_in_pieces"]) + 2
    assert r["undo"]["restored_after_splits"]

    gone = r["gone"]
    assert gone["status"] == ["FINISHED"] and gone["left"] == [r["keep"]], gone
    assert "merged the keys as they are: the analysis folder" in gone["message"]
    assert "is gone" in gone["message"]
    assert gone["keyed"] == pieces["keep"] + pieces["other"]  # the gap stays a gap
    for edit in ("split", "delete"):
        assert gone[edit]["status"] == ["FINISHED"], gone[edit]
        assert "in Blender only: the analysis folder" in gone[edit]["message"]
    assert len(gone["split"]["rigs"]) == 2 and gone["delete"]["rigs"] == [r["keep"]]
    assert r["shut_down"]
