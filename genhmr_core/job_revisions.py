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
says which revision each one was made from. Revision 0 is the analysis as it was before its
first edit; a folder without ``revisions/`` (an analysis never edited, or one written before
revisions existed) is at revision 0 and has no other.

Revisions form a tree, not a chain: an edit made at an older revision (after an undo) starts a
new branch and the undone one stays. The folder cannot know who still shows a revision: the
same analysis imported twice into a scene, another .blend, a .blend saved an hour ago. Were the
undone branch dropped (as Blender drops its redo steps), import B editing at revision 0 would
destroy revision 1 that import A shows, and A could edit no more. Ids are never reused, so a
revision number always names one state. What bounds the tree is age and size: at most
:data:`MAX_EDITS` edits are kept (Blender keeps 32 undo steps by default) and at most
:data:`MAX_REVISION_BYTES` of files besides the working copy, the oldest edits dropped first;
revision 0 is always kept (a .blend saved right after the import can still be edited), and so
are the revision an edit started from, the one the folder showed before it and the one it made
(the states an undo or the other import return to).

No ``numpy`` and no ``bpy``: the add-on reads where a revision's result is
(:func:`file_at`), the backend also writes (:func:`snapshot`, :func:`checkout`, ...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from .folder_removal import remove_whole

REVISIONS_DIR = "revisions"
LOG_FILE = "log.json"
LOG_FORMAT = "genhmr-job-revisions"
LOG_VERSION = 2  # 1: a chain, each revision made from the one before (read, written as 2)
# The files an edit may rewrite (``genhmr.job_store``); job.json and the background lines
# belong to the analysis and never change with an edit.
EDITED_FILES = ("tracks.npz", "stage1.npz", "solve.npz", "result.npz")
MAX_EDITS = 32  # revisions kept besides revision 0 (Blender's default number of undo steps)
# Bytes the kept revisions may add to the folder besides its working copy. A re-run keeps the
# solve.npz and result.npz it rewrote (3.9 MB for demo.mp4's two people over 228 frames, so
# about 60 MB over 2 minutes at 30 fps), a merge also tracks.npz and stage1.npz (14 MB; about
# 220 MB): 1 GB holds a session of 16 such re-runs or 4 merges, and does not fill a disk.
MAX_REVISION_BYTES = 1_000_000_000

FileKey = tuple[int, int]  # (device, inode): one file on disk, however many names it has


class RevisionError(ValueError):
    """A revision the folder does not keep, or a damaged revision log (a sentence for the
    artist)."""


@dataclasses.dataclass(frozen=True)
class RevisionLog:
    """Which revisions a job folder keeps, what each was made from, which one its files show."""

    parents: Mapping[int, int | None]  # kept revision -> the kept one it was made from (0: None)
    current: int  # the revision the folder's own files are
    next_id: int  # the id the next edit gets (ids are never reused)
    edits: Mapping[int, str]  # what made each revision ("refine person 0, frames 40-69")

    @classmethod
    def initial(cls) -> RevisionLog:
        """A folder before its first edit: the analysis, revision 0."""
        return cls(parents={0: None}, current=0, next_id=1, edits={0: "analysis"})

    @property
    def kept(self) -> tuple[int, ...]:
        """The kept revisions, oldest first (ids grow with time)."""
        return tuple(sorted(self.parents))

    def has(self, revision: int) -> bool:
        return revision in self.parents

    def after_edit(self, base: int, label: str, keep: int = MAX_EDITS
                   ) -> tuple[RevisionLog, list[int]]:
        """The log once an edit made at revision ``base`` is recorded, and the revisions it
        drops: the new one is made from ``base`` and becomes current; no revision goes for
        being on another branch (someone may show it), only the oldest edits beyond ``keep``
        (never those :meth:`spared` by this edit)."""
        if not self.has(base):
            raise RevisionError(f"revision {base} is not kept")
        new = self.next_id
        grown = RevisionLog(parents={**self.parents, new: base}, current=new,
                            next_id=new + 1, edits={**self.edits, new: label})
        spare = self.spared(base)
        droppable = [r for r in grown.kept if r not in spare]
        dropped = droppable[:max(0, len(grown.kept) - 1 - keep)]
        return grown.without(dropped), dropped

    def spared(self, base: int) -> set[int]:
        """What an edit at ``base`` never drops: the analysis, ``base`` (an undo of the edit
        returns there), the revision the folder showed before (another import's, maybe) and
        the one the edit makes."""
        return {0, base, self.current, self.next_id}

    def without(self, revisions: Collection[int]) -> RevisionLog:
        """The log without ``revisions`` (neither 0 nor the current one): a revision made from
        a dropped one now names the nearest kept revision it descends from."""
        gone = set(revisions)
        if 0 in gone or self.current in gone:
            raise ValueError("revision 0 and the current revision are always kept")

        def kept_parent(r: int | None) -> int | None:
            while r is not None and r in gone:
                r = self.parents[r]
            return r

        parents = {r: kept_parent(p) for r, p in self.parents.items() if r not in gone}
        edits = {r: self.edits.get(r, "") for r in parents}
        return dataclasses.replace(self, parents=parents, edits=edits)

    def at(self, revision: int) -> RevisionLog:
        """The same log with its files at ``revision`` (a kept one)."""
        if not self.has(revision):
            raise RevisionError(f"revision {revision} is not kept")
        return dataclasses.replace(self, current=revision)

    def to_json(self) -> dict[str, Any]:
        return {"format": LOG_FORMAT, "version": LOG_VERSION, "current": self.current,
                "next_id": self.next_id,
                "revisions": {str(r): {"parent": self.parents[r],
                                       "edit": self.edits.get(r, "")} for r in self.kept}}

    @classmethod
    def from_json(cls, payload: Any) -> RevisionLog:
        """Raises :class:`RevisionError` for anything but a log this code writes (or wrote:
        version 1's chain reads as a tree of one branch)."""
        if not isinstance(payload, dict) or payload.get("format") != LOG_FORMAT:
            raise RevisionError("not a GenHMR revision log")
        version = payload.get("version")
        if version not in (1, LOG_VERSION):
            raise RevisionError(f"a revision log of version {version!r}; this code reads "
                                f"versions 1 to {LOG_VERSION}")
        try:
            current, next_id = _whole(payload["current"]), _whole(payload["next_id"])
            if version == 1:
                chain = [_whole(r) for r in payload["chain"]]
                parents = dict(zip(chain, [None, *chain], strict=False))
                edits = {int(r): str(label) for r, label in dict(payload.get("edits", {})).items()}
            else:
                entries = {int(r): _object(entry)
                           for r, entry in _object(payload["revisions"]).items()}
                parents = {r: _parent(entry.get("parent")) for r, entry in entries.items()}
                edits = {r: str(entry.get("edit", "")) for r, entry in entries.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise RevisionError(f"a damaged revision log ({exc})") from exc
        if version == 1 and chain != sorted(set(chain)):
            raise RevisionError("an inconsistent revision log")
        log = cls(parents=parents, current=current, next_id=next_id,
                  edits={r: label for r, label in edits.items() if r in parents})
        if not log.consistent():
            raise RevisionError("an inconsistent revision log")
        return log

    def consistent(self) -> bool:
        """Revision 0 the root, every other made from an older kept one, the current one kept,
        the next id unused."""
        return (self.parents.get(0, -1) is None and self.current in self.parents
                and self.next_id > max(self.parents)
                and all(p is not None and p in self.parents and p < r
                        for r, p in self.parents.items() if r != 0))


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not a JSON object")
    return value


def _parent(value: Any) -> int | None:
    return None if value is None else _whole(value)


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
            f"rigs show (the folder keeps its last {MAX_EDITS} edits and at most "
            f"{MAX_REVISION_BYTES / 1e9:g} GB of them, the oldest go first); import its "
            f"result.npz again to edit from its state now")


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
    remove_whole(Path(job_dir) / REVISIONS_DIR, job_dir, ".revisions-old-")


# -- size on disk --------------------------------------------------------------------------------
def files_of(folder: str | os.PathLike[str]) -> dict[FileKey, int]:
    """The :data:`EDITED_FILES` in ``folder``, each file on disk once (by device and inode:
    hard links are one file), with its size in bytes."""
    out: dict[FileKey, int] = {}
    for name in EDITED_FILES:
        try:
            st = os.stat(Path(folder) / name)
        except FileNotFoundError:
            continue
        out[(st.st_dev, st.st_ino)] = st.st_size
    return out


def revision_files(job_dir: str | os.PathLike[str], revisions: Iterable[int]
                   ) -> dict[int, dict[FileKey, int]]:
    """:func:`files_of` each revision's folder in ``revisions/``."""
    return {r: files_of(revision_dir(job_dir, r)) for r in revisions}


def added_bytes(files: Mapping[int, Mapping[FileKey, int]], working: Mapping[FileKey, int],
                revisions: Iterable[int]) -> int:
    """What ``revisions`` add to the folder on disk: each of their files once, none that the
    working copy also is (it is there anyway)."""
    union: dict[FileKey, int] = {}
    for r in revisions:
        union.update(files.get(r, {}))
    return sum(size for key, size in union.items() if key not in working)


def own_bytes(files: Mapping[int, Mapping[FileKey, int]], working: Mapping[FileKey, int],
              revision: int) -> int:
    """What dropping ``revision`` would free: its files that no other revision of ``files``
    and not the working copy also is."""
    others = {key for r, keys in files.items() if r != revision for key in keys}
    return sum(size for key, size in files.get(revision, {}).items()
               if key not in others and key not in working)


def over_budget(log: RevisionLog, files: Mapping[int, Mapping[FileKey, int]],
                working: Mapping[FileKey, int], budget: int, spare: Collection[int] = ()
                ) -> list[int]:
    """The oldest edits to drop so that the kept revisions add at most ``budget`` bytes
    (:func:`added_bytes`); never revision 0, the current one, nor those in ``spare``. When
    those alone are over the budget they stay: the budget bounds what can go."""
    kept = list(log.kept)
    dropped: list[int] = []
    for revision in log.kept:
        if added_bytes(files, working, kept) <= budget:
            break
        if revision in (0, log.current) or revision in spare:
            continue
        kept.remove(revision)
        dropped.append(revision)
    return dropped


# -- recording an edit and going to a revision (the backend and the command line) ----------------
def record_edit(job_dir: str | os.PathLike[str], log: RevisionLog, base: int, label: str,
                budget: int | None = None) -> tuple[RevisionLog, list[int]]:
    """Keep the folder's files (an edit made at ``base`` just wrote them) as a new revision and
    write the log; return it and the revisions it no longer names, which the caller removes
    once the edit is final (:func:`remove`). The oldest edits go beyond :data:`MAX_EDITS`, then
    beyond ``budget`` bytes (None: :data:`MAX_REVISION_BYTES`), never those
    :meth:`RevisionLog.spared`."""
    spare = log.spared(base)
    new_log, dropped = log.after_edit(base, label)
    snapshot(job_dir, new_log.current)
    files = revision_files(job_dir, new_log.kept)
    extra = over_budget(new_log, files, files_of(job_dir),
                        MAX_REVISION_BYTES if budget is None else budget, spare)
    new_log = new_log.without(extra)
    write_log(job_dir, new_log)
    return new_log, [*dropped, *extra]


@dataclasses.dataclass(frozen=True)
class RevisionInfo:
    """One kept revision, as the command line lists it."""

    revision: int
    parent: int | None  # the revision it was made from (None: the analysis)
    edit: str  # what made it
    current: bool  # the folder's own files are this revision
    own_bytes: int  # what dropping it would free (:func:`own_bytes`)


def describe(job_dir: str | os.PathLike[str]) -> tuple[list[RevisionInfo], int]:
    """The kept revisions, oldest first, and the bytes they add to the folder
    (:func:`added_bytes`). A folder without revisions is revision 0, adding nothing."""
    log = read_log(job_dir)
    if log is None:
        return [RevisionInfo(revision=0, parent=None, edit="analysis", current=True,
                             own_bytes=0)], 0
    files = revision_files(job_dir, log.kept)
    working = files_of(job_dir)
    infos = [RevisionInfo(revision=r, parent=log.parents[r], edit=log.edits.get(r, ""),
                          current=r == log.current, own_bytes=own_bytes(files, working, r))
             for r in log.kept]
    return infos, added_bytes(files, working, log.kept)


def restore(job_dir: str | os.PathLike[str], revision: int) -> RevisionLog | None:
    """Bring the folder's files to ``revision`` (:func:`checkout`) and make it the log's
    current one; the log after (None for a folder without revisions, where only 0 exists).
    Nothing is dropped: every revision stays reachable. Raises :class:`RevisionError` for a
    revision the folder does not keep."""
    log = read_log(job_dir)
    if log is None and revision == 0:
        return None
    if log is None or not log.has(revision):
        kept = ", ".join(map(str, (log or RevisionLog.initial()).kept))
        raise RevisionError(f"the analysis in {job_dir} keeps revisions {kept}, not {revision} "
                            f"(it keeps its last {MAX_EDITS} edits and at most "
                            f"{MAX_REVISION_BYTES / 1e9:g} GB of them, the oldest go first)")
    checkout(job_dir, revision)
    restored = log.at(revision)
    write_log(job_dir, restored)
    return restored
