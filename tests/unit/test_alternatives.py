"""Which alternatives to offer, and the list kept beside the job (genhmr_core.alternatives)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genhmr_core.alternatives import (
    AlternativesError,
    AlternativesInfo,
    Candidate,
    candidate_dir,
    candidate_result,
    farthest_first,
    folder,
    read_info,
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


def test_the_list_round_trips_and_finds_its_files(tmp_path: Path) -> None:
    assert read_info(tmp_path) is None  # no alternatives yet
    info = _info()
    folder(tmp_path).mkdir()
    (folder(tmp_path) / "alternatives.json").write_text(json.dumps(info.to_json()))
    assert read_info(tmp_path) == info and info.count == 2
    with pytest.raises(AlternativesError, match="alternative 1 is missing"):
        candidate_result(tmp_path, info, 1)
    candidate_dir(tmp_path, 1).mkdir()
    (candidate_dir(tmp_path, 1) / "result.npz").write_bytes(b"x")
    assert candidate_result(tmp_path, info, 1) == tmp_path / "alternatives" / "1" / "result.npz"
    with pytest.raises(AlternativesError, match="there is no alternative 3"):
        candidate_result(tmp_path, info, 3)


@pytest.mark.parametrize("payload, message", [
    ({"format": "other"}, "not a GenHMR alternatives file"),
    ({"format": "genhmr-alternatives", "version": 99}, "another version"),
    ({"format": "genhmr-alternatives", "version": 1, "person": 0}, "damaged"),
])
def test_a_damaged_list_is_a_sentence(tmp_path: Path, payload: dict, message: str) -> None:
    folder(tmp_path).mkdir()
    (folder(tmp_path) / "alternatives.json").write_text(json.dumps(payload))
    with pytest.raises(AlternativesError, match=message):
        read_info(tmp_path)
    (folder(tmp_path) / "alternatives.json").write_text("{not json")
    with pytest.raises(AlternativesError):
        read_info(tmp_path)
