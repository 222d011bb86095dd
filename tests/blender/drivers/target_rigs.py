"""Character armatures an artist would retarget motion onto, built in code for the retarget tests.

Imported by the Blender driver scripts (inside a process that imports bpy). The retarget tests
need the kinds of rigs artists bring: a Mixamo FBX import, an Unreal mannequin (UE5 and UE4),
the bundled Rigify human metarig and the rig generated from it, and a hand-made Blender rig. No
third-party files (FBX, .blend) may be committed, so each rig is rebuilt here from the published
naming conventions, with a realistic hierarchy, proportions, rest pose and bone rolls.

Shared conventions: the character faces -Y (Blender's front), Z is up, its left side is at +X,
the soles are at the object origin's z (the lowest bone point, a toe tip, is at z = 0) and the
top of the skull is at z = ``height``. Mixamo and Unreal bones get deliberately non-zero rolls,
mirrored left/right (right roll = -left roll), as real imports have: a retarget that ignored
bone roll would twist the limbs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import addon_utils
import bpy
import numpy as np
from mathutils import Vector

Vec = tuple[float, float, float]
# (name, head, tail, parent, connected, roll in degrees, deform); head/tail in units of height.
BoneSpec = tuple[str, Vec, Vec, str | None, bool, float, bool]

FORWARD = np.array([0.0, -1.0, 0.0])
UP = np.array([0.0, 0.0, 1.0])


def _v(p: np.ndarray | Sequence[float]) -> Vec:
    return (float(p[0]), float(p[1]), float(p[2]))


def _flip(p: Vec) -> Vec:
    return (-p[0], p[1], p[2])


def _body(arm_down_deg: float, knee_forward: float) -> dict[str, np.ndarray]:
    """Joint positions of a standing adult 1 unit tall: centre line and left side (x > 0).

    Proportions follow common anthropometric tables (hip joint at ~0.51 of stature, shoulder at
    ~0.815, upper arm ~0.165, forearm ~0.145, thigh ~0.225, shin ~0.24). ``arm_down_deg`` is the
    angle of the arms below horizontal (0: T-pose, ~45: A-pose); ``knee_forward`` bends the knees
    slightly forward (-Y), giving IK solvers a bend direction.
    """
    a = math.radians(arm_down_deg)
    d = np.array([math.cos(a), 0.0, -math.sin(a)])
    p: dict[str, np.ndarray] = {
        "pelvis": np.array([0.0, 0.0, 0.55]), "chest_top": np.array([0.0, 0.01, 0.82]),
        "skull": np.array([0.0, -0.005, 0.875]), "top": np.array([0.0, -0.005, 1.0]),
        "clavicle": np.array([0.02, -0.01, 0.80]), "shoulder": np.array([0.10, 0.005, 0.815]),
        "hip": np.array([0.055, 0.0, 0.51]), "knee": np.array([0.058, -knee_forward, 0.285]),
        "ankle": np.array([0.062, 0.015, 0.045]), "ball": np.array([0.068, -0.065, 0.012]),
        "toe": np.array([0.068, -0.11, 0.0]),
    }
    p["elbow"] = p["shoulder"] + 0.165 * d
    p["wrist"] = p["elbow"] + 0.145 * d
    p["knuckle"] = p["wrist"] + 0.055 * d  # middle-finger base: the hand bone's tail
    p["index0"] = p["wrist"] + 0.052 * d + 0.02 * FORWARD
    for i, seg in enumerate((0.026, 0.017, 0.014), start=1):
        p[f"index{i}"] = p[f"index{i - 1}"] + seg * d
    t = d + 0.9 * FORWARD - 0.2 * UP
    t /= np.linalg.norm(t)
    p["thumb0"] = p["wrist"] + 0.012 * d + 0.018 * FORWARD
    for i, seg in enumerate((0.022, 0.019, 0.016), start=1):
        p[f"thumb{i}"] = p[f"thumb{i - 1}"] + seg * t
    return p


def _column(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    """n + 1 points from a to b along a gently back-curved spine."""
    s = np.linspace(0.0, 1.0, n + 1)
    return [a + (b - a) * si + np.array([0.0, 0.012 * math.sin(math.pi * si), 0.0]) for si in s]


def _chain(names: Sequence[str], points: Sequence[np.ndarray], parent: str | None,
           rolls: float | Sequence[float], connect_first: bool = False,
           deform: bool = True) -> list[BoneSpec]:
    """Bones along consecutive points; every bone after the first is connected to the one
    before it, as in the real rigs' limb, spine and finger chains."""
    rs = [rolls] * len(names) if isinstance(rolls, int | float) else list(rolls)
    return [(n, _v(points[i]), _v(points[i + 1]), parent if i == 0 else names[i - 1],
             connect_first if i == 0 else True, rs[i], deform) for i, n in enumerate(names)]


def _twist(name: str, limb: BoneSpec) -> BoneSpec:
    """An Unreal twist bone: child of the limb bone, from its middle, same roll."""
    h, t = np.array(limb[1]), np.array(limb[2])
    mid = (h + t) / 2
    return (name, _v(mid), _v(mid + (t - h) / 4), limb[0], False, limb[5], True)


def _copy(name: str, bone: BoneSpec, parent: str) -> BoneSpec:
    """A control bone at another bone's place (Unreal's IK helper bones), not deforming."""
    return (name, bone[1], bone[2], parent, False, bone[5], False)


def _mirrored(specs: list[BoneSpec], to_right: Callable[[str], str | None]) -> list[BoneSpec]:
    """The specs plus right-side copies of the left bones (x and roll negated)."""
    out = list(specs)
    for name, head, tail, parent, conn, roll, deform in specs:
        right = to_right(name)
        if right is not None:
            rp = (to_right(parent) or parent) if parent else None
            out.append((right, _flip(head), _flip(tail), rp, conn, -roll, deform))
    return out


def _object_mode() -> None:
    if bpy.context.view_layer.objects.active is not None and bpy.context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")


def _activate(obj: bpy.types.Object) -> None:
    """Make obj the only selected object and the view layer's active one (ops need both)."""
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)


def _build(name: str, location: Sequence[float], specs: list[BoneSpec], height: float,
           object_scale: float = 1.0) -> bpy.types.Object:
    """An armature object in the scene collection from bone specs in units of height."""
    _object_mode()
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = location
    obj.scale = (object_scale,) * 3
    k = height / object_scale
    _activate(obj)
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = arm.edit_bones
    for bname, head, tail, _parent, _conn, roll, deform in specs:
        eb = ebs.new(bname)
        eb.head, eb.tail = Vector(head) * k, Vector(tail) * k
        eb.roll = math.radians(roll)
        eb.use_deform = deform
    for bname, _head, _tail, parent, conn, _roll, _deform in specs:
        if parent is not None:
            ebs[bname].parent = ebs[parent]
            ebs[bname].use_connect = conn
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _legs(p: dict[str, np.ndarray], names: Sequence[str], parent: str,
          rolls: Sequence[float]) -> list[BoneSpec]:
    """Thigh, shin, foot, toes (and a toe end when five names are given)."""
    pts = [p["hip"], p["knee"], p["ankle"], p["ball"], p["toe"]]
    if len(names) == 5:
        pts.insert(4, (p["ball"] + p["toe"]) / 2)
    return _chain(names, pts, parent, rolls)


def _hand(p: dict[str, np.ndarray], hand: str, index: Sequence[str], thumb: Sequence[str],
          roll_index: float, roll_thumb: float) -> list[BoneSpec]:
    return (_chain(index, [p[f"index{i}"] for i in range(4)], hand, roll_index)
            + _chain(thumb, [p[f"thumb{i}"] for i in range(4)], hand, roll_thumb))


def mixamo_rig(name: str = "Mixamo", location: Sequence[float] = (0.0, 0.0, 0.0),
               height: float = 1.80, object_scale: float = 1.0) -> bpy.types.Object:
    """A Mixamo character as Blender's FBX importer brings it in: ``mixamorig:`` names, A-pose
    arms (45 degrees down), mirrored non-zero rolls. ``object_scale=0.01`` builds it 100x larger
    in armature space with object scale 0.01, as many Mixamo imports are (same world size)."""
    p = _body(arm_down_deg=45.0, knee_forward=0.008)
    m = "mixamorig:"
    sp = _column(p["pelvis"] + 0.05 * UP, p["chest_top"], 3)
    specs = _chain([m + "Hips"], [p["pelvis"], sp[0]], None, 180.0)
    specs += _chain([m + s for s in ("Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End")],
                    [*sp, p["skull"], p["top"] - 0.03 * UP, p["top"]], m + "Hips", 180.0, True)
    specs += _chain([m + s for s in ("LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand")],
                    [p["clavicle"], p["shoulder"], p["elbow"], p["wrist"], p["knuckle"]],
                    m + "Spine2", (40.0, 60.0, 75.0, 90.0))
    specs += _hand(p, m + "LeftHand", [f"{m}LeftHandIndex{i}" for i in (1, 2, 3)],
                   [f"{m}LeftHandThumb{i}" for i in (1, 2, 3)], 50.0, 80.0)
    specs += _legs(p, [m + s for s in ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
                                       "LeftToe_End")], m + "Hips", (30.0, 35.0, 55.0, 45.0, 45.0))
    specs = _mirrored(specs, lambda n: n.replace("Left", "Right") if "Left" in n else None)
    return _build(name, location, specs, height, object_scale)


def _unreal(name: str, location: Sequence[float], height: float, n_spine: int, n_neck: int,
            arm_down_deg: float, knee_forward: float) -> bpy.types.Object:
    """The Unreal mannequin skeleton (UE4 and UE5 share the naming scheme)."""
    p = _body(arm_down_deg, knee_forward)
    neck = p["chest_top"] + 0.025 * UP if n_neck == 1 else p["chest_top"]
    spine = [f"spine_{i:02d}" for i in range(1, n_spine + 1)]
    necks = [f"neck_{i:02d}" for i in range(1, n_neck + 1)]
    sp = _column(p["pelvis"] + 0.03 * UP, neck, n_spine)
    nk = list(np.linspace(neck, p["skull"], n_neck + 1))
    specs: list[BoneSpec] = [("root", (0.0, 0.0, 0.0), (0.0, 0.1, 0.0), None, False, 0.0, False)]
    specs += _chain(["pelvis"], [p["pelvis"], sp[0]], "root", 180.0)
    specs += _chain([*spine, *necks, "head"], [*sp, *nk[1:], p["top"]], "pelvis", 180.0, True)
    arm = _chain(["clavicle_l", "upperarm_l", "lowerarm_l", "hand_l"],
                 [p["clavicle"], p["shoulder"], p["elbow"], p["wrist"], p["knuckle"]],
                 spine[-1], (80.0, 65.0, 85.0, 70.0))
    leg = _legs(p, ["thigh_l", "calf_l", "foot_l", "ball_l"], "pelvis", (-35.0, -40.0, -60.0,
                                                                         -70.0))
    specs += arm + _hand(p, "hand_l", ["index_01_l", "index_02_l", "index_03_l"],
                         ["thumb_01_l", "thumb_02_l", "thumb_03_l"], 55.0, 75.0)
    specs += leg + [_twist("upperarm_twist_01_l", arm[1]), _twist("lowerarm_twist_01_l", arm[2]),
                    _twist("thigh_twist_01_l", leg[0]), _twist("calf_twist_01_l", leg[1])]
    specs += [("ik_foot_root", (0.0, 0.0, 0.0), (0.0, 0.1, 0.0), "root", False, 0.0, False),
              _copy("ik_foot_l", leg[2], "ik_foot_root"),
              ("ik_hand_root", (0.0, 0.0, 0.0), (0.0, 0.1, 0.0), "root", False, 0.0, False)]
    hand_r = arm[3]
    specs.append(_copy("ik_hand_gun", (hand_r[0], _flip(hand_r[1]), _flip(hand_r[2]), None,
                                       False, -hand_r[5], True), "ik_hand_root"))
    specs.append(_copy("ik_hand_l", arm[3], "ik_hand_gun"))
    specs = _mirrored(specs, lambda n: n[:-2] + "_r" if n.endswith("_l") else None)
    return _build(name, location, specs, height)


def ue5_rig(name: str = "UE5", location: Sequence[float] = (0.0, 0.0, 0.0),
            height: float = 1.75) -> bpy.types.Object:
    """The UE5 mannequin (Manny): ``root`` on the floor, ``pelvis``, ``spine_01``..``spine_05``,
    ``neck_01``, ``neck_02``, ``head``, ``_l``/``_r`` limbs with twist bones, non-deforming
    ``ik_*`` helpers under ``root``; A-pose arms 45 degrees down, knees slightly forward."""
    return _unreal(name, location, height, 5, 2, arm_down_deg=45.0, knee_forward=0.02)


def ue4_rig(name: str = "UE4", location: Sequence[float] = (0.0, 0.0, 0.0),
            height: float = 1.75) -> bpy.types.Object:
    """The UE4 mannequin: as UE5 but ``spine_01``..``spine_03``, one ``neck_01``, T-pose arms."""
    return _unreal(name, location, height, 3, 1, arm_down_deg=0.0, knee_forward=0.015)


def generic_rig(name: str = "Generic", location: Sequence[float] = (0.0, 0.0, 0.0),
                height: float = 1.65, spine_bones: int = 5) -> bpy.types.Object:
    """A hand-made Blender rig: ``Hips``, ``Spine``, ``Spine.001``.. (``spine_bones`` bones
    named Spine*), ``Chest``, ``Neck``, ``Head``, ``Shoulder.L``, ``UpperArm.L``, ``LowerArm.L``,
    ``Hand.L``, ``UpperLeg.L``, ``LowerLeg.L``, ``Foot.L``, ``Toes.L`` and ``.R`` mirrors; T-pose,
    rolls left at 0 (Blender's default). Extra bones in no mapping: ``Tail`` (deforming, on the
    hips) and ``Prop`` (non-deforming, on the right hand)."""
    p = _body(arm_down_deg=0.0, knee_forward=0.01)
    spine = ["Spine"] + [f"Spine.{i:03d}" for i in range(1, spine_bones)]
    sp = _column(p["pelvis"] + 0.05 * UP, p["chest_top"], spine_bones + 1)
    specs = _chain(["Hips"], [p["pelvis"], sp[0]], None, 0.0)
    specs += _chain([*spine, "Chest", "Neck", "Head"], [*sp, p["skull"], p["top"]], "Hips", 0.0,
                    True)
    specs += _chain(["Shoulder.L", "UpperArm.L", "LowerArm.L", "Hand.L"],
                    [p["clavicle"], p["shoulder"], p["elbow"], p["wrist"], p["knuckle"]],
                    "Chest", 0.0)
    specs += _legs(p, ["UpperLeg.L", "LowerLeg.L", "Foot.L", "Toes.L"], "Hips", (0.0,) * 4)
    specs.append(("Tail", (0.0, 0.06, 0.52), (0.0, 0.25, 0.42), "Hips", False, 0.0, True))
    specs = _mirrored(specs, lambda n: n[:-2] + ".R" if n.endswith(".L") else None)
    grip = _flip(_v(p["knuckle"] + np.array([0.0, -0.02, -0.03])))
    specs.append(("Prop", grip, _v(np.array(grip) + np.array([0.0, -0.15, 0.0])), "Hand.R", False,
                  0.0, False))
    return _build(name, location, specs, height)


def _to_scene_collection(obj: bpy.types.Object) -> None:
    scene_coll = bpy.context.scene.collection
    for coll in list(obj.users_collection):
        if coll != scene_coll:
            coll.objects.unlink(obj)
    if scene_coll not in obj.users_collection:
        scene_coll.objects.link(obj)


def rigify_metarig(name: str = "metarig", location: Sequence[float] = (0.0, 0.0, 0.0)
                   ) -> bpy.types.Object:
    """The bundled Rigify add-on's human metarig (about 1.98 m to the top of its head bones)."""
    addon_utils.enable("rigify", default_set=True)
    _object_mode()
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.view_layer.objects.active
    obj.name = name
    obj.location = location
    _to_scene_collection(obj)
    return obj


def rigify_generated(metarig: bpy.types.Object) -> bpy.types.Object:
    """The rig Rigify generates from ``metarig`` (~7 s headless), in the scene collection and
    placed where the metarig is."""
    _object_mode()
    _activate(metarig)
    bpy.ops.pose.rigify_generate()
    rig = metarig.data.rigify_target_rig
    _object_mode()
    _to_scene_collection(rig)
    rig.matrix_world = metarig.matrix_world.copy()  # Rigify leaves the rig at the world origin
    bpy.context.view_layer.update()
    return rig


def rigify_set_fk(rig: bpy.types.Object) -> None:
    """Switch every limb of a generated Rigify rig to FK (``IK_FK`` = 1 on the ``*_parent.*``
    bones), so the FK controls (``thigh_fk.L``, ``upper_arm_fk.L``, ...) drive the DEF bones."""
    for pb in rig.pose.bones:
        if "_parent." in pb.name and "IK_FK" in pb:
            pb["IK_FK"] = 1.0
    rig.update_tag()
    bpy.context.view_layer.update()


def world_heads(obj: bpy.types.Object, bone_names: Sequence[str]) -> dict[str, Vec]:
    """World-space heads of the evaluated (posed) bones, after a view layer update."""
    bpy.context.view_layer.update()
    return {n: _v(obj.matrix_world @ obj.pose.bones[n].head) for n in bone_names}
