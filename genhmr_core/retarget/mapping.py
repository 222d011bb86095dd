"""Which target bones our joints drive: automatic mapping, checks, chains.

A mapping is ``{source joint: (target bone, ...)}``: the 22 SMPL-X joints GenHMR animates
(pelvis and the 21 body joints, see :data:`SOURCE_JOINTS`) onto bone names of the artist's
armature, root to tip. One joint may drive several bones (a five-bone spine from our three
spine joints, a two-bone neck, Rigify's torso and hips controls); bones nobody drives keep their
rest pose relative to their parent (twist bones, fingers, IK helpers).

:func:`auto_map` first tries the built-in presets of the rig families artists use (exact
names, see :mod:`.presets`), then reads any other armature from its names (:mod:`.naming`) and
hierarchy: limbs are followed from the body outwards so a "shoulder" is the clavicle when an
upper arm sits below it and the upper arm when the forearm hangs from it directly, and a name
without a side gets the side its head sits on (the character's left is +X).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import skeleton
from . import naming

BoneMap = dict[str, tuple[str, ...]]

SPINE_JOINTS: tuple[str, ...] = ("spine1", "spine2", "spine3")
# The joints GenHMR animates, parents before children.
SOURCE_JOINTS: tuple[str, ...] = skeleton.JOINT_NAMES[:1 + skeleton.NUM_BODY_JOINTS]
SOURCE_PARENT: dict[str, str | None] = {
    name: (skeleton.JOINT_NAMES[skeleton.PARENTS[i]] if skeleton.PARENTS[i] >= 0 else None)
    for i, name in enumerate(SOURCE_JOINTS)}
# The joint each body part stands for.
_PART_OF_JOINT: dict[str, tuple[str, str]] = {
    "pelvis": ("hips", ""), "neck": ("neck", ""), "head": ("head", ""),
    **{f"{side}_{joint}": (part, side[0].upper()) for side in ("left", "right")
       for joint, part in (("collar", "clavicle"), ("shoulder", "upperarm"),
                           ("elbow", "forearm"), ("wrist", "hand"), ("hip", "thigh"),
                           ("knee", "shin"), ("ankle", "foot"), ("foot", "toe"))}}
# Without these the target cannot move like the source.
REQUIRED_JOINTS: tuple[str, ...] = ("pelvis", "left_hip", "right_hip", "left_knee",
                                    "right_knee", "left_shoulder", "right_shoulder",
                                    "left_elbow", "right_elbow")
_SIDE_MIN_X = 0.01  # metres off the mid-plane before a bone's position says which side it is


@dataclass(frozen=True)
class TargetBone:
    """One bone of the target armature, as the mapping needs it (armature space, Z up, the
    character facing -Y so its left is +X)."""

    name: str
    parent: str | None
    head: tuple[float, float, float]
    tail: tuple[float, float, float]


class MappingError(ValueError):
    """A mapping that cannot drive the target; the message says what to fix."""


def distribute(chain: Sequence[str], sources: Sequence[str]) -> BoneMap:
    """Spread a chain of target bones (root to tip) over source joints (root to tip).

    A longer chain gives each source a run of bones (five Unreal spine bones from three joints:
    2, 2, 1); a shorter one gives each bone the source at the same height along the chain, and a
    single bone the top source (a one-bone spine follows the chest, which carries the arms).
    """
    n, s = len(chain), len(sources)
    out: dict[str, list[str]] = {}
    if not n or not s:
        return {}
    for i, bone in enumerate(chain):
        k = i * s // n if n >= s else s - 1 if n == 1 else round(i * (s - 1) / (n - 1))
        out.setdefault(sources[k], []).append(bone)
    return {k: tuple(v) for k, v in out.items()}


class _Armature:
    """Target bones with their parsed names and hierarchy queries."""

    def __init__(self, bones: Sequence[TargetBone]) -> None:
        self.bones = {b.name: b for b in bones}
        self.order = [b.name for b in bones]
        self.parsed: dict[str, naming.BoneName] = {}
        for b in bones:
            parsed = naming.parse(b.name, unsided_limbs=True)
            if not parsed.side and parsed.part in naming.SIDED_PARTS:
                x = b.head[0]
                side = "L" if x > _SIDE_MIN_X else "R" if x < -_SIDE_MIN_X else ""
                parsed = naming.BoneName(parsed.name, parsed.words, side,
                                         parsed.part if side else "", parsed.deform_prefix,
                                         parsed.number)
            self.parsed[b.name] = parsed

    def ancestors(self, name: str) -> list[str]:
        out, parent = [], self.bones[name].parent
        while parent is not None and parent in self.bones and parent not in out:
            out.append(parent)
            parent = self.bones[parent].parent
        return out

    def depth(self, name: str) -> int:
        return len(self.ancestors(name))

    def candidates(self, part: str, side: str = "") -> list[str]:
        """Bones naming ``part`` on ``side``; plain names before Rigify's DEF- copies, then
        the highest in the hierarchy first."""
        found = [n for n in self.order
                 if self.parsed[n].part == part and self.parsed[n].side == side]
        return sorted(found, key=lambda n: (self.parsed[n].deform_prefix, self.depth(n)))


def _pick(arm: _Armature, part: str, side: str, below: str | None) -> str | None:
    """The best bone for ``part``: one under ``below`` when any is, else the first."""
    found = arm.candidates(part, side)
    if below is not None:
        under = [n for n in found if below in arm.ancestors(n)]
        if under:
            return under[0]
    return found[0] if found else None


def _limb(arm: _Armature, side: str, parts: Sequence[str], below: str | None
          ) -> dict[str, str]:
    """Parts of one limb, root to tip, each preferably below the previous one."""
    out: dict[str, str] = {}
    for part in parts:
        bone = _pick(arm, part, side, below)
        if bone is not None:
            out[part] = bone
            below = bone
    return out


def _fix_shoulder(arm: _Armature, arm_parts: dict[str, str]) -> None:
    """"Shoulder" names the clavicle in most rigs and the upper arm in some: decide by what
    hangs below. A forearm whose nearest sided ancestor is the "clavicle" means that bone is
    the upper arm (and its own sided parent, if any, the clavicle)."""
    fore, upper, clav = (arm_parts.get(k) for k in ("forearm", "upperarm", "clavicle"))
    if fore is None:
        return
    sided = [a for a in arm.ancestors(fore) if arm.parsed[a].side]
    if upper is None and sided:
        arm_parts["upperarm"] = sided[0]
        if clav == sided[0]:
            del arm_parts["clavicle"]
            if len(sided) > 1:
                arm_parts["clavicle"] = sided[1]


def _spine_chain(arm: _Armature, hips: str, top: str) -> list[str]:
    """Bones strictly between ``hips`` and ``top`` on ``top``'s path to the root, root first."""
    path = arm.ancestors(top)
    if hips not in path:
        return []
    return list(reversed(path[:path.index(hips)]))


def generic_map(bones: Sequence[TargetBone]) -> BoneMap:
    """Map any armature from its bone names and hierarchy (see the module docstring)."""
    arm = _Armature(bones)
    out: BoneMap = {}
    hips = _pick(arm, "hips", "", None)
    limbs: dict[str, dict[str, str]] = {}
    for side in ("L", "R"):
        legs = _limb(arm, side, ("thigh", "shin", "foot", "toe"), hips)
        arms = _limb(arm, side, ("clavicle", "upperarm", "forearm", "hand"), hips)
        _fix_shoulder(arm, arms)
        limbs[side] = {**legs, **arms}
    if hips is None:  # the bone both thighs hang from
        thighs = [limbs[s].get("thigh") for s in "LR"]
        if all(thighs):
            common = [a for a in arm.ancestors(thighs[0]) if a in arm.ancestors(thighs[1])]
            hips = common[0] if common else None
    if hips is not None:
        out["pelvis"] = (hips,)
    necks = arm.candidates("neck")
    head = _pick(arm, "head", "", necks[0] if necks else hips)
    chest_top = necks[0] if necks else head
    if chest_top is None:  # no neck or head: the spine ends where the arms begin
        clavs = [limbs[s].get("clavicle") or limbs[s].get("upperarm") for s in "LR"]
        chest_top = clavs[0] if clavs[0] else None
    if hips is not None and chest_top is not None:
        out.update(distribute(_spine_chain(arm, hips, chest_top), SPINE_JOINTS))
    if necks:
        neck_chain = [n for n in necks
                      if head is None or n == head or n in arm.ancestors(head)] or necks[:1]
        out["neck"] = tuple(sorted(neck_chain, key=arm.depth))
    if head is not None:
        out["head"] = (head,)
    for joint, (part, side) in _PART_OF_JOINT.items():
        if side and part in limbs[side]:
            out[joint] = (limbs[side][part],)
    return {j: out[j] for j in SOURCE_JOINTS if j in out}


def resolve(bone_map: Mapping[str, Sequence[str]], bones: Sequence[TargetBone]) -> BoneMap:
    """A preset's names made the target's: exact names first, then the same name after a
    namespace (``mixamorig:Hips`` for ``Hips``, whatever the exporter's prefix). Bones the
    target lacks are dropped (a preset lists the longest spine of its family)."""
    by_core: dict[str, str] = {}
    names = {b.name for b in bones}
    for b in bones:
        by_core.setdefault(b.name.rsplit(":", 1)[-1], b.name)
    out: BoneMap = {}
    for joint, targets in bone_map.items():
        found = tuple(t if t in names else by_core[t] for t in targets
                      if t in names or t in by_core)
        if found:
            out[joint] = found
    return out


def problems(bone_map: Mapping[str, Sequence[str]], bones: Sequence[TargetBone]) -> list[str]:
    """Everything that stops ``bone_map`` from driving this armature, one sentence each (empty
    when it can): unknown joints or bones, required joints unmapped, a bone driven twice, and
    mappings that turn the hierarchy upside down (a loop)."""
    arm = _Armature(bones)
    out: list[str] = []
    for joint, targets in bone_map.items():
        if joint not in SOURCE_PARENT:
            out.append(f"'{joint}' is not a GenHMR joint")
        for t in targets:
            if t not in arm.bones:
                out.append(f"bone '{t}' (for {joint}) is not in the target armature")
    missing = [j for j in REQUIRED_JOINTS if not bone_map.get(j)]
    if missing:
        out.append("required joints are not mapped: " + ", ".join(missing))
    driven: dict[str, str] = {}
    for joint, targets in bone_map.items():
        for t in targets:
            if t in driven and driven[t] != joint:
                out.append(f"bone '{t}' is mapped from both {driven[t]} and {joint}")
            driven[t] = joint
    if out:
        return out
    for joint, targets in bone_map.items():
        for a, b in itertools.pairwise(targets):
            if a in arm.ancestors(b) or b not in arm.ancestors(a):
                continue
            out.append(f"the bones for {joint} are listed tip first ('{a}' hangs below '{b}')")
        # A joint's bones must not sit above the bones of the joints it hangs from.
        parent = SOURCE_PARENT.get(joint)
        while parent is not None:
            for upper in bone_map.get(parent, ()):
                if any(t in arm.ancestors(upper) for t in targets):
                    out.append(f"mapping makes a loop: '{upper}' ({parent}) hangs below "
                               f"the bones of {joint}, which hangs from {parent}")
            parent = SOURCE_PARENT.get(parent)
    return sorted(set(out))


def check(bone_map: Mapping[str, Sequence[str]], bones: Sequence[TargetBone]) -> BoneMap:
    """``bone_map`` as a :data:`BoneMap`, or :class:`MappingError` listing its problems."""
    found = problems(bone_map, bones)
    if found:
        raise MappingError("; ".join(found))
    return {j: tuple(t) for j, t in bone_map.items() if t}
