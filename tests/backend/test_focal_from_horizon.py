"""The focal length of a fixed, pitched camera from its vertical edges and its people's horizon
(``genhmr.focal_from_horizon``): known answers on a synthetic camera and scene."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from genhmr.focal_from_horizon import FocalFromHorizonConfig, focal_from_horizon, focal_from_rows
from genhmr.vertical_lines import BackgroundLines

WIDTH, HEIGHT = 768, 576  # vtest.avi's picture


def _camera(focal: float, pitch_deg: float, height_m: float = 6.0):
    """World -> pixels for a camera ``height_m`` above level ground (world y up, z ahead),
    pitched down by ``pitch_deg``, no roll, principal point at the centre."""
    t = math.radians(pitch_deg)
    # camera axes (OpenCV: x right, y down, z forward) in world coordinates
    forward = np.array([0.0, -math.sin(t), math.cos(t)])
    down = np.array([0.0, -math.cos(t), -math.sin(t)])
    right = np.array([1.0, 0.0, 0.0])
    R = np.stack([right, down, forward])
    centre = np.array([0.0, height_m, 0.0])

    def project(points: np.ndarray) -> np.ndarray:
        cam = (np.asarray(points, np.float64) - centre) @ R.T
        return np.stack([focal * cam[..., 0] / cam[..., 2] + WIDTH / 2,
                         focal * cam[..., 1] / cam[..., 2] + HEIGHT / 2], axis=-1)

    return project


def _scene(focal: float, pitch_deg: float, seed: int = 0):
    """People 1.6-1.8 m tall standing over a plaza 10-30 m ahead, and 60 vertical edges
    (lamp posts, building corners) 2-6 m tall behind them, as the camera sees them."""
    rng = np.random.default_rng(seed)
    project = _camera(focal, pitch_deg)
    people, frames = 8, 40
    landmarks = np.zeros((people, frames, 33, 3))
    boxes = np.zeros((people, frames, 4))
    for p in range(people):
        stature = rng.uniform(1.6, 1.8)
        start, step = np.array([rng.uniform(-6, 6), 0, rng.uniform(12, 28)]), rng.normal(0, 0.1, 3)
        step[1] = 0.0
        for f in range(frames):
            feet = start + f * step
            up = np.array([0.0, 1.0, 0.0]) * stature
            points = {0: feet + up, 11: feet + 0.82 * up + [0.2, 0, 0], 12: feet + 0.82 * up
                      - [0.2, 0, 0], 23: feet + 0.54 * up + [0.1, 0, 0], 24: feet + 0.54 * up
                      - [0.1, 0, 0]}
            for k in range(27, 33):
                points[k] = feet + [0.1 if k % 2 else -0.1, 0.0, 0.0]
            for k, point in points.items():
                landmarks[p, f, k, :2] = project(point)
                landmarks[p, f, k, 2] = 0.95
            xy = landmarks[p, f, list(points), :2]
            boxes[p, f] = [*xy.min(0), *xy.max(0)]
    tracks = SimpleNamespace(landmarks2d=landmarks, boxes=boxes,
                             valid=np.ones((people, frames), bool))
    bases = np.stack([rng.uniform(-15, 15, 60), np.zeros(60), rng.uniform(25, 45, 60)], 1)
    tops = bases + np.stack([np.zeros(60), rng.uniform(2, 6, 60), np.zeros(60)], 1)
    segments = np.concatenate([project(bases), project(tops)], axis=1)
    return tracks, BackgroundLines(segments=segments, rotations=None)


def _K(focal: float) -> np.ndarray:
    return np.array([[focal, 0, WIDTH / 2], [0, focal, HEIGHT / 2], [0, 0, 1.0]])


def test_the_rows_of_a_pitched_camera_give_its_focal_length():
    f, t = 1400.0, math.radians(13.0)
    horizon, vanishing = HEIGHT / 2 - f * math.tan(t), HEIGHT / 2 + f / math.tan(t)
    assert focal_from_rows(horizon, vanishing, HEIGHT / 2) == pytest.approx(f)
    assert focal_from_rows(HEIGHT / 2 + 10, vanishing, HEIGHT / 2) is None  # same side
    assert focal_from_rows(horizon, math.inf, HEIGHT / 2) is None


def test_a_far_off_guess_is_replaced_and_a_near_one_kept():
    """vtest.avi's case: a 30 degree lens (1,400 px) pitched 13 degrees, solved from the 60
    degree guess (665 px). The two cues find the lens whatever the guess; the guess is replaced
    only when the estimate says it is far off (outside 0.7-1.4x)."""
    tracks, lines = _scene(focal=1400.0, pitch_deg=13.0)
    found = focal_from_horizon(tracks, lines, _K(665.0))
    assert found is not None and found.believed
    assert found.focal_px == pytest.approx(1400.0, rel=0.05)
    assert found.pitch_deg == pytest.approx(13.0, abs=1.0)
    near = focal_from_horizon(tracks, lines, _K(1300.0))
    assert near is not None and not near.believed
    assert near.focal_px == pytest.approx(found.focal_px, rel=1e-6)  # the guess does not move it


def test_a_level_camera_or_missing_cues_give_no_answer():
    tracks, lines = _scene(focal=1400.0, pitch_deg=1.0)
    assert focal_from_horizon(tracks, lines, _K(665.0)) is None  # too level to tell
    tracks, lines = _scene(focal=1400.0, pitch_deg=13.0)
    no_lines = BackgroundLines(segments=np.zeros((0, 4)), rotations=None)
    assert focal_from_horizon(tracks, no_lines, _K(665.0)) is None
    one_row = SimpleNamespace(landmarks2d=tracks.landmarks2d, boxes=tracks.boxes,
                              valid=np.zeros_like(tracks.valid))
    assert focal_from_horizon(one_row, lines, _K(665.0)) is None  # nobody: no horizon
    assert focal_from_horizon(tracks, lines, _K(665.0),
                              FocalFromHorizonConfig(min_ratio=0.1, max_ratio=10)).believed \
        is False


def test_a_job_on_vtest_reads_the_lens_of_its_high_fixed_camera(media_dir, tmp_path):
    """The real clip: a fixed camera high over a plaza, people 60-160 px tall. The 60 degree
    guess is 665 px; its vertical edges and its people's horizon say about 1,400-1,480 (on 60,
    120, 200 and 400 frames). The job solves with it, and the floor then takes the lines' tilt
    (13-15 degrees) with the feet resting on it, the camera several metres up."""
    from genhmr.pipeline import JobOptions, run_job

    from genhmr_core.result_format import load_result

    summary = run_job(JobOptions(video=str(media_dir / "vtest.avi"), out_dir=str(tmp_path),
                                 end=60, method="fit", max_people=6))
    result = load_result(summary.result_path)
    assert 1250.0 < result.camera_K[0, 0] < 1650.0, result.camera_K
    assert result.ground_plane is not None
    tilt = math.degrees(math.acos(-float(result.ground_plane[1])))
    assert 10.0 < tilt < 18.0, result.ground_plane
    assert 4.0 < -float(result.ground_plane[3]) < 10.0, result.ground_plane
