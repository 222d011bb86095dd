"""Video decoding over a frame range with OpenCV.

Containers often report frame counts that are wrong by a few frames, and some files open but
yield no frames; both are turned into clear :class:`VideoError` messages rather than empty
results further down the pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np


class VideoError(RuntimeError):
    """The video cannot be opened or decoded, or the requested range is empty."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container; may be slightly off


def probe(path: str | Path) -> VideoInfo:
    """Open the file, read its metadata and check the first frame decodes."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"cannot open video (unknown or corrupt format): {path}")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"video has no decodable frames: {path}")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        h, w = frame.shape[:2]
        return VideoInfo(str(path), int(w), int(h), fps if np.isfinite(fps) else 30.0, count)
    finally:
        cap.release()


def resolve_range(info: VideoInfo, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """Clamp ``[start, end)`` to the video; raise if nothing is left."""
    last = info.frame_count if info.frame_count > 0 else None
    start = max(0, int(start))
    end = last if end is None else int(end)
    if last is not None and end is not None:
        end = min(end, last)
    if end is not None and end <= start:
        raise VideoError(
            f"empty frame range [{start}, {end}) for {Path(info.path).name} "
            f"({info.frame_count} frames)")
    return start, end if end is not None else start + 10**9


def read_frames(path: str | Path, start: int = 0, end: int | None = None,
                info: VideoInfo | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, bgr_image)`` for frames in ``[start, end)``.

    Stops early (without error) when the container ends before ``end``; raises if not a single
    frame of the range could be decoded. ``info`` from an earlier :func:`probe` saves opening
    the file twice.
    """
    info = info or probe(path)
    start, end = resolve_range(info, start, end)
    cap = cv2.VideoCapture(str(path))
    try:
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        produced = 0
        while index < end:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            yield index, frame
            produced += 1
            index += 1
        if produced == 0:
            raise VideoError(f"no frames could be decoded in [{start}, {end}) of {path}")
    finally:
        cap.release()


def read_frames_at(path: str | Path, indices: Iterable[int],
                   seek_gap: int = 120) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, bgr_image)`` for a few chosen frames, in ascending order, skipping
    any that cannot be decoded (never raises for a bad frame or a missing file: callers use
    this for optional steps that fall back without the frames).

    Why not seek to each: a seek decodes from the previous key frame, 0.3-0.6 s on the
    Pose2Sim and demo.mp4 clips, while skipping a frame (``grab``, decoded but not converted)
    costs about 5 ms. So frames up to ``seek_gap`` apart are reached by grabbing through, and
    only longer gaps seek."""
    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    if not wanted:
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return
        position = 0
        for index in wanted:
            if index - position > seek_gap:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index and cap.grab():
                position += 1
            if position != index:
                return  # the video ended before this frame
            ok, frame = cap.read()
            position += 1
            if ok and frame is not None:
                yield index, frame
    finally:
        cap.release()
