"""The world's up from the background's vertical edges (``genhmr.vertical_lines``): a rendered
scene with a known camera, real footage of a turning camera against the same footage unturned,
and bad input that must give None rather than an error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from genhmr.camera import intrinsics
from genhmr.vertical_lines import (
    VerticalLinesConfig,
    background_lines,
    background_up,
    job_frames,
    line_rows,
    vertical_segments,
)
from genhmr.video import read_frames_at
from scipy.spatial.transform import Rotation
from test_pipeline import write_video  # same folder (rootdir-relative)

from genhmr_core.ground import UP
from genhmr_core.result_format import JobResult, empty_result

WIDTH, HEIGHT = 960, 540
WORLD_UP = np.array([0.0, 0.0, 1.0])  # the rendered scene's axes: z up, the camera looks +y


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                              -1.0, 1.0))))


def _camera(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World (z up, looking along +y) to OpenCV camera axes, pitched down and rolled."""
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    return Rotation.from_euler("zx", [roll_deg, pitch_deg], degrees=True).as_matrix() @ level


def _poles(R: np.ndarray, K: np.ndarray, seed: int = 0) -> np.ndarray:
    """A light picture of 30 dark vertical posts (10 cm wide, 1-3 m tall, standing on the
    ground 2-12 m away, each at least half in the picture) seen by a camera 1.6 m up with
    rotation ``R``, and sensor noise."""
    rng = np.random.default_rng(seed)
    image = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    centre = np.array([0.0, 0.0, 1.6])
    drawn = 0
    while drawn < 30:
        x, y, tall = rng.uniform(-6.0, 6.0), rng.uniform(2.0, 12.0), rng.uniform(1.0, 3.0)
        corners = np.array([[x, y, 0.0], [x + 0.1, y, 0.0], [x + 0.1, y, tall], [x, y, tall]])
        uv = ((corners - centre) @ R.T) @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        middle = uv.mean(axis=0)
        if not (0 <= middle[0] < WIDTH and 0 <= middle[1] < HEIGHT):
            continue
        cv2.fillConvexPoly(image, np.round(uv).astype(np.int32), (60, 60, 60),
                           lineType=cv2.LINE_AA)
        drawn += 1
    noise = rng.integers(-3, 4, image.shape)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _result(video: Path, frames: int, K: np.ndarray, boxes: np.ndarray | None = None,
            rotations: np.ndarray | None = None) -> JobResult:
    """A result over ``frames`` frames of ``video`` with one person in ``boxes`` (F, 4)."""
    result = empty_result(str(video), 25.0, (WIDTH, HEIGHT), K, np.arange(frames), 1)
    if boxes is not None:
        result.boxes[0] = boxes
        result.valid[0] = True
    result.camera_rotation = rotations
    return result


def test_read_frames_at_gives_exactly_the_chosen_frames(tmp_path: Path):
    """Frames numbered by their grey level: the chosen ones come back, by grabbing through
    short gaps and by seeking over long ones; past the end and a missing file give nothing."""
    frames = [np.full((48, 64, 3), 4 * i, np.uint8) for i in range(60)]
    video = write_video(tmp_path / "numbered.avi", frames)
    for gap in (120, 3):
        got = dict(read_frames_at(video, [50, 0, 7, 7, 33], seek_gap=gap))
        assert sorted(got) == [0, 7, 33, 50]
        for index, frame in got.items():
            assert abs(float(frame.mean()) - 4 * index) < 2.0, (gap, index, frame.mean())
    assert sorted(dict(read_frames_at(video, [58, 59, 60, 75]))) == [58, 59]
    assert list(read_frames_at(tmp_path / "missing.mp4", [0, 1])) == []


def test_job_frames_spread_over_the_job():
    np.testing.assert_array_equal(job_frames(100, 5), [0, 25, 50, 74, 99])
    np.testing.assert_array_equal(job_frames(3, 8), [0, 1, 2])
    assert len(job_frames(0, 8)) == 0


@pytest.mark.parametrize(("pitch", "roll"), [(15.0, 4.0), (30.0, -10.0), (0.0, 0.0)])
def test_rendered_posts_give_the_known_up_through_a_person(tmp_path: Path, pitch, roll):
    """Dark posts rendered by a known camera (through the video codec), and a "person" made of
    random lines in a box that moves: the up within 0.3 degrees of the truth, from a prior 8
    degrees off; the person's lines are left out."""
    K = intrinsics(WIDTH, HEIGHT)
    R = _camera(pitch, roll)
    truth = R @ WORLD_UP
    background = _poles(R, K)
    rng = np.random.default_rng(1)
    frames, boxes = [], []
    for i in range(12):
        frame = background.copy()
        x0 = 100 + 50 * i
        box = np.array([x0, 100, x0 + 160, 460], float)
        for _ in range(40):  # limbs: long lines at any angle inside the box
            a, b = rng.uniform(box[:2], box[2:]), rng.uniform(box[:2], box[2:])
            cv2.line(frame, tuple(map(int, a)), tuple(map(int, b)), (20, 20, 20), 3)
        frames.append(frame)
        boxes.append(box)
    video = write_video(tmp_path / "posts.avi", frames)
    prior = Rotation.from_euler("x", 8.0, degrees=True).as_matrix() @ truth
    found = background_up(_result(video, 12, K, np.array(boxes)), prior)
    assert found is not None
    assert _angle_deg(found.up, truth) < 0.3, _angle_deg(found.up, truth)
    # the person's lines are not among the segments: none reaches into their padded box
    segments = vertical_segments(frames[0], np.array(boxes[:1]))
    x0, y0, x1, y1 = boxes[0] + np.array([-16.0, -36.0, 16.0, 36.0])  # padded by 10 %
    ends = np.concatenate([segments[:, :2], segments[:, 2:],
                           0.5 * (segments[:, :2] + segments[:, 2:])])
    assert not ((ends[:, 0] > x0 + 1) & (ends[:, 0] < x1 - 1)
                & (ends[:, 1] > y0 + 1) & (ends[:, 1] < y1 - 1)).any()
    # without the box, the person's lines are found (they are what the mask takes out)
    assert len(vertical_segments(frames[0], np.zeros((0, 4)))) > len(segments)


def test_frames_kept_by_the_camera_pass_give_the_lines_read_from_the_video(tmp_path: Path):
    """The job hands over the grey frames its camera-motion pass met (``line_rows``): the same
    segments as reading the video again, and no read at all (the video may be gone); a set
    missing a row reads the video instead."""
    K = intrinsics(WIDTH, HEIGHT)
    background = _poles(_camera(15.0, 3.0), K)
    frames = [np.roll(background, 4 * i, axis=1) for i in range(20)]
    video = write_video(tmp_path / "posts.avi", frames)
    boxes = np.array([[100.0 + 20 * i, 100.0, 260.0 + 20 * i, 460.0] for i in range(20)])
    result = _result(video, 20, K, boxes)
    read = background_lines(result)
    decoded = dict(read_frames_at(video, range(20)))
    kept = {int(r): cv2.cvtColor(decoded[int(r)], cv2.COLOR_BGR2GRAY) for r in line_rows(20)}
    assert read is not None and len(read.segments) > 30
    assert len(kept) == VerticalLinesConfig().frames
    np.testing.assert_array_equal(background_lines(result, frames=kept).segments, read.segments)
    video.unlink()
    assert background_lines(result) is None
    np.testing.assert_array_equal(background_lines(result, frames=kept).segments, read.segments)
    del kept[int(line_rows(20)[3])]
    assert background_lines(result, frames=kept) is None  # one row short: the video is read


def test_a_post_behind_a_person_keeps_its_visible_parts():
    """A long vertical edge crossing a person's box is cut to its longest part outside the
    box, not dropped."""
    image = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    cv2.rectangle(image, (400, 20), (420, 520), (60, 60, 60), -1)
    box = np.array([[300.0, 300.0, 500.0, 540.0]])  # padded: y from 276
    segments = vertical_segments(image, box)
    assert len(segments)
    assert (segments[:, 1::2] < 277).all()  # only the part above the box
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    assert lengths.max() > 200  # from y 20 to the box: ~256 px


def test_the_frames_own_edge_is_not_a_vertical_line():
    """A dark column along the left border (Pose2Sim cam01 has one: alone it pulled the answer
    10 degrees off) gives a long vertical segment that is dropped; a post beside it is kept."""
    image = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    image[:, :3] = 20
    cv2.rectangle(image, (300, 50), (320, 500), (60, 60, 60), -1)
    segments = vertical_segments(image, np.zeros((0, 4)))
    assert len(segments) and (segments[:, 0::2] > 100).all()
    kept = vertical_segments(image, np.zeros((0, 4)), VerticalLinesConfig(border_share=0.0))
    assert (kept[:, 0::2] < 10).all(axis=1).any()  # the border line, when not dropped


def test_turning_camera_real_footage_matches_the_fixed_one(media_dir: Path, tmp_path: Path,
                                                           video_iter):
    """demo.mp4's frames 40-63 as they are and filmed again by a camera panning 6 degrees,
    tilting 2 and rolling 3 (the homography K R K^-1, borders reflected as in the pipeline's
    test): with the job's rotations, the up in the first frame's axes is the fixed camera's
    within 0.3 degrees; ignoring them, it is not."""
    frames = [frame for _, frame in video_iter(media_dir / "demo.mp4", 40, 64)]
    height, width = frames[0].shape[:2]
    K = intrinsics(width, height)
    t = np.linspace(0.0, 1.0, len(frames))[:, None]
    truth = Rotation.from_euler("yxz", np.hstack([6.0 * t, -2.0 * t, 3.0 * t]),
                                degrees=True).as_matrix()
    turned = [cv2.warpPerspective(frame, K @ rotation @ np.linalg.inv(K), (width, height),
                                  borderMode=cv2.BORDER_REFLECT)
              for frame, rotation in zip(frames, truth, strict=True)]
    still = write_video(tmp_path / "still.avi", frames, fps=30.0)
    panned = write_video(tmp_path / "panned.avi", turned, fps=30.0)

    def up(video: Path, rotations: np.ndarray | None) -> np.ndarray | None:
        result = empty_result(str(video), 30.0, (width, height), K, np.arange(len(frames)), 0)
        result.camera_rotation = rotations
        found = background_up(result, UP)
        return None if found is None else found.up

    fixed, followed, ignored = up(still, None), up(panned, truth), up(panned, None)
    assert fixed is not None and followed is not None
    assert _angle_deg(fixed, UP) < 5.0  # demo.mp4's camera is nearly level
    assert _angle_deg(followed, fixed) < 0.3, _angle_deg(followed, fixed)
    assert ignored is None or _angle_deg(ignored, fixed) > 1.0


def test_bad_input_gives_none_quietly(tmp_path: Path):
    """No video, a file that is not a video, blank frames, no frames in the job, broken boxes:
    None (the floor keeps the people's tilt), never an exception."""
    K = intrinsics(WIDTH, HEIGHT)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video " * 100)
    blank = write_video(tmp_path / "blank.avi", [np.full((HEIGHT, WIDTH, 3), 128, np.uint8)] * 5)
    assert background_up(_result(tmp_path / "missing.mp4", 5, K), UP) is None
    assert background_up(_result(garbage, 5, K), UP) is None
    assert background_up(_result(blank, 5, K), UP) is None
    assert background_up(_result(blank, 0, K), UP) is None
    posts = write_video(tmp_path / "posts.avi", [_poles(_camera(10.0, 0.0), K)] * 5)
    nan_boxes = np.full((5, 4), np.nan)
    found = background_up(_result(posts, 5, K, nan_boxes), UP)  # broken boxes mask nothing
    assert found is not None
    # a prior the lines disagree with (40 degrees off) gives no answer, not a wrong one
    far = Rotation.from_euler("z", 40.0, degrees=True).as_matrix() @ found.up
    assert background_up(_result(posts, 5, K), far) is None
    # too strict a configuration: too few segments left
    assert background_up(_result(posts, 5, K), UP,
                         VerticalLinesConfig(min_length_share=0.9)) is None
