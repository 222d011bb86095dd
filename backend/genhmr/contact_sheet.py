"""A contact sheet: a grid of video frames with what was recovered drawn over them.

This is the picture an artist looks at to judge a result without opening Blender: per person a
colour, the recovered body's skeleton projected through the job's camera (lines), the detector's
keypoints (small grey dots) and, when given, the joints of the keyframed Blender rig projected
through the Blender camera (rings) — if the rings sit on the skeleton, the add-on reproduced the
backend's result in the scene — and renders of the skinned bodies through the Blender camera,
laid over the footage.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from genhmr_core.keypoints import KEYPOINT_INDEX, PREVIEW_EDGES
from genhmr_core.result_format import JobResult
from genhmr_core.skeleton import NUM_BODY_JOINTS

from .camera import project

# BGR colours, distinct and readable on footage.
PALETTE = ((60, 200, 255), (255, 160, 40), (90, 230, 90), (240, 90, 230), (80, 80, 255),
           (255, 255, 90), (200, 120, 60), (160, 160, 255))


def person_colour(person: int) -> tuple[int, int, int]:
    return PALETTE[person % len(PALETTE)]


def pick_frames(valid: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` job-frame positions spread evenly over frames where someone is valid."""
    candidates = np.flatnonzero(valid.any(0))
    if candidates.size == 0:
        candidates = np.arange(valid.shape[1])
    if candidates.size <= count:
        return candidates
    picks = np.linspace(0, candidates.size - 1, count).round().astype(int)
    return candidates[picks]


BODY_OPACITY = 0.8


def overlay_rgba(image: np.ndarray, rgba: np.ndarray, opacity: float = BODY_OPACITY
                 ) -> np.ndarray:
    """Alpha-composite a BGRA render (any size: scaled to the image) over a BGR image."""
    h, w = image.shape[:2]
    if rgba.shape[:2] != (h, w):
        rgba = cv2.resize(rgba, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0 * opacity
    blended = image.astype(np.float32) * (1 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return blended.round().astype(np.uint8)


def read_body_render(folder: str | Path | None, video_frame: int) -> np.ndarray | None:
    """The Blender render ``frame_<n>.png`` (BGRA) for a video frame, or None."""
    if folder is None:
        return None
    path = Path(folder) / f"frame_{video_frame}.png"
    render = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    return render if render is not None and render.ndim == 3 and render.shape[2] == 4 else None


def draw_frame(image: np.ndarray, result: JobResult, f: int,
               blender_joints2d: np.ndarray | None = None,
               body_render: np.ndarray | None = None, skeleton: bool = True) -> np.ndarray:
    """Draw everything known about job frame ``f`` onto a copy of ``image`` (full resolution);
    ``body_render`` (BGRA) goes under the lines. ``skeleton=False`` leaves only the bodies and
    the track labels, so the skinned bodies can be judged against the footage."""
    out = image.copy() if body_render is None else overlay_rgba(image, body_render)
    scale = max(out.shape[:2]) / 1000.0
    thick = max(1, round(2.5 * scale))
    K = result.intrinsics()[f]  # this frame's lens (a zoom changes it)
    for p in range(result.num_people):
        if not result.valid[p, f]:
            continue
        colour = person_colour(p)
        x0, y0 = result.boxes[p, f, :2]
        cv2.putText(out, f"#{int(result.track_ids[p])}", (round(x0), max(round(y0) - 6, 12)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, colour, thick, cv2.LINE_AA)
        if not skeleton:
            continue
        detected = result.keypoints2d[p, f]
        for x, y, c in detected:
            if c > 0.3:
                cv2.circle(out, (round(x), round(y)), 2 * thick, (200, 200, 200), -1, cv2.LINE_AA)
        uv = project(result.keypoints3d[p, f], K)
        for a, b in PREVIEW_EDGES:
            pa, pb = uv[KEYPOINT_INDEX[a]], uv[KEYPOINT_INDEX[b]]
            cv2.line(out, (round(pa[0]), round(pa[1])), (round(pb[0]), round(pb[1])), colour,
                     thick, cv2.LINE_AA)
        if blender_joints2d is not None:
            for x, y in blender_joints2d[p, f, :1 + NUM_BODY_JOINTS]:
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(out, (round(x), round(y)), 3 * thick, (255, 255, 255), thick,
                               cv2.LINE_AA)
    return out


def read_video_frames(video: str | Path, frame_numbers: list[int]) -> dict[int, np.ndarray]:
    """Random access to a few frames (seeking, then reading sequentially when close)."""
    cap = cv2.VideoCapture(str(video))
    frames: dict[int, np.ndarray] = {}
    try:
        if not cap.isOpened():
            raise RuntimeError(f"cannot open video {video}")
        position = 0
        for number in sorted(set(frame_numbers)):
            if number < position or number - position > 30:
                cap.set(cv2.CAP_PROP_POS_FRAMES, number)
                position = number
            while position <= number:
                ok, image = cap.read()
                if not ok:
                    break
                if position == number:
                    frames[number] = image
                position += 1
    finally:
        cap.release()
    return frames


def make_contact_sheet(result: JobResult, video: str | Path | None = None, count: int = 6,
                       columns: int = 3, cell_width: int = 640,
                       blender_joints2d: np.ndarray | None = None,
                       body_renders: str | Path | None = None, skeleton: bool = True,
                       title: str = "") -> np.ndarray:
    """The contact sheet image (BGR). ``blender_joints2d`` (P, F, J, 2) pixels and a folder of
    ``body_renders`` (``frame_<video frame>.png``, RGBA), both optional."""
    video = video or result.source_video
    picks = pick_frames(result.valid, count)
    numbers = [int(result.frame_indices[f]) for f in picks]
    images = read_video_frames(video, numbers)
    width, height = (int(v) for v in result.image_size)
    cell_height = round(cell_width * height / width)
    cells = []
    for f, number in zip(picks, numbers, strict=True):
        image = images.get(number)
        if image is None:
            image = np.zeros((height, width, 3), np.uint8)
        drawn = draw_frame(image, result, int(f), blender_joints2d,
                           read_body_render(body_renders, number), skeleton=skeleton)
        cell = cv2.resize(drawn, (cell_width, cell_height), interpolation=cv2.INTER_AREA)
        people = int(result.valid[:, f].sum())
        cv2.rectangle(cell, (0, 0), (250, 36), (32, 32, 32), -1)
        cv2.putText(cell, f"frame {number}  people {people}", (10, 26), cv2.FONT_HERSHEY_SIMPLEX,
                    0.7, (255, 255, 255), 2, cv2.LINE_AA)
        cells.append(cell)
    rows = []
    for r in range(0, len(cells), columns):
        row = cells[r:r + columns]
        row += [np.zeros_like(cells[0])] * (columns - len(row))
        rows.append(np.concatenate(row, axis=1))
    sheet = np.concatenate(rows, axis=0)
    parts = []
    if skeleton:
        parts += ["lines: recovered body projected", "grey dots: detector keypoints"]
        if blender_joints2d is not None:
            parts.append("rings: Blender rig joints")
    if body_renders is not None:
        parts.append("shaded: the skinned bodies rendered by Blender through the scene camera")
    legend = "   ".join(parts)
    header = np.full((70, sheet.shape[1], 3), 32, np.uint8)
    cv2.putText(header, title or Path(str(video)).name, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(header, legend, (10, 58), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1,
                cv2.LINE_AA)
    return np.concatenate([header, sheet], axis=0)


def write_contact_sheet(path: str | Path, result: JobResult, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = make_contact_sheet(result, **kwargs)
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"could not write {path}")
    return path
