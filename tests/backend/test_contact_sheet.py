"""The contact sheet: frames picked where people are, bodies rendered by Blender laid over the
footage, and the recovered skeleton drawn on top."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from genhmr.contact_sheet import (
    make_contact_sheet,
    overlay_rgba,
    pick_frames,
    read_body_render,
    write_contact_sheet,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from synthetic_result import make_result


def test_overlay_blends_by_alpha_and_scales_the_render():
    image = np.full((40, 60, 3), 100, np.uint8)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (200, 200, 200, 255)  # left half opaque, right half transparent
    out = overlay_rgba(image, rgba, opacity=0.5)
    assert out.shape == image.shape
    assert (out[:, :25] == 150).all()  # 0.5 * 100 + 0.5 * 200
    assert (out[:, 35:] == 100).all()


def test_pick_frames_prefers_frames_with_people():
    valid = np.zeros((2, 50), bool)
    valid[0, 10:20] = True
    picks = pick_frames(valid, 4)
    assert len(picks) == 4 and valid[:, picks].any(0).all()


def test_sheet_lays_body_renders_over_the_video(tmp_path: Path):
    result = make_result(image_size=(320, 240), num_frames=6)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for _ in range(20):
        writer.write(np.full((240, 320, 3), 40, np.uint8))
    writer.release()
    renders = tmp_path / "renders"
    renders.mkdir()
    for number in result.frame_indices:
        body = np.zeros((120, 160, 4), np.uint8)  # half resolution, as the demo renders
        body[-10:, -10:] = (0, 0, 255, 255)  # a red block in the bottom-right corner
        cv2.imwrite(str(renders / f"frame_{int(number)}.png"), body)
    assert read_body_render(renders, int(result.frame_indices[0])) is not None
    assert read_body_render(renders, 9999) is None
    plain = make_contact_sheet(result, video=video, count=3, columns=3, cell_width=320)
    shaded = make_contact_sheet(result, video=video, count=3, columns=3, cell_width=320,
                                body_renders=renders)
    assert plain.shape == shaded.shape
    corner = (slice(70 + 225, 70 + 235), slice(305, 315))  # first cell, below the header
    assert shaded[corner][..., 2].mean() > plain[corner][..., 2].mean() + 100
    path = write_contact_sheet(tmp_path / "sheet.png", result, video=video, count=3,
                               body_renders=renders)
    assert cv2.imread(str(path)) is not None


def test_sheet_without_skeleton_draws_less(tmp_path: Path):
    result = make_result(image_size=(320, 240), num_frames=6)
    video = tmp_path / "black.avi"  # black frames: only the drawing shows
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for _ in range(20):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    full = make_contact_sheet(result, video=video, count=3, cell_width=320)
    bare = make_contact_sheet(result, video=video, count=3, cell_width=320, skeleton=False)
    body = (slice(70, None), slice(None))
    drawn_full, drawn_bare = (full[body] > 100).sum(), (bare[body] > 100).sum()
    assert drawn_full > drawn_bare + 2000, (drawn_full, drawn_bare)  # skeletons and dots gone
