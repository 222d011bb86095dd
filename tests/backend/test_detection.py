"""The real MediaPipe pose model on real frames, the offline task bundle, and bad input.

Reference boxes below were drawn by hand on the frames (a person's visible extent, head to feet,
in full-resolution pixels); the detector's numbers they are compared with were measured with
tools/bench_detection.py and /tmp scripts while writing these tests (docs/detection.md).

demo.mp4 (1768x994) has two people: a man on the concrete box who jumps down (frames 0-~180,
then ~190-225 on the grass) and a woman who walks through from the right (frames ~40-190).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from genhmr.boxes import box_iou
from genhmr.detection import (
    BUNDLE_NAME,
    NUM_LANDMARKS,
    PersonDetection,
    PoseDetector,
    build_task_bundle,
    default_task_path,
    ensure_task_bundle,
)
from genhmr.detection.task_bundle import (
    DETECTOR_MEMBER,
    LANDMARKS_MEMBER,
    MODEL_DIR_ENV,
    is_valid_bundle,
    source_model_paths,
)

pytestmark = pytest.mark.slow

NOSE, L_SH, R_SH, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 0, 11, 12, 23, 24, 25, 26, 27, 28

# Hand-drawn boxes (x0, y0, x1, y1) of the visible people.
DEMO_MAN_0 = (575, 65, 730, 470)
DEMO_MAN_120 = (620, 80, 800, 470)
DEMO_WOMAN_120 = (710, 510, 960, 935)


def confident_extent(person: PersonDetection, threshold: float = 0.5) -> np.ndarray:
    lm = person.landmarks_px[person.landmarks_px[:, 2] >= threshold]
    return np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])


def best_match(people: list[PersonDetection], box: tuple[int, ...]) -> tuple[float, int]:
    """(IoU, index) of the person whose confident keypoint extent best overlaps ``box``."""
    if not people:
        return 0.0, -1
    ious = [float(box_iou(confident_extent(p), np.array(box))[0, 0]) for p in people]
    return max(ious), int(np.argmax(ious))


def assert_upright_and_on(person: PersonDetection, box: tuple[int, ...]) -> None:
    """Keypoints of a standing person: inside its hand-drawn box, in head-to-feet order, with a
    metric, hip-centred world skeleton of human size."""
    lm, world = person.landmarks_px, person.world_landmarks
    assert lm.shape == (NUM_LANDMARKS, 3) and world.shape == (NUM_LANDMARKS, 3)
    assert lm.dtype == np.float32 and world.dtype == np.float32
    x0, y0, x1, y1 = box
    margin = 0.05 * (y1 - y0)
    body = [NOSE, L_SH, R_SH, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE]
    for i in body:
        x, y, conf = lm[i]
        assert conf > 0.3, f"landmark {i} visibility {conf:.2f}"  # man at 120: knee 0.47
        assert x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin, (i, x, y)
    y = lm[:, 1]
    assert y[NOSE] < y[[L_SH, R_SH]].min()
    assert y[[L_SH, R_SH]].max() < y[[L_HIP, R_HIP]].min()
    assert y[[L_HIP, R_HIP]].max() < y[[L_KNEE, R_KNEE]].min()
    assert y[[L_KNEE, R_KNEE]].max() < y[[L_ANKLE, R_ANKLE]].min()
    # the box holds every landmark it was made from (padded), clipped to the frame
    assert person.box[0] <= lm[:, 0].min() + 1 or person.box[0] == 0
    assert person.box[3] >= lm[:, 1].max() - 1 or person.box[3] > 990
    assert 0.5 <= person.score <= 1.0
    # world landmarks: metres, origin between the hips, +y down
    np.testing.assert_allclose((world[L_HIP] + world[R_HIP]) / 2, 0.0, atol=0.02)
    assert 1.2 < np.ptp(world[:, 1]) < 2.2
    assert 0.2 < np.linalg.norm(world[L_SH] - world[R_SH]) < 0.5
    assert world[NOSE, 1] < world[L_HIP, 1] < world[L_ANKLE, 1]


# -- the task bundle -------------------------------------------------------------------------------


def test_bundle_is_built_from_the_wheels_own_models(task_path: Path):
    assert task_path.is_file() and is_valid_bundle(task_path)
    sources = source_model_paths()
    with zipfile.ZipFile(task_path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert set(infos) == {DETECTOR_MEMBER, LANDMARKS_MEMBER}
        for member, src in sources.items():
            assert "site-packages/mediapipe/modules/" in src.as_posix()
            # stored, not deflated: the Tasks runtime memory-maps the members
            assert infos[member].compress_type == zipfile.ZIP_STORED
            data = zf.read(member)
            assert data[4:8] == b"TFL3"  # a TFLite flatbuffer
            assert b"TFLITE_METADATA" in data  # the NormalizationOptions we added
            # the same network plus a little metadata (the writer re-serialises the model, so
            # the size moves by a few kB either way; a different model would differ by MBs)
            assert abs(len(data) - src.stat().st_size) < 64 * 1024


def test_bundle_build_is_deterministic_and_accepts_a_folder(tmp_path: Path):
    a = build_task_bundle(tmp_path / "a.task")
    folder = tmp_path / "models"
    folder.mkdir()
    b = build_task_bundle(folder)
    assert b == folder / BUNDLE_NAME
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    assert digest[0] == digest[1]
    assert not list(tmp_path.rglob("*.tmp"))  # the temporary file was renamed into place


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong_members"])
def test_a_damaged_bundle_is_rebuilt_and_loads(tmp_path: Path, task_path: Path, media_dir: Path,
                                               damage: str):
    target = tmp_path / BUNDLE_NAME
    good = task_path.read_bytes()
    if damage == "garbage":
        target.write_bytes(b"this is not a zip file" * 100)
    elif damage == "truncated":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        target.write_bytes(b"")
    else:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(DETECTOR_MEMBER, good[:1000])
    assert not is_valid_bundle(target)
    path = ensure_task_bundle(target)
    assert path == target and is_valid_bundle(path)
    assert path.read_bytes() == good
    # ... and MediaPipe loads it and finds a person with it
    image = cv2.imread(str(media_dir / "basketball2.png"))
    with PoseDetector(path, tiling="off") as det:
        assert len(det.detect(image)) >= 1


def test_ensure_keeps_a_valid_bundle_and_honours_the_model_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "m"))
    assert default_task_path() == tmp_path / "m" / BUNDLE_NAME
    path = ensure_task_bundle()
    assert path == tmp_path / "m" / BUNDLE_NAME and is_valid_bundle(path)
    mtime = path.stat().st_mtime_ns
    assert ensure_task_bundle() == path and path.stat().st_mtime_ns == mtime  # not rebuilt


def test_bundle_in_an_unwritable_place_gives_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RuntimeError, match="Cannot build the pose task bundle"):
        build_task_bundle(blocker / "sub" / BUNDLE_NAME)


# -- people on real frames -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_frames(media_dir: Path, video_frames) -> dict[int, np.ndarray]:
    return video_frames(media_dir / "demo.mp4", [0, 20, 120])


def test_demo_one_person_on_frames_with_one_person(detector: PoseDetector, demo_frames):
    for index in (0, 20):
        people = detector.detect(demo_frames[index])
        assert len(people) == 1, (index, [(p.box.tolist(), p.score) for p in people])
    people = detector.detect(demo_frames[0])
    iou, k = best_match(people, DEMO_MAN_0)
    assert iou > 0.5  # measured 0.68
    assert_upright_and_on(people[k], DEMO_MAN_0)


def test_demo_both_people_found_when_the_walker_crosses(detector: PoseDetector, demo_frames):
    people = detector.detect(demo_frames[120])
    for box in (DEMO_MAN_120, DEMO_WOMAN_120):
        iou, k = best_match(people, box)
        assert iou > 0.4, (box, [confident_extent(p).astype(int).tolist() for p in people])
        assert_upright_and_on(people[k], box)  # measured IoU 0.58 (man), 0.75 (woman)


def test_detection_is_repeatable(detector: PoseDetector, demo_frames):
    a = detector.detect(demo_frames[0])
    b = detector.detect(demo_frames[0])
    assert len(a) == len(b)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.landmarks_px, q.landmarks_px)


def test_auto_follows_people_across_consecutive_frames(media_dir: Path, detector_factory,
                                                       video_iter):
    """In frame order, "auto" scans the first frame, then follows both people with one crop
    each: both stay found, for far fewer landmarker calls than scanning every frame."""
    det = detector_factory("auto", rescan_every=15)
    found, calls, scans = [], [], []
    for index, frame in video_iter(media_dir / "demo.mp4", 110, 126):
        people = det.detect(frame, timestamp_ms=round(index * 1000 / 30))
        found.append(sum(best_match(people, box)[0] > 0.3
                         for box in (DEMO_MAN_120, DEMO_WOMAN_120)))
        calls.append(det.calls_last_frame)
        scans.append(det.scanned_last_frame)
    # the boxes drift a little over these 16 frames (the woman walks ~15 px per frame), so
    # count the man (on the box, slow) and the woman where they overlap their frame-120 boxes
    assert scans[0] and sum(scans) <= 4, scans
    assert np.mean(calls) < 9, calls  # a scan is 1 + 2 coarse + 15 fine = 18 calls
    assert np.mean(np.array(found) >= 1) == 1.0 and sum(found) >= 0.7 * 2 * len(found), found


def test_scan_policy(detector_factory, demo_frames):
    frame = demo_frames[0]
    auto = detector_factory("auto")
    auto.detect(frame, timestamp_ms=1000)
    assert auto.scanned_last_frame  # first call
    auto.detect(frame, timestamp_ms=1033)
    assert not auto.scanned_last_frame and auto.calls_last_frame == 2  # full + one follow crop
    auto.detect(frame, timestamp_ms=1000)
    assert auto.scanned_last_frame  # out of order: scan, no reset needed
    auto.detect(frame, timestamp_ms=5000)
    assert auto.scanned_last_frame  # a jump in time: scan
    off = detector_factory("off")
    off.detect(frame)
    assert off.calls_last_frame == 1 and not off.scanned_last_frame


def test_small_pedestrians_need_tiling(media_dir: Path, detector_factory, video_frames):
    """vtest.avi: pedestrians 50-110 px tall in 768x576. Measured people per frame at frames
    0/200/400/600: tiling 4/3/3/5 (13 of them >= 40 px tall), no tiling 0/0/0/0."""
    frames = video_frames(media_dir / "vtest.avi", [0, 200, 400, 600])
    tiled, plain = detector_factory("auto"), detector_factory("off")
    counts_tiled, counts_plain, tall = [], [], 0
    for frame in frames.values():
        people = tiled.detect(frame)
        counts_tiled.append(len(people))
        tall += sum(p.height_px >= 40 for p in people)
        counts_plain.append(len(plain.detect(frame)))
        for p in people:
            assert np.all(np.isfinite(p.landmarks_px)) and 0 <= p.score <= 1
            assert 0 <= p.box[0] < p.box[2] <= 768 and 0 <= p.box[1] < p.box[3] <= 576
    assert min(counts_tiled) >= 2 and sum(counts_tiled) >= 10, counts_tiled
    assert tall >= 9
    assert sum(counts_plain) <= 1, counts_plain
    assert all(t > p for t, p in zip(counts_tiled, counts_plain, strict=True))


def test_two_people_in_a_still_image(media_dir: Path, detector_factory):
    """basketball2.png (640x480): two players, large enough for the full-frame pass."""
    image = cv2.imread(str(media_dir / "basketball2.png"))
    people = detector_factory("off").detect(image)
    assert len(people) == 2
    a, b = (confident_extent(p) for p in people)
    assert box_iou(a, b)[0, 0] < 0.05
    left, right = sorted(people, key=lambda p: p.box[0])
    assert left.box[2] < 250 and right.box[0] > 380  # measured x 14-199 and 417-630


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((64, 0, 3), np.uint8),
        np.zeros((64, 64), np.uint8),
        np.zeros((64, 64, 4), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        "not an image",
        None,
    ],
    ids=["empty", "zero-width", "gray", "rgba", "float", "str", "none"],
)
def test_bad_frames_raise_a_clear_error(detector: PoseDetector, frame):
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 BGR frame"):
        detector.detect(frame)


def test_blank_and_tiny_frames_have_nobody(detector: PoseDetector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((1, 1, 3), 255, np.uint8)) == []


def test_bad_settings_and_closed_detector(task_path: Path):
    with pytest.raises(ValueError, match="tiling"):
        PoseDetector(task_path, tiling="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_people"):
        PoseDetector(task_path, max_people=0)
    det = PoseDetector(task_path, tiling="off")
    det.close()
    det.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.zeros((8, 8, 3), np.uint8))
