"""The job folder's revisions (``genhmr_core.job_revisions``): the log's undo/redo logic, and
snapshots and checkouts on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genhmr_core import job_revisions as jr
from genhmr_core.job_revisions import RevisionError, RevisionLog


def test_an_edit_at_an_older_revision_starts_a_branch_and_keeps_the_other() -> None:
    log = RevisionLog.initial()
    log, dropped = log.after_edit(0, "drop person 3")
    log, _ = log.after_edit(1, "refine person 0")
    assert (log.kept, log.current, log.next_id, dropped) == ((0, 1, 2), 2, 3, [])
    assert log.parents == {0: None, 1: 0, 2: 1}
    # undo twice (the scene shows revision 0), then a new edit: a branch from 0; 1 and 2 stay,
    # another import of the folder (or a .blend saved before the undo) may show them
    branched, dropped = log.after_edit(0, "split person 0")
    assert branched.kept == (0, 1, 2, 3) and branched.current == 3 and dropped == []
    assert branched.parents == {0: None, 1: 0, 2: 1, 3: 0}
    assert branched.edits == {0: "analysis", 1: "drop person 3", 2: "refine person 0",
                              3: "split person 0"}
    # ... so an edit at 2 still works, and ids are never reused
    again, _ = branched.after_edit(2, "refine person 1")
    assert again.current == 4 and again.parents[4] == 2
    with pytest.raises(RevisionError, match="revision 7 is not kept"):
        branched.after_edit(7, "refine")
    # redo: the log can point at a later kept revision again
    assert log.at(0).at(2) == log
    with pytest.raises(RevisionError):
        log.at(7)


def test_a_dropped_revisions_children_name_its_kept_ancestor() -> None:
    log = RevisionLog.initial()
    for base in (0, 1, 2, 1):  # 1 <- 0, 2 <- 1, 3 <- 2, 4 <- 1
        log, _ = log.after_edit(base, f"edit at {base}")
    trimmed = log.without([1, 2])
    assert trimmed.parents == {0: None, 3: 0, 4: 0} and trimmed.current == 4
    assert trimmed.edits == {0: "analysis", 3: "edit at 2", 4: "edit at 1"}
    with pytest.raises(ValueError, match="always kept"):
        log.without([4])  # the current one
    with pytest.raises(ValueError, match="always kept"):
        log.without([0])


def test_the_oldest_edits_go_beyond_the_cap_but_the_analysis_stays() -> None:
    log = RevisionLog.initial()
    gone: list[int] = []
    for _ in range(10):
        log, dropped = log.after_edit(log.current, "refine", keep=4)
        gone += dropped
    assert log.kept == (0, 7, 8, 9, 10) and gone == [1, 2, 3, 4, 5, 6]


def test_the_cap_spares_the_base_and_the_revision_the_folder_showed() -> None:
    """Two imports of one folder: B made revision 1 and stays there while A edits from 0 on.
    B's next edit, at 1, keeps 1 (B's undo returns there) and A's latest (the folder's current
    one), though older than the others: the oldest of the rest goes."""
    def session() -> RevisionLog:
        log, _ = RevisionLog.initial().after_edit(0, "B's edit")  # 1
        log, _ = log.after_edit(0, "A's edit", keep=4)  # 2
        for _ in range(2):  # 3, 4
            log, _ = log.after_edit(log.current, "A's edit", keep=4)
        return log

    log = session()
    assert log.kept == (0, 1, 2, 3, 4) and log.parents == {0: None, 1: 0, 2: 0, 3: 2, 4: 3}
    by_b, dropped = log.after_edit(1, "B's second edit", keep=4)
    assert dropped == [2] and by_b.kept == (0, 1, 3, 4, 5) and by_b.parents[5] == 1
    assert by_b.parents[3] == 0  # made from 2, which went: from 2's own base
    # A edits on instead: then B's revision 1 is simply the oldest edit, and goes
    by_a, dropped = log.after_edit(4, "A's edit", keep=4)
    assert dropped == [1] and by_a.kept == (0, 2, 3, 4, 5)
    assert log.spared(1) == {0, 1, 4, 5}


def test_the_log_round_trips_and_refuses_what_it_did_not_write() -> None:
    log, _ = RevisionLog.initial().after_edit(0, "merge person 2 into 0")
    log, _ = log.after_edit(0, "drop person 1")
    assert RevisionLog.from_json(json.loads(json.dumps(log.to_json()))) == log
    good = log.to_json()
    assert good["revisions"] == {"0": {"parent": None, "edit": "analysis"},
                                 "1": {"parent": 0, "edit": "merge person 2 into 0"},
                                 "2": {"parent": 0, "edit": "drop person 1"}}
    revs = good["revisions"]
    for bad, text in (({**good, "format": "x"}, "not a GenHMR revision log"),
                      ({**good, "version": 99}, "version 99"),
                      ({**good, "revisions": {**revs, "1": {"parent": 2}}}, "inconsistent"),
                      ({**good, "revisions": {**revs, "1": {"parent": 7}}}, "inconsistent"),
                      ({**good, "revisions": {**revs, "0": {"parent": 1}}}, "inconsistent"),
                      ({**good, "revisions": {"1": revs["1"]}}, "inconsistent"),
                      ({**good, "current": 5}, "inconsistent"),
                      ({**good, "next_id": 2}, "inconsistent"),
                      ({**good, "revisions": {"1": {"parent": "0"}}}, "damaged"),
                      ({**good, "revisions": []}, "damaged"),
                      ([], "not a GenHMR revision log")):
        with pytest.raises(RevisionError, match=text):
            RevisionLog.from_json(bad)


def test_a_version_1_log_reads_as_one_branch() -> None:
    """Folders edited before branches were kept: the chain, each made from the one before."""
    old = {"format": jr.LOG_FORMAT, "version": 1, "current": 3, "chain": [0, 3, 5],
           "next_id": 6, "edits": {"0": "analysis", "3": "refine", "5": "drop person 1"}}
    log = RevisionLog.from_json(old)
    assert log.parents == {0: None, 3: 0, 5: 3} and log.current == 3 and log.next_id == 6
    assert log.edits == {0: "analysis", 3: "refine", 5: "drop person 1"}
    assert RevisionLog.from_json(log.to_json()) == log  # written again as version 2
    for chain in ([1, 0], [3, 5], []):
        with pytest.raises(RevisionError, match="inconsistent"):
            RevisionLog.from_json({**old, "chain": chain, "current": 0})


def test_the_size_budget_counts_each_file_once_and_not_the_working_copy() -> None:
    """Known answers on files named by (device, inode): revision 1 and 2 share file b (a hard
    link), revision 3's result is the working copy's."""
    a, b, c, d, w = (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)
    files = {0: {a: 100}, 1: {b: 10, c: 1}, 2: {b: 10, d: 5}, 3: {b: 10, w: 7}}
    working = {w: 7}
    assert jr.added_bytes(files, working, [0, 1, 2, 3]) == 100 + 10 + 1 + 5
    assert jr.added_bytes(files, working, [3]) == 10
    assert [jr.own_bytes(files, working, r) for r in range(4)] == [100, 1, 5, 0]
    log = RevisionLog.initial()
    for _ in range(3):
        log, _ = log.after_edit(log.current, "refine")
    assert jr.over_budget(log, files, working, 116) == []
    assert jr.over_budget(log, files, working, 115) == [1]  # 1 frees 1 byte: 115 left
    assert jr.over_budget(log, files, working, 114) == [1, 2]  # b stays, 3 uses it
    assert jr.over_budget(log, files, working, 0) == [1, 2]  # never 0 nor the current (3)
    assert jr.over_budget(log, files, working, 0, spare={1}) == [2]


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


def _edit(job: Path, log: RevisionLog | None, base: int, label: str, text: str,
          names: tuple[str, ...] = ("solve.npz", "result.npz"), budget: int | None = None
          ) -> tuple[RevisionLog, list[int]]:
    """An edit as ``job_store.edit_at`` runs one: the folder brought to ``base``, ``names``
    rewritten with ``text``, the outcome recorded, the revisions it drops removed."""
    if log is None:
        log = RevisionLog.initial()
        jr.snapshot(job, 0)
    jr.checkout(job, base)
    for name in names:
        _rewrite(job, name, text)
    log, dropped = jr.record_edit(job, log, base, label, budget=budget)
    jr.remove(job, dropped)
    return log, dropped


def _kept_on_disk(job: Path) -> list[int]:
    return sorted(int(p.name) for p in (job / jr.REVISIONS_DIR).iterdir() if p.name.isdigit())


def test_two_imports_of_one_folder_each_keep_editing(tmp_path: Path) -> None:
    """Import A edits (1, made from 0), then import B, still at 0, edits (2): A's revision 1
    stays, so A edits on from its own state, and so does B."""
    job = _folder(tmp_path)
    log, _ = _edit(job, None, 0, "A: refine person 0", "A's first")
    log, dropped = _edit(job, log, 0, "B: drop person 1", "B's first")
    assert dropped == [] and log.kept == (0, 1, 2) and log.parents == {0: None, 1: 0, 2: 0}
    assert jr.file_at(job, 1, "result.npz").read_text() == "A's first"
    log, _ = _edit(job, log, 1, "A: refine person 0 again", "A's second",
                   names=("result.npz",))
    assert jr.file_at(job, 3, "solve.npz").read_text() == "A's first"  # from A's state
    log, _ = _edit(job, log, 2, "B: split person 0", "B's second", names=("result.npz",))
    assert jr.file_at(job, 4, "solve.npz").read_text() == "B's first"  # from B's state
    assert log.kept == (0, 1, 2, 3, 4) == tuple(_kept_on_disk(job))
    assert jr.read_log(job) == log and log.parents == {0: None, 1: 0, 2: 0, 3: 1, 4: 2}


def test_the_oldest_edits_go_beyond_the_size_budget(tmp_path: Path) -> None:
    """Files of known sizes: the analysis's 100 bytes each, every edit rewrites solve.npz and
    result.npz with 500 bytes each. Revision 0 adds its own solve and result (200 bytes), each
    older edit 1000, the newest nothing (it is the working copy), and tracks.npz and stage1.npz
    nothing (one file, hard-linked everywhere). A budget of 2500 bytes keeps two older edits."""
    job = tmp_path / "job"
    job.mkdir()
    for name in jr.EDITED_FILES:
        (job / name).write_bytes(b"a" * 100)
    log, gone = None, []
    for edit in range(1, 6):
        log, dropped = _edit(job, log, edit - 1, f"edit {edit}", str(edit) * 500, budget=2500)
        gone += dropped
    assert log.kept == (0, 3, 4, 5) == tuple(_kept_on_disk(job)) and gone == [1, 2]
    assert log.parents == {0: None, 3: 0, 4: 3, 5: 4}
    infos, added = jr.describe(job)
    assert added == 200 + 2 * 1000
    assert [(i.revision, i.parent, i.current, i.own_bytes) for i in infos] == [
        (0, None, False, 200), (3, 0, False, 1000), (4, 3, False, 1000), (5, 4, True, 0)]
    assert infos[1].edit == "edit 3"
    # what an edit spares stays though alone over the budget: 0, the base (4, after an
    # undo), the revision the folder showed (5, another import's maybe) and the new one
    log, dropped = _edit(job, log, 4, "edit 6", "6" * 500, budget=10)
    assert dropped == [3] and log.kept == (0, 4, 5, 6) == tuple(_kept_on_disk(job))
    assert jr.describe(job)[1] == 200 + 1000 + 1000


def test_describe_and_restore(tmp_path: Path) -> None:
    job = _folder(tmp_path)
    assert jr.describe(job) == ([jr.RevisionInfo(0, None, "analysis", True, 0)], 0)
    assert jr.restore(job, 0) is None and not (job / jr.REVISIONS_DIR).exists()
    with pytest.raises(RevisionError, match="keeps revisions 0, not 1"):
        jr.restore(job, 1)
    analysed = _contents(job)
    log, _ = _edit(job, None, 0, "refine", "refined")
    log, _ = _edit(job, log, 0, "drop", "dropped")
    restored = jr.restore(job, 1)
    assert restored == log.at(1) == jr.read_log(job)  # nothing dropped, 1 current
    assert _contents(job)["result.npz"] == b"refined"
    assert jr.restore(job, 0) == log.at(0) and _contents(job) == analysed
    with pytest.raises(RevisionError, match="keeps revisions 0, 1, 2, not 7"):
        jr.restore(job, 7)
    assert jr.read_log(job) == log.at(0)
