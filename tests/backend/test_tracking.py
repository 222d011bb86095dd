"""Tracking: online association, ghost rejection and offline stitching on synthetic people with
known answers (each stage alone, then :func:`track_people` over whole synthetic clips)."""

from __future__ import annotations

import numpy as np
import pytest
from genhmr.boxes import box_iou
from genhmr.detection import PersonDetection
from genhmr.tracking import (
    APPEARANCE_SIZE,
    FrameDetections,
    LookChangeConfig,
    OnlineConfig,
    OnlineTracker,
    PlausibilityConfig,
    StitchingConfig,
    TrackingConfig,
    build_tracklets,
    keypoint_distance,
    link_cost,
    stitch,
    track_people,
)
from genhmr.tracking.appearance import (
    REGION_SIZE,
    appearance_distance,
    describe_appearance,
    mean_appearance,
)
from genhmr.tracking.ground_sizes import GroundSizesConfig, fit_ground_sizes
from genhmr.tracking.look_changes import look_change_point, split_at_look_changes
from genhmr.tracking.plausibility import reject_ghost_tracklets
from genhmr.tracking.proportions import proportion_distance
from genhmr.tracking.stitching import cheapest_links

# A standing person's 33 BlazePose world landmarks (metres, hip-centred, +y down, +z away).
_WORLD = np.zeros((33, 3))
_WORLD[0] = (0, -0.68, -0.08)
_WORLD[1:7] = [(0.03 * s, -0.72, -0.06) for s in (1, 1, 1, -1, -1, -1)]
_WORLD[7:9] = [(0.07, -0.7, 0), (-0.07, -0.7, 0)]
_WORLD[9:11] = [(0.02, -0.64, -0.07), (-0.02, -0.64, -0.07)]
for side, sign in ((0, 1.0), (1, -1.0)):
    _WORLD[11 + side] = (0.17 * sign, -0.5, 0)  # shoulders
    _WORLD[13 + side] = (0.2 * sign, -0.22, 0)  # elbows
    _WORLD[15 + side] = (0.22 * sign, 0.03, 0)  # wrists
    _WORLD[[17 + side, 19 + side, 21 + side]] = (0.23 * sign, 0.08, 0)  # hand points
    _WORLD[23 + side] = (0.1 * sign, 0.0, 0)  # hips
    _WORLD[25 + side] = (0.1 * sign, 0.42, 0)  # knees
    _WORLD[27 + side] = (0.1 * sign, 0.82, 0)  # ankles
    _WORLD[29 + side] = (0.1 * sign, 0.86, 0.05)  # heels
    _WORLD[31 + side] = (0.1 * sign, 0.86, -0.12)  # toes


def look(hue_bin: int) -> np.ndarray:
    """An appearance descriptor of clothes of one colour (both regions)."""
    out = np.zeros(APPEARANCE_SIZE, np.float32)
    for slot in range(2):
        out[slot * REGION_SIZE + hue_bin * 4 + 3] = 0.5  # that hue, saturated
        out[(slot + 1) * REGION_SIZE - 2] = 0.5  # mid brightness
    return out


def body(cx: float, cy: float, height: float, conf: float = 0.9,
         shoulder_scale: float = 1.0) -> PersonDetection:
    """A person standing with their hips at (cx, cy), ``height`` px tall."""
    world = _WORLD.copy()
    world[:, 0] *= np.where(np.isin(np.arange(33), [11, 12]), shoulder_scale, 1.0)
    lm = np.empty((33, 3), np.float32)
    lm[:, :2] = np.array([cx, cy]) + world[:, :2] * (height / 1.6)
    lm[:, 2] = conf
    pad = 0.1 * np.ptp(lm[:, 1])
    box = np.array([lm[:, 0].min() - pad, lm[:, 1].min() - pad, lm[:, 0].max() + pad,
                    lm[:, 1].max() + pad], np.float32)
    return PersonDetection(landmarks_px=lm, world_landmarks=world.astype(np.float32), box=box,
                           score=conf)


def clip(frames: list[list[tuple[PersonDetection, np.ndarray]]]) -> list[FrameDetections]:
    return [FrameDetections(i, [p for p, _ in people], [a for _, a in people])
            for i, people in enumerate(frames)]


def tracklets_of(frames: list[list[tuple[PersonDetection, np.ndarray]]], ids: list[list[int]]):
    return build_tracklets(ids, [[p.box for p, _ in f] for f in frames],
                           [[p.landmarks_px for p, _ in f] for f in frames],
                           [[p.world_landmarks for p, _ in f] for f in frames],
                           [[a for _, a in f] for f in frames])


# -- pure helpers ----------------------------------------------------------------------------------


def test_box_iou_and_keypoint_distance():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 50 / 150, 0.0])
    kp = body(100, 100, 100).landmarks_px
    moved = kp.copy()
    moved[:, 0] += 10
    d = keypoint_distance(kp[None], np.stack([kp, moved]), np.array([100.0]))
    np.testing.assert_allclose(d, [[0.0, 0.1]], atol=1e-6)
    hidden = moved.copy()
    hidden[:, 2] = 0.0  # no confident keypoint in common: the neutral distance 1
    assert keypoint_distance(kp[None], hidden[None], np.array([100.0]))[0, 0] == 1.0


def test_appearance_descriptor_of_real_pixels():
    """Red shirt, blue trousers: the descriptor tells it from the same person in a green shirt,
    and a region whose landmarks are not seen stays empty."""
    person = body(200, 200, 300)
    frame = np.full((400, 400, 3), 128, np.uint8)
    lm = person.landmarks_px
    frame[int(lm[11, 1]):int(lm[23, 1]), int(lm[12, 0]):int(lm[11, 0])] = (0, 0, 220)  # BGR red
    frame[int(lm[23, 1]):int(lm[25, 1]), int(lm[24, 0]) - 5:int(lm[23, 0]) + 5] = (200, 0, 0)
    red = describe_appearance(frame, lm)
    frame[int(lm[11, 1]):int(lm[23, 1]), int(lm[12, 0]):int(lm[11, 0])] = (0, 200, 0)
    green = describe_appearance(frame, lm)
    assert red.shape == (APPEARANCE_SIZE,)
    np.testing.assert_allclose([red[:REGION_SIZE].sum(), red[REGION_SIZE:].sum()], [1, 1],
                               atol=1e-5)
    assert appearance_distance(red, red) == pytest.approx(0.0, abs=1e-3)
    assert appearance_distance(red, green) > 0.3
    hidden = lm.copy()
    hidden[[25, 26], 2] = 0.1  # knees unseen: no thigh region
    partial = describe_appearance(frame, hidden)
    assert partial[REGION_SIZE:].sum() == 0 and partial[:REGION_SIZE].sum() > 0.99
    assert appearance_distance(partial, np.zeros(APPEARANCE_SIZE)) is None
    mean = mean_appearance(np.stack([red, partial]))
    assert mean[REGION_SIZE:].sum() == pytest.approx(1.0, abs=1e-5)


def test_proportions_tell_bodies_apart():
    from genhmr.tracking.proportions import median_lengths

    a = body(0, 0, 100)
    wide = body(0, 0, 100, shoulder_scale=1.4)
    la = median_lengths(a.world_landmarks[None], a.landmarks_px[None, :, 2])
    lw = median_lengths(wide.world_landmarks[None], wide.landmarks_px[None, :, 2])
    assert la[0] == pytest.approx(0.34)
    assert proportion_distance(la, la) == pytest.approx(0.0)
    assert proportion_distance(la, lw) > 0.03
    assert proportion_distance(la, np.full_like(la, np.nan)) is None


# -- online ----------------------------------------------------------------------------------------


def test_online_two_people_crossing_keep_their_ids():
    """A walks right, B walks left, their boxes overlap for several frames (B slightly further
    back and smaller); the detection order is shuffled every frame."""
    rng = np.random.default_rng(0)
    tracker = OnlineTracker()
    ids_a, ids_b = [], []
    for f in range(40):
        people = [body(100 + 10 * f, 300, 200), body(500 - 10 * f, 290, 170)]
        order = rng.permutation(2)
        boxes = np.stack([people[i].box for i in order])
        kps = np.stack([people[i].landmarks_px[:17] for i in order])
        ids = tracker.update(f, boxes, kps)
        by_person = dict(zip(order.tolist(), ids, strict=True))
        ids_a.append(by_person[0])
        ids_b.append(by_person[1])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]


def test_online_people_who_trade_places_keep_their_ids_by_their_clothes():
    """Two people side by side (their boxes overlap) trade places between two frames, as a pair
    passing each other does at 10 fps: place and pose say each stayed where they were, the
    clothes say they swapped. With the looks the ids follow the clothes; without them they
    follow the places (the swap vtest.avi's pairs suffered)."""

    def run(config: OnlineConfig, with_looks: bool) -> list[dict[int, int]]:
        tracker = OnlineTracker(config)
        out = []
        for f in range(16):
            red_x, blue_x = (100, 140) if f < 8 else (140, 100)
            people = [body(red_x, 300, 150), body(blue_x, 300, 150)]
            looks = [look(0), look(4)]
            ids = tracker.update(f, np.stack([p.box for p in people]),
                                 np.stack([p.landmarks_px[:17] for p in people]),
                                 looks if with_looks else None)
            out.append(dict(enumerate(ids)))
        return out

    with_clothes = run(OnlineConfig(), with_looks=True)
    assert len({frame[0] for frame in with_clothes}) == 1  # red keeps red's id
    assert len({frame[1] for frame in with_clothes}) == 1
    for placed in (run(OnlineConfig(), with_looks=False),
                   run(OnlineConfig(appearance_weight=0.0), with_looks=True)):
        assert placed[7][0] == placed[8][1] and placed[7][1] == placed[8][0]


def test_online_someone_far_away_is_a_new_tracklet_and_empty_frames_are_fine():
    tracker = OnlineTracker()
    p, q = body(100, 300, 150), body(700, 300, 150)
    first = tracker.update(0, p.box[None], p.landmarks_px[None, :17])
    assert tracker.update(1, np.zeros((0, 4)), np.zeros((0, 17, 3))) == []
    second = tracker.update(2, q.box[None], q.landmarks_px[None, :17])
    assert first != second


# -- stitching -------------------------------------------------------------------------------------


def _walker(frames: range, x0: float, speed: float, colour: int, height: float = 150,
            y: float = 300) -> dict[int, tuple[PersonDetection, np.ndarray]]:
    return {f: (body(x0 + speed * f, y, height), look(colour)) for f in frames}


def _split(people: list[dict[int, tuple[PersonDetection, np.ndarray]]],
           pieces: list[list[range]], num_frames: int):
    """Frames with every person's detection, and tracklet ids: person k's detections in
    ``pieces[k][i]`` get their own tracklet id (as an online tracker that lost them would)."""
    frames: list[list[tuple[PersonDetection, np.ndarray]]] = [[] for _ in range(num_frames)]
    ids: list[list[int]] = [[] for _ in range(num_frames)]
    next_id = 0
    for person, ranges in zip(people, pieces, strict=True):
        for r in ranges:
            for f in r:
                frames[f].append(person[f])
                ids[f].append(next_id)
            next_id += 1
    return frames, ids


def test_a_person_unseen_for_two_seconds_is_stitched():
    walker = _walker(range(150), 100, 4, colour=0)
    frames, ids = _split([walker], [[range(0, 50), range(110, 150)]], 150)
    chains = stitch(tracklets_of(frames, ids), fps=30)
    assert [[t.id for t in c] for c in chains] == [[0, 1]]


def test_two_fragmented_people_are_paired_by_appearance():
    """Two walkers side by side at the same speed both vanish behind something for a second:
    motion cannot tell who is who when they reappear; their clothes can."""
    a = _walker(range(100), 100, 3, colour=0, y=300)
    b = _walker(range(100), 160, 3, colour=4, y=300)
    # b reappears where a would be and vice versa (they swapped sides while hidden)
    b2 = {f: (body(100 + 3 * f, 300, 150), look(4)) for f in range(70, 100)}
    a2 = {f: (body(160 + 3 * f, 300, 150), look(0)) for f in range(70, 100)}
    frames, ids = _split([a, b, a2, b2], [[range(0, 40)], [range(0, 40)], [range(70, 100)],
                                          [range(70, 100)]], 100)
    chains = stitch(tracklets_of(frames, ids), fps=30)
    assert sorted([t.id for t in c] for c in chains) == [[0, 2], [1, 3]]


# -- cutting where the clothes change --------------------------------------------------------------


def test_a_tracklet_that_changes_clothes_is_cut_there():
    """The online tracker slid from one person onto another at frame 60: the one tracklet is
    cut there, and each piece keeps its own frames and detections."""
    frames = [[(body(100 + 2 * f, 300, 150), look(0 if f < 60 else 4))] for f in range(100)]
    (tracklet,) = tracklets_of(frames, [[7]] * 100)
    assert look_change_point(tracklet, fps=10) == 60
    first, second = split_at_look_changes([tracklet], fps=10)
    assert (first.start, first.end, second.start, second.end) == (0, 59, 60, 99)
    assert first.id != second.id and tracklet.id not in (first.id, second.id)
    np.testing.assert_array_equal(second.boxes, tracklet.boxes[60:])
    np.testing.assert_array_equal(second.appearance, tracklet.appearance[60:])
    # switched off: left alone
    assert split_at_look_changes([tracklet], 10, LookChangeConfig(enabled=False)) == [tracklet]


def test_a_passing_change_of_looks_is_no_cut():
    """Glare, a turn into the shade or someone walking in front for half a second change the
    colours for a moment, not for good; a tracklet of one colour throughout is not cut either,
    nor one too short to hold two windows."""
    glare = [[(body(100 + 2 * f, 300, 150), look(4 if 40 <= f < 46 else 0))] for f in range(100)]
    (tracklet,) = tracklets_of(glare, [[0]] * 100)
    assert look_change_point(tracklet, fps=10) is None
    (steady,) = tracklets_of([[(body(100, 300, 150), look(2))]] * 100, [[0]] * 100)
    assert look_change_point(steady, fps=10) is None
    (short,) = tracklets_of(glare[:19], [[0]] * 19)
    assert split_at_look_changes([short], fps=10) == [short]


def test_two_people_swapped_by_the_tracker_are_given_back_their_own_frames():
    """Two walkers cross at frame 50 and the tracker swaps them there: each of its tracklets
    is one person before and the other after. Cut where the clothes change, stitching gives
    each piece to the person whose clothes it shows."""
    a = _walker(range(100), 100, 4, colour=0)
    b = {f: (body(500 - 4 * f, 300, 150), look(4)) for f in range(100)}
    frames = [[a[f], b[f]] for f in range(100)]
    swapped = [[0, 1] if f < 50 else [1, 0] for f in range(100)]
    tracklets = tracklets_of(frames, swapped)

    def who(chains: list) -> list[list[bool]]:
        """Per chain, per frame: is it walker a?"""
        return [[frames[f][m] is a[f] for t in chain
                 for f, m in zip(t.frames, t.members, strict=True)] for chain in chains]

    people = who(stitch(split_at_look_changes(tracklets, fps=10), fps=10))
    assert len(people) == 2 and all(len(set(p)) == 1 and len(p) == 100 for p in people)
    # without the cut, both people change clothes halfway
    assert all(set(p) == {True, False} for p in who(stitch(tracklets, fps=10)))


def test_a_person_picked_up_again_a_frame_early_is_one_person():
    """The tracker starts a walker's new tracklet at frame 50 while the old one still holds
    them there (a duplicate at the handover): joined, the old one without its last frame; a
    longer overlap is two people at once, never joined."""
    walker = _walker(range(100), 100, 4, colour=0)
    frames = [[walker[f]] for f in range(100)]
    frames[50] = [walker[50], walker[50]]
    ids = [[0] for _ in range(50)] + [[0, 1]] + [[1] for _ in range(49)]
    chains = stitch(tracklets_of(frames, ids), fps=30)
    assert len(chains) == 1 and [t.id for t in chains[0]] == [0, 1]
    first, second = chains[0]
    assert first.end == 49 and second.start == 50
    assert len(stitch(tracklets_of(frames, ids), fps=30, config=StitchingConfig(
        max_overlap=0))) == 2
    late = [[walker[f]] * (2 if 45 <= f <= 50 else 1) for f in range(100)]
    late_ids = [[0] for _ in range(45)] + [[0, 1] for _ in range(6)] + [[1] for _ in range(49)]
    assert len(stitch(tracklets_of(late, late_ids), fps=30)) == 2


def test_the_cheapest_links_win_not_the_most():
    """End 0 continues into start 0 at 0.1; ends 0 and 1 could also go to start 1 and start 0 at
    0.5 each. As many links as possible would be the two doubtful ones (1.0 for two); with
    a price of 0.35 for each end and start left free, the one cheap link wins (0.1 + 0.7)."""
    refused = 1e6
    cost = np.array([[0.1, 0.5], [0.5, refused]])
    assert cheapest_links(cost, 0.35) == [(0, 0)]
    assert cheapest_links(cost, 0.6) == [(0, 1), (1, 0)]  # free ends dear: two links
    assert cheapest_links(cost, 0.04) == []  # nothing worth more than two free ends
    assert cheapest_links(np.full((3, 3), refused), 0.35) == []


def test_stitching_refuses_impossible_pairs():
    fps = 30
    left = _walker(range(0, 30), 100, 2, colour=0)
    far = {f: (body(1500, 300, 150), look(0)) for f in range(32, 60)}  # 9 heights in 2 frames
    big = {f: (body(162, 300, 400), look(0)) for f in range(32, 60)}  # 2.7x taller at once
    other = {f: (body(162, 300, 150), look(4)) for f in range(32, 60)}  # other clothes
    late = {f: (body(162, 300, 150), look(0)) for f in range(30 + 21 * fps, 30 + 22 * fps)}
    for later in (far, big, other, late):
        frames, ids = _split([left, later], [[range(0, 30)], [range(min(later), max(later) + 1)]],
                             max(later) + 1)
        a, b = tracklets_of(frames, ids)
        assert link_cost(a, b, fps, StitchingConfig()) is None
    same = {f: (body(162 + 2 * (f - 31), 300, 150), look(0)) for f in range(32, 60)}
    frames, ids = _split([left, same], [[range(0, 30)], [range(32, 60)]], 60)
    a, b = tracklets_of(frames, ids)
    cost = link_cost(a, b, fps, StitchingConfig())
    assert cost is not None and cost.total < 0.2
    # overlapping in time: never the same person
    frames, ids = _split([left, _walker(range(20, 40), 100, 2, colour=0)],
                         [[range(0, 30)], [range(20, 40)]], 40)
    assert len(stitch(tracklets_of(frames, ids), fps)) == 2


def _jumper(f: int) -> PersonDetection:
    """demo.mp4's man: stands on a box, steps off at frame 52 (moving right and down), is
    unseen in flight (frames 60-65), lands and runs right."""
    if f < 52:
        return body(1000, 250, 420)
    if f < 75:
        return body(1000 + 9 * (f - 52), 250 + 14 * (f - 52), 420)
    return body(1207 + 12 * (f - 75), 572, 400)


def test_a_jump_off_a_box_is_stitched():
    """Lost in flight for six frames, found again further down and to the right: motion
    continuity links the two pieces."""
    on_box = {f: (_jumper(f), look(2)) for f in range(0, 60)}
    landed = {f: (_jumper(f), look(2)) for f in range(66, 120)}
    frames, ids = _split([on_box, landed], [[range(0, 60)], [range(66, 120)]], 120)
    chains = stitch(tracklets_of(frames, ids), fps=30)
    assert len(chains) == 1


def test_the_motion_tolerance_grows_with_the_speed_at_either_end():
    """Found again 19 frames later, 435 px (about a body height) straight below where they were
    lost: a person falling at 46 px a frame when found is linked (0.25 of the 870 px that speed
    covers over the gap is allowed on top), a person found there moving at 2 px a frame is
    not, and neither was the faller before the speed counted."""
    def pieces(speed: float) -> list:
        top = {f: (body(900, 330, 430), look(2)) for f in range(0, 50)}
        below = {f: (body(900, 765 + speed * (f - 68), 430), look(2)) for f in range(68, 100)}
        frames, ids = _split([top, below], [[range(0, 50)], [range(68, 100)]], 100)
        return tracklets_of(frames, ids)

    falling, walking = pieces(46.0), pieces(2.0)
    assert link_cost(*falling, 30, StitchingConfig()) is not None
    assert link_cost(*walking, 30, StitchingConfig()) is None
    assert link_cost(*falling, 30, StitchingConfig(speed_tolerance=0.0)) is None
    assert len(stitch(falling, fps=30)) == 1


# -- sizes against the ground ----------------------------------------------------------------------

# A fixed camera over level ground: a person of ordinary stature whose feet are at image row y
# is 0.5 * (y - 100) px tall (the horizon at row 100).
def _standing(x: float, feet_y: float, stature: float = 1.0) -> PersonDetection:
    height = stature * 0.5 * (feet_y - 100)
    return body(x, feet_y - 0.86 * height / 1.6, height)  # body()'s heels are 0.86 below the hips


def _passers_by(frames: range, colour: int) -> list[dict[int, tuple[PersonDetection, np.ndarray]]]:
    """Three people crossing the picture at different depths, for the ground's fit."""
    return [{f: (_standing(100 + 3 * (f - frames.start), row, stature), look(colour))
             for f in frames} for row, stature in ((260, 0.95), (420, 1.05), (580, 1.0))]


def test_ground_sizes_are_fitted_where_one_ground_explains_them():
    people = _passers_by(range(0, 60), colour=4)
    frames, ids = _split(people, [[range(0, 60)]] * 3, 60)
    ground = fit_ground_sizes(tracklets_of(frames, ids))
    assert ground is not None
    # body()'s tracklet height is 1.125 x the standing height (torso based): slope 0.5 x that
    np.testing.assert_allclose(ground.expected_height(np.array([300.0, 500.0])) / 1.125,
                               [100.0, 200.0], rtol=0.06)
    statures = [ground.stature(t, at_start=True) for t in tracklets_of(frames, ids)]
    np.testing.assert_allclose(np.array(statures) / np.median(statures), [0.95, 1.05, 1.0],
                               atol=0.03)
    # Refused: everyone's feet on one row (nothing to fit a slope to); people bigger towards
    # the top of the picture; sizes no line explains; too few frames.
    one_row = [{f: (_standing(100 + 3 * f, 400, s), look(4)) for f in range(60)}
               for s in (0.9, 1.0, 1.1)]
    upside_down = [{f: (body(100 + 3 * f, y, 600 - y), look(4)) for f in range(60)}
                   for y in (200, 300, 400)]
    rng = np.random.default_rng(0)
    random = [{f: (body(100 + 3 * f, y, float(rng.uniform(60, 300))), look(4)) for f in range(60)}
              for y in (200, 300, 400)]
    for crowd in (one_row, upside_down, random):
        frames, ids = _split(crowd, [[range(0, 60)]] * 3, 60)
        assert fit_ground_sizes(tracklets_of(frames, ids)) is None
    frames, ids = _split(people, [[range(0, 10)]] * 3, 60)
    assert fit_ground_sizes(tracklets_of(frames, ids), GroundSizesConfig(min_frames=60)) is None


def test_a_person_who_comes_back_nearer_the_camera_is_stitched():
    """vtest.avi's pair: gone at the far edge at ~100 px tall, back 15 s later from the near
    edge at 250 px. The pixel heights (2.5x) refuse the link; their statures do not. Someone
    as tall as that at the far edge is not a stature this ground explains: refused."""
    fps, back = 30, 90 + 15 * 30
    leaving = {f: (_standing(600 + 2 * f, 500 - 2.2 * f), look(0)) for f in range(0, 90)}
    returning = {f: (_standing(700 - 2 * (f - back), 600), look(0)) for f in range(back, back + 60)}
    giant = {f: (_standing(700 - 2 * (f - back), 310, stature=2.4), look(0))
             for f in range(back, back + 60)}
    crowd = _passers_by(range(0, back + 60), colour=4)
    for later, joined in ((returning, True), (giant, False)):
        pieces = [[range(0, 90)], [range(back, back + 60)]] + [[range(0, back + 60)]] * 3
        frames, ids = _split([leaving, later, *crowd], pieces, back + 60)
        tracklets = tracklets_of(frames, ids)
        chains = [[t.id for t in c] for c in stitch(tracklets, fps)]
        assert ([0, 1] in chains) is joined, chains
        without = StitchingConfig(ground_sizes=None)
        assert [0, 1] not in [[t.id for t in c] for c in stitch(tracklets, fps, without)]
        assert link_cost(tracklets[0], tracklets[1], fps, without) is None


# -- plausibility ----------------------------------------------------------------------------------


def test_ghosts_are_rejected_real_people_kept():
    real = _walker(range(60), 100, 3, colour=0)
    faint = {f: (body(600, 300, 120, conf=0.35), look(1)) for f in range(60)}
    stick = {f: (body(800, 300, 120, shoulder_scale=0.4), look(1)) for f in range(60)}
    # a phantom pose over the real person's legs
    shadow = {f: (body(100 + 3 * f, 340, 60, conf=0.8), look(0)) for f in range(10, 40)}
    frames, ids = _split([real, faint, stick, shadow], [[range(60)]] * 3 + [[range(10, 40)]], 60)
    kept = reject_ghost_tracklets(tracklets_of(frames, ids), PlausibilityConfig())
    assert [t.id for t in kept] == [0]


def test_track_people_end_to_end_on_a_synthetic_clip():
    """A walker, a man lost for longer than the online tracker waits (0.5 s in flight), a
    flicker, a stick-figure ghost: two people, numbered
    in order of first appearance, ghost and flicker dropped, every kept detection assigned."""
    frames: list[list[tuple[PersonDetection, np.ndarray]]] = [[] for _ in range(120)]
    for f in list(range(0, 58)) + list(range(73, 120)):  # unseen for 0.5 s in flight
        frames[f].append((_jumper(f), look(2)))
    for f in range(10, 120):
        frames[f].append((body(200 + 4 * f, 500, 260), look(5)))
    for f in range(30, 33):
        frames[f].append((body(900, 100, 130), look(1)))
    for f in range(40, 80):
        frames[f].append((body(1000, 150, 120, shoulder_scale=0.3), look(1)))
    assignment, num_people = track_people(clip(frames), TrackingConfig(), fps=30)
    assert num_people == 2
    man = [a[0] for a in assignment[:58]] + [a[0] for a in assignment[73:120]]
    assert set(man) == {0}
    walker = [a[0] if 58 <= f < 73 else a[1] for f, a in enumerate(assignment) if f >= 10]
    assert set(walker) == {1}
    assert all(a[-1] == -1 for a in assignment[30:33])  # flicker
    assert all(-1 in a for a in assignment[40:80])  # ghost
    _, n = track_people(clip(frames), TrackingConfig(stitch=False), fps=30)
    assert n == 3  # without stitching the man is two people


# -- the detections artifact -----------------------------------------------------------------------


def test_detections_file_round_trip_and_bad_files(tmp_path):
    from genhmr.perception import load_detections, save_detections

    walker = body(100, 300, 150)
    aligned = PersonDetection(landmarks_px=walker.landmarks_px,
                              world_landmarks=walker.world_landmarks, box=walker.box, score=0.8,
                              source="roi",
                              alignment_px=np.array([[100, 300], [100, 180]], np.float32))
    frames = [FrameDetections(7, [walker, aligned], [look(0), look(3)]), FrameDetections(8, [], []),
              FrameDetections(9, [aligned], [look(3)])]
    path = save_detections(tmp_path / "detections.npz", frames)
    back = load_detections(path)
    assert [f.frame for f in back] == [7, 8, 9] and [len(f.people) for f in back] == [2, 0, 1]
    first, second = back[0].people
    np.testing.assert_allclose(first.landmarks_px, walker.landmarks_px)
    np.testing.assert_allclose(second.world_landmarks, walker.world_landmarks)
    assert first.alignment_px is None and second.source == "roi"
    assert second.score == pytest.approx(0.8)
    np.testing.assert_allclose(back[2].people[0].alignment_px, [[100, 300], [100, 180]])
    np.testing.assert_allclose(back[0].appearance[1], look(3))
    # the same tracks from the file as from memory
    assert track_people(back, fps=30) == track_people(frames, fps=30)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable detections file"):
        load_detections(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something/9"))
    with pytest.raises(ValueError, match="genhmr-detections/1"):
        load_detections(tmp_path / "other.npz")
