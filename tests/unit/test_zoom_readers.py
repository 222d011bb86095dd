"""Readers of a zooming result: every frame projects and casts rays with its own focal length.

Known answers on a camera whose focal length changes frame by frame (``camera_focal_px``):
the per-frame intrinsics, the foot speed measured with the zoom taken out, the body placed by
its keypoints, the Blender lens, and the background's lines brought to one lens.
"""

from __future__ import annotations

import numpy as np
import pytest
from genhmr.camera import translation_from_keypoints
from genhmr.fitting.initialization import solve_translation
from genhmr.vertical_lines import _unzoomed
from scipy.spatial.transform import Rotation

from genhmr_core.contacts import steady_pixels
from genhmr_core.result_format import empty_result, frame_intrinsics
from genhmr_core.scene_space import blender_camera_settings, blender_lens_mm

K = np.array([[1000.0, 0.0, 650.0], [0.0, 1000.0, 350.0], [0.0, 0.0, 1.0]])
FOCAL = 1000.0 * np.linspace(1.0, 1.6, 7)  # a zoom in over 7 frames


def _project(points: np.ndarray, frames_K: np.ndarray) -> np.ndarray:
    uvw = np.einsum("fij,fnj->fni", frames_K, points)
    return uvw[..., :2] / uvw[..., 2:]


def test_frame_intrinsics_change_the_focal_length_only():
    frames_K = frame_intrinsics(K, FOCAL, 7)
    np.testing.assert_allclose(frames_K[:, 0, 0], FOCAL)
    np.testing.assert_allclose(frames_K[:, 1, 1], FOCAL)
    np.testing.assert_allclose(frames_K[:, :, 2], np.tile(K[:, 2], (7, 1)))
    assert np.array_equal(frame_intrinsics(K, None, 3), np.repeat(K[None], 3, axis=0))
    result = empty_result("v.mp4", 30.0, (1300, 700), K, np.arange(7), 1)
    result.camera_focal_px = FOCAL
    np.testing.assert_allclose(result.intrinsics(), frames_K)


def test_steady_pixels_take_a_zoom_and_a_pan_out():
    """A point still in the world, filmed by a camera that pans and zooms, stays on one pixel
    of the first frame's camera (the foot-speed cue of the contacts reads it as still)."""
    world = np.array([[0.4, 0.9, 5.0], [-1.0, 0.2, 7.0]])
    turn = Rotation.from_euler("y", np.linspace(0.0, 10.0, 7)[:, None], degrees=True).as_matrix()
    frames_K = frame_intrinsics(K, FOCAL, 7)
    seen = _project(np.einsum("fij,nj->fni", turn, world), frames_K)
    pixels = np.concatenate([seen, np.ones(seen.shape[:-1] + (1,))], axis=-1)
    assert np.ptp(seen[:, 0, 0]) > 100.0  # it moves a lot in the footage
    steady = steady_pixels(pixels, frames_K, turn)
    np.testing.assert_allclose(steady[..., :2], np.repeat(steady[:1, :, :2], 7, 0), atol=1e-9)
    np.testing.assert_allclose(steady[0, :, :2], seen[0], atol=1e-9)
    assert (steady[..., 2] == 1.0).all()
    # a zoom on a tripod: no rotation, the zoom alone taken out
    still = _project(np.repeat(world[None], 7, 0), frames_K)
    flat = steady_pixels(still, frames_K, None)
    np.testing.assert_allclose(flat, np.repeat(still[:1], 7, 0), atol=1e-9)


def test_a_body_is_placed_at_its_depth_through_each_frames_lens():
    """The translation that puts a body's points on their pixels, each frame seen with its own
    focal length: the true one (with one K for all frames, the zoomed frames would come out
    nearer by the zoom)."""
    rng = np.random.default_rng(0)
    body = rng.normal(0.0, 0.3, (7, 12, 3))
    truth = np.array([0.3, 0.2, 4.0]) + np.linspace(0.0, 0.5, 7)[:, None]
    frames_K = frame_intrinsics(K, FOCAL, 7)
    uv = _project(body + truth[:, None], frames_K)
    weight = np.ones((7, 12))
    t, ok = translation_from_keypoints(body, uv, weight, frames_K)
    assert ok.all()
    np.testing.assert_allclose(t, truth, atol=1e-6)
    wrong, _ = translation_from_keypoints(body, uv, weight, K)
    assert wrong[-1, 2] < 0.7 * truth[-1, 2]
    np.testing.assert_allclose(solve_translation(body, uv, weight, frames_K), truth, atol=1e-6)


@pytest.mark.parametrize("size", [(1300, 700), (700, 1300)])
def test_the_blender_lens_follows_the_focal_length(size: tuple[int, int]):
    settings = blender_camera_settings(K, size)
    lens = blender_lens_mm(FOCAL, size)
    assert lens[0] == pytest.approx(settings["lens_mm"])
    np.testing.assert_allclose(lens / lens[0], FOCAL / FOCAL[0])


def test_lines_of_a_zoomed_frame_are_brought_to_the_first_frames_lens():
    """A zoom scales the picture about the principal point: a segment seen at 1.6x is where
    the first frame's lens would see it once scaled back."""
    result = empty_result("v.mp4", 30.0, (1300, 700), K, np.arange(7), 1)
    first = np.array([[600.0, 100.0, 610.0, 500.0], [900.0, 50.0, 905.0, 300.0]])
    centre = np.tile(K[:2, 2], 2)
    at_last = centre + (first - centre) * FOCAL[-1] / FOCAL[0]
    assert np.array_equal(_unzoomed(at_last, result, 6), at_last)  # no zoom in the result
    result.camera_focal_px = FOCAL
    np.testing.assert_allclose(_unzoomed(at_last, result, 6), first, atol=1e-9)
    np.testing.assert_allclose(_unzoomed(first, result, 0), first)
