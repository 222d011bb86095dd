"""Do limbs keep their thickness when posed? Dual quaternions (preserve volume) vs plain LBS.

Usage: python candy_wrapper.py RESULT.npz POSE_NAMES

RESULT's first person holds one pose per frame (POSE_NAMES, comma-separated, in frame order).
The result is built twice, with and without *Preserve Volume*. Each vertex with a weight of at
least 0.2 on a shoulder, elbow, hip or knee belongs to the bone of the one it is weighted to
most (upper arm, forearm, thigh, shin: the segment from that joint to its child); its distance
to that segment is measured in the rest pose and in each posed frame. A limb collapsing at a
twist (the "candy wrapper") shows as a ratio posed/rest well below 1. Two vertex sets:

* ``core``: mostly bound to the joint (weight >= 0.9): must keep its distance in every pose;
* ``blend``: the blend zones between bones (weight 0.2 .. 0.9), where linear blend skinning
  averages rotated and unrotated positions; at a 90-degree twist that pulls them towards the
  axis (to ~cos 45 = 0.71 for 50/50 weights), while dual quaternions keep them on their circle.
  At the inner side of a bend they approach the bone with either method, as skin does (a
  crease), the more so the farther from the joint the blend reaches.
"""

import sys

import bpy
import numpy as np
from _driver import emit, enable, module
from _mesh_eval import evaluated_world_vertices, lbs_world

from genhmr_core import result_format, skeleton

# Bones whose skin is checked: (joint, the child its bone points at).
BONES = {f"{s}_{a}": f"{s}_{b}" for s in ("left", "right")
         for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"),
                      ("knee", "ankle"))}
MIN_WEIGHT, CORE_WEIGHT = 0.2, 0.9
MIN_REST_DISTANCE = 0.02  # metres; closer vertices (seams at the joint centre) give noisy ratios


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (N,) from each point to the segment a-b (the bone's axis)."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def build(preserve_volume: bool) -> bpy.types.Object:
    report = BUILD.build_result(bpy.context, RES, BUILD.BuildOptions(
        preserve_volume=preserve_volume, load_background=False, set_scene_settings=False,
        collection_name=f"GenHMR dqs={preserve_volume}"))
    return bpy.data.objects[report.meshes[0]]


enable()
RES = result_format.load_result(sys.argv[1])
POSE_NAMES = sys.argv[2].split(",")
BODY = RES.body
BUILD = module("genhmr_blender.rig.build")
betas = RES.betas[0]
rest_verts, rest_joints = BODY.shaped(betas)[0], RES.rest_joints[0]
bone_joints = np.array([skeleton.JOINT_INDEX[n] for n in BONES])
bone_children = np.array([skeleton.JOINT_INDEX[c] for c in BONES.values()])
limb_weights = BODY.dense_weights()[:, bone_joints]  # (V, 8)
owner = limb_weights.argmax(1)  # index into BONES
owner_weight = limb_weights.max(1)
rest_dist = np.full(len(owner), np.nan)
for k in range(len(BONES)):
    ids = np.flatnonzero(owner == k)
    rest_dist[ids] = segment_distance(rest_verts[ids], rest_joints[bone_joints[k]],
                                      rest_joints[bone_children[k]])
checked = (owner_weight >= MIN_WEIGHT) & (rest_dist > MIN_REST_DISTANCE)
SETS = {"core": checked & (owner_weight >= CORE_WEIGHT),
        "blend": checked & (owner_weight < CORE_WEIGHT)}


def distance_ratios(verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Posed/rest distance of every checked vertex to its bone (NaN for the others)."""
    out = np.full(len(verts), np.nan)
    for k in range(len(BONES)):
        ids = np.flatnonzero(checked & (owner == k))
        d = segment_distance(verts[ids], joints[bone_joints[k]], joints[bone_children[k]])
        out[ids] = d / rest_dist[ids]
    return out


meshes = {"dqs": build(True), "lbs": build(False)}
height = next(o for o in bpy.data.collections["GenHMR dqs=True"].objects
              if o.type == "CAMERA").location.z
lbs_np, posed_joints = lbs_world(BODY, betas, rest_joints, RES.global_orient[0],
                                 RES.body_pose[0], RES.transl[0], height)
out: dict = {"poses": {}, "vertices_checked": {k: int(v.sum()) for k, v in SETS.items()},
             "per_bone": {n: int((checked & (owner == k)).sum()) for k, n in enumerate(BONES)}}
scene = bpy.context.scene
for f, pose in enumerate(POSE_NAMES):
    scene.frame_set(int(RES.frame_indices[f]) + 1)
    row = {}
    for mode, obj in meshes.items():
        verts = evaluated_world_vertices(obj)
        ratios = distance_ratios(verts, posed_joints[f])
        row[mode] = {name: {"min": float(ratios[sel].min()),
                            "p1": float(np.percentile(ratios[sel], 1)),
                            "max": float(ratios[sel].max())} for name, sel in SETS.items()}
        if mode == "lbs":  # sanity: Blender's LBS is numpy's LBS
            row[mode]["max_vs_numpy"] = float(np.abs(verts - lbs_np[f]).max())
    out["poses"][pose] = row
emit(out)
