#!/usr/bin/env python3
"""Compare person box detectors (SSDLite vs NanoDet-m, tiling off/auto/on) on real frames.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_person_detector.py [--nanodet ~/.cache/genhmr/models/nanodet.onnx]
        [--render OUT_DIR] [--candidates]

Frames: basketball1/2.png, demo.mp4 frames 0 45 100 150 180 200 and vtest.avi frames 0 100 300
600. Ground truth is :data:`GROUND_TRUTH`: the people a human sees in each frame, boxed by hand
from renders of every detector's boxes (``--candidates`` renders all boxes at a low threshold
with ids to label from). A detection matches an unmatched person when IoU >= 0.3 (loose: the
hand boxes are approximate, and a box on the right person but sized differently is still the
right person for cropping); unmatched detections are false positives.

Times are per image (median of ``--repeats`` runs, after a warm-up), every detector with 2
onnxruntime threads, all in the same run; MediaPipe's legacy single-person Pose
(``static_image_mode=True, model_complexity=1``) on the same frames is the reference cost.
NanoDet needs ``tools/convert_models.py --only nanodet`` first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from genhmr.boxes import box_iou  # noqa: E402
from genhmr.detection.person_boxes import PersonBoxDetector  # noqa: E402

CACHE = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr")).expanduser()
FRAMES: tuple[tuple[str, int], ...] = (
    ("basketball1.png", 0),
    ("basketball2.png", 0),
    *(("demo.mp4", i) for i in (0, 45, 100, 150, 180, 200)),
    *(("vtest.avi", i) for i in (0, 100, 300, 600)),
)
# Hand-checked person boxes (x0, y0, x1, y1, px): every person a human sees in the frame, boxed
# by eye on renders (see --candidates). demo.mp4 includes the small (~37 px) bystander at the shop
# door in the background; frame 180 has the man mid-jump against the sun, 200 the woman leaving
# at the left edge (half visible). vtest.avi 100 has one person half hidden by the sign.
_SHOP = (1473, 597, 1496, 634)
GROUND_TRUTH: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {
    ("basketball1.png", 0): [(29, 81, 159, 476), (437, 24, 634, 464)],
    ("basketball2.png", 0): [(32, 79, 160, 474), (437, 26, 635, 445)],
    ("demo.mp4", 0): [(576, 76, 716, 466), _SHOP],
    ("demo.mp4", 45): [(516, 66, 788, 443), (1443, 547, 1569, 956), _SHOP],
    ("demo.mp4", 100): [(589, 78, 711, 456), (913, 528, 1137, 947), _SHOP],
    ("demo.mp4", 150): [(713, 46, 896, 476), (403, 497, 619, 948), _SHOP],
    ("demo.mp4", 180): [(878, 240, 1144, 484), (131, 512, 274, 946), _SHOP],
    ("demo.mp4", 200): [(1051, 740, 1258, 904), (0, 516, 51, 876), _SHOP],
    ("vtest.avi", 0): [(499, 160, 531, 234), (253, 220, 285, 307), (638, 237, 683, 329)],
    ("vtest.avi", 100): [(587, 153, 619, 240), (377, 179, 412, 259), (342, 195, 379, 276),
                         (489, 147, 519, 226), (514, 152, 544, 223), (222, 63, 238, 96),
                         (411, 179, 456, 265)],
    ("vtest.avi", 300): [(180, 165, 219, 233), (580, 157, 611, 240), (237, 158, 272, 224),
                         (296, 160, 325, 240), (614, 164, 646, 237), (315, 220, 345, 297)],
    ("vtest.avi", 600): [(451, 304, 505, 423), (568, 200, 596, 292), (669, 203, 707, 299),
                         (639, 302, 671, 417), (277, 433, 334, 576), (184, 151, 216, 219)],
}


def media_dir() -> Path:
    env = os.environ.get("GENHMR_MEDIA_DIR")
    return Path(env) if env else CACHE / "media"


def load_frames() -> dict[tuple[str, int], np.ndarray]:
    """The benchmark frames, BGR, decoded sequentially (exact frame indices)."""
    out: dict[tuple[str, int], np.ndarray] = {}
    for name, index in FRAMES:
        path = media_dir() / name
        if path.suffix == ".png":
            image = cv2.imread(str(path))
            if image is None:
                sys.exit(f"cannot read {path}: run `bash tools/setup.sh` first")
            out[(name, index)] = image
            continue
        cap = cv2.VideoCapture(str(path))
        for i in range(index + 1):
            ok, frame = cap.read()
            if not ok:
                sys.exit(f"{path}: frame {i} could not be decoded")
        cap.release()
        out[(name, index)] = frame
    return out


class NanoDetBoxDetector(PersonBoxDetector):
    """NanoDet-m (COCO) behind the same tiling and merging, for the comparison only.

    Input 416x416 BGR, (pixel - mean) / std per channel; per stride 8/16/32 a score map of 80
    sigmoid class scores and 4 x 11 distance bins (a softmax over each side's bins gives the
    expected distance in strides from the cell centre to the left/top/right/bottom edge)."""

    SIZE = 416
    MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    STD = np.array([57.375, 57.12, 58.395], np.float32)
    STRIDES = (8, 16, 32)

    def _check_io(self, session) -> None:
        outs = {o.name: o.shape for o in session.get_outputs()}
        self._levels = []
        for stride in self.STRIDES:
            cells = (self.SIZE // stride) ** 2
            cls = next(n for n, s in outs.items() if s[1] == cells and s[2] == 80)
            reg = next(n for n, s in outs.items() if s[1] == cells and s[2] == 44)
            self._levels.append((stride, cls, reg))
        self._input = session.get_inputs()[0].name

    def infer_crop(self, crop_bgr: np.ndarray, score_threshold: float) -> tuple[np.ndarray,
                                                                                np.ndarray]:
        h, w = crop_bgr.shape[:2]
        interp = cv2.INTER_AREA if max(h, w) > self.SIZE else cv2.INTER_LINEAR
        x = cv2.resize(crop_bgr, (self.SIZE, self.SIZE), interpolation=interp).astype(np.float32)
        x = ((x - self.MEAN) / self.STD).transpose(2, 0, 1)[None]
        names = [n for _s, c, r in self._levels for n in (c, r)]
        result = dict(zip(names, self._session.run(names, {self._input: x}), strict=True))
        boxes, scores = [], []
        for stride, cls, reg in self._levels:
            person = result[cls][0, :, 0]
            keep = np.flatnonzero(person >= score_threshold)
            if len(keep) == 0:
                continue
            side = self.SIZE // stride
            cx = (keep % side + 0.5) * stride
            cy = (keep // side + 0.5) * stride
            bins = result[reg][0, keep].reshape(-1, 4, 11)
            prob = np.exp(bins - bins.max(axis=2, keepdims=True))
            prob /= prob.sum(axis=2, keepdims=True)
            dist = (prob * np.arange(11, dtype=np.float32)).sum(axis=2) * stride
            box = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]],
                           axis=1)
            boxes.append(np.clip(box / self.SIZE, 0, 1) * [w, h, w, h])
            scores.append(person[keep])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32)


def match(boxes: np.ndarray, truth: list[tuple[float, float, float, float]],
          iou_min: float = 0.3) -> tuple[int, int]:
    """(hits, false positives): greedy one-to-one matching, detections best first."""
    if not truth:
        return 0, len(boxes)
    iou = box_iou(boxes, np.asarray(truth, np.float64))
    used: set[int] = set()
    hits = 0
    for row in iou:
        candidates = [j for j in np.argsort(-row) if row[j] >= iou_min and j not in used]
        if candidates:
            used.add(int(candidates[0]))
            hits += 1
    return hits, len(boxes) - hits


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000.0


def mediapipe_ms(frames: dict, repeats: int) -> dict:
    """Legacy single-person Pose per frame, the reference cost of "one person, landmarks"."""
    import mediapipe as mp

    out = {}
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for key, frame in frames.items():
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            out[key] = time_call(lambda rgb=rgb: pose.process(rgb), repeats)
    return out


def draw(frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray, truth: list) -> np.ndarray:
    image = frame.copy()
    for x0, y0, x1, y1 in truth:
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), (255, 255, 0), 1)
    for i, ((x0, y0, x1, y1), s) in enumerate(zip(boxes, scores, strict=True)):
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), (0, 0, 255), 2)
        cv2.putText(image, f"{i}:{s:.2f}", (int(x0) + 2, int(y0) + 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nanodet", type=Path, default=CACHE / "models" / "nanodet.onnx")
    parser.add_argument("--ssdlite", type=Path, default=None, help="default: committed model")
    parser.add_argument("--ssd-threshold", type=float, default=0.35)
    parser.add_argument("--nanodet-threshold", type=float, default=0.5)
    parser.add_argument("--modes", nargs="+", default=["off", "auto", "on"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", type=Path, help="write PNGs with the boxes drawn here")
    parser.add_argument("--candidates", action="store_true",
                        help="render every detector's boxes at threshold 0.3 (for labelling)")
    parser.add_argument("--no-mediapipe", action="store_true")
    args = parser.parse_args()

    frames = load_frames()
    detectors: list[tuple[str, PersonBoxDetector]] = []
    for mode in args.modes:
        detectors.append((f"ssdlite/{mode}", PersonBoxDetector(
            args.ssdlite, tiling=mode, score_threshold=args.ssd_threshold)))
    if args.nanodet.is_file():
        for mode in args.modes:
            detectors.append((f"nanodet/{mode}", NanoDetBoxDetector(
                args.nanodet, tiling=mode, score_threshold=args.nanodet_threshold)))
    else:
        print(f"(no {args.nanodet}: run tools/convert_models.py --only nanodet)")
    if args.candidates:
        for _name, det in detectors:
            det.score_threshold = 0.3

    header = f"{'detector':<14}{'calls/img':>10}{'ms/img':>9}{'hits':>7}{'people':>8}" \
             f"{'recall':>8}{'false+':>8}"
    rows = []
    per_frame: dict[str, list[str]] = {}
    for name, det in detectors:
        calls = ms = hits = people = false_pos = 0
        for key, frame in frames.items():
            boxes, scores = det.detect(frame)
            truth = GROUND_TRUTH.get(key, [])
            h, fp = match(boxes, truth)
            hits, people, false_pos = hits + h, people + len(truth), false_pos + fp
            calls += len(det.plan(frame.shape[1], frame.shape[0]))
            ms += time_call(lambda det=det, frame=frame: det.detect(frame), args.repeats)
            per_frame.setdefault(f"{key[0]}:{key[1]}", []).append(
                f"{name}={h}/{len(truth)}" + (f"+{fp}fp" if fp else ""))
            if args.render:
                args.render.mkdir(parents=True, exist_ok=True)
                out = args.render / f"{name.replace('/', '_')}_{Path(key[0]).stem}_{key[1]}.png"
                cv2.imwrite(str(out), draw(frame, boxes, scores, truth))
        n = len(frames)
        recall = hits / people if people else float("nan")
        rows.append(f"{name:<14}{calls / n:>10.1f}{ms / n:>9.1f}{hits:>7}{people:>8}"
                    f"{recall:>8.2f}{false_pos:>8}")
    print(header)
    print("\n".join(rows))
    if not args.no_mediapipe:
        mp_ms = mediapipe_ms(frames, args.repeats)
        print(f"{'mediapipe Pose (legacy, 1 person, landmarks)':<45}"
              f"{np.mean(list(mp_ms.values())):>8.1f} ms/img")
    print("\nper frame (hits/people + false positives):")
    for frame_name, cells in per_frame.items():
        print(f"  {frame_name:<18}" + "  ".join(cells))


if __name__ == "__main__":
    main()
