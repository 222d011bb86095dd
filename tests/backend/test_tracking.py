"""Tracker: stable ids on synthetic detections with known answers, then on real pedestrians."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from genhmr.boxes import box_iou
from genhmr.tracking import Tracker, TrackerConfig, keypoint_distance

K = 17
# A stick figure in unit box coordinates (x, y in [0, 1]): head, shoulders, elbows, wrists,
# hips, knees, ankles... enough structure for the keypoint term.
_SHAPE = np.array(
    [[0.5, 0.05], [0.45, 0.04], [0.55, 0.04], [0.4, 0.06], [0.6, 0.06], [0.3, 0.2], [0.7, 0.2],
     [0.25, 0.35], [0.75, 0.35], [0.2, 0.5], [0.8, 0.5], [0.4, 0.55], [0.6, 0.55], [0.38, 0.75],
     [0.62, 0.75], [0.37, 0.95], [0.63, 0.95]]
)


def person(cx: float, cy: float, height: float, conf: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(box (4,), keypoints (K, 3)) of a person centred at (cx, cy)."""
    width = 0.45 * height
    box = np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2])
    kp = np.empty((K, 3))
    kp[:, 0] = box[0] + _SHAPE[:, 0] * width
    kp[:, 1] = box[1] + _SHAPE[:, 1] * height
    kp[:, 2] = conf
    return box, kp


def frame_of(*people: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not people:
        return np.zeros((0, 4)), np.zeros((0, K, 3))
    return np.stack([p[0] for p in people]), np.stack([p[1] for p in people])


def run(tracker: Tracker, frames: list[list[tuple[np.ndarray, np.ndarray]]]) -> list[list[int]]:
    return [tracker.update(f, *frame_of(*people)) for f, people in enumerate(frames)]


# -- pure helpers ----------------------------------------------------------------------------------


def test_box_iou_and_keypoint_distance():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 50 / 150, 0.0])
    _, kp = person(100, 100, 100)
    moved = kp.copy()
    moved[:, 0] += 10
    d = keypoint_distance(kp[None], np.stack([kp, moved]), np.array([100.0]))
    np.testing.assert_allclose(d, [[0.0, 0.1]], atol=1e-12)
    hidden = moved.copy()
    hidden[:, 2] = 0.0  # no confident keypoint in common: the neutral distance 1
    assert keypoint_distance(kp[None], hidden[None], np.array([100.0]))[0, 0] == 1.0


# -- synthetic tracks ------------------------------------------------------------------------------


def test_two_people_crossing_keep_their_ids():
    """A walks right, B walks left, their boxes overlap for several frames (B slightly further
    back and smaller); the detection order is shuffled every frame."""
    rng = np.random.default_rng(0)
    tracker = Tracker()
    ids_a, ids_b = [], []
    for f in range(40):
        a = person(100 + 10 * f, 300, 200)
        b = person(500 - 10 * f, 290, 170)
        order = rng.permutation(2)
        people = [a, b]
        ids = tracker.update(f, *frame_of(*(people[i] for i in order)))
        by_person = dict(zip(order.tolist(), ids, strict=True))
        ids_a.append(by_person[0])
        ids_b.append(by_person[1])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]
    assert tracker.finish() == {ids_a[0]: 0, ids_b[0]: 1}


def test_a_short_gap_keeps_the_id_a_long_gap_does_not():
    cfg = TrackerConfig(max_gap=10)
    # walks right at 5 px/frame, unseen for 8 frames (< max_gap), then again for 15 (> max_gap)
    visible = [f for f in range(60) if not (20 <= f < 28 or 40 <= f < 55)]
    tracker = Tracker(cfg)
    ids = {}
    for f in range(60):
        people = [person(100 + 5 * f, 300, 150)] if f in visible else []
        out = tracker.update(f, *frame_of(*people))
        if out:
            ids[f] = out[0]
    assert len({ids[f] for f in visible if f < 40}) == 1  # bridged the 8-frame gap
    assert ids[55] != ids[39]  # 15 frames unseen: a new track
    assert len({ids[f] for f in visible if f >= 55}) == 1
    final = tracker.finish()
    assert final == {ids[0]: 0, ids[55]: 1}


def test_prediction_carries_a_person_across_a_gap_while_they_move():
    """Unseen for 6 frames while running 8 px/frame: they come back 56 px further on, beyond
    their last box (54 px wide); without the carried-forward velocity the cost would exceed
    max_cost. (The velocity decays by 0.8 per unseen frame, so much longer or faster gaps do
    start a new id: a deliberate limit on extrapolation.)"""
    tracker = Tracker(TrackerConfig(max_gap=30))
    ids = []
    for f in list(range(10)) + list(range(16, 26)):
        ids.append(tracker.update(f, *frame_of(person(100 + 8 * f, 300, 120)))[0])
    assert len(set(ids)) == 1


def test_flicker_is_dropped_and_final_ids_follow_first_appearance():
    tracker = Tracker(TrackerConfig(min_track_length=5))
    raw = []
    for f in range(30):
        people = [person(600, 300, 200)]
        if 3 <= f < 6:
            people.append(person(150, 100, 60))  # a 3-frame false detection elsewhere
        if f >= 10:
            people.append(person(300 + 2 * f, 320, 180))  # someone who enters later
        raw.append(tracker.update(f, *frame_of(*people)))
    final = tracker.finish()
    flicker, late = raw[3][1], raw[10][1]
    assert flicker not in final
    assert final == {raw[0][0]: 0, late: 1}


def test_someone_far_away_is_a_new_person_not_a_jump():
    tracker = Tracker()
    first = tracker.update(0, *frame_of(person(100, 300, 150)))
    second = tracker.update(1, *frame_of(person(700, 300, 150)))
    assert first != second


def test_empty_frames_and_no_detections_at_all():
    tracker = Tracker()
    for f in range(5):
        assert tracker.update(f, np.zeros((0, 4)), np.zeros((0, K, 3))) == []
    assert tracker.finish() == {}


# -- real pedestrians ------------------------------------------------------------------------------


@pytest.mark.slow
def test_detector_and_tracker_on_pedestrians(media_dir: Path, detector_factory, video_iter):
    """60 frames of vtest.avi (several pedestrians 60-110 px tall): at least two people are
    tracked for 30+ frames each, and no track jumps between people (an id swap shows up as a
    box-centre jump far beyond a walking speed of ~1-3 px per frame)."""
    detector = detector_factory("auto")
    tracker = Tracker()
    centres: dict[int, dict[int, np.ndarray]] = {}
    heights: dict[int, list[float]] = {}
    for index, frame in video_iter(media_dir / "vtest.avi", 0, 60):
        people = detector.detect(frame, timestamp_ms=index * 100)  # vtest.avi is 10 fps
        if not people:
            tracker.update(index, np.zeros((0, 4)), np.zeros((0, 33, 3)))
            continue
        boxes = np.stack([p.box for p in people])
        ids = tracker.update(index, boxes, np.stack([p.landmarks_px for p in people]))
        for tid, box in zip(ids, boxes, strict=True):
            centres.setdefault(tid, {})[index] = (box[:2] + box[2:]) / 2
            heights.setdefault(tid, []).append(float(box[3] - box[1]))
    final = tracker.finish()
    long_tracks = [tid for tid in final if len(centres[tid]) >= 30]
    assert len(long_tracks) >= 2, {tid: len(c) for tid, c in centres.items()}
    for tid in final:
        frames = sorted(centres[tid])
        for f0, f1 in itertools.pairwise(frames):
            speed = np.linalg.norm(centres[tid][f1] - centres[tid][f0]) / (f1 - f0)
            assert speed < 0.35 * np.median(heights[tid]), (tid, f0, f1, speed)
