"""Named mappings: the built-in rig families and the artist's own, saved as JSON.

The built-in tables use the families' published bone names (Rigify's human metarig and the rig
it generates, Mixamo without its ``mixamorig:`` namespace, the Unreal Mannequins). A preset
"fits" an armature when every bone it names is there (after the namespace);
:func:`auto_map` takes the fitting preset that drives the most bones, and reads any other
armature with :func:`.mapping.generic_map`.

File format (``.json``; the version changes only when old files could be misread)::

    {"format": "genhmr.retarget_preset", "version": 1, "name": "My hero",
     "map": {"pelvis": ["Hips"], "spine1": ["Spine", "Spine.001"], ...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import mapping
from .mapping import BoneMap, TargetBone

FORMAT = "genhmr.retarget_preset"
VERSION = 1


def _sided(table: Mapping[str, Sequence[str]], left: str, right: str) -> BoneMap:
    """Expand ``{joint: names}`` with ``{side}`` placeholders into both sides."""
    out: BoneMap = {}
    for joint, names in table.items():
        if joint.startswith("side_"):
            for side_joint, mark in (("left_", left), ("right_", right)):
                out[side_joint + joint[5:]] = tuple(n.format(side=mark) for n in names)
        else:
            out[joint] = tuple(names)
    return out


_LIMBS_RIGIFY = {"side_collar": ["shoulder.{side}"], "side_hip": ["thigh.{side}"],
                 "side_knee": ["shin.{side}"], "side_ankle": ["foot.{side}"],
                 "side_foot": ["toe.{side}"], "side_shoulder": ["upper_arm.{side}"],
                 "side_elbow": ["forearm.{side}"], "side_wrist": ["hand.{side}"]}
_LIMBS_UNREAL = {"side_collar": ["clavicle_{side}"], "side_shoulder": ["upperarm_{side}"],
                 "side_elbow": ["lowerarm_{side}"], "side_wrist": ["hand_{side}"],
                 "side_hip": ["thigh_{side}"], "side_knee": ["calf_{side}"],
                 "side_ankle": ["foot_{side}"], "side_foot": ["ball_{side}"]}

BUILTIN: dict[str, BoneMap] = {
    "Rigify metarig": _sided({
        "pelvis": ["spine"], "spine1": ["spine.001"], "spine2": ["spine.002"],
        "spine3": ["spine.003"], "neck": ["spine.004", "spine.005"], "head": ["spine.006"],
        **_LIMBS_RIGIFY}, "L", "R"),
    # The generated rig is driven through its FK controls (the limbs switched to FK): the
    # torso carries the body, hips and chest bend the spine between them.
    "Rigify rig (FK controls)": _sided({
        "pelvis": ["torso", "hips"], "spine3": ["chest"], "neck": ["neck"], "head": ["head"],
        "side_collar": ["shoulder.{side}"], "side_shoulder": ["upper_arm_fk.{side}"],
        "side_elbow": ["forearm_fk.{side}"], "side_wrist": ["hand_fk.{side}"],
        "side_hip": ["thigh_fk.{side}"], "side_knee": ["shin_fk.{side}"],
        "side_ankle": ["foot_fk.{side}"], "side_foot": ["toe_fk.{side}"]}, "L", "R"),
    "Mixamo": _sided({
        "pelvis": ["Hips"], "spine1": ["Spine"], "spine2": ["Spine1"], "spine3": ["Spine2"],
        "neck": ["Neck"], "head": ["Head"], "side_collar": ["{side}Shoulder"],
        "side_shoulder": ["{side}Arm"], "side_elbow": ["{side}ForeArm"],
        "side_wrist": ["{side}Hand"], "side_hip": ["{side}UpLeg"], "side_knee": ["{side}Leg"],
        "side_ankle": ["{side}Foot"], "side_foot": ["{side}ToeBase"]}, "Left", "Right"),
    "Unreal Mannequin (UE5)": _sided({
        "pelvis": ["pelvis"], "spine1": ["spine_01", "spine_02"],
        "spine2": ["spine_03", "spine_04"], "spine3": ["spine_05"],
        "neck": ["neck_01", "neck_02"], "head": ["head"], **_LIMBS_UNREAL}, "l", "r"),
    "Unreal Mannequin (UE4)": _sided({
        "pelvis": ["pelvis"], "spine1": ["spine_01"], "spine2": ["spine_02"],
        "spine3": ["spine_03"], "neck": ["neck_01"], "head": ["head"], **_LIMBS_UNREAL},
        "l", "r"),
}


class PresetError(ValueError):
    """A preset file that cannot be read; the message says why."""


def fits(preset: Mapping[str, Sequence[str]], bones: Sequence[TargetBone]) -> bool:
    """Whether every bone the preset names is in the armature."""
    wanted = sum(len(v) for v in preset.values())
    found = mapping.resolve(preset, bones)
    return sum(len(v) for v in found.values()) == wanted


def auto_map(bones: Sequence[TargetBone]) -> tuple[BoneMap, str]:
    """The mapping for this armature and where it came from (a preset's name, or "names and
    hierarchy" for :func:`.mapping.generic_map`)."""
    best: tuple[int, str] | None = None
    for name, preset in BUILTIN.items():
        if fits(preset, bones):
            size = sum(len(v) for v in preset.values())
            if best is None or size > best[0]:
                best = (size, name)
    if best is not None:
        return mapping.resolve(BUILTIN[best[1]], bones), best[1]
    return mapping.generic_map(bones), "names and hierarchy"


def to_json(name: str, bone_map: Mapping[str, Sequence[str]]) -> str:
    ordered = {j: list(bone_map[j]) for j in mapping.SOURCE_JOINTS if bone_map.get(j)}
    return json.dumps({"format": FORMAT, "version": VERSION, "name": name, "map": ordered},
                      indent=1)


def from_json(text: str) -> tuple[str, BoneMap]:
    """(name, mapping) of a preset file's text; :class:`PresetError` when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"not a JSON file ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PresetError("not a GenHMR retarget preset")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise PresetError(f"preset version {data.get('version')} is newer than this add-on "
                          f"reads ({VERSION}); update GenHMR")
    raw = data.get("map")
    if not isinstance(raw, dict) or not all(
            isinstance(v, list) and all(isinstance(b, str) for b in v) for v in raw.values()):
        raise PresetError("the preset's 'map' must map joint names to lists of bone names")
    unknown = sorted(set(raw) - set(mapping.SOURCE_JOINTS))
    if unknown:
        raise PresetError("unknown joints in the preset: " + ", ".join(unknown))
    return str(data.get("name", "")), {j: tuple(v) for j, v in raw.items() if v}


def save(path: str | Path, name: str, bone_map: Mapping[str, Sequence[str]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_json(name, bone_map), encoding="utf-8")
    tmp.replace(path)  # never a half-written preset
    return path


def load(path: str | Path) -> tuple[str, BoneMap]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"cannot read {Path(path).name}: {exc}") from None
    return from_json(text)
