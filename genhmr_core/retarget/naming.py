"""Read a bone name: which side of the body and which part it is.

Armatures name the same bone in many ways: ``mixamorig:LeftForeArm``, ``lowerarm_l`` (Unreal),
``forearm.L`` / ``forearm_fk.L`` / ``DEF-forearm.L.001`` (Rigify), ``Bip01 L Forearm`` (3ds Max
biped), ``lForeArm`` (DAZ), ``LowerArm.L``. Splitting a name into lower-case words (at
separators, case changes and digits) and reading the words, rather than matching whole names,
covers them all with one short table; the mapping then settles what names alone cannot (is a
"shoulder" the clavicle or the upper arm?) from the hierarchy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Body parts a bone can be (sided ones end in a side in the mapping: "thigh" + "L").
SIDED_PARTS: tuple[str, ...] = ("clavicle", "upperarm", "forearm", "hand", "thigh", "shin",
                                "foot", "toe")
CENTRE_PARTS: tuple[str, ...] = ("hips", "spine", "neck", "head")

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_|$)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_LEFT, _RIGHT = {"l", "left", "lf", "lft"}, {"r", "right", "rt", "rgt"}
# Words that make a bone a helper rather than the body part it names.
_HELPER_WORDS = {"end", "top", "nub", "tip", "twist", "roll", "ik", "pole", "target", "tweak",
                 "mch", "org", "parent", "socket", "helper", "prop", "weapon", "master", "jiggle",
                 "corrective", "vis", "widget", "wgt", "pivot", "follow", "heel", "bend",
                 "metacarpal", "palm", "index", "thumb", "middle", "ring", "pinky", "finger",
                 "eye", "jaw", "breast", "teeth", "tongue", "lip", "brow", "lid", "ear", "nose"}
_PREFIXES = ("DEF-", "ORG-", "MCH-", "DEF_", "ORG_")
# Namespace-like words some exporters put in every name (``Bip01 L Thigh``, ``CC_Base_Hip``).
_NOISE_WORDS = {"mixamorig", "bip", "biped", "cc", "base", "armature", "rig", "jnt", "sk"}


@dataclass(frozen=True)
class BoneName:
    """What a bone's name says: ``side`` "L", "R" or "" and ``part`` ("" when unknown)."""

    name: str
    words: tuple[str, ...]
    side: str
    part: str
    deform_prefix: bool  # Rigify's DEF-: a deform bone driven by the rig's controls
    number: int  # trailing number (spine_03 -> 3, Spine.002 -> 2), -1 when none


def words_of(name: str) -> tuple[str, ...]:
    """Lower-case words of a bone name, without namespace (``mixamorig:``) or Rigify prefix."""
    core = name.rsplit(":", 1)[-1]
    for prefix in _PREFIXES:
        if core.startswith(prefix):
            core = core[len(prefix):]
    return tuple(w for w in (w.lower() for w in _WORDS.findall(core)) if w not in _NOISE_WORDS)


def _side(words: tuple[str, ...]) -> str:
    left = any(w in _LEFT for w in words)
    right = any(w in _RIGHT for w in words)
    return "L" if left and not right else "R" if right and not left else ""


def _part(words: set[str], joined: str, sided: bool) -> str:
    if words & _HELPER_WORDS:
        return ""
    if sided:
        if words & {"toe", "toes", "toebase", "ball"} or "toe" in joined:
            return "toe"
        if words & {"foot", "ankle"}:
            return "foot"
        if words & {"shin", "calf", "knee"} or "lowerleg" in joined or "loleg" in joined:
            return "shin"
        if (words & {"thigh", "hip"} or "upleg" in joined or "upperleg" in joined
                or "thigh" in joined):
            return "thigh"
        if words == {"leg"} or words - {"fk", "deform"} == {"leg"}:
            return "shin"  # Mixamo's LeftLeg is below LeftUpLeg
        if words & {"hand", "wrist"}:
            return "hand"
        if words & {"forearm", "elbow"} or "forearm" in joined or "lowerarm" in joined \
                or "loarm" in joined:
            return "forearm"
        if "upperarm" in joined or "uparm" in joined or words - {"fk"} == {"arm"} \
                or "shldr" in joined:
            return "upperarm"
        if words & {"clavicle", "collar", "shoulder", "clav"}:
            return "clavicle"
        return ""
    if words & {"hips", "pelvis", "hip"}:
        return "hips"
    if words & {"spine", "chest", "torso", "abdomen", "waist", "back"} or "spine" in joined:
        return "spine"
    if "neck" in words:
        return "neck"
    if "head" in words:
        return "head"
    return ""


def parse(name: str, unsided_limbs: bool = False) -> BoneName:
    """Side, part and trailing number of one bone name.

    With ``unsided_limbs`` a name without a side is read as a limb part where it names one
    (``Thigh``): the caller then takes the side from where the bone sits.
    """
    words = words_of(name)
    side = _side(words)
    body = tuple(w for w in words if w not in _LEFT | _RIGHT and not w.isdigit())
    digits = [w for w in words if w.isdigit()]
    core = name.rsplit(":", 1)[-1]
    part = _part(set(body), "".join(body), bool(side))
    if not side and unsided_limbs and part not in ("hips", "neck", "head"):
        part = _part(set(body), "".join(body), True) or part
    return BoneName(name=name, words=words, side=side, part=part,
                    deform_prefix=core.startswith(("DEF-", "DEF_")),
                    number=int(digits[-1]) if digits else -1)
