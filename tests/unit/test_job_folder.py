"""What the add-on checks in an analysis's job folder before asking the backend to merge, split
or drop its people (genhmr_blender.job_folder, no bpy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from genhmr_blender.job_folder import (
    edit_obstacle,
    merge_obstacle,
    split_obstacle,
    track_ids,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_result


def _job(folder: Path, method: str = "generative") -> None:
    (folder / "job.json").write_text(json.dumps(
        {"format": "genhmr-job", "version": 1, "options": {"method": method}}))


def test_merge_obstacle(tmp_path: Path) -> None:
    # synthetic_result: person 3 seen in video frames 5-16 but 8-9, person 7 in 7-14
    path = str(synthetic_result.write_result(tmp_path / "result.npz"))
    three = ("GenHMR_person_3", 3, np.array([5, 6, 7, 10, 11]))
    seven = ("GenHMR_person_7", 7, np.arange(7, 15))
    assert "not an analysis the backend can re-enter" in merge_obstacle(path, [three, seven])
    _job(tmp_path)
    assert merge_obstacle(path, [three, seven]) is None
    assert merge_obstacle(path, [three, ("GenHMR_person_7", 7, np.zeros(0))]) is None
    assert "is gone" in merge_obstacle(str(tmp_path / "moved" / "result.npz"), [three, seven])
    # a person split off in Blender, and a track id the analysis gave someone else
    assert "GenHMR_person_8 is not a person of the analysis" in merge_obstacle(
        path, [three, ("GenHMR_person_8", 8, np.arange(12, 15))])
    assert "keys are not where person 7" in merge_obstacle(
        path, [three, ("GenHMR_person_9", 7, np.arange(15, 30))])
    _job(tmp_path, "fit")
    assert "'fit' method" in merge_obstacle(path, [three, seven])
    _job(tmp_path)
    Path(path).write_bytes(b"PK\x03\x04 not a zip")
    assert "cannot be read" in merge_obstacle(path, [three, seven])


def test_split_and_drop_obstacles(tmp_path: Path) -> None:
    path = str(synthetic_result.write_result(tmp_path / "result.npz"))
    keyed = np.array([5, 6, 7, 10, 11])
    _job(tmp_path, "fit")  # splitting and dropping solve nothing: any method will do
    assert edit_obstacle(path, [("GenHMR_person_3", 3, keyed)]) is None
    assert split_obstacle(path, "GenHMR_person_3", 3, keyed, 10) is None
    assert track_ids(path) == [3, 7]
    # person 3 is seen from frame 5 on: nothing before frame 5 to keep
    assert "not seen on both sides of video frame 5" in split_obstacle(
        path, "GenHMR_person_3", 3, keyed, 5)
    assert "is not a person of the analysis" in split_obstacle(
        path, "GenHMR_person_8", 8, keyed, 10)
    assert "is gone" in edit_obstacle(str(tmp_path / "moved" / "result.npz"),
                                      [("GenHMR_person_3", 3, keyed)])


def test_the_obstacles_read_the_revision_the_rigs_show(tmp_path: Path) -> None:
    """After an undo the scene shows an earlier revision than the folder's files: a person
    dropped since (and brought back by the undo) is a person of the analysis there."""
    from genhmr_core import job_revisions

    path = str(synthetic_result.write_result(tmp_path / "result.npz"))
    _job(tmp_path, "fit")
    three = ("GenHMR_person_3", 3, np.array([5, 6, 7, 10, 11]))
    job_revisions.snapshot(tmp_path, 0)
    with np.load(path) as data:  # the backend's drop of person 3, as revision 1
        arrays = {k: data[k][1:] if data[k].shape[:1] == (2,) and k != "image_size"
                  else data[k] for k in data.files}
    np.savez(tmp_path / "dropped.npz", **arrays)
    Path(tmp_path / "dropped.npz").replace(path)
    log, _ = job_revisions.RevisionLog.initial().after_edit(0, "drop person 3")
    job_revisions.snapshot(tmp_path, 1)
    job_revisions.write_log(tmp_path, log)
    assert track_ids(path) == [7] and track_ids(path, 1) == [7]
    assert "is not a person of the analysis" in edit_obstacle(path, [three], revision=1)
    assert edit_obstacle(path, [three], revision=0) is None and track_ids(path, 0) == [3, 7]
    assert split_obstacle(path, *three, 10, revision=0) is None
    assert "no longer keeps revision 5" in edit_obstacle(path, [three], revision=5)
