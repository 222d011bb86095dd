"""A rig choosing between alternatives: what it showed before, which one it shows now.

Why here and not in the window manager: the choice belongs to the rig and must follow undo.
Everything lives in one custom property on the rig (:data:`PENDING`): the stretch (scene
frames), the job folder and revision the alternatives were sampled from, each alternative's
result file and numbers, which one is shown (0 = the motion the rig had), and that motion's own
keys over the stretch (the *stash*: the rig's keys as they were, hand edits included, not the
analysis's). Blender's undo restores custom properties with the keys, so an undo always finds
the rig and its choice consistent; a saved .blend keeps an unfinished choice.

Showing an alternative re-keys the stretch from its result file exactly as a re-run on the range
does (:func:`.rerange.apply_range`); showing 0 puts the stashed keys back.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from .._core import result_format
from . import people, rerange
from .fcurves import fcurves_of
from .keyframes import read_channel, replace_channel

PENDING = "genhmr_alternatives"


class AlternativesError(ValueError):
    """The alternatives cannot be shown (a file gone, a rig changed); the message says why."""


def pending(rig: bpy.types.Object | None) -> dict[str, Any] | None:
    """The rig's unfinished choice (a plain dict copy), or None."""
    if rig is None or PENDING not in rig:
        return None
    return rig[PENDING].to_dict()


def shown(rig: bpy.types.Object) -> int:
    """Which alternative the rig shows (0: its own motion)."""
    return int(rig[PENDING]["shown"]) if PENDING in rig else 0


def _stash(rig: bpy.types.Object, first: int, last: int) -> list[dict[str, Any]]:
    """Every channel's keys on scene frames ``first..last``."""
    out = []
    for fc in fcurves_of(rig):
        frames, values = read_channel(fc)
        inside = (frames >= first - 0.5) & (frames <= last + 0.5)
        out.append({"path": fc.data_path, "index": fc.array_index,
                    "frames": frames[inside].tolist(), "values": values[inside].tolist()})
    return out


def begin(rig: bpy.types.Object, job_dir: str, set_id: str, first: int, last: int,
          offset: int, revision: int, candidates: list[dict[str, Any]]) -> None:
    """Record that ``rig`` chooses between ``candidates`` (the ``resample`` job's list, set
    ``set_id`` of the job folder) for scene frames ``first..last``; it still shows its own
    motion, kept aside here."""
    rig[PENDING] = {
        "job_dir": job_dir, "set": set_id, "first": int(first), "last": int(last),
        "offset": int(offset),
        "revision": int(revision), "shown": 0,
        "candidates": [{"path": str(c["result_path"]),
                        "distance_mm": float(c.get("distance_mm", 0.0)),
                        "largest_mm": float(c.get("largest_mm", 0.0)),
                        "reprojection_px": float(c.get("reprojection_px", 0.0))}
                       for c in candidates],
        "stash": _stash(rig, first, last),
    }


def _restore(scene: bpy.types.Scene, rig: bpy.types.Object, state: dict[str, Any]) -> None:
    """The stashed keys back on the stretch (channels as they were; other frames untouched)."""
    first, last = state["first"], state["last"]
    stash = {(c["path"], int(c["index"])): c for c in state["stash"]}
    for fc in fcurves_of(rig):
        old_frames, old_values = read_channel(fc)
        outside = (old_frames < first - 0.5) | (old_frames > last + 0.5)
        kept = stash.get((fc.data_path, fc.array_index), {"frames": [], "values": []})
        replace_channel(fc, np.concatenate([old_frames[outside], np.asarray(kept["frames"])]),
                        np.concatenate([old_values[outside], np.asarray(kept["values"])]))
    people.refresh(scene, rig)


def show(scene: bpy.types.Scene, rig: bpy.types.Object, index: int) -> int:
    """Key the stretch with alternative ``index`` (1..count; 0 = the rig's own motion); the
    number of frames keyed. Raises :class:`AlternativesError` (the rig unchanged)."""
    state = pending(rig)
    if state is None:
        raise AlternativesError(f"{rig.name} has no alternatives to show")
    count = len(state["candidates"])
    if not 0 <= index <= count:
        raise AlternativesError(f"there is no alternative {index} (there are {count})")
    if index == 0:
        _restore(scene, rig, state)
        keyed = len({f for c in state["stash"] for f in c["frames"]})
    else:
        path = state["candidates"][index - 1]["path"]
        try:
            result = result_format.load_result(path)
        except (OSError, result_format.ResultFormatError) as exc:
            raise AlternativesError(f"alternative {index} cannot be read ({exc}); discard "
                                    "the alternatives and sample them again") from exc
        try:
            keyed = rerange.apply_range(scene, rig, result, state["first"], state["last"],
                                        state["offset"])
        except rerange.RangeError as exc:
            raise AlternativesError(str(exc)) from exc
    rig[PENDING]["shown"] = int(index)
    return keyed


def end(scene: bpy.types.Scene, rig: bpy.types.Object, restore: bool) -> None:
    """The choice is over: with ``restore`` the rig's own motion comes back (discarded),
    otherwise the keys stay as they are (accepted)."""
    state = pending(rig)
    if state is None:
        return
    if restore:
        _restore(scene, rig, state)
    del rig[PENDING]
