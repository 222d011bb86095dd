"""The mask that hides other people from one person's landmark-model input
(``genhmr.detection.masking``): its geometry on synthetic stick figures with known answers, and
what it is for, on the real frames of Pose2Sim cam03 where two people overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genhmr.detection.landmark_model import INPUT_SIZE, Roi
from genhmr.detection.masking import (
    MaskSettings,
    image_to_input,
    others_mask,
    paint,
    to_input,
    torso_length,
)


def stick_figure(hip_x: float, hip_y: float = 400.0, torso: float = 100.0) -> np.ndarray:
    """(33, 3) BlazePose-ordered landmarks of an upright person facing the camera, hips at
    (hip_x, hip_y), torso ``torso`` px long, arms hanging, legs straight; visibility 1."""
    points = np.zeros((33, 3))
    points[:, 2] = 1.0
    half = 0.25 * torso
    top = hip_y - torso

    def put(indices, x, y):
        points[list(indices), 0] = x
        points[list(indices), 1] = y

    put(range(0, 11), hip_x, top - 0.45 * torso)  # the head points, at one spot
    put([11], hip_x + half, top)  # left shoulder (on the picture's right: facing us)
    put([12], hip_x - half, top)
    put([13, 15, 17, 19, 21], hip_x + half, top + 0.5 * torso)
    put([14, 16, 18, 20, 22], hip_x - half, top + 0.5 * torso)
    put([23], hip_x + half * 0.8, hip_y)
    put([24], hip_x - half * 0.8, hip_y)
    put([25, 27, 29, 31], hip_x + half * 0.8, hip_y + torso)
    put([26, 28, 30, 32], hip_x - half * 0.8, hip_y + torso)
    return points


ROI = Roi(cx=400.0, cy=400.0, size=512.0)  # 2 frame px per input px, upright


def at(roi: Roi, x: float, y: float) -> tuple[int, int]:
    """(row, column) of the input pixel that frame point (x, y) falls in."""
    u, v = image_to_input(roi) @ np.array([x, y, 1.0])
    return int(v), int(u)


def test_frame_and_input_coordinates_round_trip():
    roi = Roi(cx=321.0, cy=187.0, size=300.0, rotation=0.7)
    points = np.array([[10.0, 20.0], [500.0, -40.0], [321.0, 187.0]])
    there = np.hstack([to_input(np.vstack([points, np.zeros((30, 2))]), roi)[:3],
                       np.ones((3, 1))])
    back = there @ roi.input_to_image().T
    np.testing.assert_allclose(back, points, atol=1e-9)
    centre = image_to_input(roi) @ np.array([321.0, 187.0, 1.0])
    np.testing.assert_allclose(centre, [INPUT_SIZE / 2, INPUT_SIZE / 2], atol=1e-9)
    assert torso_length(to_input(stick_figure(400), ROI)) == pytest.approx(50.0)


def test_the_other_person_is_hidden_and_the_own_body_kept():
    own, other = stick_figure(400), stick_figure(470)  # side by side, overlapping
    hide = others_mask(ROI, own, [other])
    assert hide is not None and hide.shape == (INPUT_SIZE, INPUT_SIZE)
    # the other's far-side arm and leg (clear of the own body): hidden
    assert hide[at(ROI, 470 + 25, 350)] and hide[at(ROI, 470 + 20, 450)]
    # the own near arm, which the other's arm overlaps: kept, though hidden without it
    assert not hide[at(ROI, 428, 330)] and others_mask(ROI, None, [other])[at(ROI, 428, 330)]
    assert not hide[at(ROI, 400, 350)]  # the own torso centre
    # far from both: kept
    assert not hide[at(ROI, 200, 150)] and not hide[at(ROI, 650, 650)]
    # nobody else, or nobody inside the region: nothing to hide
    assert others_mask(ROI, own, []) is None
    assert others_mask(ROI, own, [stick_figure(2000)]) is None


def test_where_heads_overlap_the_face_belongs_to_the_other():
    """The man turned away leans his head behind the woman's face: in his region her face is
    hidden, even where his own (unseen) head would be; her body is not hidden over his body."""
    own, other = stick_figure(400), stick_figure(420)
    head = (410, 400 - 100 - 45)
    assert others_mask(ROI, own, [other])[at(ROI, *head)]
    kept = others_mask(ROI, own, [other], MaskSettings(protect_head=True))
    assert kept is None or not kept[at(ROI, *head)]
    hide = others_mask(ROI, own, [other])
    assert not hide[at(ROI, 410, 350)]  # both torsos there: the own one wins


def test_widths_scale_with_the_torso_and_tiny_people_are_left_alone():
    big = others_mask(ROI, None, [stick_figure(400)], MaskSettings(limb=0.3))
    thin = others_mask(ROI, None, [stick_figure(400)], MaskSettings(limb=0.1))
    assert big.sum() > thin.sum() > 0
    far = stick_figure(400, torso=10.0)  # 5 input px: a far person, not an overlap problem
    assert others_mask(ROI, None, [far]) is None


def test_paint_fills_with_the_mean_of_the_rest():
    rng = np.random.default_rng(0)
    patch = rng.random((INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    hide = np.zeros((INPUT_SIZE, INPUT_SIZE), bool)
    hide[50:100, 60:90] = True
    out = paint(patch, hide, "mean")
    np.testing.assert_allclose(out[70, 70], patch[~hide].mean(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(out[~hide], patch[~hide])
    assert out.dtype == patch.dtype and not np.shares_memory(out, patch)
    with pytest.raises(ValueError, match="fill"):
        paint(patch, hide, "black")


def test_smear_fills_a_hole_with_the_colours_around_it():
    """Left half red, right half blue: a hole well inside the red half turns red (the blur
    window, 65 px, does not reach the blue), one on the border gets a mix, the rest is
    untouched; no person-shaped flat patch of a colour that is nowhere around."""
    patch = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    patch[:, :128, 0] = 1.0
    patch[:, 128:, 2] = 1.0
    hide = np.zeros((INPUT_SIZE, INPUT_SIZE), bool)
    hide[100:140, 20:40] = True
    hide[100:140, 118:138] = True
    out = paint(patch, hide)
    np.testing.assert_allclose(out[120, 30], [1.0, 0.0, 0.0], atol=1e-5)
    red, _, blue = out[120, 128]
    assert 0.2 < red < 0.8 and 0.2 < blue < 0.8 and red + blue == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_array_equal(out[~hide], patch[~hide])


def test_two_people_found_with_each_other_painted_over_are_told_apart_by_their_bodies():
    """Same head and left arm, hips and legs and right arm 60 px apart (the man leaning his
    head behind the woman's): 17 of 33 keypoints coincide, so an ordinary duplicate check
    merges them; but when both were found with the other painted over, only the body keypoints
    count (3 of 12 coincide) and both are kept. Real duplicates are merged either way."""
    from genhmr.detection.person_pose_detector import _keep_distinct

    a = stick_figure(400)
    b = a.copy()
    moved = [12, 14, 16, 18, 20, 22, *range(23, 33)]
    b[moved, 0] += 60
    boxes = np.array([[350, 200, 460, 520], [350, 200, 520, 520]], float)  # IoU 0.65
    rank = np.array([1.0, 0.9])
    assert _keep_distinct(boxes, rank, np.stack([a, b]), [False, False], 6) == [0]
    assert _keep_distinct(boxes, rank, np.stack([a, b]), [True, False], 6) == [0]
    assert _keep_distinct(boxes, rank, np.stack([a, b]), [True, True], 6) == [0, 1]
    twin = a.copy()
    twin[:, 0] += 3
    assert _keep_distinct(boxes, rank, np.stack([a, twin]), [True, True], 6) == [0]
    assert _keep_distinct(boxes[[0, 0]], rank, np.stack([a, b]), [True, True], 6) == [0]  # IoU 1


@pytest.mark.slow
@pytest.mark.parametrize("mask_others", [True, False])
def test_two_overlapping_people_keep_their_own_poses(media_dir: Path, mask_others: bool):
    """Demo_MultiPerson cam03, frames 60-99: the man, close to the camera, leans and kicks
    in front of the woman, his head behind hers from frame ~80 on. With the others painted out
    of each region both are tracked in every frame (measured: 1.0 and 1.0); without it the
    man's pose slides onto the woman and he is lost (measured: the man 0.25, the woman 0.67),
    which checks that this range still needs it."""
    from genhmr.detection.person_pose_detector import PersonPoseDetector
    from genhmr.perception import PerceptionConfig, perceive
    from genhmr.tracking_metrics import load_truth, predictions_from_tracks, score_tracking

    truth = load_truth(Path(__file__).resolve().parents[2] / "benchmarks" / "truth"
                       / "pose2sim_multiperson_cam03.json")
    video = media_dir / truth.clip
    if not video.is_file():
        pytest.fail(f"{video} is missing; run `bash tools/setup.sh`", pytrace=False)
    with PersonPoseDetector(mask_others=mask_others) as detector:
        tracks = perceive(video, 60, 100, config=PerceptionConfig(), detector=detector).tracks
    score = score_tracking(truth, predictions_from_tracks(tracks.frame_indices, tracks.valid,
                                                          tracks.boxes), frames=range(60, 100))
    if mask_others:
        assert score.tracks == 2 and score.switches == 0 and score.ghost_tracks == 0, score
        assert score.min_coverage >= 0.95, score.coverage
    else:
        assert score.coverage[0] < 0.5, "masking no longer needed here: pick another range"


def test_a_person_outside_the_region_is_not_drawn_but_a_limb_across_it_is():
    """The quick test that skips people far from the region must not skip one whose limb
    crosses it while all their landmarks lie outside."""
    roi = Roi(cx=400.0, cy=400.0, size=100.0)  # 350-450 in x and y
    assert others_mask(roi, None, [stick_figure(700)]) is None
    across = stick_figure(400, hip_y=240)  # everything above the region (y < 350)...
    across[13, :2] = 300, 400  # ...but a forearm held across it, elbow and hand outside
    across[[15, 17, 19, 21], :2] = 500, 400
    assert (np.abs(across[:, :2] - 400) > 50).any(axis=1).all()
    hide = others_mask(roi, None, [across])
    assert hide is not None and hide[at(roi, 400, 400)]
