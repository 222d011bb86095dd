"""Left and right kept consistent over a track (genhmr_core.side_consistency), and the Viterbi
path it rests on (genhmr_core.temporal.min_cost_path): known answers on synthetic tracks made
the way the detector errs (a person seen from the front reported as seen from the back)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from genhmr_core.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES
from genhmr_core.side_consistency import (
    SIDE_SWAP,
    SideConfig,
    side_swaps,
    side_swaps_3d,
    swap_sides,
)
from genhmr_core.temporal import consistent_choice, min_cost_path

# A body in its own frame (SMPL's axes: x the subject's left, y up, z forward), metres.
_LEFT = {
    "eye": (0.03, 1.65, 0.08), "ear": (0.08, 1.62, 0.0), "shoulder": (0.18, 1.45, 0.0),
    "elbow": (0.22, 1.16, 0.02), "wrist": (0.24, 0.9, 0.06), "hip": (0.1, 0.95, 0.0),
    "knee": (0.1, 0.52, 0.03), "ankle": (0.1, 0.09, 0.0), "heel": (0.1, 0.04, -0.05),
    "foot_index": (0.1, 0.02, 0.15), "index": (0.25, 0.8, 0.1), "pinky": (0.23, 0.8, 0.04),
}
FOCAL, CENTRE, DEPTH = 1000.0, 500.0, 4.0


def body(frame: int) -> np.ndarray:
    """(25, 3) the template with the left arm swinging forward and back (an asymmetric pose,
    so a mirror image is not the same body)."""
    points = np.zeros((len(KEYPOINT_NAMES), 3))
    points[KEYPOINT_INDEX["nose"]] = (0.0, 1.6, 0.11)
    for part, (x, y, z) in _LEFT.items():
        points[KEYPOINT_INDEX["left_" + part]] = (x, y, z)
        points[KEYPOINT_INDEX["right_" + part]] = (-x, y, z)
    swing = 0.25 * np.sin(frame / 4.0)
    for part in ("wrist", "index", "pinky"):
        points[KEYPOINT_INDEX["left_" + part], 2] += swing
    return points


def observe(yaw: np.ndarray, flipped: set[int],
            pose: Callable[[int], np.ndarray] = body) -> tuple[np.ndarray, np.ndarray]:
    """What the detector reports for the body turned by ``yaw`` (F,) radians from facing the
    camera: 2D keypoints (F, 25, 3) and hip-centred 3D landmarks in camera axes (x right,
    y down, z away), and in the ``flipped`` frames the same person taken as seen from the back
    (left and right exchanged, the 3D mirrored in depth). ``pose(frame)`` gives the body
    (default :func:`body`)."""
    frames = len(yaw)
    kp = np.zeros((frames, 25, 3))
    world = np.zeros((frames, 25, 3))
    for f in range(frames):
        c, s = np.cos(yaw[f]), np.sin(yaw[f])
        turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # about the body's up
        to_camera = np.diag([1.0, -1.0, -1.0])  # facing the camera: left on the image right
        local = pose(f) @ turn.T @ to_camera.T
        hips = local[[KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]].mean(0)
        placed = local - hips + np.array([0.0, 0.0, DEPTH])
        kp[f, :, :2] = FOCAL * placed[:, :2] / placed[:, 2:] + CENTRE
        kp[f, :, 2] = 0.9
        world[f] = local - hips
    wrong = np.zeros(frames, bool)
    wrong[sorted(flipped)] = True
    return swap_sides(kp, world, wrong)


def test_min_cost_path_known_answer():
    # greedy per frame would take state 1 at t=1; the path pays for it at both ends
    unary = np.array([[0.0, 5.0], [1.0, 0.0], [0.0, 5.0]])
    switch = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert min_cost_path(unary, np.stack([switch, switch])).tolist() == [0, 0, 0]
    cheap = np.array([[0.0, 0.4], [0.4, 0.0]])
    assert min_cost_path(unary, np.stack([cheap, cheap])).tolist() == [0, 1, 0]
    # a tie goes to state 0
    assert min_cost_path(np.zeros((3, 2)), np.zeros((2, 2, 2))).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="pairwise"):
        min_cost_path(np.zeros((3, 2)), np.zeros((3, 2, 2)))


@pytest.mark.parametrize("num_states", [2, 3])
def test_min_cost_path_with_skip_terms_is_the_exact_minimum(num_states: int):
    """Against every state sequence of a small random problem (seeded): the path's cost is the
    least, and it is a path that costs that much."""
    rng = np.random.default_rng(num_states)
    frames = 6
    for _ in range(20):
        unary = rng.random((frames, num_states))
        pairwise = rng.random((frames - 1, num_states, num_states))
        skip = rng.random((frames - 2, num_states, num_states))

        def cost(path: tuple[int, ...], unary: np.ndarray = unary,
                 pairwise: np.ndarray = pairwise, skip: np.ndarray = skip) -> float:
            return float(sum(unary[t, path[t]] for t in range(frames))
                         + sum(pairwise[t, path[t], path[t + 1]] for t in range(frames - 1))
                         + sum(skip[t, path[t], path[t + 2]] for t in range(frames - 2)))

        best = min(cost(p) for p in itertools.product(range(num_states), repeat=frames))
        path = min_cost_path(unary, pairwise, skip)
        assert cost(tuple(path.tolist())) == pytest.approx(best)
    # without skip terms it is the first-order answer; two frames have nothing to skip
    assert min_cost_path(unary, pairwise, np.zeros_like(skip)).tolist() == \
        min_cost_path(unary, pairwise).tolist()
    assert min_cost_path(unary[:2], pairwise[:1], np.zeros((0, num_states, num_states))
                         ).tolist() == min_cost_path(unary[:2], pairwise[:1]).tolist()
    with pytest.raises(ValueError, match="skip"):
        min_cost_path(unary, pairwise, skip[:-1])


def test_swap_is_its_own_inverse():
    kp, world = observe(np.zeros(6), set())
    both = np.ones(6, bool)
    again = swap_sides(*swap_sides(kp, world, both), both)
    np.testing.assert_array_equal(again[0], kp)
    np.testing.assert_array_equal(again[1], world)
    assert sorted(SIDE_SWAP[SIDE_SWAP]) == list(range(25))
    assert SIDE_SWAP[KEYPOINT_INDEX["nose"]] == KEYPOINT_INDEX["nose"]
    assert SIDE_SWAP[KEYPOINT_INDEX["left_heel"]] == KEYPOINT_INDEX["right_heel"]


def test_turned_round_frames_are_found():
    """Facing the camera for 60 frames, reported as seen from the back in frames 12-13, 16-17
    (as on demo.mp4) and 40: exactly those frames are swapped back."""
    flipped = {12, 13, 16, 17, 40}
    kp, world = observe(np.zeros(60), flipped)
    swaps = side_swaps(kp, world, np.ones(60, bool))
    assert set(np.flatnonzero(swaps)) == flipped
    fixed_kp, fixed_world = swap_sides(kp, world, swaps)
    truth_kp, truth_world = observe(np.zeros(60), set())
    np.testing.assert_allclose(fixed_kp, truth_kp)
    np.testing.assert_allclose(fixed_world, truth_world)


def test_a_real_turn_is_kept():
    """Turning round over 20 frames (9 degrees a frame) is motion, not a mistake: nothing is
    swapped; a single wrong frame after the turn, seen from the back, still is."""
    yaw = np.clip((np.arange(60) - 10) / 20.0, 0.0, 1.0) * np.pi
    kp, world = observe(yaw, set())
    assert not side_swaps(kp, world, np.ones(60, bool)).any()
    kp, world = observe(yaw, {45})
    assert np.flatnonzero(side_swaps(kp, world, np.ones(60, bool))).tolist() == [45]


def test_the_longer_stretch_wins_and_gaps_cut_the_chain():
    """A track that starts with 5 wrong frames has them swapped (the rest outnumbers them);
    undetected frames are skipped, and across a gap longer than ``max_gap`` the two pieces are
    judged on their own (each keeps the detector's labels)."""
    kp, world = observe(np.zeros(50), set(range(5)))
    valid = np.ones(50, bool)
    assert np.flatnonzero(side_swaps(kp, world, valid)).tolist() == list(range(5))
    valid[20:23] = False  # a short gap: still compared across it
    kp, world = observe(np.zeros(50), {24})
    assert np.flatnonzero(side_swaps(kp, world, valid)).tolist() == [24]
    valid[5:45] = False  # 40 frames unseen: frames 0-4 and 45-49 are two separate pieces
    kp, world = observe(np.zeros(50), set(range(45, 50)))
    assert not side_swaps(kp, world, valid).any()


def _slide(start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Facing the camera for 60 frames, but reported as seen from the back from ``start`` for
    ``length`` frames, reached part by part: the hands swap a frame before the rest of the
    upper body and swap back a frame after it, and the legs stand side by side for three
    frames either side of both ends (their left and right at one place: their names say
    nothing there)."""
    def pairs(*parts: str) -> list[tuple[int, int]]:
        return [(KEYPOINT_INDEX["left_" + p], KEYPOINT_INDEX["right_" + p]) for p in parts]

    end = start + length
    together = {*range(start - 3, start + 3), *range(end - 3, end + 3)}

    def legs_together(frame: int) -> np.ndarray:
        points = body(frame)
        if frame in together:
            for left, right in pairs("hip", "knee", "ankle", "heel", "foot_index"):
                points[[left, right], 0] = 0.0
        return points

    kp, world = observe(np.zeros(60), set(range(start + 2, end - 2)), legs_together)
    hands = pairs("elbow", "wrist", "index", "pinky")
    upper = hands + pairs("shoulder", "eye", "ear")
    for frame, swapped in ((start, hands), (start + 1, upper), (end - 2, upper),
                           (end - 1, hands)):
        one = np.zeros(60, bool)
        one[frame] = True
        partial = swap_sides(kp, world, one)  # the whole body swapped in that frame ...
        names = [i for pair in swapped for i in pair]
        kp[frame, names], world[frame, names] = partial[0][frame, names], partial[1][frame, names]
    return kp, world  # ... and only ``swapped``'s names kept from it


def test_a_slide_into_the_swap_part_by_part_is_found():
    """What Pose2Sim cam02's kicking man showed (25 frames of "seen from the back" entered
    and left a part at a time): between neighbours each step moves too few names to show, so
    the first-order chain keeps the detector's labels; across two frames the slide shows, and
    every wrong frame is swapped back (the part-swapped frames at the ends go with their upper
    body, the legs there saying nothing)."""
    kp, world = _slide(15, 25)
    valid = np.ones(60, bool)
    assert not side_swaps(kp, world, valid, SideConfig(skip_weight=0.0)).any()
    assert np.flatnonzero(side_swaps(kp, world, valid)).tolist() == list(range(16, 39))


def test_triangulated_labels_follow_the_face():
    """True 3D positions under the wrong names (a mirror-image body) at some steps: they are
    found; and when every step is wrong, the nose still says so."""
    frames = 30
    points = np.stack([body(f) for f in range(frames)])  # the lab: y up
    up = np.array([0.0, 1.0, 0.0])
    wrong = np.zeros(frames, bool)
    wrong[[3, 4, 5, 20]] = True
    named = points.copy()
    named[wrong] = named[wrong][:, SIDE_SWAP]
    valid = np.ones(frames, bool)
    assert np.flatnonzero(side_swaps_3d(named, valid, up)).tolist() == [3, 4, 5, 20]
    assert side_swaps_3d(points[:, SIDE_SWAP], valid, up).all()
    assert not side_swaps_3d(points, valid, up).any()
    # an untrusted face leaves the decision to continuity
    trust = np.ones((frames, 25))
    trust[:, KEYPOINT_INDEX["nose"]] = 0.0
    assert not side_swaps_3d(points[:, SIDE_SWAP], valid, up, trust).any()


def test_hypotheses_chosen_for_a_consistent_sequence():
    """Two hypotheses per frame of a body swinging its arm: in frame 7 the likelier one is the
    body turned round (mirrored in depth, names exchanged); the choice keeps the continuous one
    there and the likelier one everywhere else."""
    frames = 20
    right = np.stack([body(f) for f in range(frames)])
    turned = right[:, SIDE_SWAP] * np.array([1.0, 1.0, -1.0])
    rng = np.random.default_rng(0)
    near = right + rng.normal(0.0, 0.01, right.shape)  # a second, slightly different sample
    points = np.stack([right, near], 1)
    score = np.tile([0.0, -0.2], (frames, 1))
    points[7] = np.stack([turned[7], near[7]])
    score[7] = [0.0, -0.5]
    choice = consistent_choice(points, score, np.ones(frames, bool))
    assert choice.tolist() == [0] * 7 + [1] + [0] * 12
    # alone (no neighbours to agree with) the likelier candidate wins
    only = np.zeros(frames, bool)
    only[7] = True
    assert consistent_choice(points, score, only)[7] == 0
