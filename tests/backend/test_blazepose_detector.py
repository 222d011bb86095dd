"""MediaPipe's BlazePose detector run on its own (genhmr.detection.blazepose_detector): the
anchor, decoding and suppression maths on made-up numbers, and the converted network on real
frames against MediaPipe's own landmarker."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from genhmr.detection.blazepose_detector import (
    INPUT_SIZE,
    NUM_ANCHORS,
    BlazePoseDetector,
    PoseDetectorModelError,
    decode,
    letterbox_matrix,
    ssd_anchors,
    weighted_nms,
)
from genhmr.detection.landmark_model import DEFAULT_MODEL_PATH as LANDMARK_MODEL
from genhmr.detection.landmark_model import RoiLandmarker


def test_anchors_cover_three_grids_in_the_networks_order():
    anchors = ssd_anchors()
    assert anchors.shape == (NUM_ANCHORS, 2)
    # stride 8: a 28x28 grid, two anchors per cell, row by row
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 16 from 1568 on; the three stride-32 layers share a 7x7 grid, six per cell
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[1568 + 392: 1568 + 392 + 6], [[0.5 / 7, 0.5 / 7]] * 6)
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_decoding_is_relative_to_the_anchor_in_input_pixels():
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]])
    raw = np.zeros((2, 12))
    raw[0, :4] = [22.4, -11.2, 44.8, 89.6]  # centre +0.1, -0.05; size 0.2 x 0.4
    raw[0, 4:6] = [0.0, 22.4]  # hip centre 0.1 below the anchor
    scores, boxes, keypoints = decode(raw, np.array([3.0, -3.0]), anchors, min_score=0.5)
    assert scores.shape == (1,) and scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    np.testing.assert_allclose(boxes[0], [0.25, 0.25, 0.45, 0.65])
    np.testing.assert_allclose(keypoints[0, 0], [0.25, 0.6])
    np.testing.assert_allclose(keypoints[0, 1:], [[0.25, 0.5]] * 3)
    # logits are clipped before the sigmoid: no overflow warnings, scores in [0, 1]
    with np.errstate(over="raise"):
        clipped, _, _ = decode(np.zeros((2, 12)), np.array([1e6, -1e6]), anchors, min_score=0.0)
    assert clipped.tolist() == pytest.approx([1.0, 0.0])


def test_weighted_suppression_averages_what_it_merges():
    scores = np.array([0.6, 0.9, 0.8])
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 0.2, 0.2], [0.6, 0.6, 0.8, 0.8]])
    keypoints = np.arange(24, dtype=np.float64).reshape(3, 4, 2)
    # the first two overlap with IoU 1/7: merged at a low threshold, kept apart at MediaPipe's
    kept, _, _ = weighted_nms(scores, boxes, keypoints, iou_threshold=0.5)
    np.testing.assert_allclose(kept, [0.9, 0.8, 0.6])
    kept, merged, points = weighted_nms(scores, boxes, keypoints, iou_threshold=0.1)
    np.testing.assert_allclose(kept, [0.9, 0.8])  # the best score stays the merged one's
    np.testing.assert_allclose(merged[0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5)
    np.testing.assert_allclose(points[0], (0.9 * keypoints[1] + 0.6 * keypoints[0]) / 1.5)
    np.testing.assert_allclose(merged[1], boxes[2])
    empty = weighted_nms(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4, 2)), 0.5)
    assert [a.shape for a in empty] == [(0,), (0, 4), (0, 4, 2)]


def test_the_letterbox_centres_the_frame_in_the_input():
    matrix = letterbox_matrix(1920, 1080)
    corners = np.array([[0, 0, 1], [INPUT_SIZE, INPUT_SIZE, 1]], np.float64) @ matrix.T
    # the input square spans the frame's width and overhangs it equally above and below
    np.testing.assert_allclose(corners, [[0, -420], [1920, 1500]])


@pytest.fixture(scope="module")
def blazepose() -> BlazePoseDetector:
    return BlazePoseDetector()


@pytest.mark.slow
def test_it_finds_what_mediapipes_landmarker_finds(blazepose: BlazePoseDetector,
                                                    media_dir: Path, video_frames):
    """The landmark model in each detection's region gives MediaPipe's own landmarks (its
    Tasks landmarker does exactly detector, region, landmarks on a still image): the same
    people, their landmarks within a pixel (0.06 px median when measured)."""
    from genhmr.detection.mediapipe_detector import PoseDetector

    landmarker = RoiLandmarker()
    frames = [cv2.imread(str(media_dir / "basketball2.png")),
              video_frames(media_dir / "demo.mp4", [115])[115],
              video_frames(media_dir / "pose2sim/Demo_MultiPerson/videos/cam03.mp4", [30])[30]]
    compared = 0
    with PoseDetector(max_people=6, tiling="off") as mediapipe:
        for frame in frames:
            ours = [landmarker.landmarks(frame, d.roi()) for d in blazepose.detect(frame)]
            ours = [r.landmarks_px for r in ours if r.presence >= 0.5]
            theirs = [p.landmarks_px for p in mediapipe.detect(frame)]
            assert len(ours) == len(theirs) >= 1
            for pose in theirs:
                error = min(np.abs(o[:, :2] - pose[:, :2]).mean() for o in ours)
                assert error < 1.0
                compared += 1
    assert compared == 4  # two players, the walking woman, the man in cam03


@pytest.mark.slow
def test_detections_in_frame_pixels(blazepose: BlazePoseDetector, media_dir: Path):
    frame = cv2.imread(str(media_dir / "basketball2.png"))
    found = blazepose.detect(frame)
    assert len(found) == 2 and found[0].score >= found[1].score >= 0.5
    for person in found:
        hips, reach = person.alignment_px
        x0, y0, x1, y1 = person.box
        assert x0 < x1 and y0 < y1  # not clipped to the frame (as MediaPipe's)
        assert 0 < (x0 + x1) / 2 < frame.shape[1] and 0 < (y0 + y1) / 2 < frame.shape[0]
        assert y1 < hips[1]  # the box is around the head and shoulders, above the hips
        assert reach[1] < hips[1]  # the body's "up" points up for a standing player
        roi = person.roi()
        assert roi.cx == pytest.approx(hips[0]) and abs(roi.rotation) < 0.5
    assert blazepose.detect(np.zeros((240, 320, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="uint8 BGR frame"):
        blazepose.detect(np.zeros((10, 10), np.uint8))


def test_a_missing_or_wrong_model_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(PoseDetectorModelError, match=r"missing.*convert_pose_detector"):
        BlazePoseDetector(tmp_path / "nothing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(PoseDetectorModelError, match="cannot be loaded"):
        BlazePoseDetector(broken)
    with pytest.raises(PoseDetectorModelError, match="not the ones"):
        BlazePoseDetector(LANDMARK_MODEL)
