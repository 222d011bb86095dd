"""Build per-view tracking truth for Pose2Sim's ``Demo_MultiPerson`` from its 4 calibrated views.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/build_pose2sim_truth.py            # writes benchmarks/truth/pose2sim_*

Why this exists: a tracking benchmark on real footage needs identities and boxes that do not come
from the tracker under test. One view alone cannot settle who is who when people overlap, but
four calibrated views can: a 2D detection that is consistent with the other views' detections of
the same person triangulates to one 3D skeleton with a small reprojection error; a wrong
association does not. So:

1. read the Qualisys calibration (``Calib.qca.txt``) into OpenCV pinhole cameras;
2. detect 2D keypoints in every frame of every view with the product's own multi-person
   ``PoseDetector`` (tiling "on", low score floor: recall matters, wrong detections are filtered
   by geometry below); cached, because this is the slow part;
3. first pass: per frame, associate detections across views (two-view triangulation error of
   every pair, greedy grouping), triangulate, link the 3D people over time (torso continuity):
   a rough 3D position of each of the three people in every frame;
4. two more passes: landmark each person in a square crop centred on their projected 3D
   position (whole-frame detection mixes up overlapping people and misses the bystander cut by
   the image edge), so every 2D pose now carries an identity;
5. touch up the camera orientations from these poses (rotation about each camera centre,
   robust least squares) and estimate the frame offsets between the (not synchronised) views by
   leave-one-view-out consistency, alternately;
6. triangulate each person's joints per time step (confidence-weighted DLT, left/right labels
   resolved per joint pair, outlier views dropped), interpolate short gaps, smooth lightly;
7. project each person's 3D joints into each view: box = joint extent padded like the product's
   (``genhmr.boxes.landmark_box``: 10% of the height), clipped to the image, plus a visibility
   fraction.

Nothing here is copied from Pose2Sim; its calibration reader was read for the file conventions
(intrinsics in 1/64 px, principal point relative to the sensor minus ``fov_video``; the
``<transform>`` matrix given by columns, camera pose in the world in mm; cameras look along -z with
y up, hence the 180-degree turn about x to reach OpenCV's camera axes).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

from genhmr.boxes import landmark_box  # noqa: E402

from genhmr_core.keypoints import mediapipe_to_keypoints_index  # noqa: E402
from genhmr_core.side_consistency import side_swaps_3d  # noqa: E402

VIEWS = ("cam01", "cam02", "cam03", "cam04")
CLIP_DIR = "pose2sim/Demo_MultiPerson"
NUM_JOINTS = 33
# Joints used for geometry: BlazePose body joints without the face details and the finger tips,
# which are the least reliable and add nothing to association or boxes' height.
BODY = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)
# BlazePose left/right partner of every landmark (the nose is its own partner).
FLIP = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
                 24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
DETECTOR_VERSION = "posedetector-on-min0.1-max8-v1"  # cache key: change to invalidate


# ---------------------------------------------------------------------------------------------
# calibration


@dataclasses.dataclass(frozen=True)
class Camera:
    """A pinhole camera in OpenCV conventions (x right, y down, z forward), world in metres.

    Attributes:
        name: "cam01"...
        size: (width, height) in pixels.
        K: 3x3 intrinsics. dist: OpenCV (k1, k2, p1, p2, k3).
        R, t: world-to-camera rotation and translation (metres).
    """

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray

    @property
    def P(self) -> np.ndarray:
        """3x4 projection matrix of the undistorted image."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def center(self) -> np.ndarray:
        """Camera centre in the world."""
        return -self.R.T @ self.t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project (..., 3) world points to distorted pixels; also return camera depth."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        cam = pts @ self.R.T + self.t
        depth = cam[:, 2].copy()
        z = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
        x, y = cam[:, 0] / z, cam[:, 1] / z
        k1, k2, p1, p2, k3 = self.dist
        r2 = x * x + y * y
        # The polynomial is only valid near the image (half-diagonal r2 ~ 0.43 here); far
        # outside it folds points back into view, so it is frozen beyond r2 = 1.
        far = r2 > 1.0
        rc2 = np.minimum(r2, 1.0)
        radial = 1 + k1 * rc2 + k2 * rc2 * rc2 + k3 * rc2 ** 3
        xd = x * radial + np.where(far, 0.0, 2 * p1 * x * y + p2 * (r2 + 2 * x * x))
        yd = y * radial + np.where(far, 0.0, p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)
        u = self.K[0, 0] * xd + self.K[0, 1] * yd + self.K[0, 2]
        v = self.K[1, 1] * yd + self.K[1, 2]
        shape = np.shape(points)[:-1]
        return np.stack([u, v], -1).reshape(*shape, 2), depth.reshape(shape)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted (..., 2) pixels to undistorted pixels of the same K (for DLT/epipolar)."""
        px = np.asarray(pixels, dtype=np.float64)
        flat = px.reshape(-1, 1, 2)
        if not np.any(self.dist) or flat.shape[0] == 0:
            return px.copy()
        out = cv2.undistortPoints(flat, self.K, self.dist, P=self.K)
        return out.reshape(px.shape)


def read_qca(path: Path, distortion_scale: float = 1.0) -> list[Camera]:
    """Read a Qualisys ``.qca.txt`` calibration into OpenCV cameras (sorted by serial).

    ``distortion_scale`` multiplies the file's distortion coefficients: Pose2Sim divides them by
    64 like the intrinsics; whether that is right is checked by the residuals (``--distortion``).
    """
    root = ET.parse(path).getroot()
    cams: list[Camera] = []
    for cam in root.iter("camera"):
        fov = cam.find("fov_video")
        intr = cam.find("intrinsic")
        tr = cam.find("transform")
        assert fov is not None and intr is not None and tr is not None, path
        left, top = float(fov.get("left", 0)), float(fov.get("top", 0))
        width = round(float(fov.get("right", 0)) - left + 1)
        height = round(float(fov.get("bottom", 0)) - top + 1)
        g = lambda key, node=intr: float(node.get(key, 0.0))  # noqa: E731
        K = np.array([
            [g("focalLengthU") / 64, g("skew") / 64, g("centerPointU") / 64 - left],
            [0.0, g("focalLengthV") / 64, g("centerPointV") / 64 - top],
            [0.0, 0.0, 1.0],
        ])
        dist = np.array([g("radialDistortion1"), g("radialDistortion2"),
                         g("tangentalDistortion1"), g("tangentalDistortion2"),
                         g("radialDistortion3")]) * distortion_scale
        # r11 r12 r13 ... are given column by column: the matrix read row-wise is the
        # world-to-camera rotation of a camera whose axes are (x right, y up, looking along -z).
        m = np.array([[g(f"r{i}{j}", tr) for j in (1, 2, 3)] for i in (1, 2, 3)])
        position = np.array([g("x", tr), g("y", tr), g("z", tr)]) / 1000.0
        flip = np.diag([1.0, -1.0, -1.0])  # Qualisys camera axes -> OpenCV camera axes
        R = flip @ m
        t = -R @ position
        cams.append(Camera(cam.get("serial", f"cam{len(cams) + 1:02d}"), (width, height), K,
                           dist, R, t))
    cams.sort(key=lambda c: c.name)
    return cams


# ---------------------------------------------------------------------------------------------
# 2D detection (cached)


@dataclasses.dataclass
class ViewDetections:
    """All detections of one view: ``people[f]`` is an (n, 33, 3) array (x, y, confidence)."""

    name: str
    size: tuple[int, int]
    people: list[np.ndarray]


def detect_view(video: Path, cache: Path, name: str) -> ViewDetections:
    """Run the product's PoseDetector (tiling "on") on every frame of ``video``; cached as npz."""
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["version"]) == DETECTOR_VERSION:
                counts, lms = z["counts"], z["landmarks"]
                size = (int(z["size"][0]), int(z["size"][1]))
                splits = np.cumsum(counts)[:-1]
                return ViewDetections(name, size, list(np.split(lms, splits)))
    from genhmr.detection import mediapipe_detector as md

    capture = cv2.VideoCapture(str(video))
    people: list[np.ndarray] = []
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    t0 = time.time()
    with md.PoseDetector(tiling="on", max_people=8, min_score=0.1) as det:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            found = det.detect(frame, timestamp_ms=round(len(people) * 1000 / 60))
            arr = np.stack([p.landmarks_px for p in found]) if found else np.zeros((0, 33, 3))
            people.append(arr.astype(np.float32))
            if len(people) % 10 == 0:
                print(f"  {name}: frame {len(people)} ({time.time() - t0:.0f} s)", flush=True)
    capture.release()
    counts = np.array([len(p) for p in people], dtype=np.int32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".part.npz")
    np.savez_compressed(tmp, version=np.array(DETECTOR_VERSION), counts=counts,
                        size=np.array(size, dtype=np.int32),
                        landmarks=np.concatenate(people) if people else np.zeros((0, 33, 3)))
    os.replace(tmp, cache)
    return ViewDetections(name, size, people)


def square_crop(box: np.ndarray, scale: float = 1.2) -> tuple[int, int, int]:
    """(x0, y0, side) of a square around ``box`` (x0, y0, x1, y1), ``scale`` times its long side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(round(scale * max(x1 - x0, y1 - y0)), 64)
    return round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2), side


def crop_image(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square (x0, y0, side) of ``frame``, black where it leaves the image: the person stays
    centred in the landmarker's input even at the image border (the bystander at cam01's edge)."""
    h, w = frame.shape[:2]
    out = np.zeros((side, side, 3), dtype=frame.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    return out


def flip_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between two (33, >=2) keypoint sets over the body joints, each left/right
    pair taking its better labelling."""
    e0 = np.linalg.norm(a[:, :2] - b[:, :2], axis=-1)
    e1 = np.linalg.norm(a[:, :2] - b[FLIP, :2], axis=-1)
    e = np.where(e1 + e1[FLIP] < e0 + e0[FLIP], e1, e0)
    return float(e[list(BODY)].mean())


def detect_crops(video: Path, guides: np.ndarray, whole: list[np.ndarray], cache: Path,
                 ) -> np.ndarray:
    """Landmark each person in a square crop centred on their predicted position.

    ``guides`` (frames, people, 33, 2) are the previous pass's 3D people projected into this
    view (distorted pixels; NaN where unknown); ``whole[f]`` the whole-frame detections.
    Whole-frame and tile detection mixes up people who
    overlap and misses the bystander cut by the image edge; a crop centred on one person, at
    the scale the landmarker was trained for, fixes most of that. The pose in the crop closest
    to the guide is kept (the crop may hold a second person); a whole-frame detection wins
    instead when it is clearly closer to the guide (the crop's detector sometimes locks onto
    the other person when two overlap). Returns (frames, people, 33, 3)
    in full-frame pixels with MediaPipe's visibility, NaN where nothing fitting was found.
    """
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if (str(z["version"]) == DETECTOR_VERSION and z["guides"].shape == guides.shape
                    and np.allclose(z["guides"], guides, atol=0.5, equal_nan=True)):
                return z["landmarks"]
    import mediapipe as mp
    from genhmr.detection.task_bundle import ensure_task_bundle
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(ensure_task_bundle(None))),
        running_mode=vision.RunningMode.IMAGE, num_poses=3,
        min_pose_detection_confidence=0.3, min_pose_presence_confidence=0.3)
    out = np.full((*guides.shape[:3], 3), np.nan)
    capture = cv2.VideoCapture(str(video))
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        for f in range(guides.shape[0]):
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            for p in range(guides.shape[1]):
                g = guides[f, p]
                if np.isnan(g).any():
                    continue
                box = landmark_box(g, w, h, clip=False)
                inside = box.copy()
                inside[[0, 2]] = np.clip(inside[[0, 2]], 0, w)
                inside[[1, 3]] = np.clip(inside[[1, 3]], 0, h)
                if inside[2] - inside[0] < 8 or inside[3] - inside[1] < 8:
                    continue  # the person is outside this view
                x0, y0, side = square_crop(box)
                if side > 2 * max(w, h):
                    continue  # behind or right in front of the camera: no useful crop
                crop = crop_image(rgb, x0, y0, side)
                result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop))
                best, best_d = None, np.inf
                for pose in result.pose_landmarks:
                    lm = np.array([(q.x * side + x0, q.y * side + y0,
                                    q.visibility if q.visibility is not None else 0.0)
                                   for q in pose])
                    d = flip_distance(lm, g)
                    if d < best_d:
                        best, best_d = lm, d
                for lm in whole[f]:
                    d = flip_distance(lm.astype(np.float64), g)
                    if d < 0.7 * best_d:
                        best, best_d = lm.astype(np.float64), d
                if best is not None and best_d < 0.2 * (box[3] - box[1]):
                    out[f, p] = best
    capture.release()
    tmp = cache.with_suffix(".part.npz")
    np.savez_compressed(tmp, version=np.array(DETECTOR_VERSION), guides=guides, landmarks=out)
    os.replace(tmp, cache)
    return out


# ---------------------------------------------------------------------------------------------
# geometry


def triangulate(P: np.ndarray, uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Confidence-weighted DLT, batched: P (..., V, 3, 4), uv (..., V, J, 2), w (..., V, J).

    Returns (..., J, 3). Each DLT row is normalised before weighting, so a weight really is the
    share a view has in the least-squares solution (raw rows scale with the pixel coordinates).
    """
    P = np.asarray(P, dtype=np.float64)
    u = uv[..., 0][..., None]  # (..., V, J, 1)
    v = uv[..., 1][..., None]
    p0, p1, p2 = (P[..., None, i, :] for i in range(3))  # (..., V, 1, 4)
    rows = np.stack([u * p2 - p0, v * p2 - p1], axis=-2)  # (..., V, J, 2, 4)
    rows /= np.linalg.norm(rows, axis=-1, keepdims=True) + 1e-12
    rows *= w[..., None, None]
    rows = np.moveaxis(rows, -4, -3)  # (..., J, V, 2, 4)
    A = rows.reshape(*rows.shape[:-3], -1, 4)
    _, _, vt = np.linalg.svd(A)
    X = vt[..., -1, :]
    return X[..., :3] / np.where(np.abs(X[..., 3:]) < 1e-12, 1e-12, X[..., 3:])


def reproject(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of X (..., J, 3) by P (..., 3, 4): pixels (..., J, 2) and depth."""
    Xh = np.concatenate([X, np.ones((*X.shape[:-1], 1))], -1)
    x = Xh @ np.swapaxes(P, -1, -2)
    z = x[..., 2]
    return x[..., :2] / np.where(np.abs(z) < 1e-9, 1e-9, z)[..., None], z


def weighted_error(err: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Confidence-weighted mean over the last axis."""
    return (err * w).sum(-1) / np.maximum(w.sum(-1), 1e-9)


def metres_per_px(dets: np.ndarray) -> np.ndarray:
    """(n,) approximate metres per pixel at each of n (n, 33, >=2) detections.

    The body joints (nose to heels) of an adult span about 1.5 m, so the longer side of their
    extent gives the scale. Taken from the 2D detection rather than from a triangulated depth,
    which is ill-conditioned for views that face each other (cam01 and cam03 here: the epipole
    lies on the people) and turned small pixel residuals into large "metric" ones.
    """
    pts = dets[:, list(BODY), :2]
    extent = np.maximum(np.ptp(pts[..., 1], axis=1), np.ptp(pts[..., 0], axis=1))
    return 1.5 / np.maximum(extent, 20.0)


def pair_costs(Pa: np.ndarray, Pb: np.ndarray, da: np.ndarray, db: np.ndarray,
               min_conf: float = 0.3, joint_errors: bool = False,
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-view consistency of every detection pair: (na, nb) mean reprojection error, metres.

    The body joints of detection i (view a) and j (view b) are triangulated from the two views
    and reprojected; for two views this error measures the distance to the epipolar lines, so a
    wrong pairing (or a wrong time offset, for moving limbs) shows up as a large error. Errors
    are in metres at the person (:func:`metres_per_px`): MediaPipe's errors grow with the
    person's size in the image, so a fixed pixel gate would reject close people and accept
    far-away wrong pairs. MediaPipe
    often swaps left and right on people seen from behind, in one view and not the other, so each
    left/right joint pair takes the better of the two labellings (joints are triangulated
    independently, so this is exact). Pairs with fewer than 5 joints confident in both views, or
    behind a camera, cost inf. With ``joint_errors`` also return the (na, nb, len(BODY)) per-joint
    errors and confidences.
    """
    na, nb = len(da), len(db)
    if na == 0 or nb == 0:
        empty = np.full((na, nb), np.inf)
        if joint_errors:
            return empty, np.zeros((na, nb, len(BODY))), np.zeros((na, nb, len(BODY)))
        return empty
    J = list(BODY)
    P = np.stack([Pa, Pb])
    sa, sb = metres_per_px(da), metres_per_px(db)
    errs, confs = [], []
    for flip in (False, True):
        A = np.broadcast_to(da[:, None, J], (na, nb, len(J), 3))
        B = np.broadcast_to(db[None, :, FLIP[J] if flip else J], (na, nb, len(J), 3))
        conf = np.minimum(A[..., 2], B[..., 2])
        w = np.clip(conf, 0.05, 1.0)
        uv = np.stack([A[..., :2], B[..., :2]], axis=2)  # (na, nb, 2, J, 2)
        X = triangulate(P, uv, np.stack([w, w], axis=2))
        pa, za = reproject(Pa, X)
        pb, zb = reproject(Pb, X)
        err = 0.5 * (np.linalg.norm(pa - A[..., :2], axis=-1) * sa[:, None, None]
                     + np.linalg.norm(pb - B[..., :2], axis=-1) * sb[None, :, None])
        err[(za <= 0) | (zb <= 0)] = 10.0
        errs.append(err)
        confs.append(conf)
    # per left/right pair (and per unpaired joint), the labelling with the smaller error
    partner = np.array([J.index(FLIP[j]) for j in J])
    pair_err = [e + e[..., partner] for e in errs]
    use_flip = pair_err[1] < pair_err[0]
    err = np.where(use_flip, errs[1], errs[0])
    conf = np.where(use_flip, confs[1], confs[0])
    good = conf >= min_conf
    cost = weighted_error(np.minimum(err, 10.0), np.clip(conf, 0.05, 1.0) * good)
    cost[good.sum(-1) < 5] = np.inf
    if joint_errors:
        return cost, err, conf
    return cost


PAIRS = [(j, int(FLIP[j])) for j in range(NUM_JOINTS) if FLIP[j] > j]  # left/right joint pairs


@dataclasses.dataclass
class Person3D:
    """One person at one time step.

    Attributes:
        members: view index -> detection index in that view.
        X: (33, 3) joints in the world, metres.
        err: (33,) weighted mean reprojection error over the views kept for each joint, metres
            at the joint (see :func:`pair_costs`).
        err_px: (33,) the same in pixels.
        nviews: (33,) number of views kept for each joint.
    """

    members: dict[int, int]
    X: np.ndarray
    err: np.ndarray
    err_px: np.ndarray
    nviews: np.ndarray

    @property
    def cost(self) -> float:
        """Mean reprojection error of the body joints (metres at the joint)."""
        return float(np.mean(self.err[list(BODY)]))


def fit_person(Ps: np.ndarray, obs: list[np.ndarray], members: dict[int, int],
               outlier_m: float = 0.06) -> Person3D:
    """Triangulate one person from its detections in several views, robustly.

    ``Ps`` (V, 3, 4); ``obs[v]`` the (n, 33, 3) undistorted detections of view v.
    Left/right labels: the view with the most confident torso is the
    reference and, for every left/right joint pair, the other views take the labelling (of the
    2^(V-1) combinations) that triangulates with the smallest error. Then, joint by joint, the
    view that disagrees most is dropped while its error exceeds ``outlier_m`` (and 2.5x the
    others'), down to two views: RANSAC with an exhaustive, tiny hypothesis set, which rejects
    the occluded or mislabelled observations that MediaPipe reports with confidence.
    """
    views = sorted(members)
    ref = max(views, key=lambda v: float(obs[v][members[v]][[11, 12, 23, 24], 2].mean()))
    order = [ref, *[v for v in views if v != ref]]
    K = np.stack([obs[v][members[v]] for v in order])  # (V, 33, 3)
    P = Ps[order]
    f = 1.0 / metres_per_px(K)  # (V,) pixels per metre at each detection
    V = len(order)
    flips = np.zeros((V, len(PAIRS)), dtype=bool)
    combos = np.array([[0] + [(c >> i) & 1 for i in range(V - 1)] for c in range(2 ** (V - 1))],
                      dtype=bool)  # (C, V)
    for pi, (jl, jr) in enumerate(PAIRS):
        lab = np.where(combos[:, :, None], np.array([jr, jl]), np.array([jl, jr]))  # (C, V, 2)
        obs_c = K[np.arange(V)[None, :, None], lab]  # (C, V, 2, 3)
        w = np.clip(obs_c[..., 2], 0.05, 1.0)
        X = triangulate(P[None], obs_c[..., :2], w)  # (C, 2, 3)
        proj, z = reproject(P[None], X[:, None])  # (C, V, 2, 2)
        e = np.linalg.norm(proj - obs_c[..., :2], axis=-1) / f[None, :, None]
        total = (np.minimum(e, 1.0) * w).sum((1, 2))
        flips[:, pi] = combos[int(np.argmin(total))]
    Kf = K.copy()
    for pi, (jl, jr) in enumerate(PAIRS):
        sw = flips[:, pi]
        Kf[sw, jl], Kf[sw, jr] = K[sw, jr], K[sw, jl]
    uv, w = Kf[..., :2], np.clip(Kf[..., 2], 0.05, 1.0)  # (V, 33, 2), (V, 33)
    keep = np.ones((V, NUM_JOINTS), dtype=bool)
    cols = np.arange(NUM_JOINTS)
    for _ in range(max(V - 2, 0)):
        X = triangulate(P, uv, w * keep)
        proj, z = reproject(P, X[None])
        e = np.linalg.norm(proj - uv, axis=-1) / f[:, None]  # (V, 33)
        e = np.where(keep, np.where(z > 0, e, 10.0), -1.0)
        worst = np.argmax(e, axis=0)
        ew = e[worst, cols]
        rest = np.where(keep, e, np.nan)
        rest[worst, cols] = np.nan
        with np.errstate(all="ignore"):
            med = np.nan_to_num(np.nanmedian(rest, axis=0), nan=0.0)
        drop = (keep.sum(0) > 2) & (ew > outlier_m) & (ew > 2.5 * med)
        if not drop.any():
            break
        keep[worst[drop], cols[drop]] = False
    X = triangulate(P, uv, w * keep)
    proj, z = reproject(P, X[None])
    e_px = np.linalg.norm(proj - uv, axis=-1)
    e_m = e_px / f[:, None]
    wk = w * keep
    norm = np.maximum(wk.sum(0), 1e-9)
    return Person3D(dict(members), X, (e_m * wk).sum(0) / norm, (e_px * wk).sum(0) / norm,
                    keep.sum(0))


def detection_error(P: np.ndarray, X: np.ndarray, det: np.ndarray) -> float:
    """How well one detection (33, 3) fits a triangulated person X (33, 3): weighted mean error
    over the body joints in metres at the joint, each left/right pair taking its better
    labelling."""
    proj, z = reproject(P, X)
    if np.median(z[list(BODY)]) <= 0:
        return np.inf
    scale = float(metres_per_px(det[None])[0])
    e0 = np.linalg.norm(proj - det[:, :2], axis=-1) * scale
    e1 = np.linalg.norm(proj - det[FLIP, :2], axis=-1) * scale
    swap = (e1 + e1[FLIP]) < (e0 + e0[FLIP])
    e = np.where(swap, e1, e0)
    c = np.where(swap, det[FLIP, 2], det[:, 2])
    J = list(BODY)
    good = c[J] >= 0.3
    if good.sum() < 5:
        return np.inf
    return float(weighted_error(np.minimum(e[J], 1.0), np.clip(c[J], 0.05, 1) * good))


def associate(Ps: np.ndarray, obs: list[np.ndarray | None],
              pair_m: float = 0.08, add_m: float = 0.10) -> list[Person3D]:
    """Group one time step's detections across views into people (see the module docstring).

    Greedy on the most consistent view pairs first: a pair seeds a person, the other views
    contribute the detection that fits the seed's triangulation best (if within ``add_m``),
    and a detection serves one person only. ``obs[v]`` is None when view v has no frame at this
    time (offsets) and an empty array when it has no detection.
    """
    V = len(obs)
    edges: list[tuple[float, int, int, int, int]] = []
    for a in range(V):
        for b in range(a + 1, V):
            oa, ob = obs[a], obs[b]
            if oa is None or ob is None or len(oa) == 0 or len(ob) == 0:
                continue
            C = pair_costs(Ps[a], Ps[b], oa, ob)
            for i, j in zip(*np.nonzero(pair_m > C), strict=True):
                edges.append((float(C[i, j]), a, int(i), b, int(j)))
    edges.sort()
    used: set[tuple[int, int]] = set()
    people: list[Person3D] = []
    for _, a, i, b, j in edges:
        if (a, i) in used or (b, j) in used:
            continue
        members = {a: i, b: j}
        person = fit_person(Ps, obs, members)  # type: ignore[arg-type]
        while True:
            best: tuple[float, int, int] | None = None
            for v in range(V):
                ov = obs[v]
                if v in members or ov is None:
                    continue
                for k in range(len(ov)):
                    if (v, k) in used:
                        continue
                    e = detection_error(Ps[v], person.X, ov[k])
                    if e < add_m and (best is None or e < best[0]):
                        best = (e, v, k)
            if best is None:
                break
            members[best[1]] = best[2]
            person = fit_person(Ps, obs, members)  # type: ignore[arg-type]
        used |= set(members.items())
        people.append(person)
    return people


def torso_center(X: np.ndarray) -> np.ndarray:
    """Mean of shoulders and hips: the steadiest point of a triangulated skeleton."""
    return X[..., [11, 12, 23, 24], :].mean(-2)


def link_tracks(people: list[list[Person3D]], max_cost_m: float = 0.05, max_gap: int = 10,
                gate_m: float = 0.35, per_frame_m: float = 0.03) -> list[dict[int, Person3D]]:
    """Link per-time-step people into tracks by 3D continuity of the torso centre.

    Hungarian per time step between live tracks (last seen at most ``max_gap`` steps ago) and
    the new people, gated at ``gate_m`` plus ``per_frame_m`` per missed step; people whose
    reprojection error exceeds ``max_cost_m`` are ignored (wrong associations). Then tracks that
    do not overlap in time and meet in space are merged. Longest tracks first.
    """
    from scipy.optimize import linear_sum_assignment

    tracks: list[dict[int, Person3D]] = []
    for tau, found in enumerate(people):
        found = [p for p in found if p.cost <= max_cost_m]
        live = [t for t in tracks if tau - max(t) <= max_gap]
        C = np.full((len(live), len(found)), np.inf)
        for i, t in enumerate(live):
            last = max(t)
            for j, p in enumerate(found):
                d = float(np.linalg.norm(torso_center(t[last].X) - torso_center(p.X)))
                if d <= gate_m + per_frame_m * (tau - last - 1):
                    C[i, j] = d
        taken: set[int] = set()
        if C.size:
            r, c = linear_sum_assignment(np.where(np.isfinite(C), C, 1e6))
            for i, j in zip(r, c, strict=True):
                if np.isfinite(C[i, j]):
                    live[i][tau] = found[j]
                    taken.add(j)
        # a duplicate of a person already tracked (another view pair's triangulation of the
        # same person) must not start a track of its own
        for j, p in enumerate(found):
            if j in taken:
                continue
            near = [t for t in live if tau in t
                    and np.linalg.norm(torso_center(t[tau].X) - torso_center(p.X)) < gate_m]
            if not near:
                tracks.append({tau: p})
    merged = True
    while merged:
        merged = False
        tracks.sort(key=len, reverse=True)
        for i in range(len(tracks)):
            for j in range(len(tracks)):
                a, b = tracks[i], tracks[j]
                if i == j or max(a) >= min(b):
                    continue
                gap = min(b) - max(a)
                d = np.linalg.norm(torso_center(a[max(a)].X) - torso_center(b[min(b)].X))
                if gap <= 3 * max_gap and d <= gate_m + per_frame_m * gap:
                    a.update(b)
                    del tracks[j]
                    merged = True
                    break
            if merged:
                break
    tracks.sort(key=len, reverse=True)
    return tracks


def fill_track(track: dict[int, np.ndarray], n: int) -> np.ndarray:
    """(n, 33, 3) joints from a sparse {time: (33, 3)} track: linear interpolation inside,
    the nearest known pose held outside (used only to place the crops of the second pass)."""
    known = np.array(sorted(track))
    vals = np.stack([track[k] for k in known])
    out = np.empty((n, *vals.shape[1:]))
    flat = vals.reshape(len(known), -1)
    for c in range(flat.shape[1]):
        out.reshape(n, -1)[:, c] = np.interp(np.arange(n), known, flat[:, c])
    return out


def refine_rotations(cams: list[Camera], obs: list[np.ndarray], iterations: int = 6,
                     ) -> tuple[list[Camera], list[float]]:
    """Small orientation corrections of the cameras from the people themselves.

    ``obs[v]`` (T, people, 33, 3) undistorted, identity-labelled detections at common times.
    Alternates triangulation (all views) and, per camera, a robust (Huber) least-squares fit of a
    rotation about the camera centre to the confident joints; positions and intrinsics are kept.
    Why: with the published calibration, the view left out of a 3-view triangulation is missed
    by 20-40 px (cam01, cam03) even for confident joints; a rotation of well under a degree per
    camera removes most of it. Returns the cameras and each one's total correction in degrees.
    """
    from scipy.optimize import least_squares

    J = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    base = list(cams)
    rvecs = [np.zeros(3) for _ in cams]
    for _ in range(iterations):
        Ps = np.stack([c.P for c in cams])
        pairs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in cams]
        for t in range(obs[0].shape[0]):
            for p in range(obs[0].shape[1]):
                views = [v for v in range(len(cams)) if not np.isnan(obs[v][t, p, 0, 0])]
                if len(views) < 3:
                    continue
                person = fit_person(Ps, [obs[v][t, p][None] if v in views else None
                                         for v in range(len(cams))],  # type: ignore[misc]
                                    dict.fromkeys(views, 0))
                for v in views:
                    det = obs[v][t, p]
                    proj, _ = reproject(Ps[v], person.X)
                    for j in J:
                        if person.err[j] > 0.05 or person.nviews[j] < 3:
                            continue
                        near = (np.linalg.norm(det[j, :2] - proj[j])
                                <= np.linalg.norm(det[FLIP[j], :2] - proj[j]))
                        q = det[j] if near else det[FLIP[j]]
                        if q[2] > 0.7:
                            pairs[v].append((person.X[j], q[:2]))
        new = []
        for v, cam in enumerate(cams):
            X = np.array([a for a, _ in pairs[v]])
            uv = np.array([b for _, b in pairs[v]])
            centre = cam.center

            def residual(r: np.ndarray, cam: Camera = cam, X: np.ndarray = X,
                         uv: np.ndarray = uv, centre: np.ndarray = centre) -> np.ndarray:
                R = cv2.Rodrigues(r)[0] @ cam.R
                P = cam.K @ np.hstack([R, (-R @ centre)[:, None]])
                return (reproject(P, X)[0] - uv).ravel()

            sol = least_squares(residual, np.zeros(3), loss="huber", f_scale=15.0)
            R = cv2.Rodrigues(sol.x)[0] @ cam.R
            new.append(dataclasses.replace(cam, R=R, t=-R @ centre))
        cams = new
    degrees = []
    for cam, old in zip(cams, base, strict=True):
        rel = cam.R @ old.R.T
        degrees.append(float(np.degrees(np.arccos(np.clip((np.trace(rel) - 1) / 2, -1, 1)))))
    del rvecs
    return cams, degrees


def align(obs: list[np.ndarray], offsets: list[int]) -> tuple[list[np.ndarray], int]:
    """Put each view's (frames, people, 33, 3) observations on the common time axis.

    View v's frame k is time ``k - offsets[v]``; times run from the earliest to the latest frame
    of any view. Returns the aligned arrays (NaN where a view has no frame) and the first time.
    """
    n = obs[0].shape[0]
    t0 = min(-o for o in offsets)
    t1 = max(n - 1 - o for o in offsets)
    out = []
    for view, o in zip(obs, offsets, strict=True):
        arr = np.full((t1 - t0 + 1, *view.shape[1:]), np.nan)
        for k in range(n):
            arr[k - o - t0] = view[k]
        out.append(arr)
    return out, t0


def leave_one_out_curve(Ps: np.ndarray, obs: list[np.ndarray], offsets: list[int], v: int,
                        shifts: np.ndarray, cap_px: float = 60.0) -> np.ndarray:
    """Mean px error of view v's confident joints against the other views' triangulation, for
    each extra shift of view v. The other views fix the 3D (at least 2 of them, well fitted);
    view v's detections at frame ``t + offsets[v] + s`` are compared with its projection."""
    others = [u for u in range(len(obs)) if u != v]
    aligned, t0 = align(obs, offsets)
    curve = np.zeros(len(shifts))
    counts = np.zeros(len(shifts))
    n = obs[v].shape[0]
    for ti in range(aligned[0].shape[0]):
        for p in range(aligned[0].shape[1]):
            views = [u for u in others if not np.isnan(aligned[u][ti, p, 0, 0])]
            if len(views) < 2:
                continue
            person = fit_person(Ps, [aligned[u][ti, p][None] if u in views else None
                                     for u in range(len(obs))],  # type: ignore[misc]
                                dict.fromkeys(views, 0))
            if person.cost > 0.04:
                continue
            proj, _ = reproject(Ps[v], person.X)
            J = np.array(BODY)
            for si, sh in enumerate(shifts):
                k = ti + t0 + offsets[v] + int(sh)
                if not 0 <= k < n or np.isnan(obs[v][k, p, 0, 0]):
                    continue
                det = obs[v][k, p]
                e0 = np.linalg.norm(det[:, :2] - proj, axis=-1)
                e1 = np.linalg.norm(det[FLIP, :2] - proj, axis=-1)
                swap = (e1 + e1[FLIP]) < (e0 + e0[FLIP])
                e = np.where(swap, e1, e0)[J]
                conf = np.where(swap, det[FLIP, 2], det[:, 2])[J]
                good = (conf > 0.7) & (person.err[J] < 0.03)
                curve[si] += np.minimum(e[good], cap_px).sum()
                counts[si] += good.sum()
    return curve / np.maximum(counts, 1)


def estimate_offsets(Ps: np.ndarray, obs: list[np.ndarray], offsets: list[int],
                     max_step: int = 5, rounds: int = 3) -> tuple[list[int], dict[str, list]]:
    """Frame offsets (view v's frame = time + o_v, o_cam01 = 0) by leave-one-out consistency.

    Each view in turn is shifted against the triangulation of the others; the shift with the
    smallest error is kept, until nothing changes. Moving limbs make a wrong shift costly (the
    man jumps and kicks); standing people do not mind. Also returns the last error curves and a
    sub-frame estimate (parabola through the minimum) per view, for the record.
    """
    shifts = np.arange(-max_step, max_step + 1)
    offsets = list(offsets)
    info: dict[str, list] = {}
    for _ in range(rounds):
        changed = False
        for v in range(len(obs)):
            curve = leave_one_out_curve(Ps, obs, offsets, v, shifts)
            i = int(np.argmin(curve))
            sub = 0.0
            if 0 < i < len(curve) - 1:
                den = curve[i - 1] - 2 * curve[i] + curve[i + 1]
                sub = float(0.5 * (curve[i - 1] - curve[i + 1]) / den) if den > 0 else 0.0
            info[f"view{v}"] = [round(float(x), 2) for x in curve]
            info[f"view{v}_subframe"] = [round(offsets[v] + int(shifts[i]) + sub, 2)]
            if shifts[i] != 0:
                offsets[v] += int(shifts[i])
                changed = True
        offsets = [o - offsets[0] for o in offsets]
        if not changed:
            break
    return offsets, info


def triangulate_people(Ps: np.ndarray, aligned: list[np.ndarray], drop_m: float = 0.10,
                       max_cost_m: float = 0.06) -> dict[str, np.ndarray]:
    """Final triangulation of every labelled person at every time from the views that see them.

    A view whose detection disagrees with the others (error over ``drop_m`` and twice the
    median of the others) is dropped while three or more remain; a fit whose mean error still
    exceeds ``max_cost_m`` is rejected. Returns X (T, P, 33, 3) NaN where not triangulated, the
    per-joint error (metres and px), views used (T, P, V) and per-joint view counts.
    """
    T, Pn = aligned[0].shape[:2]
    V = len(aligned)
    X = np.full((T, Pn, NUM_JOINTS, 3), np.nan)
    err = np.full((T, Pn, NUM_JOINTS), np.nan)
    err_px = np.full((T, Pn, NUM_JOINTS), np.nan)
    nviews = np.zeros((T, Pn, NUM_JOINTS), dtype=np.int8)
    used = np.zeros((T, Pn, V), dtype=bool)
    for t in range(T):
        for p in range(Pn):
            views = [v for v in range(V) if not np.isnan(aligned[v][t, p, 0, 0])]
            while len(views) >= 2:
                obs = [aligned[v][t, p][None] if v in views else None for v in range(V)]
                person = fit_person(Ps, obs, dict.fromkeys(views, 0))  # type: ignore[arg-type]
                if len(views) < 3:
                    break
                e = np.array([detection_error(Ps[v], person.X, aligned[v][t, p]) for v in views])
                worst = int(np.argmax(e))
                if e[worst] > drop_m and e[worst] > 2 * np.median(np.delete(e, worst)):
                    del views[worst]
                    continue
                break
            if len(views) < 2 or person.cost > max_cost_m:
                continue
            X[t, p], err[t, p], err_px[t, p] = person.X, person.err, person.err_px
            nviews[t, p] = person.nviews
            used[t, p, views] = True
    return {"X": X, "err": err, "err_px": err_px, "nviews": nviews, "used": used}


LAB_UP = np.array([0.0, 0.0, 1.0])  # the Qualisys lab frame: z up
JOINT_ERR_M = 0.05  # a joint triangulated worse than this is not trusted


def consistent_sides(fit: dict[str, np.ndarray]) -> np.ndarray:
    """Give every person the same left and right over time, in place; returns (T, P) the time
    steps whose labels were exchanged.

    :func:`fit_person` takes its left/right labels from the view with the most confident torso
    at each time step, and MediaPipe, in that view, now and then labels a person seen from the
    front as seen from the back. Triangulated, such a step is the right body under the wrong
    names: a mirror-image person whose nose points behind them. The first truth had the man
    turned round at steps 44-45 and 52-63, which scored every method wrong there. The
    triangulated nose (not a left/right label) says which way the body faces, and the labels
    must also be continuous over time (``genhmr_core.side_consistency.side_swaps_3d``).
    """
    index = mediapipe_to_keypoints_index()
    X = fit["X"]
    swaps = np.zeros(X.shape[:2], dtype=bool)
    for p in range(X.shape[1]):
        known = ~np.isnan(X[:, p, 0, 0])
        trusted = (fit["err"][:, p][:, index] <= JOINT_ERR_M).astype(np.float64)
        swaps[:, p] = side_swaps_3d(X[:, p][:, index], known, LAB_UP, trusted)
    for key in ("X", "err", "err_px", "nviews"):
        fit[key][swaps] = fit[key][swaps][:, FLIP]
    return swaps


def smooth_tracks(X: np.ndarray, err: np.ndarray, max_gap: int = 15, joint_err_m: float = 0.05,
                  sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Clean (T, P, 33, 3) joints over time: drop badly fitted joints, interpolate gaps of up to
    ``max_gap`` time steps (linear; 60 fps, so 0.25 s), smooth with a Gaussian of ``sigma`` steps
    (removes MediaPipe's frame-to-frame jitter; a kick at 60 fps spans many more steps).

    A joint rejected for its error keeps its raw value when it cannot be interpolated (a foot
    seen well by a single view is still roughly where the triangulation puts it, and dropping it
    would shrink the box). Returns the joints and a (T, P) mask of interpolated time steps.
    """
    T, Pn = X.shape[:2]
    frame_ok = ~np.isnan(X[:, :, 0, 0])
    clean = np.where((err > joint_err_m)[..., None], np.nan, X)
    out = np.full_like(X, np.nan)
    filled = np.zeros((T, Pn), dtype=bool)
    t = np.arange(T)
    kernel_t = np.arange(-3, 4)
    kernel = np.exp(-0.5 * (kernel_t / sigma) ** 2)
    for p in range(Pn):
        known = np.nonzero(frame_ok[:, p])[0]
        if len(known) == 0:
            continue
        # time steps covered: between two fitted steps at most max_gap apart
        cover = np.zeros(T, dtype=bool)
        cover[known] = True
        for a, b in itertools.pairwise(known):
            if b - a <= max_gap + 1:
                cover[a:b + 1] = True
        filled[:, p] = cover & ~frame_ok[:, p]
        for j in range(NUM_JOINTS):
            for c in range(3):
                series = clean[:, p, j, c]
                good = ~np.isnan(series)
                if good.sum() == 0:
                    series = X[:, p, j, c]
                    good = ~np.isnan(series)
                vals = np.interp(t, t[good], series[good])
                raw = X[:, p, j, c]
                # where the clean value is missing but a raw fit exists and no clean neighbour
                # is within max_gap, keep the raw value
                dist = np.array([np.min(np.abs(t[good] - i)) for i in t])
                vals = np.where((dist > max_gap) & ~np.isnan(raw), raw, vals)
                num = np.convolve(np.where(cover, vals, 0.0), kernel, mode="same")
                den = np.convolve(cover.astype(float), kernel, mode="same")
                out[:, p, j, c] = np.where(cover, num / np.maximum(den, 1e-9), np.nan)
    return out, filled


def hold_ends(X: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Fill each person's missing time steps (T, P, 33, 3) with the nearest known pose, at most
    ``limit`` steps away (all when None)."""
    out = X.copy()
    for p in range(X.shape[1]):
        known = np.nonzero(~np.isnan(X[:, p, 0, 0]))[0]
        if len(known) == 0:
            continue
        for t in range(X.shape[0]):
            if np.isnan(X[t, p, 0, 0]):
                k = known[np.argmin(np.abs(known - t))]
                if limit is None or abs(k - t) <= limit:
                    out[t, p] = X[k, p]
    return out


# occluder silhouette: capsules (joint a, joint b, radius in metres) and the head
CAPSULES = (
    (11, 23, 0.10), (12, 24, 0.10), (11, 24, 0.10), (12, 23, 0.10), (11, 12, 0.07),
    (23, 24, 0.09), (11, 13, 0.05), (13, 15, 0.045), (12, 14, 0.05), (14, 16, 0.045),
    (15, 19, 0.04), (16, 20, 0.04), (23, 25, 0.08), (25, 27, 0.06), (24, 26, 0.08),
    (26, 28, 0.06), (27, 31, 0.045), (28, 32, 0.045), (7, 8, 0.10), (0, 7, 0.09), (0, 8, 0.09),
)


def visibility(cam: Camera, people: list[np.ndarray], width: int, height: int,
               margin_m: float = 0.10) -> list[float]:
    """Share of each person's body joints (nose, arms, legs, feet) that are in the image and not
    hidden by a nearer person.

    Each other person is drawn as capsules around their limbs and torso (radii above, scaled by
    focal length / depth); a joint is hidden when it falls inside a capsule whose surface there
    is at least ``margin_m`` nearer to the camera. Self-occlusion is not counted (the detector
    is expected to find a person who shows only their back). ``people`` are (33, 3) world joints.
    """
    proj = [cam.project(X) for X in people]
    f = float(cam.K[0, 0])
    out = []
    J = list(BODY)
    for i, (uv, z) in enumerate(proj):
        pts, depth = uv[J], z[J]
        inside = ((pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0)
                  & (pts[:, 1] < height) & (depth > 0.3))
        hidden = np.zeros(len(J), dtype=bool)
        for k, (ouv, oz) in enumerate(proj):
            if k == i:
                continue
            for a, b, r in CAPSULES:
                if min(oz[a], oz[b]) < 0.3:
                    continue  # behind or at the camera: projects nowhere meaningful
                pa, pb = ouv[a], ouv[b]
                seg = pb - pa
                L2 = float(seg @ seg) + 1e-9
                s = np.clip(((pts - pa) @ seg) / L2, 0, 1)
                closest = pa + s[:, None] * seg
                zc = oz[a] + s * (oz[b] - oz[a])
                rad = r * f / np.maximum(zc, 0.1)
                d = np.linalg.norm(pts - closest, axis=1)
                hidden |= (d < rad) & (zc < depth - margin_m)
        out.append(float((inside & ~hidden).sum() / len(J)))
    return out


def describe(X: np.ndarray, used: np.ndarray) -> list[str]:
    """Names for the three tracked people (checked by eye on the contact sheets): the bystander
    stands outside the capture volume, so fewer views see her than anyone else (``used``:
    (T, P, V) views used per time step); of the other two, the man jumps and kicks, so his
    ankles have the larger range of height."""
    seen = used.sum((0, 2))
    ankle = [float(np.nanpercentile(X[:, p, [27, 28], 2], 98) - np.nanpercentile(
        X[:, p, [27, 28], 2], 2)) for p in range(X.shape[1])]
    names = ["person"] * X.shape[1]
    bystander = int(np.argmin(seen))
    rest = [p for p in range(X.shape[1]) if p != bystander]
    man = max(rest, key=lambda p: ankle[p])
    names[bystander] = "bystander (masked, varsity jacket; left edge of cam01, background of cam02)"
    names[man] = "man (bare-chested, turquoise cap; jumps and kicks on the force-plate walkway)"
    for p in rest:
        if p != man:
            names[p] = "woman (white T-shirt, jeans; walks beside the walkway)"
    return names


def render_sheet(video: Path, truth: dict, frames: list[int], path: Path) -> None:
    """A contact sheet of some frames of one view with the truth boxes, ids and visibility."""
    capture = cv2.VideoCapture(str(video))
    colours = [(0, 0, 255), (0, 200, 0), (255, 0, 0), (0, 200, 255)]
    tiles = []
    k = 0
    while frames and k <= max(frames):
        ok, img = capture.read()
        if not ok:
            break
        if k in frames:
            for b in truth["boxes"]:
                if b["frame"] != k:
                    continue
                c = colours[b["id"] % len(colours)]
                x0, y0, x1, y1 = (round(v) for v in b["box"])
                cv2.rectangle(img, (x0, y0), (x1, y1), c, 6)
                cv2.putText(img, f"{b['id']} v{b['visible']:.2f}", (x0 + 8, max(y0 + 60, 60)),
                            cv2.FONT_HERSHEY_SIMPLEX, 2.0, c, 5)
            cv2.putText(img, f"{Path(truth['clip']).stem} f{k}", (20, img.shape[0] - 30),
                        cv2.FONT_HERSHEY_SIMPLEX, 2.5, (255, 255, 255), 6)
            tiles.append(cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3)))
        k += 1
    capture.release()
    if tiles:
        cv2.imwrite(str(path), np.hstack(tiles))


def undistort_all(cam: Camera, arr: np.ndarray) -> np.ndarray:
    """Undistort the pixel coordinates of any (..., 33, 3) array with NaNs."""
    out = np.array(arr, dtype=np.float64)
    ok = ~np.isnan(out[..., 0])
    if ok.any():
        out[..., :2][ok] = cam.undistort(out[..., :2][ok])
    return out


def first_pass(cams: list[Camera], dets: list[ViewDetections], n_frames: int,
               ) -> tuple[np.ndarray, list[int]]:
    """Rough 3D people from the whole-frame detections (views taken as synchronised): the
    three longest 3D tracks, interpolated over every frame. Only used to place the crops."""
    Ps = np.stack([c.P for c in cams])
    und = [[undistort_all(c, p) for p in d.people] for c, d in zip(cams, dets, strict=True)]
    people = [associate(Ps, [u[t] for u in und]) for t in range(n_frames)]
    tracks = link_tracks(people)
    keep = [t for t in tracks if len(t) >= 0.2 * n_frames][:3]
    X = np.stack([fill_track({k: v.X for k, v in t.items()}, n_frames) for t in keep], 1)
    return X, [len(t) for t in keep]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    cache_root = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
    media = Path(os.environ.get("GENHMR_MEDIA_DIR", cache_root / "media"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip-dir", type=Path, default=media / CLIP_DIR)
    ap.add_argument("--cache", type=Path, default=cache_root / "pose2sim_truth",
                    help="where the 2D detections are cached")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "truth")
    ap.add_argument("--views", nargs="*", default=list(VIEWS), help=argparse.SUPPRESS)
    ap.add_argument("--detect-only", action="store_true", help="only fill the detection cache")
    ap.add_argument("--sheets", type=Path, default=None,
                    help="also write a contact sheet per view (boxes + ids) into this folder")
    args = ap.parse_args(argv)
    t_start = time.time()
    dets = []
    for name in args.views:
        print(f"[truth] detecting {name} (cached in {args.cache})", flush=True)
        dets.append(detect_view(args.clip_dir / "videos" / f"{name}.mp4",
                                args.cache / f"detections_{name}.npz", name))
    if args.detect_only:
        return 0
    if list(args.views) != list(VIEWS):
        raise SystemExit("--views is only for --detect-only")
    published = read_qca(args.clip_dir / "calibration" / "Calib.qca.txt")
    n_frames = len(dets[0].people)
    width, height = dets[0].size

    # pass 1: rough people from whole-frame detections; then crops around each person, twice
    X_guide, lengths = first_pass(published, dets, n_frames)
    t0_guide = 0
    print(f"[truth] first pass: {X_guide.shape[1]} people tracked in {lengths} frames",
          flush=True)
    cams, offsets = list(published), [0] * len(published)
    degrees: list[float] = []
    info: dict[str, list] = {}
    for it in range(2):
        crops = []
        for v, cam in enumerate(cams):
            ti = np.arange(n_frames) - offsets[v] - t0_guide
            ok = (ti >= 0) & (ti < X_guide.shape[0])
            guides = np.full((n_frames, X_guide.shape[1], NUM_JOINTS, 2), np.nan)
            guides[ok], depth = cam.project(X_guide[ti[ok]])
            guides[ok] = np.where((np.median(depth, -1) < 0.3)[..., None, None], np.nan,
                                  guides[ok])
            crops.append(detect_crops(args.clip_dir / "videos" / f"{cam.name}.mp4", guides,
                                      dets[v].people, args.cache / f"crops{it}_{cam.name}.npz"))
        found = {c.name: (~np.isnan(o[:, :, 0, 0])).sum(0).tolist()
                 for c, o in zip(cams, crops, strict=True)}
        print(f"[truth] pass {it + 2}: detections per view and person: {found}", flush=True)
        if it == 0:
            # calibration touch-up and time offsets, alternated
            for _ in range(3):
                aligned, _ = align([undistort_all(c, o) for c, o in zip(published, crops,
                                                                        strict=True)], offsets)
                cams, degrees = refine_rotations(published, aligned)
                obs = [undistort_all(c, o) for c, o in zip(cams, crops, strict=True)]
                new, info = estimate_offsets(np.stack([c.P for c in cams]), obs, offsets)
                print(f"[truth] offsets {new}, rotation corrections "
                      f"{np.round(degrees, 2).tolist()} deg", flush=True)
                if new == offsets:
                    break
                offsets = new
        obs = [undistort_all(c, o) for c, o in zip(cams, crops, strict=True)]
        Ps = np.stack([c.P for c in cams])
        aligned, t0 = align(obs, offsets)
        fit = triangulate_people(Ps, aligned)
        swapped = consistent_sides(fit)
        print(f"[truth] pass {it + 2}: left/right exchanged at {swapped.sum(0).tolist()} time "
              "steps per person", flush=True)
        X, filled = smooth_tracks(fit["X"], fit["err"])
        X_guide, t0_guide = hold_ends(X), t0
    # the first and last steps may be seen by one view only (offsets): hold the nearest pose
    held = hold_ends(X, limit=2)
    filled |= np.isnan(X[:, :, 0, 0]) & ~np.isnan(held[:, :, 0, 0])
    X = held
    names = describe(X, fit["used"])
    rank = {"man": 0, "woman": 1, "bystander": 2}
    order = sorted(range(len(names)), key=lambda p: rank.get(names[p].split()[0], 3))
    X, filled, swapped = X[:, order], filled[:, order], swapped[:, order]
    for key in fit:
        fit[key] = fit[key][:, order]
    names = [names[p] for p in order]
    raw_obs = [o[:, order] for o in crops]

    # quality: per view, final (smoothed) joints against that view's own crop detections
    quality: dict[str, dict] = {}
    for v, cam in enumerate(cams):
        errs = []
        for k in range(n_frames):
            ti = k - offsets[v] - t0
            for p in range(X.shape[1]):
                det = raw_obs[v][k, p]
                if np.isnan(X[ti, p, 0, 0]) or np.isnan(det[0, 0]):
                    continue
                uv, _ = cam.project(X[ti, p])
                e0 = np.linalg.norm(det[:, :2] - uv, axis=-1)
                e1 = np.linalg.norm(det[FLIP, :2] - uv, axis=-1)
                swap = (e1 + e1[FLIP]) < (e0 + e0[FLIP])
                e = np.where(swap, e1, e0)[list(BODY)]
                conf = np.where(swap, det[FLIP, 2], det[:, 2])[list(BODY)]
                errs += e[conf > 0.5].tolist()
        used = fit["used"][:, :, v]
        quality[cam.name] = {
            "offset": offsets[v],
            "reprojection_px_mean": round(float(np.mean(errs)), 1),
            "reprojection_px_median": round(float(np.median(errs)), 1),
            "rotation_correction_deg": round(degrees[v], 2),
            "frames_used_per_person": used.sum(0).tolist(),
        }
    per_person = {
        names[p].split()[0]: {
            "triangulated": int((~np.isnan(fit["X"][:, p, 0, 0])).sum()),
            "interpolated": int(filled[:, p].sum()),
            "mean_error_mm": round(1000 * float(np.nanmean(fit["err"][:, p][:, list(BODY)])), 1),
        } for p in range(X.shape[1])}
    print(f"[truth] per view: {json.dumps(quality)}", flush=True)
    print(f"[truth] per person (of {X.shape[0]} time steps): {json.dumps(per_person)}", flush=True)

    # per-view truth files
    args.out.mkdir(parents=True, exist_ok=True)
    people_json = [{"id": p, "description": names[p]} for p in range(X.shape[1])]
    for v, cam in enumerate(cams):
        boxes = []
        for k in range(n_frames):
            ti = k - offsets[v] - t0
            present = [p for p in range(X.shape[1]) if not np.isnan(X[ti, p, 0, 0])]
            if not present:
                continue
            vis = visibility(cam, [X[ti, p] for p in present], width, height)
            for p, vfrac in zip(present, vis, strict=True):
                uv, depth = cam.project(X[ti, p])
                if vfrac <= 0.0 or np.min(depth) < 0.3:
                    continue  # not in this view (or partly behind the camera: never here)
                # Limbs that the views disagree on (a kick, a raised arm) are triangulated
                # poorly, so this view's own detection of the same person adds its confident
                # joints to the extent.
                det = raw_obs[v][k, p]
                if not np.isnan(det[0, 0]):
                    span = max(float(np.ptp(uv[:, 1])), 1.0)
                    if flip_distance(det, uv) < 0.25 * span:
                        uv = np.vstack([uv, det[det[:, 2] >= 0.8, :2]])
                box = landmark_box(uv, width, height)
                if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                    continue
                boxes.append({"frame": k, "id": p,
                              "box": [round(float(x), 1) for x in box],
                              "visible": round(vfrac, 2)})
        q = quality[cam.name]
        how = (
            f"Derived from pose2sim 0.10.49 Demo_MultiPerson (BSD-3-Clause) by "
            f"tools/build_pose2sim_truth.py: MediaPipe keypoints (genhmr PoseDetector, tiling on, "
            f"then a second pass on square crops around each person's first-pass 3D position) in "
            f"all 4 calibrated views, identities and 3D joints by multi-view association and "
            f"robust confidence-weighted DLT triangulation (Calib.qca.txt, camera orientations "
            f"touched up by {q['rotation_correction_deg']} deg for this view from the people "
            f"themselves), left and right made consistent over time (the nose says which way "
            f"the body faces), gaps up to 15 frames interpolated, Gaussian smoothing (sigma 1 "
            f"frame), then projected into this view. Frame offsets found (view frame = cam01 "
            f"frame + offset): {dict(zip(cams_names(cams), offsets, strict=True))}. Reprojection "
            f"error in this view (confident joints, final 3D vs this view's detections): mean "
            f"{q['reprojection_px_mean']} px, median {q['reprojection_px_median']} px. Box = "
            f"extent of the projected joints (plus this view's own confident keypoints of "
            f"the same person) padded by 10% of its height (the product's landmark_box), "
            f"clipped to the image. visible = share of the 17 body joints that "
            f"project inside the image and are not covered by a nearer person's limb/torso "
            f"capsules. Boxes with visible < 0.5 are best treated as optional.")
        truth = {
            "format": "genhmr-mot-truth/1",
            "clip": f"{CLIP_DIR}/videos/{cam.name}.mp4",
            "image_size": [width, height],
            "fps": 60,
            "frames": list(range(n_frames)),
            "people": people_json,
            "boxes": boxes,
            "ignore": [],
            "how": how,
        }
        path = args.out / f"pose2sim_multiperson_{cam.name}.json"
        path.write_text(json.dumps(truth, indent=1) + "\n")
        print(f"[truth] wrote {path} ({len(boxes)} boxes)", flush=True)
        if args.sheets is not None:
            args.sheets.mkdir(parents=True, exist_ok=True)
            render_sheet(args.clip_dir / "videos" / f"{cam.name}.mp4", truth,
                         list(range(0, n_frames, 11)), args.sheets / f"sheet_{cam.name}.png")

    np.savez_compressed(
        args.out / "pose2sim_multiperson_joints3d.npz",
        joints3d=X.astype(np.float32),
        joints3d_raw=fit["X"].astype(np.float32),
        joint_error_m=fit["err"].astype(np.float32),
        triangulated=~np.isnan(fit["X"][:, :, 0, 0]),
        interpolated=filled,
        sides_exchanged=swapped,
        views_used=fit["used"],
        first_time=np.int32(t0),
        view_names=np.array(cams_names(cams)),
        offsets=np.array(offsets, dtype=np.int32),
        K=np.stack([c.K for c in cams]).astype(np.float32),
        dist=np.stack([c.dist for c in cams]).astype(np.float32),
        R=np.stack([c.R for c in cams]).astype(np.float32),
        t=np.stack([c.t for c in cams]).astype(np.float32),
        R_published=np.stack([c.R for c in published]).astype(np.float32),
        t_published=np.stack([c.t for c in published]).astype(np.float32),
        person_ids=np.arange(X.shape[1], dtype=np.int32),
        person_descriptions=np.array(names),
    )
    summary = {"offsets": dict(zip(cams_names(cams), offsets, strict=True)), "views": quality,
               "people": per_person, "offset_curves": info,
               "seconds": round(time.time() - t_start, 1)}
    (args.cache / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"[truth] done in {summary['seconds']} s; summary in {args.cache / 'summary.json'}")
    return 0


def cams_names(cams: list[Camera]) -> list[str]:
    """The cameras' names, in order."""
    return [c.name for c in cams]


if __name__ == "__main__":
    sys.exit(main())
