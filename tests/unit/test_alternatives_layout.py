"""Which alternatives to offer, and the list kept beside the job (genhmr_core.alternatives)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genhmr_core.alternatives import (
    AlternativesError,
    AlternativesInfo,
    Candidate,
    candidate_dir,
    candidate_result,
    farthest_first,
    read_info,
    set_dir,
    sets,
)


def _matrix(points: list[float]) -> list[list[float]]:
    return [[abs(a - b) for b in points] for a in points]


def test_farthest_first_spreads_the_choice() -> None:
    # Candidates on a line; the reference (the rig's motion) at 0. Two near copies at 10 and 10.5
    # must not both be offered while 5 and -8 are left out.
    points = [10.0, 10.5, 5.0, -8.0, 1.0]
    chosen = farthest_first(_matrix(points), [abs(p) for p in points], 3)
    assert chosen == [1, 3, 2]  # 10.5 (farthest), -8 (farthest from 0 and 10.5), then 5
    # asking for more than there are gives them all, each once
    assert sorted(farthest_first(_matrix(points), [abs(p) for p in points], 9)) == [0, 1, 2, 3, 4]


def test_farthest_first_breaks_ties_by_draw_order() -> None:
    assert farthest_first([[0, 1], [1, 0]], [2.0, 2.0], 1) == [0]
    with pytest.raises(ValueError, match="square"):
        farthest_first([[0, 1]], [1.0, 2.0], 1)


def _info(count: int = 2) -> AlternativesInfo:
    return AlternativesInfo(base_revision=3, person=1, frame_start=40, frame_end=69,
                            temperature=1.5, seed=7,
                            candidates=tuple(Candidate(distance_mm=40.0 + k, largest_mm=100.0,
                                                       reprojection_px=7.5)
                                             for k in range(count)))


def _write(job: Path, set_id: str, payload: dict) -> None:
    set_dir(job, set_id).mkdir(parents=True)
    (set_dir(job, set_id) / "alternatives.json").write_text(json.dumps(payload))


def test_sets_round_trip_and_find_their_files(tmp_path: Path) -> None:
    assert read_info(tmp_path, "a1") is None and sets(tmp_path) == []  # none yet
    info = _info()
    _write(tmp_path, "a1", info.to_json())
    assert read_info(tmp_path, "a1") == info and info.count == 2
    with pytest.raises(AlternativesError, match="alternative 1 is missing"):
        candidate_result(tmp_path, "a1", info, 1)
    candidate_dir(tmp_path, "a1", 1).mkdir()
    (candidate_dir(tmp_path, "a1", 1) / "result.npz").write_bytes(b"x")
    assert candidate_result(tmp_path, "a1", info, 1) == \
        tmp_path / "alternatives" / "a1" / "1" / "result.npz"
    with pytest.raises(AlternativesError, match="there is no alternative 3"):
        candidate_result(tmp_path, "a1", info, 3)
    # two rigs choosing at once: two sets, newest first
    _write(tmp_path, "b2", _info(1).to_json())
    os.utime(set_dir(tmp_path, "a1") / "alternatives.json", (1, 1))
    assert sets(tmp_path) == ["b2", "a1"]
    # a set id is a name, never a path
    for bad in ("", "../a1", "a/1"):
        with pytest.raises(AlternativesError, match="is not a set"):
            read_info(tmp_path, bad)


@pytest.mark.parametrize("payload, message", [
    ({"format": "other"}, "not a GenHMR alternatives file"),
    ({"format": "genhmr-alternatives", "version": 99}, "another version"),
    ({"format": "genhmr-alternatives", "version": 1, "person": 0}, "damaged"),
])
def test_a_damaged_list_is_a_sentence(tmp_path: Path, payload: dict, message: str) -> None:
    _write(tmp_path, "c3", payload)
    with pytest.raises(AlternativesError, match=message):
        read_info(tmp_path, "c3")
    (set_dir(tmp_path, "c3") / "alternatives.json").write_text("{not json")
    with pytest.raises(AlternativesError):
        read_info(tmp_path, "c3")
