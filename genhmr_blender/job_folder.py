"""What the add-on reads of an analysis's job folder before asking the backend to edit it (no
``bpy``).

The backend owns the job folder (``backend/genhmr/job_store.py``, described in
``docs/result_format.md``, "The job folder"). Before the add-on sends a ``merge`` it checks the
few things that decide whether the backend can merge the two rigs' people at all, so that an
artist whose analysis is gone, or whose rigs no longer match it, gets the keys merged in
Blender with the reason, instead of an error after the backend has started.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence

import numpy as np

JOB_FILE = "job.json"  # the job's options (job_store.JOB_FILE)
# A rig's keys must lie mostly within its person's frames in the analysis: a track id alone
# could name someone else (a person split off in Blender takes the next id the scene does not
# use, which the analysis may have given to a ghost deleted there).
MIN_KEYS_INSIDE = 0.5


def merge_obstacle(result_path: str, people: Sequence[tuple[str, int, np.ndarray]]
                   ) -> str | None:
    """Why the backend cannot merge these people of the analysis whose result file is
    ``result_path`` (a sentence for the artist), or None when it can. ``people``: per rig, its
    name, its track id and the video frames it has keys on."""
    job_dir = os.path.dirname(result_path)
    if not os.path.isdir(job_dir):
        return f"the analysis folder {job_dir} is gone (moved or deleted)"
    try:
        with open(os.path.join(job_dir, JOB_FILE), encoding="utf-8") as f:
            method = json.load(f)["options"]["method"]
    except (OSError, ValueError, KeyError, TypeError):
        return (f"{job_dir} is not an analysis the backend can re-enter (a result file "
                "imported on its own)")
    if method != "generative":
        return f"the analysis used the {method!r} method, which cannot solve a person again"
    try:
        with np.load(result_path, allow_pickle=False) as data:
            track_ids = np.asarray(data["track_ids"])
            valid = np.asarray(data["valid"], dtype=bool)
            frames = np.asarray(data["frame_indices"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return f"the analysis's result file cannot be read ({exc})"
    for name, track, keyed in people:
        rows = np.flatnonzero(track_ids == int(track))
        if len(rows) != 1:
            return (f"{name} is not a person of the analysis (split off in Blender, or its "
                    "analysis was edited since)")
        seen = frames[valid[rows[0]]]
        keyed = np.asarray(keyed)
        if not len(seen):
            return f"person {int(track)} is not seen in the analysis any more"
        if len(keyed) and np.mean((keyed >= seen.min()) & (keyed <= seen.max())) \
                < MIN_KEYS_INSIDE:
            return (f"{name}'s keys are not where person {int(track)} of the analysis is "
                    "(edited since?)")
    return None
