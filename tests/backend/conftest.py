"""Fixtures for backend tests on real media with the real MediaPipe model.

The sample media and the dev environment come from ``bash tools/setup.sh``. When they are
missing these fixtures *fail* with that instruction: a backend test that silently skips would
let CI pass without ever running the detector.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

MEDIA_FILES = ("demo.mp4", "vtest.avi", "basketball1.png", "basketball2.png")
SETUP_HINT = "run `bash tools/setup.sh` (it fetches the sample media and builds the environment)"


def find_media_dir() -> Path:
    """$GENHMR_MEDIA_DIR, else ~/.cache/genhmr/media (where tools/setup.sh puts the media)."""
    env = os.environ.get("GENHMR_MEDIA_DIR")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr")).expanduser()
    return cache / "media"


def read_frames(path: Path, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The BGR frames at ``indices`` of a video (sequential decode, no seeking: exact frames)."""
    wanted = sorted(set(int(i) for i in indices))
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        pytest.fail(f"cannot open {path}; {SETUP_HINT}")
    out: dict[int, np.ndarray] = {}
    try:
        index = 0
        while wanted and index <= wanted[-1]:
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                out[index] = frame
            index += 1
    finally:
        cap.release()
    missing = [i for i in wanted if i not in out]
    if missing:
        pytest.fail(f"{path.name}: frames {missing} could not be decoded")
    return out


def iter_frames(path: Path, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR frame) for frames ``start .. stop-1`` in order."""
    cap = cv2.VideoCapture(str(path))
    try:
        index = 0
        while index < stop:
            ok, frame = cap.read()
            if not ok:
                pytest.fail(f"{path.name}: frame {index} could not be decoded")
            if index >= start:
                yield index, frame
            index += 1
    finally:
        cap.release()


@pytest.fixture(scope="session")
def video_frames():
    """``video_frames(path, indices) -> {index: BGR frame}`` (see :func:`read_frames`)."""
    return read_frames


@pytest.fixture(scope="session")
def video_iter():
    """``video_iter(path, start, stop)`` yields (index, BGR frame) in order."""
    return iter_frames


@pytest.fixture(scope="session")
def media_dir() -> Path:
    folder = find_media_dir()
    missing = [name for name in MEDIA_FILES if not (folder / name).is_file()]
    if missing:
        pytest.fail(f"sample media missing from {folder}: {', '.join(missing)}; {SETUP_HINT}",
                    pytrace=False)
    return folder


@pytest.fixture(scope="session")
def models():
    """The body and generative models, loaded once for every test that re-enters a job."""
    from genhmr.pipeline import Models

    return Models()


@pytest.fixture(scope="session")
def finished_job(media_dir: Path, tmp_path_factory: pytest.TempPathFactory, models) -> Path:
    """demo.mp4 frames 30-74 analysed once per session (the man on the box and the woman
    stepping out from the tree): the job folder the re-run, edit and alternatives tests
    re-enter. Tests copy it before changing anything."""
    from genhmr.pipeline import JobOptions, run_job

    out = tmp_path_factory.mktemp("job")
    run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(out), start=30, end=75),
            models=models)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train several times faster on one thread on a busy 2-core machine; modules
    opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def task_path() -> Path:
    """The multi-person PoseLandmarker bundle (built from the mediapipe wheel if missing)."""
    from genhmr.detection import ensure_task_bundle

    try:
        return ensure_task_bundle()
    except RuntimeError as exc:
        pytest.fail(f"{exc}; {SETUP_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def detector_factory(task_path: Path):
    """``make(tiling=..., **kwargs)``: a PoseDetector per distinct settings, made once per session
    and closed at its end (loading the graph costs ~0.3 s)."""
    from genhmr.detection import PoseDetector

    made: dict[tuple, PoseDetector] = {}

    def make(tiling: str = "auto", **kwargs) -> PoseDetector:
        key = (tiling, *sorted(kwargs.items()))
        if key not in made:
            made[key] = PoseDetector(task_path, tiling=tiling, **kwargs)
        return made[key]

    yield make
    for det in made.values():
        det.close()


@pytest.fixture(scope="session")
def detector(detector_factory):
    """The default detector (tiling="auto"), shared by the session."""
    return detector_factory("auto")
