"""Augmentation of retargeted clips: mirroring, speed changes and per-limb recombination.

Registry motion is small and repetitive (~20 distinct motions); these make more of it without
leaving the space of real human movement: a mirrored clip is a real motion of a mirrored
person, a faster or slower clip a real motion at another tempo, and recombining limbs keeps
each limb's own real movement while decoupling the combinations the few clips happen to have.
"""

from __future__ import annotations

import numpy as np

from genhmr_core.skeleton import JOINT_INDEX, mirror_index

from .clip import NUM_POSE_JOINTS, MotionClip
from .resample import resample

MIRROR = np.diag([-1.0, 1.0, 1.0])
POSE_MIRROR_INDEX = mirror_index()[:NUM_POSE_JOINTS]

LIMBS: dict[str, tuple[str, ...]] = {
    "legs": ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
             "left_foot", "right_foot"),
    "spine": ("spine1", "spine2", "spine3", "neck", "head"),
    "left_arm": ("left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_collar", "right_shoulder", "right_elbow", "right_wrist"),
}
LIMB_INDEX = {k: np.array([JOINT_INDEX[n] for n in v]) for k, v in LIMBS.items()}


def mirror_rotations(rotations: np.ndarray) -> np.ndarray:
    """Local rotations (..., 22, 3, 3) of the left-right mirrored motion (x -> -x)."""
    return (MIRROR @ rotations @ MIRROR)[..., POSE_MIRROR_INDEX, :, :]


def mirror(clip: MotionClip) -> MotionClip:
    return MotionClip(name=clip.name + "+mirror", source=clip.source, license=clip.license,
                      fps=clip.fps, rotations=mirror_rotations(clip.rotations),
                      root_position=clip.root_position * np.array([-1.0, 1.0, 1.0]),
                      animated=clip.animated[POSE_MIRROR_INDEX])


def change_speed(clip: MotionClip, speed: float) -> MotionClip:
    """The clip played ``speed`` times faster (slerp-resampled at the same frame rate)."""
    rotations, root = resample(clip.rotations.astype(np.float64),
                               clip.root_position.astype(np.float64), clip.fps, clip.fps,
                               speed=speed)
    return MotionClip(name=f"{clip.name}+speed{speed:g}", source=clip.source,
                      license=clip.license, fps=clip.fps, rotations=rotations,
                      root_position=root, animated=clip.animated)


def limb_animated(clip: MotionClip, limb: str) -> bool:
    return bool(clip.animated[LIMB_INDEX[limb]].all())


def recombine(base: MotionClip, donor: MotionClip, limbs: tuple[str, ...],
              rng: np.random.Generator) -> MotionClip:
    """``base`` with the given limbs' local rotations taken from a random window of ``donor``.

    The window is as long as ``base`` (the donor loops if shorter). Root motion, pelvis and
    the other limbs stay the base's.
    """
    frames = base.num_frames
    start = int(rng.integers(0, max(1, donor.num_frames - frames + 1)))
    take = (start + np.arange(frames)) % donor.num_frames
    rotations = base.rotations.copy()
    animated = base.animated.copy()
    for limb in limbs:
        idx = LIMB_INDEX[limb]
        rotations[:, idx] = donor.rotations[take][:, idx]
        animated[idx] = donor.animated[idx]
    return MotionClip(name=f"{base.name}+{'+'.join(limbs)}<{donor.name}@{start}",
                      source=base.source, license=f"{base.license}; {donor.license}",
                      fps=base.fps, rotations=rotations, root_position=base.root_position,
                      animated=animated)


def recombinations(clips: list[MotionClip], count: int, rng: np.random.Generator,
                   max_frames: int = 300) -> list[MotionClip]:
    """``count`` recombined clips: arms (both, or one) or the spine from another clip.

    Bases are cut to at most ``max_frames`` so a long clip does not dominate; donors are
    chosen among clips whose donated limbs are animated (never a frozen limb).
    """
    options = [("left_arm", "right_arm"), ("left_arm",), ("right_arm",), ("spine",),
               ("spine", "left_arm", "right_arm")]
    out = []
    for _ in range(count):
        base = clips[int(rng.integers(len(clips)))]
        limbs = options[int(rng.integers(len(options)))]
        donors = [c for c in clips if c is not base and all(limb_animated(c, x) for x in limbs)]
        if not donors:
            continue
        donor = donors[int(rng.integers(len(donors)))]
        if base.num_frames > max_frames:
            s = int(rng.integers(0, base.num_frames - max_frames + 1))
            base = MotionClip(f"{base.name}[{s}:{s + max_frames}]", base.source, base.license,
                              base.fps, base.rotations[s:s + max_frames],
                              base.root_position[s:s + max_frames], base.animated)
        out.append(recombine(base, donor, limbs, rng))
    return out
