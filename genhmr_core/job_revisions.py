"""Revisions of a job folder: undo and redo of the artist's edits reach the analysis too.

Why: Split, Merge, Delete and Re-run on Range rewrite the job folder (``tracks.npz``,
``stage1.npz``, ``solve.npz``, ``result.npz``). Blender's undo brings the rigs back but cannot
touch files, so without revisions a later request would work on an analysis the scene no longer
shows (a ghost brought back by undo would be "no such person"; a re-run after undoing a re-run
would start from the undone motion). So the folder keeps each edit's outcome as a numbered
revision, the scene records the revision its rigs show (a property Blender's undo restores),
every request names it, and the backend first brings the folder's files to that revision.

Layout (``docs/result_format.md``, "The job folder"): the folder's own files are the working
copy, the revision named ``current`` in the log; ``revisions/<id>/`` holds each kept
revision's copy of the files an edit may change, hard links where the file did not change (so
a re-run costs the two files it rewrites, not the 10 MB of stage 1); ``revisions/log.json``
says which revisions follow which. Revision 0 is the analysis as it was before its first edit;
a folder without ``revisions/`` (an analysis never edited, or one written before revisions
existed) is at revision 0 and has no other.

Like undo and redo, an edit made at an older revision drops the revisions after it (the undone
branch), and ids are never reused, so a revision number always names one state. At most
:data:`MAX_EDITS` edits are kept (Blender keeps 32 undo steps by default), the oldest dropped
first; revision 0 is always kept (a .blend saved right after the import can still be edited).

No ``numpy`` and no ``bpy``: the add-on reads where a revision's result is
(:func:`file_at`), the backend also writes (:func:`snapshot`, :func:`checkout`, ...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REVISIONS_DIR = "revisions"
LOG_FILE = "log.json"
LOG_FORMAT = "genhmr-job-revisions"
LOG_VERSION = 1
# The files an edit may rewrite (``genhmr.job_store``); job.json and the background lines
# belong to the analysis and never change with an edit.
EDITED_FILES = ("tracks.npz", "stage1.npz", "solve.npz", "result.npz")
MAX_EDITS = 32  # revisions kept besides revision 0 (Blender's default number of undo steps)


class RevisionError(ValueError):
    """A revision the folder does not keep, or a damaged revision log (a sentence for the
    artist)."""


@dataclasses.dataclass(frozen=True)
class RevisionLog:
    """Which revisions a job folder keeps, and which one its files show."""

    chain: tuple[int, ...]  # kept revisions, oldest first: each follows the one before
    current: int  # the revision the folder's own files are
    next_id: int  # the id the next edit gets (ids are never reused)
    edits: Mapping[int, str]  # what made each revision ("refine person 0, frames 40-69")

    @classmethod
    def initial(cls) -> RevisionLog:
        """A folder before its first edit: the analysis, revision 0."""
        return cls(chain=(0,), current=0, next_id=1, edits={0: "analysis"})

    def has(self, revision: int) -> bool:
        return revision in self.chain

    def after_edit(self, base: int, label: str, keep: int = MAX_EDITS
                   ) -> tuple[RevisionLog, list[int]]:
        """The log once an edit made at revision ``base`` is recorded, and the revisions it
        drops: the new one follows ``base``, those after ``base`` (undone, then replaced, as
        undo and redo do) go, and so do the oldest edits beyond ``keep`` (never revision 0)."""
        if not self.has(base):
            raise RevisionError(f"revision {base} is not kept")
        at = self.chain.index(base)
        new = self.next_id
        chain = [*self.chain[:at + 1], new]
        while len(chain) > keep + 1:
            chain.pop(1)  # the oldest edit; revision 0, the analysis, stays
        dropped = [r for r in self.chain if r not in chain]
        edits = {r: self.edits.get(r, "") for r in chain[:-1]}
        edits[new] = label
        return RevisionLog(chain=tuple(chain), current=new, next_id=new + 1,
                           edits=edits), dropped

    def at(self, revision: int) -> RevisionLog:
        """The same log with its files at ``revision`` (a kept one)."""
        if not self.has(revision):
            raise RevisionError(f"revision {revision} is not kept")
        return dataclasses.replace(self, current=revision)

    def to_json(self) -> dict[str, Any]:
        return {"format": LOG_FORMAT, "version": LOG_VERSION, "current": self.current,
                "chain": list(self.chain), "next_id": self.next_id,
                "edits": {str(r): self.edits.get(r, "") for r in self.chain}}

    @classmethod
    def from_json(cls, payload: Any) -> RevisionLog:
        """Raises :class:`RevisionError` for anything but a log this code writes."""
        if not isinstance(payload, dict) or payload.get("format") != LOG_FORMAT:
            raise RevisionError("not a GenHMR revision log")
        if payload.get("version") != LOG_VERSION:
            raise RevisionError(f"a revision log of version {payload.get('version')!r}; this "
                                f"code reads version {LOG_VERSION}")
        try:
            chain = tuple(_whole(r) for r in payload["chain"])
            current, next_id = _whole(payload["current"]), _whole(payload["next_id"])
            edits = {int(r): str(label) for r, label in dict(payload.get("edits", {})).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise RevisionError(f"a damaged revision log ({exc})") from exc
        if (not chain or chain[0] != 0 or list(chain) != sorted(set(chain))
                or current not in chain or next_id <= chain[-1]):
            raise RevisionError("an inconsistent revision log")
        return cls(chain=chain, current=current, next_id=next_id, edits=edits)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


# -- reading (the add-on and the backend) --------------------------------------------------------
def read_log(job_dir: str | os.PathLike[str]) -> RevisionLog | None:
    """The folder's revision log; None when it has none (never edited, or written before
    revisions existed: it is at revision 0). Raises :class:`RevisionError` when damaged."""
    path = Path(job_dir) / REVISIONS_DIR / LOG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RevisionError(f"cannot read {path} ({exc})") from exc
    try:
        return RevisionLog.from_json(json.loads(text))
    except (ValueError, RevisionError) as exc:
        raise RevisionError(f"{path}: {exc}") from exc


def current_revision(job_dir: str | os.PathLike[str]) -> int:
    """The revision the folder's files show (0 for a folder without revisions)."""
    log = read_log(job_dir)
    return 0 if log is None else log.current


def revision_dir(job_dir: str | os.PathLike[str], revision: int) -> Path:
    return Path(job_dir) / REVISIONS_DIR / str(int(revision))


def file_at(job_dir: str | os.PathLike[str], revision: int | None, name: str) -> Path:
    """Where file ``name`` (one of :data:`EDITED_FILES`) is as of ``revision`` (None: the
    folder's current one). Raises :class:`RevisionError` for a revision the folder does not
    keep, saying why that can be."""
    log = read_log(job_dir)
    if revision is None or (log is None and revision == 0):
        return Path(job_dir) / name
    if log is None or not log.has(revision):
        raise RevisionError(missing_message(job_dir, revision))
    return revision_dir(job_dir, revision) / name


def missing_message(job_dir: str | os.PathLike[str], revision: int) -> str:
    return (f"the analysis in {job_dir} no longer keeps revision {revision}, the state these "
            f"rigs show (it was undone and replaced by another edit, or is older than the "
            f"last {MAX_EDITS} edits); import its result.npz again to edit from its state now")


# -- writing (the backend) ---------------------------------------------------------------------
def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` is ``b`` (one inode: a hard link). On file systems without hard links
    every checkout copies: size and time are no proof there (FAT keeps times to 2 s)."""
    try:
        return os.path.samefile(a, b)
    except FileNotFoundError:
        return False


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # no hard links here (FAT, some network shares): a copy
        shutil.copy2(source, target)


def snapshot(job_dir: str | os.PathLike[str], revision: int) -> Path:
    """Keep the folder's files as ``revision`` (hard links, written aside, then renamed in)."""
    folder = Path(job_dir)
    target = revision_dir(folder, revision)
    target.parent.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".new-{revision}-"))
    try:
        for name in EDITED_FILES:
            if (folder / name).is_file():
                _link_or_copy(folder / name, staging / name)
        if target.exists():  # left by a crash before its log was written: not a kept one
            shutil.rmtree(target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def checkout(job_dir: str | os.PathLike[str], revision: int) -> None:
    """Make the folder's files those of ``revision`` (kept in ``revisions/``); each file
    replaced atomically, files already right left alone (a hard link costs one ``stat``)."""
    folder = Path(job_dir)
    source = revision_dir(folder, revision)
    if not source.is_dir():
        raise RevisionError(missing_message(folder, revision))
    for name in EDITED_FILES:
        kept, live = source / name, folder / name
        if not kept.is_file():
            live.unlink(missing_ok=True)
            continue
        if _same_file(kept, live):
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{live.stem}-", suffix=".npz")
        os.close(fd)
        os.unlink(tmp)
        try:
            _link_or_copy(kept, Path(tmp))
            os.replace(tmp, live)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_log(job_dir: str | os.PathLike[str], log: RevisionLog) -> None:
    """Write the log atomically (temporary file, then rename)."""
    folder = Path(job_dir) / REVISIONS_DIR
    folder.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".log-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(log.to_json(), f, indent=1)
        os.replace(tmp, folder / LOG_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(job_dir: str | os.PathLike[str], revisions: Iterable[int]) -> None:
    """Delete revisions the log no longer names (best effort: a leftover only costs space)."""
    for revision in revisions:
        shutil.rmtree(revision_dir(job_dir, revision), ignore_errors=True)


def clear(job_dir: str | os.PathLike[str]) -> None:
    """Forget every revision (a new analysis written into the folder): renamed away first, so
    a half-deleted folder never looks like a log."""
    folder = Path(job_dir) / REVISIONS_DIR
    if not folder.exists():
        return
    gone = Path(tempfile.mkdtemp(dir=job_dir, prefix=".revisions-old-"))
    with contextlib.suppress(OSError):
        os.replace(folder, gone / REVISIONS_DIR)
    shutil.rmtree(gone, ignore_errors=True)
