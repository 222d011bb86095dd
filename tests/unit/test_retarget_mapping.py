"""Bone names, automatic mapping, checks and presets of the retarget (pure, no Blender)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genhmr_core.retarget import mapping, naming, presets
from genhmr_core.retarget.mapping import TargetBone

# A humanoid's bone heads (armature space: Z up, facing -Y, left +X), by body part.
_HEADS = {"hips": (0, 0, 1.0), "neck": (0, 0, 1.5), "head": (0, 0, 1.62),
          "clavicle": (0.02, 0, 1.42), "upperarm": (0.18, 0, 1.42), "forearm": (0.45, 0, 1.42),
          "hand": (0.7, 0, 1.42), "thigh": (0.1, 0, 0.95), "shin": (0.1, 0, 0.5),
          "foot": (0.1, 0.02, 0.08), "toe": (0.1, -0.12, 0.02)}


def humanoid(names: dict[str, str], spine: list[str], extra: tuple[TargetBone, ...] = (),
             neck: list[str] | None = None, side_marks: tuple[str, str] = ("L", "R")
             ) -> list[TargetBone]:
    """Bones named by ``names`` (part -> name with ``{s}`` for the side mark), a spine chain
    ``spine`` between hips and neck, and ``neck`` (a chain of several neck bones)."""
    bones: list[TargetBone] = []

    def add(name: str, parent: str | None, head, tail) -> None:
        bones.append(TargetBone(name, parent, tuple(map(float, head)), tuple(map(float, tail))))

    add(names["hips"], None, _HEADS["hips"], (0, 0, 1.1))
    parent = names["hips"]
    for i, bone in enumerate(spine):
        z0 = 1.0 + 0.45 * i / len(spine)
        add(bone, parent, (0, 0, z0), (0, 0, z0 + 0.45 / len(spine)))
        parent = bone
    chest = parent
    for i, bone in enumerate(neck or [names["neck"]]):
        add(bone, parent, (0, 0, 1.5 + 0.05 * i), (0, 0, 1.55 + 0.05 * i))
        parent = bone
    add(names["head"], parent, _HEADS["head"], (0, 0, 1.8))
    for mark, sign in zip(side_marks, (1.0, -1.0), strict=True):
        def at(part: str, sign: float = sign) -> np.ndarray:
            x, y, z = _HEADS[part]
            return np.array([sign * x, y, z])
        prev = chest
        for part, nxt in (("clavicle", "upperarm"), ("upperarm", "forearm"),
                          ("forearm", "hand"), ("hand", None)):
            if part not in names:
                continue
            name = names[part].format(s=mark)
            add(name, prev, at(part), at(nxt) if nxt else at(part) + [sign * 0.1, 0, 0])
            prev = name
        prev = names["hips"]
        for part, nxt in (("thigh", "shin"), ("shin", "foot"), ("foot", "toe"), ("toe", None)):
            name = names[part].format(s=mark)
            add(name, prev, at(part), at(nxt) if nxt else at(part) + [0, -0.06, 0])
            prev = name
    return bones + list(extra)


MIXAMO = {"hips": "mixamorig:Hips", "neck": "mixamorig:Neck", "head": "mixamorig:Head",
          "clavicle": "mixamorig:{s}Shoulder", "upperarm": "mixamorig:{s}Arm",
          "forearm": "mixamorig:{s}ForeArm", "hand": "mixamorig:{s}Hand",
          "thigh": "mixamorig:{s}UpLeg", "shin": "mixamorig:{s}Leg",
          "foot": "mixamorig:{s}Foot", "toe": "mixamorig:{s}ToeBase"}
UNREAL = {"hips": "pelvis", "head": "head", "clavicle": "clavicle_{s}",
          "upperarm": "upperarm_{s}", "forearm": "lowerarm_{s}", "hand": "hand_{s}",
          "thigh": "thigh_{s}", "shin": "calf_{s}", "foot": "foot_{s}", "toe": "ball_{s}"}
GENERIC = {"hips": "Hips", "neck": "Neck", "head": "Head", "clavicle": "Shoulder.{s}",
           "upperarm": "UpperArm.{s}", "forearm": "LowerArm.{s}", "hand": "Hand.{s}",
           "thigh": "UpperLeg.{s}", "shin": "LowerLeg.{s}", "foot": "Foot.{s}",
           "toe": "Toes.{s}"}


@pytest.mark.parametrize(("name", "side", "part"), [
    ("mixamorig:LeftUpLeg", "L", "thigh"), ("mixamorig:RightLeg", "R", "shin"),
    ("mixamorig:LeftShoulder", "L", "clavicle"), ("mixamorig:LeftArm", "L", "upperarm"),
    ("mixamorig:LeftForeArm", "L", "forearm"), ("mixamorig:HeadTop_End", "", ""),
    ("lowerarm_twist_01_l", "L", ""), ("ik_foot_r", "R", ""), ("ball_l", "L", "toe"),
    ("DEF-thigh.L.001", "L", "thigh"), ("upper_arm_fk.R", "R", "upperarm"),
    ("Bip01 L Thigh", "L", "thigh"), ("lShldr", "L", "upperarm"), ("rForeArm", "R", "forearm"),
    ("CC_Base_L_Upperarm", "L", "upperarm"), ("pelvis.L", "L", ""), ("spine_05", "", "spine"),
    ("LeftHandIndex1", "L", ""), ("Hips", "", "hips"), ("neck_01", "", "neck")])
def test_bone_names_read_side_and_part(name: str, side: str, part: str) -> None:
    parsed = naming.parse(name)
    assert (parsed.side, parsed.part) == (side, part)


def test_mixamo_maps_through_its_namespace() -> None:
    bones = humanoid(MIXAMO, ["mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2"],
                     side_marks=("Left", "Right"))
    bone_map, source = presets.auto_map(bones)
    assert source == "Mixamo"
    assert set(bone_map) == set(mapping.SOURCE_JOINTS)
    assert bone_map["left_shoulder"] == ("mixamorig:LeftArm",)
    assert bone_map["left_collar"] == ("mixamorig:LeftShoulder",)
    assert bone_map["right_knee"] == ("mixamorig:RightLeg",)
    assert mapping.problems(bone_map, bones) == []


@pytest.mark.parametrize(("spine", "neck", "family", "spine_map"), [
    (["spine_01", "spine_02", "spine_03", "spine_04", "spine_05"], ["neck_01", "neck_02"],
     "Unreal Mannequin (UE5)", {"spine1": ("spine_01", "spine_02"),
                                "spine2": ("spine_03", "spine_04"), "spine3": ("spine_05",)}),
    (["spine_01", "spine_02", "spine_03"], ["neck_01"], "Unreal Mannequin (UE4)",
     {"spine1": ("spine_01",), "spine2": ("spine_02",), "spine3": ("spine_03",)})])
def test_unreal_mannequins_pick_their_own_preset(spine, neck, family, spine_map) -> None:
    twist = (TargetBone("upperarm_twist_01_l", "upperarm_l", (0.3, 0, 1.42), (0.35, 0, 1.42)),
             TargetBone("root", None, (0, 0, 0), (0, -0.2, 0)))
    bones = humanoid(UNREAL, spine, twist, neck=neck, side_marks=("l", "r"))
    bone_map, source = presets.auto_map(bones)
    assert source == family
    assert {k: bone_map[k] for k in spine_map} == spine_map
    assert bone_map["neck"] == tuple(neck)
    assert "upperarm_twist_01_l" not in sum(bone_map.values(), ())


def test_any_rig_maps_from_names_and_hierarchy() -> None:
    spine = ["Spine", "Spine.001", "Spine.002", "Spine.003", "Spine.004"]
    extra = (TargetBone("Tail", "Hips", (0, 0.1, 1.0), (0, 0.3, 0.9)),
             TargetBone("Prop", "Hand.R", (-0.8, 0, 1.42), (-0.9, 0, 1.42)))
    bones = humanoid(GENERIC, spine, extra)
    bone_map, source = presets.auto_map(bones)
    assert source == "names and hierarchy"
    assert set(bone_map) == set(mapping.SOURCE_JOINTS)
    assert bone_map["spine1"] == ("Spine", "Spine.001")
    assert bone_map["spine2"] == ("Spine.002", "Spine.003")
    assert bone_map["spine3"] == ("Spine.004",)
    assert bone_map["left_collar"] == ("Shoulder.L",)
    assert bone_map["right_shoulder"] == ("UpperArm.R",)
    assert bone_map["left_foot"] == ("Toes.L",)
    assert mapping.problems(bone_map, bones) == []


def test_a_shoulder_the_forearm_hangs_from_is_the_upper_arm() -> None:
    """Joint-named rigs (BVH mocap): Shoulder_L is the upper arm, there is no clavicle."""
    names = {"hips": "Hips", "neck": "Neck", "head": "Head", "upperarm": "Shoulder_{s}",
             "forearm": "Elbow_{s}", "hand": "Wrist_{s}", "thigh": "Hip_{s}",
             "shin": "Knee_{s}", "foot": "Ankle_{s}", "toe": "Toe_{s}"}
    bones = humanoid(names, ["Chest"])
    bone_map = mapping.generic_map(bones)
    assert "left_collar" not in bone_map
    assert bone_map["left_shoulder"] == ("Shoulder_L",)
    assert bone_map["left_elbow"] == ("Elbow_L",)
    assert bone_map["right_hip"] == ("Hip_R",)
    assert bone_map["spine3"] == ("Chest",)


def test_names_without_a_side_take_it_from_where_the_bone_sits() -> None:
    bones = humanoid(GENERIC, ["Spine"])
    renamed = [TargetBone(b.name.replace(".L", "").replace(".R", "_x") if "Leg" in b.name
                          or "Foot" in b.name or "Toes" in b.name else b.name,
                          (b.parent.replace(".L", "").replace(".R", "_x")
                           if b.parent and ("Leg" in b.parent or "Foot" in b.parent)
                           else b.parent), b.head, b.tail) for b in bones]
    bone_map = mapping.generic_map(renamed)
    assert bone_map["left_hip"] == ("UpperLeg",)
    assert bone_map["right_knee"] == ("LowerLeg_x",)


def test_problems_name_what_to_fix() -> None:
    bones = humanoid(GENERIC, ["Spine"])
    good, _ = presets.auto_map(bones)
    assert mapping.problems(good, bones) == []
    missing = {k: v for k, v in good.items() if k != "left_elbow"}
    assert mapping.problems(missing, bones) == ["required joints are not mapped: left_elbow"]
    twice = {**good, "right_elbow": good["left_elbow"]}
    assert any("mapped from both" in p for p in mapping.problems(twice, bones))
    unknown = {**good, "left_wrist": ("Hand.Left",)}
    assert any("not in the target" in p for p in mapping.problems(unknown, bones))
    loop = {**good, "left_hip": good["left_knee"], "left_knee": good["left_hip"]}
    assert any("loop" in p for p in mapping.problems(loop, bones))
    flipped = {**good, "spine1": ("Spine", "Hips")}
    flipped.pop("pelvis")
    flipped["pelvis"] = ("Tail",)
    assert mapping.problems(flipped, bones)
    with pytest.raises(mapping.MappingError, match="left_elbow"):
        mapping.check(missing, bones)


@pytest.mark.parametrize(("n", "expected"), [
    (1, [2]), (2, [0, 2]), (3, [0, 1, 2]), (5, [0, 0, 1, 1, 2]), (6, [0, 0, 1, 1, 2, 2])])
def test_spine_chains_of_any_length(n: int, expected: list[int]) -> None:
    chain = [f"s{i}" for i in range(n)]
    spread = mapping.distribute(chain, mapping.SPINE_JOINTS)
    got = {b: mapping.SPINE_JOINTS.index(j) for j, bones in spread.items() for b in bones}
    assert [got[b] for b in chain] == expected


def test_presets_round_trip_and_refuse_bad_files(tmp_path) -> None:
    bones = humanoid(GENERIC, ["Spine", "Chest"])
    bone_map, _ = presets.auto_map(bones)
    path = presets.save(tmp_path / "presets" / "hero.json", "Hero", bone_map)
    name, loaded = presets.load(path)
    assert name == "Hero" and loaded == bone_map
    with pytest.raises(presets.PresetError, match="JSON"):
        presets.from_json("{nope")
    with pytest.raises(presets.PresetError, match="not a GenHMR"):
        presets.from_json(json.dumps({"map": {}}))
    newer = json.loads(presets.to_json("x", bone_map))
    newer["version"] = presets.VERSION + 1
    with pytest.raises(presets.PresetError, match="newer"):
        presets.from_json(json.dumps(newer))
    newer["version"] = 1
    newer["map"]["tail"] = ["Tail"]
    with pytest.raises(presets.PresetError, match="tail"):
        presets.from_json(json.dumps(newer))
    with pytest.raises(presets.PresetError, match="cannot read"):
        presets.load(tmp_path / "missing.json")


def test_every_builtin_preset_maps_the_required_joints() -> None:
    for name, table in presets.BUILTIN.items():
        assert set(mapping.REQUIRED_JOINTS) <= set(table), name
        assert set(table) <= set(mapping.SOURCE_JOINTS), name
