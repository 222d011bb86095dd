"""One retargeted motion clip and the dataset file that holds many of them.

A clip is SMPL-X body motion on our skeleton: 22 local rotations per frame (index 0 is
``global_orient``, 1..21 are ``body_pose`` in SMPL-X joint order) and the pelvis position, in
SMPL-X axes (metres, Y up, the body faces +Z at identity, its left is +X). Every loader returns
clips in this one form, so augmentation, training and benchmarks never see a source's own
conventions.

The dataset file is a plain ``.npz`` (loaded with ``allow_pickle=False``): frames of all clips
concatenated, with per-clip offsets, names, sources, licenses, frame rates, animated-joint masks
and the train/validation split. Validation holds out whole clips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NUM_POSE_JOINTS = 22  # pelvis (global orientation) + the 21 SMPL-X body joints
DATASET_VERSION = 1


@dataclass
class MotionClip:
    """Body motion of one person, retargeted to SMPL-X joints on our skeleton.

    ``animated`` marks the joints whose rotations come from the source; the others are held at
    identity because the source has no such joint (DeepMimic's wrists) or cannot recover it
    (the climbing set's head yaw). Augmentation uses it so it never mixes a frozen limb in.
    """

    name: str
    source: str
    license: str
    fps: float
    rotations: np.ndarray  # (T, 22, 3, 3) local rotations
    root_position: np.ndarray  # (T, 3) pelvis position in metres
    animated: np.ndarray = field(default_factory=lambda: np.ones(NUM_POSE_JOINTS, dtype=bool))

    def __post_init__(self) -> None:
        self.rotations = np.asarray(self.rotations, dtype=np.float32)
        self.root_position = np.asarray(self.root_position, dtype=np.float32)
        self.animated = np.asarray(self.animated, dtype=bool)
        frames = self.rotations.shape[0]
        if self.rotations.shape != (frames, NUM_POSE_JOINTS, 3, 3):
            raise ValueError(f"{self.name}: rotations must be (T, {NUM_POSE_JOINTS}, 3, 3), "
                             f"got {self.rotations.shape}")
        if self.root_position.shape != (frames, 3):
            raise ValueError(f"{self.name}: root_position must be ({frames}, 3), "
                             f"got {self.root_position.shape}")
        if self.animated.shape != (NUM_POSE_JOINTS,):
            raise ValueError(f"{self.name}: animated must be ({NUM_POSE_JOINTS},)")
        if not np.isfinite(self.rotations).all() or not np.isfinite(self.root_position).all():
            raise ValueError(f"{self.name}: non-finite values")

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@dataclass
class MotionDataset:
    """Many clips in one set of arrays, with the clip split fixed at build time."""

    rotations: np.ndarray  # (N, 22, 3, 3) float32
    root_position: np.ndarray  # (N, 3) float32
    clip_start: np.ndarray  # (C + 1,) int64 offsets into the frame arrays
    clip_names: np.ndarray  # (C,) str
    clip_sources: np.ndarray  # (C,) str
    clip_licenses: np.ndarray  # (C,) str
    clip_fps: np.ndarray  # (C,) float32
    clip_split: np.ndarray  # (C,) "train" | "val"
    clip_animated: np.ndarray  # (C, 22) bool
    info: dict = field(default_factory=dict)  # how it was built, the coverage report

    @classmethod
    def from_clips(cls, clips: list[MotionClip], splits: list[str],
                   info: dict | None = None) -> MotionDataset:
        if len(clips) != len(splits):
            raise ValueError("one split per clip")
        if not clips:
            raise ValueError("no clips")
        bad = sorted(set(splits) - {"train", "val"})
        if bad:
            raise ValueError(f"unknown split(s) {bad}")
        lengths = [c.num_frames for c in clips]
        return cls(
            rotations=np.concatenate([c.rotations for c in clips]).astype(np.float32),
            root_position=np.concatenate([c.root_position for c in clips]).astype(np.float32),
            clip_start=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            clip_names=np.array([c.name for c in clips]),
            clip_sources=np.array([c.source for c in clips]),
            clip_licenses=np.array([c.license for c in clips]),
            clip_fps=np.array([c.fps for c in clips], dtype=np.float32),
            clip_split=np.array(splits),
            clip_animated=np.stack([c.animated for c in clips]),
            info=dict(info or {}),
        )

    @property
    def num_clips(self) -> int:
        return len(self.clip_names)

    def clip(self, index: int) -> MotionClip:
        a, b = int(self.clip_start[index]), int(self.clip_start[index + 1])
        return MotionClip(str(self.clip_names[index]), str(self.clip_sources[index]),
                          str(self.clip_licenses[index]), float(self.clip_fps[index]),
                          self.rotations[a:b], self.root_position[a:b],
                          self.clip_animated[index])

    def clips(self, split: str | None = None) -> list[MotionClip]:
        return [self.clip(i) for i in range(self.num_clips)
                if split is None or self.clip_split[i] == split]

    def frame_split(self) -> np.ndarray:
        """(N,) split name of every frame."""
        return np.repeat(self.clip_split, np.diff(self.clip_start))

    def poses(self, split: str) -> np.ndarray:
        """Body poses (M, 21, 3, 3) of every frame of one split: what the tokenizer learns."""
        return self.rotations[self.frame_split() == split, 1:]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez_compressed(
            tmp, version=np.int64(DATASET_VERSION), rotations=self.rotations,
            root_position=self.root_position, clip_start=self.clip_start,
            clip_names=self.clip_names, clip_sources=self.clip_sources,
            clip_licenses=self.clip_licenses, clip_fps=self.clip_fps,
            clip_split=self.clip_split, clip_animated=self.clip_animated,
            info=np.array(json.dumps(self.info, sort_keys=True)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> MotionDataset:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["version"])
            if version != DATASET_VERSION:
                raise ValueError(f"{path}: motion dataset version {version}, "
                                 f"this code reads {DATASET_VERSION}: rebuild it")
            return cls(rotations=z["rotations"], root_position=z["root_position"],
                       clip_start=z["clip_start"], clip_names=z["clip_names"],
                       clip_sources=z["clip_sources"], clip_licenses=z["clip_licenses"],
                       clip_fps=z["clip_fps"], clip_split=z["clip_split"],
                       clip_animated=z["clip_animated"], info=json.loads(str(z["info"])))
