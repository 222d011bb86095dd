"""The synthetic render set: our default body posed from motion data, rendered through random
cameras, run through MediaPipe, and the MediaPipe noise model fitted on the result.

    python -m genhmr.synthetic.render_set --frames 400 \
        --out $GENHMR_CACHE/synthetic/render_set_v1 [--motion PATH.npz] \
        [--model-out backend/genhmr/synthetic/mediapipe_noise.json]

Why: the noise model must describe MediaPipe on *our* body (its keypoints sit where our body
puts them, not where a dataset's annotators did), so we render our body where we know every
keypoint exactly. Stages, each resumable (delete a stage's output to redo it):

1. **job** (torch): segments of a few consecutive frames (one video-like snippet each: one
   clip, one body shape, one camera, one appearance) from whole motion clips; the clip's
   train/val split is kept, so validation holds out whole clips. Writes ``job.npz``: posed
   vertices per frame, camera, known 2D/3D keypoints, bias frames.
2. **render** (bpy, a separate process: ``tools/render_synthetic.py``): PNGs under
   ``images/``; frames already there are skipped.
3. **detect** (MediaPipe): ``detections.npz``, filled incrementally.
4. **fit**: the noise model on the train segments, statistics on the held-out ones
   (``report.json``), the model JSON with its provenance.

Without ``--motion`` (or before the motion builder has run) a few hand-made clips stand in.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from genhmr.motion.clip import MotionClip, MotionDataset
from genhmr.synthetic import noise
from genhmr.synthetic.cameras import CameraConfig, sample_camera
from genhmr_core.keypoints import NUM_KEYPOINTS, mediapipe_to_keypoints_index
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX

ROOT = Path(__file__).resolve().parents[3]
RENDER_TOOL = ROOT / "tools" / "render_synthetic.py"
JOB_VERSION = 1
PART_NAMES = ("skin", "hair", "eyes", "torso", "arm", "hand", "leg", "foot")

# The render set's cameras: WHAM's angles, but close enough that MediaPipe sees the person
# (> 200 px) in small frames that render fast.
RENDER_CAMERAS = CameraConfig(image_sizes=((640, 480), (640, 480), (480, 640)),
                              min_person_px=230.0, truncation_fraction=0.05)


def cache_dir() -> Path:
    return Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr")).expanduser()


# --------------------------------------------------------------------------------------------
# Pose source


def _clip_from_keys(name: str, fps: float, frames: int, pose_fn, speed: float = 0.0,
                    turn: float = 0.0, height: float = 1.0) -> MotionClip:
    """A clip from ``pose_fn(phase) -> {joint: axis-angle}``; the root walks ``speed`` m/s
    along its facing direction while turning ``turn`` rad/s."""
    rot = np.tile(np.eye(3), (frames, 22, 1, 1))
    root = np.zeros((frames, 3))
    yaw, pos = 0.0, np.zeros(3)
    for f in range(frames):
        phase = 2 * np.pi * f / fps  # one cycle per second
        for joint, aa in pose_fn(phase).items():
            rot[f, JOINT_INDEX[joint]] = axis_angle_to_matrix(np.asarray(aa, np.float64))
        rot[f, 0] = axis_angle_to_matrix(np.array([0.0, yaw, 0.0])) @ rot[f, 0]
        root[f] = pos + np.array([0.0, height, 0.0])
        pos = pos + speed / fps * np.array([np.sin(yaw), 0.0, np.cos(yaw)])
        yaw += turn / fps
    return MotionClip(name=f"handmade/{name}", source="handmade", license="CC0 (hand-made)",
                      fps=fps, rotations=rot, root_position=root)


def handmade_motion(fps: float = 30.0, frames: int = 60) -> MotionDataset:
    """A handful of hand-made clips (rest, arms down, walking, sitting, squatting, waving,
    jumping jacks) in SMPL-X local axes, for development before real motion data exists."""
    s = np.sin

    def arms_down(p: float, amp: float = 0.0) -> dict:
        return {"left_shoulder": (amp * s(p), 0.0, -1.25), "right_shoulder": (-amp * s(p), 0, 1.25),
                "left_elbow": (0.0, -0.2, 0.0), "right_elbow": (0.0, 0.2, 0.0)}

    def walk(p: float) -> dict:
        return {**arms_down(p, 0.45), "left_hip": (-0.45 * s(p), 0, 0),
                "right_hip": (0.45 * s(p), 0, 0), "left_knee": (0.35 + 0.35 * s(p + 1.2), 0, 0),
                "right_knee": (0.35 - 0.35 * s(p + 1.2), 0, 0), "spine2": (0, 0.1 * s(p), 0)}

    def sit(p: float) -> dict:
        return {"left_hip": (-1.5, 0, -0.1), "right_hip": (-1.5, 0, 0.1),
                "left_knee": (1.5, 0, 0), "right_knee": (1.5, 0, 0),
                "left_shoulder": (-0.4, 0, -1.2), "right_shoulder": (-0.4, 0, 1.2),
                "left_elbow": (0, -0.9 - 0.2 * s(p), 0), "right_elbow": (0, 0.9, 0),
                "neck": (0.2 * s(p / 2), 0.3 * s(p / 3), 0)}

    def squat(p: float) -> dict:
        d = 0.5 + 0.5 * s(p / 2)
        return {"left_hip": (-1.3 * d, 0, -0.2), "right_hip": (-1.3 * d, 0, 0.2),
                "left_knee": (1.7 * d, 0, 0), "right_knee": (1.7 * d, 0, 0),
                "left_ankle": (-0.3 * d, 0, 0), "right_ankle": (-0.3 * d, 0, 0),
                "spine1": (0.4 * d, 0, 0), "left_shoulder": (-1.2 * d, 0, -0.3),
                "right_shoulder": (-1.2 * d, 0, 0.3)}

    def wave(p: float) -> dict:
        return {**arms_down(p), "right_shoulder": (0, 0, -0.3 + 0.2 * s(2 * p)),
                "right_elbow": (0, 1.6 + 0.4 * s(2 * p), 0), "spine2": (0, 0, 0.05 * s(p))}

    def jacks(p: float) -> dict:
        a = 0.5 + 0.5 * s(p)
        return {"left_shoulder": (0, 0, -1.25 + 2.3 * a), "right_shoulder": (0, 0, 1.25 - 2.3 * a),
                "left_hip": (0, 0, 0.35 * a), "right_hip": (0, 0, -0.35 * a)}

    clips = [
        _clip_from_keys("rest", fps, frames, lambda p: {"spine2": (0.03 * s(p), 0, 0)}, 0, 0.4),
        _clip_from_keys("arms_down", fps, frames, lambda p: arms_down(p, 0.05), 0, -0.3),
        _clip_from_keys("walk", fps, frames, walk, 1.2, 0.5),
        _clip_from_keys("sit", fps, frames, sit, 0, 0.3, height=0.55),
        _clip_from_keys("squat", fps, frames, squat, 0, -0.5),
        _clip_from_keys("wave", fps, frames, wave, 0, 0.6),
        _clip_from_keys("jacks", fps, frames, jacks, 0, -0.4),
    ]
    splits = ["train", "train", "train", "train", "train", "val", "val"]
    return MotionDataset.from_clips(clips, splits, info={"source": "handmade_motion()"})


def usable_clips(data: MotionDataset, seq_len: int, stride: int) -> list[int]:
    """Clips with temporal order and enough frames for one segment (the builder's
    "procedural" clip is a bag of independent poses)."""
    need = (seq_len - 1) * stride + 1
    lengths = np.diff(data.clip_start)
    return [i for i in range(data.num_clips)
            if data.clip_sources[i] != "procedural" and lengths[i] >= need]


# --------------------------------------------------------------------------------------------
# Job


def vertex_parts(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Body part of every vertex (index into PART_NAMES) and a coordinate along it (metres):
    how far down the arm from the shoulder, down the leg from the hip, or up the torso from
    the pelvis, in the T-pose. The renderer turns these into sleeves, trousers and shoes of
    random lengths, so clothing follows the skinning (parts) and the anatomy (lengths)."""
    dominant = mesh.dense_weights().argmax(1)
    names = {j: n for n, j in JOINT_INDEX.items()}
    v, joints = mesh.vertices, mesh.joints
    part = np.zeros(len(v), np.uint8)
    along = np.zeros(len(v), np.float32)
    for i, j in enumerate(dominant):
        name = names[int(j)]
        side = name.split("_", 1)[1] if name.startswith(("left_", "right_")) else name
        if "eye" in name:
            part[i] = PART_NAMES.index("eyes")
        elif side in ("head", "jaw", "neck") or name in ("head", "jaw", "neck"):
            part[i] = PART_NAMES.index("skin")
        elif side in ("shoulder", "elbow"):
            part[i] = PART_NAMES.index("arm")
        elif side in ("hip", "knee", "ankle", "foot"):
            part[i] = PART_NAMES.index("leg")
        elif name in ("pelvis", "spine1", "spine2", "spine3") or side == "collar":
            part[i] = PART_NAMES.index("torso")
        else:  # wrists and fingers
            part[i] = PART_NAMES.index("hand")
    head, eye = joints[JOINT_INDEX["head"]], joints[JOINT_INDEX["left_eye_smplhf"]]
    skin = part == PART_NAMES.index("skin")
    hair = skin & ((v[:, 1] > eye[1] + 0.04) | ((v[:, 2] < head[2] - 0.01)
                                                 & (v[:, 1] > head[1] - 0.03)))
    part[hair] = PART_NAMES.index("hair")
    arm = part == PART_NAMES.index("arm")
    along[arm] = np.abs(v[arm, 0]) - joints[JOINT_INDEX["left_shoulder"], 0]
    leg = part == PART_NAMES.index("leg")
    along[leg] = joints[JOINT_INDEX["left_hip"], 1] - v[leg, 1]
    ankle = joints[JOINT_INDEX["left_ankle"], 1]
    part[leg & (v[:, 1] < ankle + 0.03)] = PART_NAMES.index("foot")
    torso = part == PART_NAMES.index("torso")
    along[torso] = v[torso, 1] - joints[JOINT_INDEX["pelvis"], 1]
    return part, along


def plan_segments(data: MotionDataset, num_segments: int, seq_len: int, seed: int,
                  fps: float = 30.0, val_fraction: float = 0.2) -> list[dict]:
    """Segment i depends only on (seed, i) and the data, so a larger set extends a smaller
    one. A ``val_fraction`` of segments come from the data's validation clips (held out
    whole). Frames of a segment are ~1/``fps`` s apart (a clip at 120 fps is strided by 4)."""
    lengths = np.diff(data.clip_start)
    strides = np.maximum(1, np.round(data.clip_fps / fps)).astype(np.int64)
    usable = [c for c in usable_clips(data, seq_len, 1)
              if lengths[c] >= (seq_len - 1) * strides[c] + 1]
    by_split = {split: [c for c in usable if data.clip_split[c] == split]
                for split in ("train", "val")}
    if not by_split["train"]:
        raise ValueError("no training motion clip is long enough for one segment")
    out = []
    for i in range(num_segments):
        rng = np.random.default_rng([seed, i, 0])
        split = "val" if by_split["val"] and rng.random() < val_fraction else "train"
        clips = by_split[split]
        # Long clips are drawn more often, but not in proportion (one huge clip would win).
        weight = np.sqrt(lengths[clips].astype(np.float64))
        c = clips[rng.choice(len(clips), p=weight / weight.sum())]
        span = (seq_len - 1) * int(strides[c]) + 1
        start = int(rng.integers(0, int(lengths[c]) - span + 1))
        out.append({"clip": c, "start": start, "stride": int(strides[c]),
                    "seed": int(zlib.crc32(f"{seed}/{i}".encode()))})
    return out


FRAME_KEYS = (
    "vertices", "joints", "keypoints_world", "keypoints_cam", "keypoints_2d", "R", "t", "K",
    "image_size", "segment", "clip", "clip_frame", "time", "betas", "body_height",
    "bias_frames", "split", "floor_y", "moving", "truncation_allowed",
)  # fmt: skip


def extend_job(old: dict, new: dict) -> dict:
    """``new`` with its first frames taken from ``old``: frames already rendered (and
    detected) keep exactly the bodies and cameras they were rendered with, even if the
    samplers changed since."""
    m = min(len(old["segment"]), len(new["segment"]))
    out = dict(new)
    for key in FRAME_KEYS:
        out[key] = np.concatenate([old[key][:m], new[key][m:]]).astype(new[key].dtype)
    return out


def build_job(data: MotionDataset, num_frames: int, seq_len: int, seed: int,
              cameras: CameraConfig = RENDER_CAMERAS) -> dict[str, np.ndarray]:
    """Pose the default body for every planned frame and sample its camera (torch here)."""
    import torch

    from genhmr.body.default_body import load_default_body

    body = load_default_body()
    mesh = body.mesh
    num_segments = -(-num_frames // seq_len)
    segments = plan_segments(data, num_segments, seq_len, seed)
    limits = mesh.shape_limits
    arrays: dict[str, list] = {k: [] for k in FRAME_KEYS}
    for s, seg in enumerate(segments):
        rng = np.random.default_rng([seed, s, 1])
        clip = data.clip(seg["clip"])
        frames = seg["start"] + seg["stride"] * np.arange(seq_len)
        betas = rng.uniform(0.9 * limits[:, 0], 0.9 * limits[:, 1])
        with torch.no_grad():
            rest_pelvis = body.rest_joints(betas[None])[0, 0].numpy()
            rot = torch.as_tensor(clip.rotations[frames], dtype=torch.float32)
            transl = torch.as_tensor(clip.root_position[frames] - rest_pelvis,
                                     dtype=torch.float32)
            posed = body.forward(torch.as_tensor(betas[None], dtype=torch.float32), rot, transl)
            rest = body.rest_vertices(betas[None])[0].numpy()
        verts = posed.vertices.numpy()
        kp = posed.keypoints.numpy().astype(np.float64)
        floor = float(verts[..., 1].min())
        cam = sample_camera(rng, kp, fps=clip.fps / seg["stride"], config=cameras, floor_y=floor)
        kp_cam = cam.to_camera(kp)
        arrays["vertices"].append(verts.astype(np.float32))
        arrays["joints"].append(posed.joints.numpy().astype(np.float32))
        arrays["keypoints_world"].append(kp.astype(np.float32))
        arrays["keypoints_cam"].append(kp_cam.astype(np.float32))
        arrays["keypoints_2d"].append(cam.project(kp).astype(np.float32))
        arrays["R"].append(cam.R)
        arrays["t"].append(cam.t)
        arrays["K"].append(cam.K)
        arrays["image_size"].append(np.tile(cam.image_size, (seq_len, 1)))
        arrays["segment"].append(np.full(seq_len, s))
        arrays["clip"].append(np.full(seq_len, seg["clip"]))
        arrays["clip_frame"].append(frames)
        arrays["time"].append(np.arange(seq_len) * seg["stride"] / clip.fps)
        arrays["betas"].append(np.tile(betas, (seq_len, 1)))
        arrays["body_height"].append(np.full(seq_len, np.ptp(rest[:, 1])))
        arrays["bias_frames"].append(noise.bias_frames(posed.global_rotations.numpy(), cam.R)
                                     .astype(np.float32))
        arrays["split"].append(np.full(seq_len, str(data.clip_split[seg["clip"]])))
        arrays["floor_y"].append(np.full(seq_len, floor))
        arrays["moving"].append(np.full(seq_len, cam.moving))
        arrays["truncation_allowed"].append(np.full(seq_len, cam.truncation_allowed))
    job = {k: np.concatenate(v)[:num_frames] for k, v in arrays.items()}
    part, along = vertex_parts(mesh)
    job.update(
        version=np.int64(JOB_VERSION), faces=mesh.faces.astype(np.int32), vertex_part=part,
        vertex_along=along, part_names=np.array(PART_NAMES),
        segment_seed=np.array([seg["seed"] for seg in segments], np.int64),
        clip_names=np.asarray(data.clip_names), seed=np.int64(seed))
    return job


# --------------------------------------------------------------------------------------------
# Render and detect


def image_path(images: Path, index: int) -> Path:
    return images / f"f{index:05d}.png"


def render(job_path: Path, images: Path, engine: str, samples: int,
           backgrounds: Path | None, python: str | None = None, log=print) -> float:
    """Run the bpy tool as its own process (bpy and torch never share one); seconds spent."""
    cmd = [python or os.environ.get("GENHMR_PYTHON") or sys.executable, str(RENDER_TOOL),
           "--job", str(job_path), "--out", str(images), "--engine", engine,
           "--samples", str(samples)]
    if backgrounds is not None:
        cmd += ["--backgrounds", str(backgrounds)]
    log("render: " + " ".join(shlex.quote(c) for c in cmd))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def degrade(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make a clean render look more like a video frame before MediaPipe sees it: sensor
    noise, sometimes a slight blur (focus, motion), and lossy compression at a random
    quality. The PNGs stay clean; the degradation is drawn from the frame's own seed."""
    import cv2

    out = frame.astype(np.float32)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.2))
    out += rng.normal(0.0, rng.uniform(0.0, 4.0), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 95))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else out


def media_backgrounds(folder: Path, count: int = 16) -> Path | None:
    """Frames of the sample video ``vtest.avi`` (opencv-doc, third-party) as backdrop pictures,
    extracted into the cache only: they are never committed, and nothing derived from them
    leaves the cache. None when the sample media is not installed."""
    import cv2

    media = Path(os.environ.get("GENHMR_MEDIA_DIR", cache_dir() / "media")).expanduser()
    video = media / "vtest.avi"
    if not video.is_file():
        return None
    if len(list(folder.glob("vtest_*.png"))) >= count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 795
    wanted = set(np.linspace(0, total - 1, count).astype(int).tolist())
    index = 0
    while wanted:
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            cv2.imwrite(str(folder / f"vtest_{index:04d}.png"), frame)
            wanted.discard(index)
        index += 1
    cap.release()
    return folder


def _best_match(people, known_2d: np.ndarray, mp_index: np.ndarray):
    """The detection whose keypoints lie closest to the known projection (renders show one
    person, but a background picture may show more)."""
    best, best_err = None, np.inf
    for person in people:
        err = np.median(np.linalg.norm(person.landmarks_px[mp_index, :2] - known_2d, axis=-1))
        if err < best_err:
            best, best_err = person, err
    return best


def detect(job: dict, images: Path, out_path: Path, tiling: str = "off", log=print,
           save_every: int = 50, degraded: bool = True, seed: int = 0
           ) -> dict[str, np.ndarray]:
    """MediaPipe on every rendered frame not yet in ``out_path`` (each frame first
    :func:`degrade`-d unless ``degraded`` is False); returns all detections."""
    import cv2

    from genhmr.detection import PoseDetector

    n = len(job["segment"])
    det = {"done": np.zeros(n, bool), "detected": np.zeros(n, bool),
           "landmarks_px": np.full((n, 33, 3), np.nan, np.float32),
           "world_landmarks": np.full((n, 33, 3), np.nan, np.float32),
           "num_people": np.zeros(n, np.int16), "seconds": np.zeros(n, np.float32)}
    if out_path.is_file():
        with np.load(out_path, allow_pickle=False) as old:
            m = min(n, len(old["done"]))
            for k in det:
                det[k][:m] = old[k][:m]
    todo = [i for i in range(n) if not det["done"][i] and image_path(images, i).is_file()]
    if not todo:
        return det
    mp_index = mediapipe_to_keypoints_index()
    with PoseDetector(tiling=tiling, max_people=2) as detector:
        for count, i in enumerate(todo, 1):
            frame = cv2.imread(str(image_path(images, i)), cv2.IMREAD_COLOR)
            if degraded:
                frame = degrade(frame, np.random.default_rng([seed, i, 2]))
            t0 = time.perf_counter()
            people = detector.detect(frame, timestamp_ms=0)
            det["seconds"][i] = time.perf_counter() - t0
            person = _best_match(people, job["keypoints_2d"][i], mp_index)
            det["done"][i] = True
            det["num_people"][i] = len(people)
            if person is not None:
                det["detected"][i] = True
                det["landmarks_px"][i] = person.landmarks_px
                det["world_landmarks"][i] = person.world_landmarks
            if count % save_every == 0 or count == len(todo):
                _save_npz(out_path, det)
                log(f"detect: {count}/{len(todo)} frames, "
                    f"{det['seconds'][det['done']].mean() * 1000:.0f} ms/frame")
    return det


def _save_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Fit and report


def make_pairs(job: dict, det: dict, mask: np.ndarray | None = None) -> noise.Pairs:
    """(known, detected) pairs of the frames in ``mask`` that MediaPipe has processed."""
    use = det["done"] if mask is None else det["done"] & mask
    mp_index = mediapipe_to_keypoints_index()
    px = det["landmarks_px"][:, mp_index]
    pairs = noise.Pairs(
        known_cam=job["keypoints_cam"].astype(np.float64), K=job["K"].astype(np.float64),
        image_size=job["image_size"].astype(np.float64),
        body_height=job["body_height"].astype(np.float64), detected=det["detected"],
        det_2d=px[..., :2].astype(np.float64), det_vis=px[..., 2].astype(np.float64),
        det_world=det["world_landmarks"][:, mp_index].astype(np.float64),
        frames=job["bias_frames"].astype(np.float64), sequence=job["segment"],
        time=job["time"].astype(np.float64))
    return pairs.subset(use)


def simulated_pairs(model: noise.NoiseModel, pairs: noise.Pairs, seed: int) -> noise.Pairs:
    """The same known frames with detections drawn from ``model`` (one draw per frame, with
    temporal correlation inside each segment)."""
    rng = np.random.default_rng(seed)
    out = noise.Pairs(**{f: getattr(pairs, f) for f in (
        "known_cam", "K", "image_size", "body_height", "frames", "sequence", "time")},
        detected=np.zeros(len(pairs), bool), det_2d=np.zeros((len(pairs), NUM_KEYPOINTS, 2)),
        det_vis=np.zeros((len(pairs), NUM_KEYPOINTS)),
        det_world=np.zeros((len(pairs), NUM_KEYPOINTS, 3)))
    for seq in np.unique(pairs.sequence):
        idx = np.flatnonzero(pairs.sequence == seq)
        idx = idx[np.argsort(pairs.time[idx])]
        dt = float(np.median(np.diff(pairs.time[idx]))) if len(idx) > 1 else None
        obs = model.apply(pairs.known_cam[idx][None], pairs.K[idx][None], rng,
                          image_size=pairs.image_size[idx][None],
                          body_height=pairs.body_height[idx][None],
                          frames=pairs.frames[idx][None], dt=dt)
        out.detected[idx] = obs.detected[0]
        out.det_2d[idx] = obs.keypoints_2d[0]
        out.det_vis[idx] = obs.confidence[0]
        out.det_world[idx] = obs.world[0]
    return out


def model_summary(model: noise.NoiseModel) -> dict:
    """The headline numbers of a model, per keypoint where it matters (for docs)."""
    from genhmr_core.keypoints import KEYPOINT_NAMES

    def per_kp(values: np.ndarray, digits: int = 4) -> dict:
        return dict(zip(KEYPOINT_NAMES, np.round(values, digits).tolist(), strict=True))

    probe = np.array([1.0, 1.0, 0.0, 0.0])  # part facing the camera, inside the image
    logit = model.vis_coef @ probe
    return {
        "jitter_frac_height": per_kp(np.linalg.norm(model.jitter, axis=1) / np.sqrt(2)),
        "bias_cm": per_kp(np.linalg.norm(model.bias, axis=1) * 100, 1),
        "outlier_rate": per_kp(model.outlier_rate, 3),
        "vis_facing_median": per_kp(1 / (1 + np.exp(-logit)), 3),
        "world_depth_std_cm": per_kp(model.world_std[:, 2] * 100, 1),
        "world_xy_std_cm": per_kp(np.linalg.norm(model.world_std[:, :2], axis=1) / np.sqrt(2)
                                  * 100, 1),
        "scalars": {k: getattr(model, k) for k in (
            "outlier_scale", "low_conf_scale", "rho", "rho_dt", "vis_rho", "body_swap_rate",
            "group_swap_rate", "frame_miss_rate", "world_scale", "world_scale_exponent",
            "world_scale_std", "world_frame", "world_rot_std", "world_rho")},
    }


def fit_and_report(job: dict, det: dict, provenance: dict, seed: int) -> tuple[noise.NoiseModel,
                                                                                 dict]:
    """Fit on the train segments; on the held-out clips compare real MediaPipe with draws from
    the fitted model, and with a model fitted on the held-out part alone."""
    split = job["split"]
    train = make_pairs(job, det, split == "train")
    val = make_pairs(job, det, split == "val")
    if len(train) == 0:
        raise RuntimeError("no detected training frames to fit on")
    model = noise.fit(train, provenance)
    report: dict = {"train_frames": len(train), "val_frames": len(val),
                    "train": noise.summary_stats(train), "model": model_summary(model)}
    if len(val) and val.detected.any():
        report["val_real"] = noise.summary_stats(val)
        report["val_simulated"] = noise.summary_stats(simulated_pairs(model, val, seed))
        report["val_refit"] = model_summary(noise.fit(val))
    return model, report


# --------------------------------------------------------------------------------------------
# Driver


def load_job(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m genhmr.synthetic.render_set",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--out", type=Path,
                        default=cache_dir() / "synthetic" / "render_set_v1")
    parser.add_argument("--motion", type=Path, default=None,
                        help="MotionDataset .npz (python -m genhmr.motion.build); default: "
                             "hand-made clips")
    parser.add_argument("--seq-len", type=int, default=4, help="consecutive frames per segment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=("workbench", "cycles"), default="workbench")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--backgrounds", type=Path, default=None,
                        help="folder of images some backdrops show (cache only, never commit)")
    parser.add_argument("--media-backgrounds", action="store_true",
                        help="use frames of the sample video vtest.avi as backdrop pictures "
                             "(extracted into the cache)")
    parser.add_argument("--tiling", choices=("off", "on", "auto"), default="off")
    parser.add_argument("--clean", action="store_true",
                        help="run MediaPipe on the clean renders (default: add noise, blur "
                             "and JPEG compression first, as video has)")
    parser.add_argument("--stages", default="job,render,detect,fit")
    parser.add_argument("--model-out", type=Path, default=None,
                        help="also write the fitted model here (the committed JSON)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    for name in ("out", "motion", "backgrounds", "model_out"):  # "$GENHMR_CACHE/..." works too
        value = getattr(args, name)
        if value is not None:
            setattr(args, name, Path(os.path.expandvars(str(value))).expanduser())
    stages = set(args.stages.split(","))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    job_path, images = out / "job.npz", out / "images"
    settings = {"frames": args.frames, "seq_len": args.seq_len, "seed": args.seed,
                "motion": args.motion.name if args.motion else "handmade"}  # no local path

    def log(msg: str) -> None:
        print(f"[render_set] {msg}", flush=True)

    if "job" in stages:
        old = json.loads((out / "job.json").read_text()) if (out / "job.json").is_file() else {}
        same = {k: v for k, v in settings.items() if k != "frames"}
        if old and {k: v for k, v in old["settings"].items() if k != "frames"} != same:
            raise SystemExit(f"{out} holds a set made with other settings "
                             f"({old['settings']}); choose another --out")
        if not job_path.is_file() or old.get("settings") != settings:
            # Segments depend only on (seed, index), and the frames already made are kept as
            # they are: a bigger set extends a smaller one.
            t0 = time.perf_counter()
            data = MotionDataset.load(args.motion) if args.motion else handmade_motion()
            job = build_job(data, args.frames, args.seq_len, args.seed)
            if job_path.is_file():
                job = extend_job(load_job(job_path), job)
            _save_npz(job_path, job)
            (out / "job.json").write_text(json.dumps({
                "settings": settings, "motion_info": data.info,
                "seconds": round(time.perf_counter() - t0, 1)}, indent=1, default=str))
            log(f"job: {args.frames} frames in {time.perf_counter() - t0:.1f} s -> {job_path}")
    job = load_job(job_path)
    n = len(job["segment"])

    render_s = None
    if "render" in stages:
        before = sum(image_path(images, i).is_file() for i in range(n))
        backgrounds = args.backgrounds
        if backgrounds is None and args.media_backgrounds:
            backgrounds = media_backgrounds(cache_dir() / "synthetic" / "backgrounds")
        if before < n:
            seconds = render(job_path, images, args.engine, args.samples, backgrounds,
                             log=log)
            done = sum(image_path(images, i).is_file() for i in range(n)) - before
            render_s = seconds / max(done, 1)
            log(f"render: {done} frames in {seconds:.0f} s ({render_s:.2f} s/frame incl. "
                "start-up)")
    det = None
    if "detect" in stages:
        det = detect(job, images, out / "detections.npz", tiling=args.tiling, log=log,
                     degraded=not args.clean, seed=args.seed)
    if "fit" in stages:
        if det is None:
            with np.load(out / "detections.npz", allow_pickle=False) as z:
                det = {k: z[k] for k in z.files}
        timing = json.loads((out / "timing.json").read_text()) if (
            out / "timing.json").is_file() else {}
        if render_s is not None:
            timing["render_s_per_frame"] = round(render_s, 3)
        timing["mediapipe_s_per_frame"] = round(float(det["seconds"][det["done"]].mean()), 4)
        (out / "timing.json").write_text(json.dumps(timing, indent=1))
        given = list(argv if argv is not None else sys.argv[1:])
        if "--stages" in given:  # resuming a stage does not change what was made
            del given[given.index("--stages"):given.index("--stages") + 2]
        provenance = {
            "command": "python -m genhmr.synthetic.render_set " + " ".join(
                shlex.quote(a) for a in given),
            "date": datetime.date.today().isoformat(), "settings": settings,
            "frames_total": n, "frames_processed": int(det["done"].sum()),
            "frames_detected": int(det["detected"].sum()),
            "render": {"engine": args.engine,
                       "samples": args.samples if args.engine == "cycles" else None,
                       "backdrop_pictures": "vtest.avi frames" if args.media_backgrounds
                       else str(args.backgrounds) if args.backgrounds else None,
                       "image_sizes": sorted({tuple(map(int, s)) for s in job["image_size"]}),
                       "body": "default (anny, CC0)", "tool": "tools/render_synthetic.py"},
            "detector": {"name": "mediapipe PoseLandmarker (genhmr.detection.PoseDetector)",
                         "tiling": args.tiling, "input": "clean PNG" if args.clean else
                         "PNG + noise/blur/JPEG (render_set.degrade)"},
            "timing": timing,
        }
        model, report = fit_and_report(job, det, provenance, args.seed)
        model.save(out / "noise_model.json")
        (out / "report.json").write_text(json.dumps(report, indent=1))
        if args.model_out is not None:
            model.save(args.model_out)
        log(f"fit: {report['train_frames']} train / {report['val_frames']} val frames; "
            f"detection rate {report['train'].get('detection_rate', 0):.3f}; "
            f"-> {out / 'noise_model.json'}, {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
