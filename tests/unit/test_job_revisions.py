"""The job folder's revisions (``genhmr_core.job_revisions``): the log's undo/redo logic, and
snapshots and checkouts on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genhmr_core import job_revisions as jr
from genhmr_core.job_revisions import RevisionError, RevisionLog


def test_an_edit_follows_its_base_and_drops_the_undone_branch() -> None:
    log = RevisionLog.initial()
    log, dropped = log.after_edit(0, "drop person 3")
    log, _ = log.after_edit(1, "refine person 0")
    assert (log.chain, log.current, log.next_id, dropped) == ((0, 1, 2), 2, 3, [])
    # undo twice (the scene shows revision 0), then a new edit: 1 and 2 are gone for good
    branched, dropped = log.after_edit(0, "split person 0")
    assert branched.chain == (0, 3) and branched.current == 3 and dropped == [1, 2]
    assert branched.edits == {0: "analysis", 3: "split person 0"}
    assert not branched.has(1) and not branched.has(2)  # ids are never reused
    with pytest.raises(RevisionError, match="revision 2 is not kept"):
        branched.after_edit(2, "refine")
    # redo: the log can point at a later kept revision again
    assert log.at(0).at(2) == log
    with pytest.raises(RevisionError):
        log.at(7)


def test_the_oldest_edits_go_beyond_the_cap_but_the_analysis_stays() -> None:
    log = RevisionLog.initial()
    gone: list[int] = []
    for _ in range(10):
        log, dropped = log.after_edit(log.current, "refine", keep=4)
        gone += dropped
    assert log.chain == (0, 7, 8, 9, 10) and gone == [1, 2, 3, 4, 5, 6]


def test_the_log_round_trips_and_refuses_what_it_did_not_write() -> None:
    log, _ = RevisionLog.initial().after_edit(0, "merge person 2 into 0")
    assert RevisionLog.from_json(json.loads(json.dumps(log.to_json()))) == log
    good = log.to_json()
    for bad, text in (({**good, "format": "x"}, "not a GenHMR revision log"),
                      ({**good, "version": 99}, "version 99"),
                      ({**good, "chain": [1, 0]}, "inconsistent"),
                      ({**good, "current": 5}, "inconsistent"),
                      ({**good, "next_id": 1}, "inconsistent"),
                      ({**good, "chain": ["0"]}, "damaged"),
                      ([], "not a GenHMR revision log")):
        with pytest.raises(RevisionError, match=text):
            RevisionLog.from_json(bad)


def _folder(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    job.mkdir()
    for name in jr.EDITED_FILES:
        (job / name).write_bytes(f"{name} as analysed".encode())
    return job


def _contents(job: Path) -> dict[str, bytes]:
    return {n: (job / n).read_bytes() for n in jr.EDITED_FILES if (job / n).exists()}


def _rewrite(job: Path, name: str, text: str) -> None:
    """As the backend writes: a new file renamed over the old one."""
    (job / f".{name}.tmp").write_text(text)
    os.replace(job / f".{name}.tmp", job / name)


def test_snapshots_share_unchanged_files_and_checkout_brings_any_revision_back(
        tmp_path: Path) -> None:
    job = _folder(tmp_path)
    analysed = _contents(job)
    assert jr.read_log(job) is None and jr.current_revision(job) == 0
    assert jr.file_at(job, 0, "result.npz") == job / "result.npz"  # no revisions yet
    jr.snapshot(job, 0)
    log = RevisionLog.initial()
    _rewrite(job, "result.npz", "refined")
    _rewrite(job, "solve.npz", "refined")
    log, _ = log.after_edit(0, "refine")
    jr.snapshot(job, 1)
    jr.write_log(job, log)
    refined = _contents(job)
    assert jr.read_log(job) == log and jr.current_revision(job) == 1
    # an unchanged file is one file on disk in both revisions (a hard link)
    assert os.path.samefile(jr.file_at(job, 0, "stage1.npz"), jr.file_at(job, 1, "stage1.npz"))
    assert jr.file_at(job, 0, "result.npz").read_bytes() == analysed["result.npz"]

    jr.checkout(job, 0)  # undo
    assert _contents(job) == analysed
    jr.checkout(job, 1)  # redo
    assert _contents(job) == refined
    jr.checkout(job, 1)  # already there: nothing to do
    assert _contents(job) == refined
    # a file an interrupted edit left half-written is put right by the next checkout
    _rewrite(job, "tracks.npz", "half an edit")
    jr.checkout(job, 1)
    assert _contents(job) == refined
    # the kept revisions are untouched by the edits of the working copy
    assert jr.file_at(job, 1, "result.npz").read_bytes() == b"refined"

    with pytest.raises(RevisionError, match="no longer keeps revision 7"):
        jr.file_at(job, 7, "result.npz")
    with pytest.raises(RevisionError, match="no longer keeps revision 7"):
        jr.checkout(job, 7)
    jr.remove(job, [1])
    assert not jr.revision_dir(job, 1).exists() and jr.revision_dir(job, 0).exists()
    jr.clear(job)
    assert jr.read_log(job) is None and not (job / jr.REVISIONS_DIR).exists()
    assert [p.name for p in job.iterdir() if p.name.startswith(".")] == []


def test_a_damaged_log_is_a_clear_error(tmp_path: Path) -> None:
    job = _folder(tmp_path)
    (job / jr.REVISIONS_DIR).mkdir()
    (job / jr.REVISIONS_DIR / jr.LOG_FILE).write_text("{not json")
    with pytest.raises(RevisionError, match=r"log\.json"):
        jr.read_log(job)
