"""What the add-on reads of an analysis's job folder before asking the backend to edit it (no
``bpy``).

The backend owns the job folder (``backend/genhmr/job_store.py``, described in
``docs/result_format.md``, "The job folder"). Before the add-on sends a ``merge``, ``split`` or
``drop`` it checks the few things that decide whether the backend can edit the rigs' people at
all, so that an artist whose analysis is gone, or whose rigs no longer match it, gets the edit
made in Blender alone with the reason, instead of an error after the backend has started.

It reads the analysis as of the job folder's revision the rigs show
(``genhmr_core.job_revisions``; after an undo that is an earlier one than the folder's own
files), which is the state the backend will edit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Sequence

import numpy as np

from ._core import job_revisions

JOB_FILE = "job.json"  # the job's options (job_store.JOB_FILE)
# A rig's keys must lie mostly within its person's frames in the analysis: a track id alone
# could name someone else (a person split off in Blender takes the next id the scene does not
# use, which the analysis may have given to a ghost deleted there).
MIN_KEYS_INSIDE = 0.5


def merge_obstacle(result_path: str, people: Sequence[tuple[str, int, np.ndarray]],
                   revision: int | None = None) -> str | None:
    """Why the backend cannot merge these people of the analysis whose result file is
    ``result_path`` (a sentence for the artist), or None when it can. ``people``: per rig, its
    name, its track id and the video frames it has keys on; ``revision``: the job folder's
    revision the rigs show (None: the folder's current one)."""
    return edit_obstacle(result_path, people, solve=True, revision=revision)


def split_obstacle(result_path: str, name: str, track: int, keyed: np.ndarray,
                   frame: int, revision: int | None = None) -> str | None:
    """Why the backend cannot split this rig's person at video ``frame`` in the analysis (it
    must be seen there on both sides of the frame), or None when it can."""
    reason = edit_obstacle(result_path, [(name, track, keyed)], revision=revision)
    if reason is not None:
        return reason
    seen = _read(result_path, revision).seen(track)
    if not (seen < frame).any() or not (seen >= frame).any():
        return (f"person {int(track)} of the analysis is not seen on both sides of video frame "
                f"{int(frame)} (edited since?)")
    return None


def edit_obstacle(result_path: str, people: Sequence[tuple[str, int, np.ndarray]],
                  solve: bool = False, revision: int | None = None) -> str | None:
    """Why the backend cannot edit (split, drop; with ``solve``, merge and solve again) these
    people of the analysis whose result file is ``result_path``, or None when it can.
    ``people``: per rig, its name, its track id and the video frames it has keys on;
    ``revision``: the job folder's revision the rigs show (None: the folder's current one)."""
    job_dir = os.path.dirname(result_path)
    if not os.path.isdir(job_dir):
        return f"the analysis folder {job_dir} is gone (moved or deleted)"
    try:
        with open(os.path.join(job_dir, JOB_FILE), encoding="utf-8") as f:
            method = json.load(f)["options"]["method"]
    except (OSError, ValueError, KeyError, TypeError):
        return (f"{job_dir} is not an analysis the backend can re-enter (a result file "
                "imported on its own)")
    if solve and method != "generative":
        return f"the analysis used the {method!r} method, which cannot solve a person again"
    try:
        job = _read(result_path, revision)
    except job_revisions.RevisionError as exc:
        return str(exc)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return f"the analysis's result file cannot be read ({exc})"
    for name, track, keyed in people:
        if int(track) not in job.track_ids:
            return (f"{name} is not a person of the analysis (split off in Blender, or its "
                    "analysis was edited since)")
        seen = job.seen(track)
        keyed = np.asarray(keyed)
        if not len(seen):
            return f"person {int(track)} is not seen in the analysis any more"
        if len(keyed) and np.mean((keyed >= seen.min()) & (keyed <= seen.max())) \
                < MIN_KEYS_INSIDE:
            return (f"{name}'s keys are not where person {int(track)} of the analysis is "
                    "(edited since?)")
    return None


def track_ids(result_path: str, revision: int | None = None) -> list[int]:
    """The analysis's people (track ids) at ``revision``, for choosing a split-off person's
    id no one has."""
    return _read(result_path, revision).track_ids.tolist()


@dataclasses.dataclass
class _People:
    """Who the analysis has, and where each is seen."""

    track_ids: np.ndarray  # (P,)
    valid: np.ndarray  # (P, F)
    frames: np.ndarray  # (F,) video frames

    def seen(self, track: int) -> np.ndarray:
        """The video frames person ``track`` is seen in (empty when there is no such person)."""
        rows = np.flatnonzero(self.track_ids == int(track))
        return self.frames[self.valid[rows[0]]] if len(rows) == 1 else self.frames[:0]


def _read(result_path: str, revision: int | None = None) -> _People:
    """The people of the result as of the job folder's ``revision`` (None: the file itself);
    :class:`job_revisions.RevisionError` for a revision the folder does not keep."""
    if revision is not None:
        result_path = str(job_revisions.file_at(os.path.dirname(result_path), revision,
                                                os.path.basename(result_path)))
    with np.load(result_path, allow_pickle=False) as data:
        return _People(np.asarray(data["track_ids"]), np.asarray(data["valid"], dtype=bool),
                       np.asarray(data["frame_indices"]))
