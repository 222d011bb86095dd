"""``genhmr_core.folder_removal``: a folder goes whole, and nothing is left beside it."""

from __future__ import annotations

from pathlib import Path

from genhmr_core.folder_removal import remove_whole


def _fill(folder: Path) -> None:
    (folder / "deep" / "deeper").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "deep" / "deeper" / "b.npz").write_bytes(b"\0" * 10)


def test_the_folder_and_its_hidden_copy_are_gone(tmp_path: Path) -> None:
    job = tmp_path / "job"
    target = job / "alternatives" / "set-1"
    _fill(target)
    (job / "result.json").write_text("{}")
    remove_whole(target, job, ".alternatives-old-")
    assert not target.exists()
    assert (job / "alternatives").is_dir()          # only the folder named goes
    assert sorted(p.name for p in job.iterdir()) == ["alternatives", "result.json"]


def test_an_absent_folder_is_nothing_to_do(tmp_path: Path) -> None:
    remove_whole(tmp_path / "missing", tmp_path, ".old-")
    assert list(tmp_path.iterdir()) == []
