"""Alternatives for a stretch of one person's motion: which to offer, and where they are kept.

Why: a single video cannot tell some poses apart (a knee towards or away from the camera, an
arm in front of the body or behind it, a hidden hand). The generative model knows several
readings of such a stretch; the artist picks the one that is right. The backend samples more
readings than it offers, keeps the ones that differ most from the motion the rig has and from
each other (:func:`farthest_first`), refines each, and writes each as a complete result file
(the rig's person changed only inside the stretch), so the add-on previews one exactly as it
re-keys a re-run. Accepting one makes it the job folder's next revision; nothing else does.

Layout, next to the job folder's own files (``docs/result_format.md``, "The job folder"): one
folder per *set* of alternatives, ``alternatives/<set>/`` (a random id, so two rigs of one
analysis can each be choosing: the man's set and the woman's), holding ``alternatives.json``
(:class:`AlternativesInfo`) and ``<k>/`` (k = 1..count) with ``result.npz`` (what the add-on
shows), ``solve.npz`` and ``stage1_rows.npz`` (what accepting writes into the folder). The
newest :data:`MAX_SETS` sets are kept; accepting one removes it (the others, sampled from the
state it replaced, are then refused: sample them again); a new analysis removes them all.

No ``numpy`` here, no ``bpy``: the add-on reads the list, the backend writes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .protocol import RESAMPLE_DEFAULTS

ALTERNATIVES_DIR = "alternatives"
INFO_FILE = "alternatives.json"
INFO_FORMAT = "genhmr-alternatives"
INFO_VERSION = 1
RESULT_FILE = "result.npz"
SOLVE_FILE = "solve.npz"
STAGE1_ROWS_FILE = "stage1_rows.npz"
MAX_ALTERNATIVES = 8  # offered at once: more are hard to step through, and each costs a refine
MAX_SETS = 4  # sets kept in a job folder (a few rigs choosing at once), the oldest dropped
DEFAULT_ALTERNATIVES = RESAMPLE_DEFAULTS["count"]
DEFAULT_TEMPERATURE = RESAMPLE_DEFAULTS["temperature"]


class AlternativesError(ValueError):
    """Alternatives that cannot be shown or accepted (a sentence for the artist)."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One alternative as the artist sees it in the panel."""

    distance_mm: float  # mean keypoint distance from the motion the rig had, over the stretch
    largest_mm: float  # the same for the keypoint that differs most (which limb changed)
    reprojection_px: float  # its mean 2D error against the detections over the stretch


@dataclasses.dataclass(frozen=True)
class AlternativesInfo:
    """Which stretch the alternatives are for, and from which state of the analysis."""

    base_revision: int  # the job folder revision they were sampled from (and replace)
    person: int  # track id
    frame_start: int  # video frames, inclusive
    frame_end: int
    temperature: float
    seed: int
    candidates: tuple[Candidate, ...]

    @property
    def count(self) -> int:
        return len(self.candidates)

    def to_json(self) -> dict[str, Any]:
        return {"format": INFO_FORMAT, "version": INFO_VERSION,
                "base_revision": self.base_revision, "person": self.person,
                "frame_start": self.frame_start, "frame_end": self.frame_end,
                "temperature": self.temperature, "seed": self.seed,
                "candidates": [dataclasses.asdict(c) for c in self.candidates]}

    @classmethod
    def from_json(cls, payload: Any) -> AlternativesInfo:
        if not isinstance(payload, dict) or payload.get("format") != INFO_FORMAT:
            raise AlternativesError("not a GenHMR alternatives file")
        if payload.get("version") != INFO_VERSION:
            raise AlternativesError(f"written by another version (format "
                                    f"{payload.get('version')!r}, this reads {INFO_VERSION})")
        try:
            candidates = tuple(Candidate(distance_mm=float(c["distance_mm"]),
                                         largest_mm=float(c["largest_mm"]),
                                         reprojection_px=float(c["reprojection_px"]))
                               for c in payload["candidates"])
            return cls(base_revision=int(payload["base_revision"]),
                       person=int(payload["person"]), frame_start=int(payload["frame_start"]),
                       frame_end=int(payload["frame_end"]),
                       temperature=float(payload["temperature"]), seed=int(payload["seed"]),
                       candidates=candidates)
        except (KeyError, TypeError, ValueError) as exc:
            raise AlternativesError(f"damaged ({exc})") from exc


def folder(job_dir: str | os.PathLike[str]) -> Path:
    """Where a job folder keeps its sets of alternatives."""
    return Path(job_dir) / ALTERNATIVES_DIR


def new_set_id() -> str:
    return secrets.token_hex(4)


def set_dir(job_dir: str | os.PathLike[str], set_id: str) -> Path:
    if not set_id or not set_id.isalnum():
        raise AlternativesError(f"{set_id!r} is not a set of alternatives")
    return folder(job_dir) / set_id


def candidate_dir(job_dir: str | os.PathLike[str], set_id: str, index: int) -> Path:
    """Where alternative ``index`` (1-based, as the panel counts) of a set is kept."""
    return set_dir(job_dir, set_id) / str(int(index))


def sets(job_dir: str | os.PathLike[str]) -> list[str]:
    """The folder's sets, newest first (by when their list was written)."""
    found = [(p.stat().st_mtime_ns, p.parent.name) for p in folder(job_dir).glob(f"*/{INFO_FILE}")
             if p.parent.name.isalnum()]
    return [name for _, name in sorted(found, reverse=True)]


def read_info(job_dir: str | os.PathLike[str], set_id: str) -> AlternativesInfo | None:
    """A set's list, or None when the folder does not have that set (any more). Raises
    :class:`AlternativesError` when the list is damaged."""
    path = set_dir(job_dir, set_id) / INFO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AlternativesError(f"cannot read {path} ({exc})") from exc
    try:
        return AlternativesInfo.from_json(json.loads(text))
    except ValueError as exc:
        raise AlternativesError(f"{path}: {exc}") from exc


def candidate_result(job_dir: str | os.PathLike[str], set_id: str, info: AlternativesInfo,
                     index: int) -> Path:
    """The result file of alternative ``index`` (1..count) of a set; raises
    :class:`AlternativesError` when it is not there."""
    if not 1 <= index <= info.count:
        raise AlternativesError(f"there is no alternative {index} (there are {info.count})")
    path = candidate_dir(job_dir, set_id, index) / RESULT_FILE
    if not path.is_file():
        raise AlternativesError(f"alternative {index} is missing from "
                                f"{set_dir(job_dir, set_id)}; sample the alternatives again")
    return path


def farthest_first(distances: Sequence[Sequence[float]], to_reference: Sequence[float],
                   count: int) -> list[int]:
    """Indices of ``count`` candidates chosen one by one, each the farthest from the reference
    and from those already chosen (the smallest of its distances to them largest): the
    k-centre greedy choice, so the artist sees readings that differ, not several near copies
    of one. ``distances`` is the (D, D) matrix between candidates, ``to_reference`` (D,) their
    distances from the motion the rig has. Ties go to the lower index (the draw order)."""
    n = len(to_reference)
    if any(len(row) != n for row in distances) or len(distances) != n:
        raise ValueError("distances must be a square matrix over the candidates")
    nearest = [float(d) for d in to_reference]
    chosen: list[int] = []
    for _ in range(min(count, n)):
        best = max((i for i in range(n) if i not in chosen), key=lambda i: (nearest[i], -i))
        chosen.append(best)
        nearest = [min(nearest[i], float(distances[best][i])) for i in range(n)]
    return chosen
