"""BVH sources: the CMU and Boxing clips of Debian's ``assimp-testmodels``, and any BVH folder.

Licenses:
* CMU 01_01, 01_03 (cgspeed's BVH conversion of the CMU Graphics Lab Motion Capture Database):
  free for any use; please acknowledge mocap.cs.cmu.edu (NSF EIA-0196217). Shipped in
  ``assimp-testmodels`` (package BSD-3-Clause).
* Boxing_Toes: shipped in ``assimp-testmodels`` under the package's BSD-3-Clause; its origin is
  not documented further.
* Any other BVH folder: the user's own data under the user's own license; recorded as
  "user-supplied".

Joint maps follow ``shared/docs/DATA.md``. For an arbitrary folder the map is guessed from joint
names (CMU, Mixamo, MotionBuilder/Boxing, Blender/Rigify-style ``thigh.L``) or read from a JSON
file ``{"left_knee": "LeftLeg", ...}``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..bvh import BvhMotion, read_bvh
from ..clip import MotionClip
from ..retarget import POSE_JOINT_NAMES, Blend, JointMap
from .common import bvh_source, canonical_axes, clip_from_source

CMU_LICENSE = ("CMU Graphics Lab Motion Capture Database (free for any use; acknowledge "
               "mocap.cs.cmu.edu, NSF EIA-0196217), via Debian assimp-testmodels (BSD-3-Clause)")
BOXING_LICENSE = "Debian assimp-testmodels (BSD-3-Clause)"
USER_LICENSE = "user-supplied"
CMU_UNIT_M = 0.056444  # CMU ASF length unit in metres
CMU_CLIPS = ("01_01", "01_03")


def _sided(left: dict[str, str]) -> dict[str, str]:
    out = dict(left)
    for k, v in left.items():
        if k.startswith("left_"):
            out["right_" + k[5:]] = v.replace("Left", "Right")
    return out


CMU_MAP: JointMap = {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine",
                     "spine3": "Spine1", "neck": "Neck", "head": "Head", **_sided({
                         "left_hip": "LeftUpLeg", "left_knee": "LeftLeg",
                         "left_ankle": "LeftFoot", "left_foot": "LeftToeBase",
                         "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
                         "left_elbow": "LeftForeArm", "left_wrist": "LeftHand"})}
BOXING_MAP: JointMap = {"pelvis": "Hips", "spine1": "Ab", "spine2": Blend("Ab", "Chest", 0.5),
                        "spine3": "Chest", "neck": "Neck", "head": "Head", **_sided({
                            "left_hip": "LeftHip", "left_knee": "LeftKnee",
                            "left_ankle": "LeftAnkle", "left_foot": "LeftToes",
                            "left_collar": "LeftCollar", "left_shoulder": "LeftShoulder",
                            "left_elbow": "LeftElbow", "left_wrist": "LeftWrist"})}


def load_cmu(folder: Path) -> list[MotionClip]:
    """CMU 01_01 and 01_03 (frame 0 is a synthetic T-pose and is dropped)."""
    clips = []
    for stem in CMU_CLIPS:
        bvh = read_bvh(folder / f"{stem}.bvh")
        source = bvh_source(bvh, CMU_UNIT_M, drop_first=True)
        clips.append(clip_from_source(f"cmu/{stem}", "cmu", CMU_LICENSE, source, CMU_MAP))
    return clips


def load_boxing(folder: Path) -> list[MotionClip]:
    """Boxing_Toes: boxing for 23 s, then a fall, lying and getting up (centimetres, 100 Hz)."""
    source = bvh_source(read_bvh(folder / "Boxing_Toes.bvh"), 0.01)
    return [clip_from_source("boxing/Boxing_Toes", "boxing", BOXING_LICENSE, source,
                             BOXING_MAP)]


# ---- arbitrary BVH folders ----------------------------------------------------------------------

# Candidate names per SMPL-X joint after normalisation (lower case, no separators, no namespace
# prefix such as "mixamorig:"); "%" stands for the side: "left"/"l" or "right"/"r".
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip", "root"),
    "spine1": ("lowerback", "spine", "ab", "spine01", "abdomen"),
    "spine2": ("spine", "spine1", "spine02", "chest"),
    "spine3": ("spine2", "spine1", "chest", "spine03", "upperchest"),
    "neck": ("neck", "neck01", "neck1"),
    "head": ("head",),
    "%_hip": ("%upleg", "%thigh", "%hip", "%upperleg", "thigh%", "upperleg%", "upleg%"),
    "%_knee": ("%leg", "%knee", "%shin", "%calf", "%lowerleg", "shin%", "calf%", "lowerleg%"),
    "%_ankle": ("%foot", "%ankle", "foot%", "ankle%"),
    "%_foot": ("%toebase", "%toes", "%toe", "%ball", "toe%", "toes%", "ball%"),
    "%_collar": ("%shoulder", "%collar", "%clavicle", "shoulder%", "clavicle%"),
    "%_shoulder": ("%arm", "%shoulder", "%upperarm", "upperarm%", "upperarm%", "arm%"),
    "%_elbow": ("%forearm", "%elbow", "%lowerarm", "forearm%", "lowerarm%"),
    "%_wrist": ("%hand", "%wrist", "hand%", "wrist%"),
}


def _normalise(name: str) -> str:
    name = name.split(":")[-1].split("|")[-1]
    name = re.sub(r"^(bip0?1|mixamorig|def|org)", "", name, flags=re.IGNORECASE)
    return re.sub(r"[\s_.\-]", "", name).lower()


def guess_joint_map(names: list[str]) -> JointMap:
    """Map SMPL-X pose joints to BVH joint names by common naming schemes.

    Each BVH joint is used once, so "LeftShoulder" becomes the collar when "LeftArm" exists and
    the shoulder otherwise (Mixamo/CMU vs MotionBuilder). Raises ``ValueError`` naming the
    joints it could not find.
    """
    table = {_normalise(n): n for n in names}
    used: set[str] = set()
    out: JointMap = {}
    order = ["pelvis", "%_hip", "%_knee", "%_ankle", "%_foot", "%_elbow", "%_wrist",
             "%_shoulder", "%_collar", "neck", "head", "spine1", "spine3", "spine2"]
    # The shoulder/collar ambiguity: when both "%arm" and "%shoulder" exist, the arm is the
    # shoulder joint and "%shoulder" the collar.
    for key in order:
        sides = ([("left", ("left", "l")), ("right", ("right", "r"))] if "%" in key
                 else [("", ("",))])
        for side, tokens in sides:
            target = key.replace("%", side)
            for cand in _CANDIDATES[key]:
                hits = [table[c] for c in (cand.replace("%", t) for t in tokens)
                        if c in table and table[c] not in used]
                if key == "%_shoulder" and cand == "%shoulder" and any(
                        c.replace("%", t) in table for c in ("%arm",) for t in tokens):
                    continue
                if hits:
                    out[target] = hits[0]
                    used.add(hits[0])
                    break
    required = ["pelvis"] + [f"{s}_{j}" for s in ("left", "right")
                             for j in ("hip", "knee", "ankle", "shoulder", "elbow")]
    missing = [j for j in required if j not in out]
    if missing:
        raise ValueError(f"could not find BVH joints for {missing} among {names}; pass a joint "
                         "map JSON ({\"left_knee\": \"<bvh joint>\", ...})")
    return {k: out[k] for k in POSE_JOINT_NAMES if k in out}


def read_joint_map(path: Path) -> JointMap:
    data = json.loads(Path(path).read_text())
    unknown = sorted(set(data) - set(POSE_JOINT_NAMES))
    if unknown:
        raise ValueError(f"{path}: not SMPL-X pose joints: {unknown}")
    return {k: (Blend(*v) if isinstance(v, list) else str(v)) for k, v in data.items()}


def bvh_file_clip(path: Path, joint_map: JointMap | None = None, name: str | None = None,
                  license_text: str = USER_LICENSE) -> MotionClip:
    """Any BVH file: units are irrelevant (the root path is rescaled by leg length) and the
    axes are canonicalised from the rest pose."""
    bvh: BvhMotion = read_bvh(path)
    jmap = joint_map or guess_joint_map(bvh.names)
    rest = bvh_source(bvh, 1.0).rest_positions()
    head = jmap.get("head") or jmap.get("neck")
    if not isinstance(head, str):
        raise ValueError(f"{path}: the joint map needs a head or neck joint")
    axes = canonical_axes(rest, bvh.index(jmap["pelvis"]), bvh.index(head),
                          bvh.index(jmap["left_hip"]), bvh.index(jmap["right_hip"]))
    source = bvh_source(bvh, 1.0, axes=axes)
    return clip_from_source(name or f"bvh/{Path(path).stem}", "bvh", license_text, source, jmap)


def load_bvh_folder(folder: Path, joint_map_path: Path | None = None,
                    license_text: str = USER_LICENSE) -> list[MotionClip]:
    """Every ``*.bvh`` under ``folder`` (recursively), each retargeted with the same map (or
    its own guessed map). Files that cannot be read are reported and skipped."""
    jmap = read_joint_map(joint_map_path) if joint_map_path else None
    clips, errors = [], []
    for path in sorted(Path(folder).rglob("*.bvh")):
        rel = path.relative_to(folder).with_suffix("").as_posix()
        try:
            clips.append(bvh_file_clip(path, jmap, name=f"bvh/{rel}", license_text=license_text))
        except (ValueError, KeyError) as exc:
            errors.append(f"{path}: {exc}")
    if errors and not clips:
        raise ValueError("no BVH file could be loaded:\n" + "\n".join(errors))
    for e in errors:
        print(f"[motion] skipped {e}")
    return clips
