"""DeepMimic humanoid clips shipped with ``pybullet==3.2.7`` (zlib license).

Each clip is JSON ``{"Loop": ..., "Frames": [[duration, root pos (3), root quat (w,x,y,z),
chest quat, neck quat, right hip quat, right knee angle, right ankle quat, right shoulder quat,
right elbow angle, left hip quat, left knee angle, left ankle quat, left shoulder quat, left
elbow angle], ...]}``: 44 values per frame, local rotations in the parent's frame, knee and
elbow about local +Z. The skeleton is ``humanoid.urdf`` (joint origins, loaded by pybullet with
``globalScaling=0.25``). Axes: Y up, facing +X, right side +Z, so (x, y, z)_SMPL-X =
(−z, y, x)_DeepMimic. The rest pose has the arms hanging down; the rest correction in
:mod:`~genhmr.motion.retarget` turns that into real shoulder angles. Frame durations differ per
clip (16–60 fps; the last frame's duration is 0), so frames are placed at their own times.
Spine1–3 share the chest rotation, SMPL-X's neck and head share the neck rotation; collars
and wrists do not exist in the source and stay at identity.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from genhmr_core.rotations import quaternion_to_matrix

from ..clip import MotionClip
from ..retarget import Blend, JointMap, SourceMotion
from .common import clip_from_source

LICENSE = "DeepMimic clips from pybullet 3.2.7 (zlib)"
URDF_SCALE = 0.25
AXES = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # DeepMimic -> SMPL-X
CLIPS = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
         "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk")

# (joint, parent, kind, first column) in the frame layout; "root" is columns 1..7.
_LAYOUT = (("chest", "root", "sphere", 8), ("neck", "chest", "sphere", 12),
           ("right_hip", "root", "sphere", 16), ("right_knee", "right_hip", "hinge", 20),
           ("right_ankle", "right_knee", "sphere", 21),
           ("right_shoulder", "chest", "sphere", 25),
           ("right_elbow", "right_shoulder", "hinge", 29),
           ("left_hip", "root", "sphere", 30), ("left_knee", "left_hip", "hinge", 34),
           ("left_ankle", "left_knee", "sphere", 35),
           ("left_shoulder", "chest", "sphere", 39), ("left_elbow", "left_shoulder", "hinge", 43))
FRAME_WIDTH = 44

JOINT_MAP: JointMap = {
    "pelvis": "root", "spine1": Blend("root", "chest", 1 / 3),
    "spine2": Blend("root", "chest", 2 / 3), "spine3": "chest",
    "neck": Blend("chest", "neck", 0.5), "head": "neck",
    "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee",
    "right_knee": "right_knee", "left_ankle": "left_ankle", "right_ankle": "right_ankle",
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow",
}


def urdf_offsets(urdf: Path) -> dict[str, np.ndarray]:
    """Joint origins (parent-relative, DeepMimic axes, unscaled) by child link name."""
    # The shipped file ends with a NUL byte, which XML parsers reject.
    root = ET.fromstring(urdf.read_bytes().rstrip(b"\0\r\n \t"))
    out = {}
    for joint in root.iter("joint"):
        child = joint.find("child").get("link")
        origin = joint.find("origin")
        xyz = origin.get("xyz") if origin is not None else "0 0 0"
        out[child] = np.array([float(v) for v in xyz.split()])
    return out


def skeleton(urdf: Path) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Names, parents, offsets (metres, SMPL-X axes) and leaf tips of the DeepMimic humanoid."""
    origins = urdf_offsets(urdf)
    names = ["root"] + [j for j, *_ in _LAYOUT] + ["left_wrist", "right_wrist"]
    parent_of = {j: p for j, p, *_ in _LAYOUT} | {"left_wrist": "left_elbow",
                                                  "right_wrist": "right_elbow"}
    parents = np.array([-1] + [names.index(parent_of[n]) for n in names[1:]])
    offsets = np.zeros((len(names), 3))
    for k, n in enumerate(names[1:], start=1):
        offsets[k] = origins[n]
    offsets = offsets @ AXES.T * URDF_SCALE
    # Points beyond the leaves: the foot box centre (doubled: toward the toes) and the head.
    foot = np.array([0.36, -0.18, 0.0]) @ AXES.T * URDF_SCALE
    tips = {"left_ankle": foot, "right_ankle": foot,
            "neck": np.array([0.0, 0.7, 0.0]) * URDF_SCALE}
    return names, parents, offsets, tips


def parse_clip(path: Path, urdf: Path) -> tuple[SourceMotion, np.ndarray]:
    """The clip as a SourceMotion plus each frame's time stamp (s)."""
    try:
        frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a DeepMimic motion file ({exc})") from exc
    if frames.ndim != 2 or frames.shape[1] != FRAME_WIDTH or len(frames) < 2:
        raise ValueError(f"{path}: expected frames of {FRAME_WIDTH} values")
    names, parents, offsets, tips = skeleton(urdf)
    t = len(frames)
    local = np.broadcast_to(np.eye(3), (t, len(names), 3, 3)).copy()

    def quat(col: int) -> np.ndarray:
        q = frames[:, col:col + 4]
        return quaternion_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))

    local[:, 0] = quat(4)
    for name, _, kind, col in _LAYOUT:
        j = names.index(name)
        if kind == "sphere":
            local[:, j] = quat(col)
        else:  # hinge about local +Z
            a = frames[:, col]
            c, s = np.cos(a), np.sin(a)
            local[:, j, 0, 0], local[:, j, 0, 1] = c, -s
            local[:, j, 1, 0], local[:, j, 1, 1] = s, c
    local = AXES @ local @ AXES.T
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    keep = np.concatenate([[True], np.diff(times) > 1e-6])  # drop zero-duration duplicates
    fps = 1.0 / float(np.median(np.diff(times[keep])))
    source = SourceMotion(names=names, parents=parents, offsets=offsets,
                          rotations=local[keep], root_position=frames[keep, 1:4] @ AXES.T,
                          fps=fps, tips=tips)
    return source, times[keep]


def load_deepmimic(folder: Path) -> list[MotionClip]:
    urdf = folder / "humanoid.urdf"
    clips = []
    for name in CLIPS:
        source, times = parse_clip(folder / f"humanoid3d_{name}.txt", urdf)
        clips.append(clip_from_source(f"deepmimic/{name}", "deepmimic", LICENSE, source,
                                      JOINT_MAP, times=times))
    return clips
