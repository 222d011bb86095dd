"""perception.Backfill: following newcomers backwards during the detection pass.

The detector here is a stand-in that only answers ``follow`` (who is in a given earlier frame):
what is tested is the bookkeeping (how far back, where a walk stops, which people count as
new), which the real detector's test on demo.mp4 (test_person_pose_detector.py, the woman
stepping out from behind the tree) cannot isolate."""

from __future__ import annotations

import numpy as np
from genhmr.detection.mediapipe_detector import PersonDetection
from genhmr.perception import Backfill
from genhmr.tracking import FrameDetections


def _person(x0: float, name: float) -> PersonDetection:
    """A person whose box starts at ``x0`` (100 px wide, 200 tall); ``name`` rides in the
    world landmarks so that the stand-in detector knows whom it follows."""
    landmarks = np.zeros((33, 3), np.float32)
    landmarks[:, 0] = x0 + 50.0
    landmarks[:, 1] = np.linspace(0.0, 200.0, 33)
    return PersonDetection(landmarks_px=landmarks,
                           world_landmarks=np.full((33, 3), name, np.float32),
                           box=np.array([x0, 0.0, x0 + 100.0, 200.0], np.float32), score=1.0)


class FollowingDetector:
    """Sees person ``name`` in every frame from ``since[name]`` on (the frame's number is its
    pixel value), where they were."""

    def __init__(self, since: dict[float, int]) -> None:
        self.since = since
        self.calls = 0

    def follow(self, frame: np.ndarray, person: PersonDetection) -> PersonDetection | None:
        self.calls += 1
        name = float(person.world_landmarks[0, 0])
        if int(frame[0, 0, 0]) < self.since[name]:
            return None
        return _person(float(person.box[0]), name)


def _run(detections: list[list[PersonDetection]], detector: FollowingDetector,
         max_frames: int) -> list[FrameDetections]:
    """The detection pass's order: each frame is detected, then handed to the backfill."""
    per_frame: list[FrameDetections] = []
    behind = Backfill(detector, max_frames)
    for index, people in enumerate(detections):
        per_frame.append(FrameDetections(index, list(people), [np.zeros(1)] * len(people)))
        behind.add(per_frame, np.full((4, 4, 3), index, np.uint8))
    return per_frame


def _names(frame: FrameDetections) -> list[float]:
    return sorted(float(p.world_landmarks[0, 0]) for p in frame.people)


def test_a_newcomer_is_followed_back_at_most_max_frames():
    # there all along, found by the detector only at frame 6
    per_frame = _run([[] for _ in range(6)] + [[_person(0.0, 1.0)]], FollowingDetector({1.0: 0}),
                     max_frames=3)
    assert [len(f.people) for f in per_frame] == [0, 0, 0, 1, 1, 1, 1]
    assert all(len(f.appearance) == len(f.people) for f in per_frame)


def test_the_walk_stops_where_the_person_was_already_found_or_no_longer_seen():
    detector = FollowingDetector({1.0: 0, 2.0: 3})
    early = [[_person(0.0, 1.0)]] + [[] for _ in range(4)] + [[_person(0.0, 1.0),
                                                                _person(500.0, 2.0)]]
    per_frame = _run(early, detector, max_frames=10)
    # person 1 met their own detection at frame 0; person 2 is seen from frame 3 only
    assert [_names(f) for f in per_frame] == [[1.0], [1.0], [1.0], [1.0, 2.0], [1.0, 2.0],
                                              [1.0, 2.0]]


def test_two_newcomers_of_one_frame_are_both_followed():
    # boxes overlapping by IoU 0.33: the first one's walk puts them into frame 2, where the
    # second would no longer look new if the newcomers were picked after that walk
    one, two = _person(0.0, 1.0), _person(50.0, 2.0)
    per_frame = _run([[], [], [], [one, two]], FollowingDetector({1.0: 0, 2.0: 0}), max_frames=2)
    assert [_names(f) for f in per_frame] == [[], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]


def test_a_detector_that_cannot_follow_adds_nothing():
    class Plain:
        pass

    per_frame: list[FrameDetections] = []
    behind = Backfill(Plain(), 5)
    for index, people in enumerate([[], [_person(0.0, 1.0)]]):
        per_frame.append(FrameDetections(index, list(people), [np.zeros(1)] * len(people)))
        behind.add(per_frame, np.zeros((4, 4, 3), np.uint8))
    assert [len(f.people) for f in per_frame] == [0, 1]
    assert behind.added == 0


def _hand_on(detections: list[list[PersonDetection]], detector: object,
             max_frames: int) -> tuple[list[FrameDetections], list[tuple[int, list[float], int]]]:
    """The detection pass with ``on_final``'s bookkeeping: every frame the backfill hands on,
    as (position, the people it held then, the frame's pixel value)."""
    per_frame: list[FrameDetections] = []
    behind = Backfill(detector, max_frames)
    handed: list[tuple[int, list[float], int]] = []
    for index, people in enumerate(detections):
        per_frame.append(FrameDetections(index, list(people), [np.zeros(1)] * len(people)))
        final = behind.add(per_frame, np.full((4, 4, 3), index, np.uint8))
        handed += [(pos, _names(per_frame[pos]), int(frame[0, 0, 0])) for pos, frame in final]
    handed += [(pos, _names(per_frame[pos]), int(frame[0, 0, 0]))
               for pos, frame in behind.flush()]
    return per_frame, handed


def test_each_frame_is_handed_on_once_in_order_with_what_every_walk_added():
    """A frame leaves the backfill ``max_frames`` frames after it came (the rest at the end),
    in order, each once, with its own pixels, and only when no walk can reach it any more:
    what it held when handed on is what it holds at the end (a newcomer found at frame 6 is
    followed back to frame 3 before frame 3 is handed on)."""
    detections = [[] for _ in range(6)] + [[_person(0.0, 1.0)] for _ in range(3)]
    per_frame, handed = _hand_on(detections, FollowingDetector({1.0: 0}), 3)
    assert [pos for pos, _, _ in handed] == list(range(9))
    assert all(pos == pixel for pos, _, pixel in handed)
    assert [names for _, names, _ in handed] == [_names(f) for f in per_frame]
    assert [len(f.people) for f in per_frame] == [0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_without_following_each_frame_is_handed_on_at_once():
    class Plain:
        pass

    _, handed = _hand_on([[], [_person(0.0, 1.0)]], Plain(), 5)
    assert [(pos, names) for pos, names, _ in handed] == [(0, []), (1, [1.0])]
