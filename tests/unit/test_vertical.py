"""The world's up from vertical lines (``genhmr_core.vertical``): known answers on synthetic
segments of a known camera, with clutter, and the cases where it must give no answer."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.ground import UP
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.vertical import (
    VerticalConfig,
    estimate_vertical,
    residuals_px,
    segment_normals,
)

WIDTH, HEIGHT = 1088, 1920  # Pose2Sim's portrait phones
K = np.array([[1663.0, 0.0, WIDTH / 2], [0.0, 1663.0, HEIGHT / 2], [0.0, 0.0, 1.0]])
WORLD_UP = np.array([0.0, 0.0, 1.0])  # the scene's axes: z up


def _camera(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World (z up, the camera looking along +y) to OpenCV camera axes, pitched down by
    ``pitch_deg`` and rolled by ``roll_deg``."""
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    pitch = axis_angle_to_matrix(np.array([np.radians(pitch_deg), 0.0, 0.0]))
    roll = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(roll_deg)]))
    return roll @ pitch @ level


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                              -1.0, 1.0))))


def _project(R: np.ndarray, centre: np.ndarray, points: np.ndarray) -> np.ndarray:
    cam = (points - centre) @ R.T
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:]


def _in_view(segments: np.ndarray) -> np.ndarray:
    x, y = segments[:, 0::2], segments[:, 1::2]
    return ((x >= 0) & (x < WIDTH) & (y >= 0) & (y < HEIGHT)).all(axis=1)


def _scene(R: np.ndarray, rng: np.random.Generator, verticals: int = 80, clutter: int = 200,
           floor_lines: int = 30, noise_px: float = 0.3, spread_m: float = 3.0) -> np.ndarray:
    """Segments (N, 4) seen by a camera 1.8 m up at the origin: ``verticals`` vertical edges
    (0.3-1.2 m long, between 0 and 2.5 m up, 2-8 m away, ``spread_m`` either side), floor
    lines running away from the camera (their vanishing point is on the horizon) and random
    clutter segments tilted up to 40 degrees from the picture's vertical; endpoint noise."""
    centre = np.array([0.0, 0.0, 1.8])
    out = []
    while len(out) < verticals:
        base = np.array([rng.uniform(-spread_m, spread_m), rng.uniform(2.0, 8.0),
                         rng.uniform(0.0, 1.5)])
        ends = np.stack([base, base + rng.uniform(0.3, 1.2) * WORLD_UP])
        segment = _project(R, centre, ends).reshape(1, 4)
        if _in_view(segment).all():
            out.append(segment[0])
    for _ in range(floor_lines):
        start = np.array([rng.uniform(-2.0, 2.0), rng.uniform(2.0, 4.0), 0.0])
        ends = np.stack([start, start + np.array([rng.uniform(-0.2, 0.2), 1.5, 0.0])])
        segment = _project(R, centre, ends).reshape(1, 4)
        if _in_view(segment).all():
            out.append(segment[0])
    for _ in range(clutter):
        middle = rng.uniform([0, 0], [WIDTH, HEIGHT])
        angle = np.radians(rng.uniform(-40, 40))
        half = 0.5 * rng.uniform(40, 300) * np.array([np.sin(angle), np.cos(angle)])
        out.append(np.concatenate([middle - half, middle + half]))
    segments = np.array(out)
    return segments + rng.normal(0.0, noise_px, segments.shape)


@pytest.mark.parametrize(("pitch", "roll"), [(25.0, 0.0), (18.5, 3.0), (34.0, -12.0),
                                             (2.0, 1.0), (0.0, 0.0)])
def test_known_up_recovered_through_clutter(pitch, roll):
    """80 vertical edges among 200 random segments and 30 floor lines: the up within 0.3
    degrees, from a prior 10 degrees off; the level camera (vanishing point at infinity)
    included."""
    rng = np.random.default_rng(int(pitch * 10 + roll))
    R = _camera(pitch, roll)
    truth = R @ WORLD_UP
    assert _angle_deg(truth, UP) == pytest.approx(np.hypot(pitch, roll), abs=1.0)
    prior = axis_angle_to_matrix(np.radians([10.0, 0.0, 0.0])) @ truth
    found = estimate_vertical(_scene(R, rng), K, prior)
    assert found is not None
    assert _angle_deg(found.up, truth) < 0.3
    assert found.inliers >= 70
    assert found.prior_deg == pytest.approx(10.0, abs=0.5)


def test_sign_follows_the_prior():
    """The lines fix the up only up to its sign: the answer points to the prior's side."""
    rng = np.random.default_rng(1)
    R = _camera(25.0, 0.0)
    found = estimate_vertical(_scene(R, rng), K, UP)
    assert found is not None and found.up @ (R @ WORLD_UP) > 0.999


def test_turning_camera_each_frame_in_the_first_frames_axes():
    """Segments from frames of a panning, tilting camera, each with its frame's rotation: the
    up in the first frame's axes; without the rotations the answer is wrong by the turn."""
    rng = np.random.default_rng(2)
    first = _camera(20.0, 2.0)
    segments, rotations = [], []
    for turn in (0.0, 4.0, 8.0, 12.0):
        # world-to-camera of this frame against the first frame's camera: pan and tilt
        relative = axis_angle_to_matrix(np.radians([turn * 0.5, turn, 0.0]))
        s = _scene(relative @ first, rng, verticals=25, clutter=50, floor_lines=5)
        segments.append(s)
        rotations.append(np.repeat(relative[None], len(s), axis=0))
    segments, rotations = np.concatenate(segments), np.concatenate(rotations)
    truth = first @ WORLD_UP
    found = estimate_vertical(segments, K, UP, rotations=rotations)
    assert found is not None and _angle_deg(found.up, truth) < 0.3
    ignored = estimate_vertical(segments, K, UP)
    assert ignored is None or _angle_deg(ignored.up, truth) > 1.0


def test_pixel_residual_of_a_segment_through_the_vanishing_point_is_zero():
    R = _camera(25.0, 5.0)
    up = R @ WORLD_UP
    vanishing = K @ up
    vanishing = vanishing[:2] / vanishing[2]
    start = np.array([300.0, 400.0])
    along = start + 0.1 * (vanishing - start)
    off = along + np.array([3.0, 0.0])
    segments = np.array([np.concatenate([start, along]), np.concatenate([start, off])])
    residual = residuals_px(segments, K, up)[0]
    assert residual[0] == pytest.approx(0.0, abs=1e-6)
    assert 1.0 < residual[1] < 3.0  # half the segment turned by the 3 px offset
    normals = segment_normals(segments, K)
    assert abs(normals[0] @ up) < 1e-9


def test_too_few_lines_or_none_give_no_answer():
    rng = np.random.default_rng(3)
    R = _camera(25.0, 0.0)
    assert estimate_vertical(np.zeros((0, 4)), K, UP) is None
    few = _scene(R, rng, verticals=10, clutter=0, floor_lines=0)
    assert estimate_vertical(few, K, UP) is None  # 10 < min_inliers
    assert estimate_vertical(few, K, UP, config=VerticalConfig(min_inliers=5)) is not None
    clutter_only = _scene(R, rng, verticals=0, clutter=300, floor_lines=0)
    assert estimate_vertical(clutter_only, K, UP) is None
    chance = estimate_vertical(clutter_only, K, UP, config=VerticalConfig(min_inliers=2))
    assert chance is not None and chance.inliers < 30  # what random lines agree on
    broken = _scene(R, rng)
    broken[::3] = np.nan  # bad rows are ignored, not propagated
    found = estimate_vertical(broken, K, UP)
    assert found is not None and _angle_deg(found.up, R @ WORLD_UP) < 0.3


def test_one_pole_does_not_fix_the_up():
    """Segments along the two edges of one pole (seen in every frame) lie in nearly one plane:
    the up is poorly fixed along it, so there is no answer; without the spread rule one would
    come back."""
    rng = np.random.default_rng(4)
    R = _camera(25.0, 0.0)
    centre = np.array([0.0, 0.0, 1.8])
    pieces = []
    for _ in range(40):
        x, z0 = rng.choice([0.45, 0.55]), rng.uniform(0.0, 2.0)
        ends = np.array([[x, 4.0, z0], [x, 4.0, z0 + rng.uniform(0.2, 0.6)]])
        pieces.append(_project(R, centre, ends).reshape(4))
    pole = np.array(pieces) + rng.normal(0.0, 0.2, (40, 4))
    assert estimate_vertical(pole, K, UP) is None
    loose = estimate_vertical(pole, K, UP, config=VerticalConfig(min_spread_deg=0.0))
    assert loose is not None and loose.spread_deg < 1.0


def test_up_far_from_the_prior_is_refused():
    """The background's up 40 degrees from the prior (the people's up): no answer, whatever
    the lines say; 20 degrees away is accepted."""
    rng = np.random.default_rng(5)
    R = _camera(25.0, 0.0)
    truth = R @ WORLD_UP
    segments = _scene(R, rng)
    for off, accepted in ((20.0, True), (40.0, False)):
        prior = axis_angle_to_matrix(np.radians([0.0, 0.0, off])) @ truth
        found = estimate_vertical(segments, K, prior)
        assert (found is not None) == accepted
        if accepted:
            assert _angle_deg(found.up, truth) < 0.3
