"""Known-answer tests of genhmr.tracking_metrics on synthetic truth and predictions.

Every case is small enough to count by hand, so a change in how motmetrics is called (or in
our own ghost / tracks-per-person / coverage rules) shows up as a wrong number here rather than
as a quiet shift in the benchmark table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from genhmr.tracking_metrics import (
    FORMAT,
    SCORE_COLUMNS,
    TruthFileError,
    format_row,
    load_truth,
    markdown_header,
    parse_truth,
    predictions_from_tracks,
    score_tracking,
)

FRAMES = [0, 10, 20, 30, 40]
A = (100.0, 100.0, 160.0, 300.0)  # person 0's box (fixed: the tests are about ids, not motion)
B = (400.0, 100.0, 460.0, 300.0)  # person 1's box, far from A


def truth_data(people: dict[int, tuple[float, ...]] | None = None,
               frames: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid truth file: each person in ``people`` (id -> box) on every frame."""
    people = {0: A, 1: B} if people is None else people
    frames = FRAMES if frames is None else frames
    return {
        "format": FORMAT, "clip": "synthetic.mp4", "image_size": [640, 480], "fps": 30,
        "frames": frames,
        "people": [{"id": p, "description": f"person {p}"} for p in people],
        "boxes": [{"frame": f, "id": p, "box": list(box), "visible": 1.0}
                  for f in frames for p, box in people.items()],
        "ignore": [], "how": "synthetic", **extra,
    }


def same_ids() -> dict[int, list[tuple[int, tuple[float, ...]]]]:
    """Perfect predictions for :func:`truth_data`'s default: track 5 is person 0, 6 is person 1."""
    return {f: [(5, A), (6, B)] for f in FRAMES}


def test_perfect_tracking() -> None:
    s = score_tracking(parse_truth(truth_data()), same_ids())
    assert (s.frames, s.people, s.tracks) == (5, 2, 2)
    assert s.idf1 == 1.0 and s.mota == 1.0 and s.recall == 1.0 and s.precision == 1.0
    assert s.switches == 0 and s.fragmentations == 0
    assert s.ghost_tracks == 0 and s.tracks_per_person == {0: 1, 1: 1} and s.problems == {}
    assert s.coverage == {0: 1.0, 1: 1.0} and s.min_coverage == 1.0
    assert (s.matches, s.misses, s.false_positives) == (10, 0, 0)


def test_slightly_off_boxes_still_match_but_low_overlap_does_not() -> None:
    """IoU >= 0.5 matches (MOTChallenge's rule); a box shifted by most of its width does not."""
    shifted = (A[0] + 10, A[1], A[2] + 10, A[3])  # IoU 50/70 ≈ 0.71
    far = (A[0] + 40, A[1], A[2] + 40, A[3])  # IoU 20/100 = 0.2
    truth = parse_truth(truth_data({0: A}))
    assert score_tracking(truth, {f: [(1, shifted)] for f in FRAMES}).recall == 1.0
    s = score_tracking(truth, {f: [(1, far)] for f in FRAMES})
    assert s.recall == 0.0 and s.false_positives == 5 and s.ghost_tracks == 1


def test_id_switch_between_two_people() -> None:
    """Tracks 5 and 6 swap people from frame 30 on: two switches (one per person)."""
    preds = same_ids()
    for f in (30, 40):
        preds[f] = [(5, B), (6, A)]
    s = score_tracking(parse_truth(truth_data()), preds)
    assert s.switches == 2
    assert s.recall == 1.0 and s.precision == 1.0
    assert s.mota == pytest.approx(1 - 2 / 10)
    # Identity: each track is best assigned to the person it followed for 3 of 5 frames.
    assert s.idf1 == pytest.approx(6 / 10)
    assert s.tracks_per_person == {0: 2, 1: 2} and s.ghost_tracks == 0
    assert s.problems == {30: ["switch T0 #6", "switch T1 #5"]}


def test_split_person_counts_two_tracks_for_one_person() -> None:
    """Person 0 is track 5 until frame 10, then track 7: one person, two rigs."""
    preds = {f: [(5 if f <= 10 else 7, A)] for f in FRAMES}
    s = score_tracking(parse_truth(truth_data({0: A})), preds)
    assert s.tracks == 2 and s.tracks_per_person == {0: 2} and s.max_tracks_per_person == 2
    assert s.switches == 1  # motmetrics: a new id on a continuously tracked person
    assert s.fragmentations == 0  # ... no frame was missed, so nothing fragmented
    assert s.idf1 == pytest.approx(3 / 5) and s.ghost_tracks == 0


def test_split_with_a_gap_is_a_fragmentation_too() -> None:
    """Person 0 is missed on frame 20 and comes back as a new track: motmetrics counts both the
    switch and the fragmentation (tracked -> untracked -> tracked)."""
    preds = {f: [(5 if f <= 10 else 7, A)] for f in FRAMES if f != 20}
    s = score_tracking(parse_truth(truth_data({0: A})), preds)
    assert s.switches == 1 and s.fragmentations == 1
    assert s.tracks_per_person == {0: 2}
    assert s.coverage[0] == pytest.approx(4 / 5)
    assert s.problems == {20: ["miss T0"], 30: ["switch T0 #7"]}


def test_ghost_track() -> None:
    """Track 9 sits on an empty wall on two frames: a ghost and two false positives."""
    preds = same_ids()
    for f in (10, 20):
        preds[f].append((9, (550.0, 300.0, 600.0, 400.0)))
    s = score_tracking(parse_truth(truth_data()), preds)
    assert s.ghost_tracks == 1 and s.ghost_track_ids == [9] and s.tracks == 3
    assert s.false_positives == 2 and s.precision == pytest.approx(10 / 12)
    assert s.recall == 1.0 and s.idf1 < 1.0
    assert s.problems == {10: ["FP #9"], 20: ["FP #9"]}


def test_a_track_on_unannotated_frames_only_is_neither_scored_nor_a_ghost() -> None:
    preds = same_ids()
    preds[15] = [(9, (550.0, 300.0, 600.0, 400.0))]  # frame 15 is not annotated
    s = score_tracking(parse_truth(truth_data()), preds)
    assert s.tracks == 2 and s.ghost_tracks == 0 and s.false_positives == 0


def test_ignore_region_excuses_unmatched_predictions_only() -> None:
    """A crowd region at the right: a detection inside it (contained, tiny IoU) is dropped; a
    detection of a real person overlapping it is still scored normally."""
    crowd = (500.0, 50.0, 640.0, 450.0)
    data = truth_data(ignore=[{"frame": f, "box": list(crowd)} for f in FRAMES])
    in_crowd = (560.0, 200.0, 590.0, 260.0)  # IoU with the crowd box ~0.03, fully inside it
    half_in = (480.0, 200.0, 540.0, 260.0)  # 2/3 of its area inside: still dropped
    preds = same_ids()
    for f in FRAMES:
        preds[f] += [(8, in_crowd), (9, half_in)]
    s = score_tracking(parse_truth(data), preds)
    assert s.ignored_predictions == 10
    assert s.false_positives == 0 and s.precision == 1.0 and s.idf1 == 1.0
    assert s.tracks == 2 and s.ghost_tracks == 0

    # Same detections without the ignore region: they are false positives and ghosts.
    s = score_tracking(parse_truth(truth_data()), preds)
    assert s.false_positives == 10 and s.ghost_tracks == 2


def test_a_person_matched_inside_an_ignore_region_is_still_a_hit() -> None:
    data = truth_data(ignore=[{"frame": f, "box": [90, 90, 170, 310]} for f in FRAMES])
    s = score_tracking(parse_truth(data), same_ids())
    assert s.recall == 1.0 and s.ignored_predictions == 0 and s.tracks_per_person[0] == 1


def test_missed_person_lowers_coverage_but_occluded_frames_do_not_count() -> None:
    """Person 1 is found on 2 of 5 frames; person 0 is missed only while mostly hidden."""
    data = truth_data()
    for box in data["boxes"]:
        if box["id"] == 0 and box["frame"] in (30, 40):
            box["visible"] = 0.3
    preds = {f: ([(5, A)] if f < 30 else []) + ([(6, B)] if f < 20 else []) for f in FRAMES}
    s = score_tracking(parse_truth(data), preds)
    assert s.coverage == {0: 1.0, 1: pytest.approx(2 / 5)}
    assert s.min_coverage == pytest.approx(2 / 5)
    assert s.recall == pytest.approx(5 / 10)  # recall still counts every truth box


def test_person_never_well_visible_has_undefined_coverage() -> None:
    data = truth_data({0: A})
    for box in data["boxes"]:
        box["visible"] = 0.2
    s = score_tracking(parse_truth(data), {})
    assert math.isnan(s.coverage[0]) and math.isnan(s.min_coverage)
    assert s.recall == 0.0 and s.to_dict()["min_coverage"] is None


def test_frame_subset_and_unknown_frames() -> None:
    truth = parse_truth(truth_data())
    s = score_tracking(truth, same_ids(), frames=[0, 10])
    assert s.frames == 2 and s.matches == 4
    with pytest.raises(ValueError, match="not annotated"):
        score_tracking(truth, same_ids(), frames=[5])


def test_predictions_from_track_arrays() -> None:
    valid = np.array([[True, False], [True, True]])
    boxes = np.zeros((2, 2, 4), np.float32)
    boxes[:, :] = np.array(A, np.float32)
    preds = predictions_from_tracks(np.array([0, 10]), valid, boxes)
    assert [t for t, _ in preds[0]] == [0, 1] and [t for t, _ in preds[10]] == [1]
    assert preds[10][0][1] == A


def test_table_row_has_one_cell_per_column() -> None:
    s = score_tracking(parse_truth(truth_data()), same_ids())
    header = markdown_header(("clip", "detector", *SCORE_COLUMNS))
    row = format_row(s, before=("synthetic.mp4", "blazepose"))
    assert header.splitlines()[0].count("|") == row.count("|")
    assert "| 1.00 |" in row


def test_load_truth_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(truth_data()))
    truth = load_truth(path)
    assert truth.clip == "synthetic.mp4" and truth.frames == tuple(FRAMES)
    assert truth.image_size == (640, 480) and set(truth.people) == {0, 1}


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="genhmr-mot-truth/0"), "format must be"),
    (lambda d: d.pop("frames"), "missing key 'frames'"),
    (lambda d: d["boxes"].append({"frame": 5, "id": 0, "box": [0, 0, 1, 1]}),
     "not in the annotated frames"),
    (lambda d: d["boxes"].append({"frame": 0, "id": 3, "box": [0, 0, 1, 1]}),
     "not in people"),
    (lambda d: d["boxes"].append({"frame": 0, "id": 0, "box": [0, 0, 1, 1]}),
     "two boxes on frame 0"),
    (lambda d: d["boxes"][0].update(box=[10, 10, 5, 20]), "x1 > x0"),
    (lambda d: d["boxes"][0].update(box=[10, 10, 20]), r"\[x0, y0, x1, y1\]"),
    (lambda d: d["boxes"][0].update(visible=1.5), "visible must be"),
    (lambda d: d.update(image_size=[640]), "image_size"),
    (lambda d: d.update(frames=[0, 0]), "unique"),
    (lambda d: d.update(ignore=[{"frame": 0}]), "frame and box"),
])
def test_bad_truth_raises_a_clear_error(change, message: str) -> None:
    data = truth_data()
    change(data)
    with pytest.raises(TruthFileError, match=message):
        parse_truth(data)


def test_unreadable_truth_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(TruthFileError, match=r"broken\.json"):
        load_truth(path)
    with pytest.raises(TruthFileError, match=r"missing\.json"):
        load_truth(tmp_path / "missing.json")
