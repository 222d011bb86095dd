"""The job folder: what each stage leaves behind so a later request can re-enter the job.

A job is run once end to end (``pipeline.run_job``); an artist may then re-run refinement on
part of one person's track (``genhmr.rerun``) many times. Everything a re-run needs is kept
next to the result, in versioned files read without pickles (``allow_pickle=False``):

- ``job.json``: the job's options (``pipeline.JobOptions``), so a re-run uses the same video,
  body, lens and checkpoint;
- ``tracks.npz``: the tracked detector output (``perception.Tracks``), the evidence refinement
  fits to;
- ``stage1.npz``: per person, the transformer's stage-1 output over their span of frames
  (token logits, orientation, translation, shape, per-joint uncertainty): where refinement
  starts from, so a re-run does not sample again (generative method only);
- ``background_lines.npz``: the background's candidate vertical segments
  (``genhmr.vertical_lines.BackgroundLines``), from which every finish finds the floor's tilt
  again: reading and scanning the video for them takes 1-3 s, finding the up from them
  milliseconds (optional: a job folder without it finds them again, and keeps them);
- ``solve.npz``: the refined bodies before the world-space steps (depth smoothing, floor,
  contacts, foot locking), in the result format; a re-run changes part of it and runs the
  world-space steps again;
- ``result.npz``: what the add-on imports;
- ``revisions/``: each edit's outcome kept as a numbered revision
  (:mod:`genhmr_core.job_revisions`), so undo and redo in Blender reach the folder too: every
  edit runs inside :func:`edit_at`, which first brings the files to the revision the request
  names and records the outcome as a new one.

The layout is described for other readers in ``docs/result_format.md`` ("The job folder").
Writes are atomic (temporary file, then rename), so a cancelled or crashed re-run leaves the
previous files whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_core import alternatives, job_revisions
from genhmr_core.folder_removal import remove_whole
from genhmr_core.npz import FAST_LEVEL, save_npz

from .errors import JobError

JOB_FILE = "job.json"
TRACKS_FILE = "tracks.npz"
STAGE1_FILE = "stage1.npz"
BACKGROUND_FILE = "background_lines.npz"
SOLVE_FILE = "solve.npz"
RESULT_FILE = "result.npz"

JOB_FORMAT = "genhmr-job"
ARTIFACT_VERSION = 1
# Stage-1 logits are stored as log-probabilities in float16, floored here: softmax weights
# below e^-20 (2e-9) change no soft token, and the floor lets the file compress well.
LOGIT_FLOOR = -20.0


class JobFolderError(JobError):
    """A job folder that cannot be re-entered (missing, damaged, or from another version)."""

    kind = "job_folder"


def _atomic_write(path: Path, write: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _save_npz(path: Path, kind: str, arrays: dict[str, np.ndarray],
              compressed: bool = False) -> Path:
    arrays = {"format": np.array(f"{JOB_FORMAT}-{kind}"),
              "version": np.array(ARTIFACT_VERSION, np.int64), **arrays}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            save_npz(f, arrays, compresslevel=FAST_LEVEL if compressed else 0)

    return _atomic_write(path, write)


def _load_npz(path: Path, kind: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise JobFolderError(f"{path.name} is missing from the job folder {path.parent}: "
                             "analyse the video again to re-run parts of it")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise JobFolderError(f"{path} is damaged ({exc}); analyse the video again") from exc
    if str(arrays.get("format", "")) != f"{JOB_FORMAT}-{kind}":
        raise JobFolderError(f"{path} is not a GenHMR {kind} file")
    version = int(arrays.get("version", -1))
    if version != ARTIFACT_VERSION:
        raise JobFolderError(f"{path} was written by another backend version (format "
                             f"{version}, this backend reads {ARTIFACT_VERSION}); analyse "
                             "the video again")
    return arrays


# -- options -------------------------------------------------------------------------------------
def save_options(job_dir: Path, options: Any) -> Path:
    """``options`` is a ``pipeline.JobOptions``; written as JSON with the artifact version.
    Written when a job starts: revisions of an earlier analysis in the folder are forgotten."""
    job_revisions.clear(job_dir)
    discard_alternatives(job_dir)
    payload = {"format": JOB_FORMAT, "version": ARTIFACT_VERSION,
               "options": dataclasses.asdict(options)}

    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(payload, indent=1), encoding="utf-8")

    return _atomic_write(Path(job_dir) / JOB_FILE, write)


def load_options(job_dir: Path) -> dict[str, Any]:
    """The job's options as saved (a dict of ``JobOptions`` fields)."""
    path = Path(job_dir) / JOB_FILE
    if not Path(job_dir).is_dir():
        raise JobFolderError(f"the job folder {job_dir} does not exist (moved or deleted?)")
    if not path.is_file():
        raise JobFolderError(f"{job_dir} has no {JOB_FILE}: it was not written by a job this "
                             "backend can re-enter; analyse the video again")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JobFolderError(f"{path} is damaged ({exc}); analyse the video again") from exc
    if not isinstance(payload, dict) or payload.get("format") != JOB_FORMAT \
            or payload.get("version") != ARTIFACT_VERSION \
            or not isinstance(payload.get("options"), dict):
        raise JobFolderError(f"{path} is not a job file this backend reads (version "
                             f"{ARTIFACT_VERSION}); analyse the video again")
    return payload["options"]


# -- tracks --------------------------------------------------------------------------------------
def save_tracks(job_dir: Path, tracks: Any) -> Path:
    """``tracks`` is a ``perception.Tracks``."""
    arrays = {f.name: np.asarray(getattr(tracks, f.name))
              for f in dataclasses.fields(tracks)}
    return _save_npz(Path(job_dir) / TRACKS_FILE, "tracks", arrays, compressed=True)


def load_tracks(job_dir: Path) -> Any:
    from .perception import Tracks

    arrays = _load_npz(Path(job_dir) / TRACKS_FILE, "tracks")
    try:
        return Tracks(**{f.name: arrays[f.name] for f in dataclasses.fields(Tracks)})
    except KeyError as exc:
        raise JobFolderError(f"the tracks file of {job_dir} lacks {exc}") from exc


# -- stage 1 -------------------------------------------------------------------------------------
@dataclasses.dataclass
class PersonStage1:
    """One person's stage-1 output (``generative.Stage1``) and where it sits in the job."""

    span: tuple[int, int]  # job frames [first, stop) the person's track covers
    stage1: Any  # generative.Stage1 over those frames


def _log_probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return np.maximum(log_p, LOGIT_FLOOR)


def _stored_log_probabilities(logits: np.ndarray, rows: int = 1024) -> np.ndarray:
    """float16 log-probabilities of (F, T, C) logits, ``rows`` frames at a time: all at once,
    the float32 temporaries held three copies of every person's logits (64 KB a frame each;
    gigabytes for a long clip of several people)."""
    out = np.empty(np.shape(logits), np.float16)
    for start in range(0, len(logits), rows):
        part = np.asarray(logits[start:start + rows], np.float32)
        out[start:start + rows] = _log_probabilities(part).astype(np.float16)
    return out


def save_stage1(job_dir: Path, people: Sequence[PersonStage1]) -> Path:
    """All people's stage-1 outputs in one file, frames concatenated person after person."""
    def cat(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p.stage1, name)) for p in people])

    arrays = {
        "spans": np.array([p.span for p in people], np.int64).reshape(len(people), 2),
        "log_probs": np.concatenate([_stored_log_probabilities(p.stage1.logits)
                                     for p in people]),
        "global_orient": cat("global_orient").astype(np.float32),
        "transl": cat("transl").astype(np.float32),
        "betas": np.stack([np.asarray(p.stage1.betas, np.float32) for p in people]),
        "uncertainty": cat("uncertainty").astype(np.float32),
        "body_scale": np.array([float(p.stage1.body_scale) for p in people], np.float64),
    }
    return _save_npz(Path(job_dir) / STAGE1_FILE, "stage1", arrays, compressed=True)


def load_stage1(job_dir: Path) -> list[PersonStage1]:
    from .generative import Stage1

    path = Path(job_dir) / STAGE1_FILE
    if not path.is_file() and (Path(job_dir) / JOB_FILE).is_file():
        raise JobFolderError("re-running refinement needs the generative method's stage-1 "
                             "output, and this job used the fitting baseline (method 'fit'); "
                             "analyse again with method 'generative'")
    arrays = _load_npz(path, "stage1")
    # each person's size (sized on the floor); folders from before 2026-12-05 have none: 1
    sizes = arrays.get("body_scale", np.ones(len(arrays["spans"])))
    out, at = [], 0
    for first, stop in arrays["spans"].tolist():
        n = stop - first
        part = slice(at, at + n)
        out.append(PersonStage1(span=(first, stop), stage1=Stage1(
            logits=arrays["log_probs"][part].astype(np.float32),
            global_orient=arrays["global_orient"][part], transl=arrays["transl"][part],
            betas=arrays["betas"][len(out)], uncertainty=arrays["uncertainty"][part],
            body_scale=float(sizes[len(out)]))))
        at += n
    if at != arrays["log_probs"].shape[0]:
        raise JobFolderError(f"{path} is inconsistent (spans cover {at} frames of "
                             f"{arrays['log_probs'].shape[0]})")
    return out


def save_stage1_rows(path: Path, rows: slice, logits: np.ndarray, global_orient: np.ndarray
                     ) -> Path:
    """Stage-1 rows ``rows`` (frames of one person's track) of another reading of them (an
    alternative, ``genhmr.alternatives``), stored as ``stage1.npz`` stores them."""
    arrays = {"rows": np.array([rows.start, rows.stop], np.int64),
              "log_probs": _stored_log_probabilities(logits),
              "global_orient": np.asarray(global_orient, np.float32)}
    return _save_npz(Path(path), "stage1-rows", arrays, compressed=True)


def load_stage1_rows(path: Path) -> tuple[slice, np.ndarray, np.ndarray]:
    """(rows, logits (n, T, C), global_orient (n, 3, 3)) written by :func:`save_stage1_rows`."""
    arrays = _load_npz(Path(path), "stage1-rows")
    try:
        start, stop = (int(v) for v in arrays["rows"])
        logits = arrays["log_probs"].astype(np.float32)
        orient = arrays["global_orient"]
    except (KeyError, ValueError) as exc:
        raise JobFolderError(f"{path} is damaged ({exc})") from exc
    if not (0 <= start < stop and logits.shape[0] == stop - start == orient.shape[0]):
        raise JobFolderError(f"{path} is inconsistent")
    return slice(start, stop), logits, orient


def discard_alternatives(job_dir: str | os.PathLike[str]) -> None:
    """Forget every set of the folder's alternatives (``genhmr.alternatives``: a new analysis
    is written there): renamed away first, so a half-deleted set never looks whole."""
    remove_whole(Path(job_dir) / alternatives.ALTERNATIVES_DIR, job_dir, ".alternatives-old-")


# -- the background's vertical lines --------------------------------------------------------------
def save_background_lines(job_dir: Path, lines: Any) -> Path:
    """``lines`` is a ``vertical_lines.BackgroundLines``."""
    arrays = {"segments": np.asarray(lines.segments, np.float64).reshape(-1, 4)}
    if lines.rotations is not None:
        arrays["rotations"] = np.asarray(lines.rotations, np.float64).reshape(-1, 3, 3)
    return _save_npz(Path(job_dir) / BACKGROUND_FILE, "background-lines", arrays,
                     compressed=True)


def load_background_lines(job_dir: Path) -> Any | None:
    """The lines kept in the job folder, or None when it has none (a folder from before they
    were kept): the caller finds them again. A damaged file is an error, as for every file."""
    from .vertical_lines import BackgroundLines

    path = Path(job_dir) / BACKGROUND_FILE
    if not path.is_file():
        return None
    arrays = _load_npz(path, "background-lines")
    segments = arrays.get("segments")
    rotations = arrays.get("rotations")
    if (segments is None or segments.ndim != 2 or segments.shape[1] != 4
            or (rotations is not None and rotations.shape != (len(segments), 3, 3))):
        raise JobFolderError(f"{path} is inconsistent; analyse the video again")
    return BackgroundLines(segments=segments.astype(np.float64),
                           rotations=None if rotations is None else rotations)


# -- solve and result ----------------------------------------------------------------------------
def save_result_pair(job_dir: Path, solve: Any, result: Any) -> None:
    """The solve, then the result (each atomic): a reader of ``result.npz`` never sees a half
    file, and a crash between the two leaves a solve that is only ahead of the result."""
    from genhmr_core.result_format import save_result

    save_result(solve, Path(job_dir) / SOLVE_FILE)
    save_result(result, Path(job_dir) / RESULT_FILE)


# -- revisions -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Revision:
    """The revision an edit started from, and (once recorded) the one it made."""

    base: int
    revision: int | None = None


@contextlib.contextmanager
def edit_at(job_dir: str | Path, revision: int | None, label: str) -> Iterator[Revision]:
    """Run an edit of the job folder at ``revision`` (None: the folder's current one) and
    record its outcome as a new revision made from it (``yield``'s ``revision``). Revisions
    on other branches stay (another import of the analysis may show them); the oldest edits go
    beyond ``job_revisions.MAX_EDITS`` and ``MAX_REVISION_BYTES``, never ``revision``, the one
    the folder was at, nor revision 0 (:func:`genhmr_core.job_revisions.record_edit`). When
    the edit raises (an error, a cancel), the folder is left exactly as it was: its files
    those of the revision it was at, the log untouched (a folder that had no revisions gets
    none)."""
    folder = Path(job_dir)
    load_options(folder)  # a missing or foreign folder: the usual sentence
    try:
        log = job_revisions.read_log(folder)
    except job_revisions.RevisionError as exc:
        raise JobFolderError(f"{exc}; analyse the video again") from exc
    fresh = log is None
    if fresh:
        if revision not in (None, 0):
            raise JobFolderError(job_revisions.missing_message(folder, revision))
        log = job_revisions.RevisionLog.initial()
        job_revisions.snapshot(folder, 0)  # hard links: the analysis as it is, kept
    base = log.current if revision is None else int(revision)
    if not log.has(base):
        raise JobFolderError(job_revisions.missing_message(folder, base))
    if not job_revisions.revision_dir(folder, base).is_dir():
        raise JobFolderError(f"{job_revisions.revision_dir(folder, base)} is missing (revision "
                             f"{base} of the log); analyse the video again")
    before = log.current
    edit = Revision(base=base)
    try:
        # always: files an interrupted edit left behind are put right (a stat when they are)
        job_revisions.checkout(folder, base)
        yield edit
        new_log, dropped = job_revisions.record_edit(folder, log, base, label)
    except BaseException:
        job_revisions.checkout(folder, before)
        if fresh:
            job_revisions.remove(folder, [0])
            with contextlib.suppress(OSError):
                (folder / job_revisions.REVISIONS_DIR).rmdir()
        raise
    job_revisions.remove(folder, dropped)
    edit.revision = new_log.current


def restore(job_dir: str | Path, revision: int) -> None:
    """Bring the job folder's files to its kept ``revision`` and make it the current one (the
    command line's ``revisions --restore``; an edit without a revision then starts there).
    No revision is dropped."""
    folder = Path(job_dir)
    load_options(folder)  # a missing or foreign folder: the usual sentence
    try:
        job_revisions.restore(folder, revision)
    except job_revisions.RevisionError as exc:
        raise JobFolderError(str(exc)) from exc
