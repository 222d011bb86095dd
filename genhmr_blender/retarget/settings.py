"""Retarget settings, stored on the target armature object (``Object.genhmr_retarget``).

They live on the character, not the scene, so every character keeps its own mapping, source
and options in the .blend, and a mapping edited by hand survives until the artist maps again.

(No ``from __future__ import annotations``: Blender reads these annotations as properties.)
"""

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .._core import retarget
from . import armatures

_JOINT_ITEMS = [(j, j.replace("_", " ").title(), f"GenHMR joint {j}")
                for j in retarget.mapping.SOURCE_JOINTS]


def _poll_source(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return armatures.is_genhmr_rig(obj)


class GENHMR_PG_bone_pair(bpy.types.PropertyGroup):
    """One row of the mapping table: a GenHMR joint drives one target bone."""

    joint: EnumProperty(name="Joint", items=_JOINT_ITEMS,
                        description="The GenHMR joint whose motion this bone follows")
    bone: StringProperty(name="Bone", description="The target bone it drives")


class GENHMR_PG_rest_match(bpy.types.PropertyGroup):
    """A target bone's pose (armature-space rotation, row-major) that matches our rest."""

    bone: StringProperty()
    rotation: FloatVectorProperty(size=9)


class GENHMR_PG_retarget(bpy.types.PropertyGroup):
    """How this armature takes GenHMR motion."""

    source: PointerProperty(
        name="Source", type=bpy.types.Object, poll=_poll_source,
        description="The GenHMR rig whose motion this armature takes")
    pairs: CollectionProperty(type=GENHMR_PG_bone_pair)
    active_pair: IntProperty(name="Active Row", default=0, min=0)
    mapped_from: StringProperty(
        name="Mapping From", description="Where the mapping came from (preset or names)")
    root_mode: EnumProperty(
        name="Root Motion",
        items=[("HIPS", "On the Hips", "The hips bone carries all the travel (Mixamo style)"),
               ("ROOT_BONE", "On a Root Bone",
                "The bone above the hips (Unreal's root) travels across the floor; the hips "
                "keep their height and sway"),
               ("OBJECT", "On the Object", "The armature object travels; the hips sway"),
               ("IN_PLACE", "In Place", "No travel across the floor: the motion on the spot")],
        default="HIPS",
        description="Where the motion across the floor goes, scaled by leg length")
    root_bone: StringProperty(
        name="Root Bone", description="The bone that travels (empty: the hips' parent)")
    rest_match: CollectionProperty(type=GENHMR_PG_rest_match)
    foot_lock: BoolProperty(
        name="Pin Planted Feet", default=True,
        description="Where the GenHMR result says a foot rests on the ground, bend the leg so "
                    "the character's foot stays put (different proportions otherwise make it "
                    "slide)")
    contact_threshold: FloatProperty(
        name="Contact", default=0.5, min=0.05, max=0.95,
        description="Foot contact probability above which a foot counts as planted")
    action_mode: EnumProperty(
        name="Keys",
        items=[("NEW", "New Action", "Bake into a new action (the current one is kept)"),
               ("REPLACE", "Replace in Range",
                "Replace the baked bones' keys inside the frame range of the current action")],
        default="NEW")
    range_mode: EnumProperty(
        name="Frames",
        items=[("SOURCE", "Source Animation", "Every frame the GenHMR rig has keys for"),
               ("SCENE", "Scene Range", "The scene's frame range")],
        default="SOURCE")


CLASSES = (GENHMR_PG_bone_pair, GENHMR_PG_rest_match, GENHMR_PG_retarget)


def register() -> None:
    bpy.types.Object.genhmr_retarget = PointerProperty(type=GENHMR_PG_retarget)


def unregister() -> None:
    del bpy.types.Object.genhmr_retarget


def bone_map_of(settings: GENHMR_PG_retarget) -> dict[str, tuple[str, ...]]:
    """The table as a mapping (rows of one joint in table order, root to tip)."""
    out: dict[str, list[str]] = {}
    for pair in settings.pairs:
        if pair.bone:
            out.setdefault(pair.joint, []).append(pair.bone)
    return {j: tuple(out[j]) for j in retarget.mapping.SOURCE_JOINTS if j in out}


def set_bone_map(settings: GENHMR_PG_retarget, bone_map: dict[str, tuple[str, ...]],
                 mapped_from: str) -> None:
    settings.pairs.clear()
    for joint in retarget.mapping.SOURCE_JOINTS:
        for bone in bone_map.get(joint, ()):
            pair = settings.pairs.add()
            pair.joint, pair.bone = joint, bone
    settings.active_pair = 0
    settings.mapped_from = mapped_from
