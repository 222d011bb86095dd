"""Motion data: BVH reading, retargeting of every registry source, augmentation, joint limits,
the procedural sampler, coverage, and the dataset file. Real registry data where it exists
(fetched by tools/setup.sh); AMASS files are generated in AMASS's own layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from genhmr.motion.augment import change_speed, mirror, mirror_rotations, recombine
from genhmr.motion.bvh import BvhError, parse_bvh, read_bvh
from genhmr.motion.clip import MotionClip, MotionDataset
from genhmr.motion.coverage import count_distinct
from genhmr.motion.joint_limits import BODY_JOINTS, sample_poses, within_limits
from genhmr.motion.retarget import (
    BONE_CHILD,
    POSE_JOINT_NAMES,
    align,
    pose_joint_positions,
    rotation_between,
)
from genhmr.motion.sources.amass import amass_clip
from genhmr.motion.sources.bvh_files import (
    BOXING_MAP,
    CMU_MAP,
    CMU_UNIT_M,
    bvh_file_clip,
    guess_joint_map,
)
from genhmr.motion.sources.climbing import AXES as CLIMB_AXES
from genhmr.motion.sources.climbing import MOCAP_JOINTS, load_climbing
from genhmr.motion.sources.common import bvh_source, canonical_axes, target_rest_joints
from genhmr.motion.sources.deepmimic import load_deepmimic
from scipy.spatial.transform import Rotation

from genhmr_core.skeleton import JOINT_INDEX

ROOT = Path(__file__).resolve().parents[2]

TWO_BONE_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 1 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0.5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0 1 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 45
"""


def test_bvh_reads_channels_as_intrinsic_euler_rotations() -> None:
    bvh = parse_bvh(TWO_BONE_BVH)
    assert bvh.names == ["Hips", "Arm"] and bvh.fps == 2.0
    np.testing.assert_allclose(bvh.positions[1, 0], [1, 2, 3])
    np.testing.assert_allclose(bvh.end_offsets[1], [0.5, 0, 0])
    # Root: Z X Y order, 90 deg about Z; arm: 45 deg about X (last channel).
    np.testing.assert_allclose(bvh.rotations[1, 0],
                               Rotation.from_euler("z", 90, degrees=True).as_matrix(),
                               atol=1e-12)
    np.testing.assert_allclose(bvh.rotations[1, 1],
                               Rotation.from_euler("x", 45, degrees=True).as_matrix(),
                               atol=1e-12)
    source = bvh_source(bvh, 1.0)
    # The arm (offset +X) turned 90 deg about Z by its parent points along +Y.
    np.testing.assert_allclose(source.positions()[1, 1], [1, 3, 3], atol=1e-12)


@pytest.mark.parametrize("broken, message", [
    (TWO_BONE_BVH.replace("CHANNELS 3 Zrotation", "CHANNELS 3 Qrotation"), "line 9"),
    (TWO_BONE_BVH.replace("Frame Time: 0.5", "Frame Time: 0"), "Frame Time"),
    (TWO_BONE_BVH.replace("1 2 3 90 0 0 0 0 45", "1 2 3 90 0 0 0 0"), "9 per frame"),
    ("MOTION\n", "no HIERARCHY"),
])
def test_bvh_errors_say_what_and_where(broken: str, message: str) -> None:
    with pytest.raises(BvhError, match=message):
        parse_bvh(broken)


def test_rotation_helpers() -> None:
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = rotation_between(u, v)
    moved = (r @ u[..., None])[..., 0]
    np.testing.assert_allclose(moved / np.linalg.norm(moved, axis=1, keepdims=True),
                               v / np.linalg.norm(v, axis=1, keepdims=True), atol=1e-9)
    flipped = rotation_between(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0]))
    np.testing.assert_allclose(flipped @ [1.0, 0, 0], [-1, 0, 0], atol=1e-9)
    truth = Rotation.random(20, random_state=1).as_matrix()
    a, b = np.array([0.0, 1, 0]), np.array([1.0, 0, 0])
    np.testing.assert_allclose(align(a, b, truth @ a, truth @ b), truth, atol=1e-9)


def _bone_angles(src_pos, pos, joint_map, source) -> dict[str, float]:
    out = {}
    for name, child in BONE_CHILD.items():
        a, b = joint_map.get(name), joint_map.get(child)
        if not (isinstance(a, str) and isinstance(b, str)) or JOINT_INDEX[child] >= 22:
            continue
        ds = src_pos[:, source.index(b)] - src_pos[:, source.index(a)]
        dt = pos[:, JOINT_INDEX[child]] - pos[:, JOINT_INDEX[name]]
        if np.linalg.norm(ds, axis=1).min() < 1e-6:
            continue  # zero-length source bone (CMU Spine1 -> Neck)
        cos = (ds * dt).sum(1) / np.linalg.norm(ds, axis=1) / np.linalg.norm(dt, axis=1)
        out[name] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())
    return out


@pytest.mark.parametrize("file, joint_map, scale", [
    ("01_01.bvh", CMU_MAP, CMU_UNIT_M), ("Boxing_Toes.bvh", BOXING_MAP, 0.01)])
def test_rotation_retarget_reproduces_every_source_bone(motion_dir, file, joint_map, scale
                                                        ) -> None:
    from genhmr.motion.retarget import retarget_rotations

    source = bvh_source(read_bvh(motion_dir / "cmu" / file), scale)
    rest = target_rest_joints()
    local, root, animated = retarget_rotations(source, joint_map, rest)
    assert animated.all()
    pos = pose_joint_positions(local, rest, root)
    angles = _bone_angles(source.positions(), pos, joint_map, source)
    limbs = {k: v for k, v in angles.items() if k not in ("neck", "spine3")}
    assert len(limbs) >= 12 and max(limbs.values()) < 0.01, limbs


def test_cmu_rest_correction_brings_the_splayed_legs_together(motion_dir) -> None:
    """CMU's rest has the legs 20 deg apart: a naive copy would splay them in every frame."""
    clip = bvh_file_clip(motion_dir / "cmu" / "01_01.bvh", CMU_MAP)
    pos = pose_joint_positions(clip.rotations, target_rest_joints(), clip.root_position)
    stance = np.linalg.norm(pos[:, 7] - pos[:, 8], axis=1)  # ankle to ankle
    assert np.median(stance) < 0.45


def test_deepmimic_walk_walks_forward_upright(motion_dir) -> None:
    clips = {c.name: c for c in load_deepmimic(motion_dir / "deepmimic")}
    assert len(clips) == 15
    assert sum(c.num_frames for c in clips.values()) == pytest.approx(1010, abs=20)
    walk = clips["deepmimic/walk"]
    assert walk.fps == 30 and not walk.animated[JOINT_INDEX["left_wrist"]]
    forward = walk.rotations[:, 0] @ np.array([0.0, 0, 1])
    travel = walk.root_position[-1] - walk.root_position[0]
    assert travel @ forward.mean(0) > 1.0  # walks ~1.3 m the way the pelvis faces
    pos = pose_joint_positions(walk.rotations, target_rest_joints(), walk.root_position)
    assert (pos[:, JOINT_INDEX["head"], 1] > pos[:, 0, 1] + 0.3).all()
    # The rest arms hang down; retargeted, the hands stay below the shoulders while walking.
    assert (pos[:, JOINT_INDEX["left_wrist"], 1] < pos[:, JOINT_INDEX["left_shoulder"], 1]).all()


def test_climbing_rotations_reproduce_positions(motion_dir) -> None:
    clips = load_climbing(motion_dir / "climbing")
    assert sum(c.num_frames for c in clips) == pytest.approx(12939 / 4, abs=10)
    clip = clips[0]
    raw = np.load(motion_dir / "climbing" / "mocap_climb_seq_0.npy")[::4] @ CLIMB_AXES.T
    pos = pose_joint_positions(clip.rotations, target_rest_joints(), clip.root_position)
    for a, b, sa, sb in (("left_knee", "left_ankle", "LeftLeg", "LeftFoot"),
                         ("right_shoulder", "right_elbow", "RightArm", "RightForeArm"),
                         ("left_elbow", "left_wrist", "LeftForeArm", "LeftHand")):
        ds = raw[:, MOCAP_JOINTS.index(sb)] - raw[:, MOCAP_JOINTS.index(sa)]
        dt = pos[:, JOINT_INDEX[b]] - pos[:, JOINT_INDEX[a]]
        cos = (ds * dt).sum(1) / np.linalg.norm(ds, axis=1) / np.linalg.norm(dt, axis=1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.01
    # Knees are hinges: their rotation is about +X (flexion), never backwards (the few degrees
    # off-axis come from our skeleton's slightly bent rest knee).
    rotvec = Rotation.from_matrix(clip.rotations[:, JOINT_INDEX["left_knee"]]).as_rotvec()
    assert np.abs(rotvec[:, 1:]).max() < 0.05 and rotvec[:, 0].min() > -0.05
    assert np.median(rotvec[:, 0]) > 0.3


def test_amass_layout_is_converted_to_y_up(tmp_path) -> None:
    frames = 120
    poses = np.zeros((frames, 165))
    poses[:, 0] = np.pi / 2  # AMASS: +90 deg about X stands a Y-up body up in a Z-up world
    poses[:, 3 * JOINT_INDEX["left_knee"]] = np.linspace(0, 1.0, frames)
    trans = np.stack([np.zeros(frames), np.linspace(0, 1, frames), np.ones(frames)], axis=1)
    np.savez(tmp_path / "walk_poses.npz", poses=poses, trans=trans,
             mocap_frame_rate=np.array(60.0), gender=np.array("neutral"),
             betas=np.zeros(16), surface_model_type=np.array("smplx"))
    clip = amass_clip(tmp_path / "walk_poses.npz", "amass/walk")
    assert clip.fps == 30 and clip.num_frames == 60
    np.testing.assert_allclose(clip.rotations[:, 0], np.broadcast_to(np.eye(3), (60, 3, 3)),
                               atol=1e-6)  # upright in Y-up
    np.testing.assert_allclose(clip.root_position[-1], [0, 1, -118 / 119], atol=1e-3)
    knee = Rotation.from_matrix(clip.rotations[:, JOINT_INDEX["left_knee"]]).as_rotvec()
    assert knee[-1, 0] == pytest.approx(118 / 119, abs=1e-3)
    np.savez(tmp_path / "shape.npz", betas=np.zeros(16))
    with pytest.raises(ValueError, match="not a motion"):
        amass_clip(tmp_path / "shape.npz", "amass/shape")


def test_any_bvh_is_mapped_by_name_and_axes() -> None:
    mixamo = ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2",
              "mixamorig:Neck", "mixamorig:Head"] + [
        f"mixamorig:{s}{j}" for s in ("Left", "Right")
        for j in ("UpLeg", "Leg", "Foot", "ToeBase", "Shoulder", "Arm", "ForeArm", "Hand")]
    m = guess_joint_map(mixamo)
    assert m["left_collar"] == "mixamorig:LeftShoulder"
    assert m["left_shoulder"] == "mixamorig:LeftArm"
    assert (m["spine1"], m["spine2"], m["spine3"]) == (
        "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2")
    with pytest.raises(ValueError, match="left_knee"):
        guess_joint_map(["Hips", "Head"])
    # A Z-up rest pose facing -Y comes out as SMPL-X axes (a proper rotation).
    rest = np.array([[0, 0, 1.0], [0, 0, 1.7], [0.1, 0, 0.9], [-0.1, 0, 0.9]])
    axes = canonical_axes(rest, 0, 1, 2, 3)
    np.testing.assert_allclose(axes @ [0, 0, 1.0], [0, 1, 0])
    assert np.linalg.det(axes) == pytest.approx(1.0)


def test_generic_bvh_loader_matches_the_cmu_loader(motion_dir) -> None:
    generic = bvh_file_clip(motion_dir / "cmu" / "01_01.bvh")
    explicit = bvh_file_clip(motion_dir / "cmu" / "01_01.bvh", CMU_MAP)
    np.testing.assert_allclose(generic.rotations, explicit.rotations, atol=1e-5)


def _clip(frames: int = 40, seed: int = 0) -> MotionClip:
    rng = np.random.default_rng(seed)
    rot = Rotation.from_rotvec(rng.normal(0, 0.3, (frames * 22, 3))).as_matrix()
    return MotionClip("test/a", "test", "CC0", 30.0, rot.reshape(frames, 22, 3, 3),
                      rng.normal(size=(frames, 3)))


def test_mirror_is_a_reflection_of_the_joint_positions() -> None:
    clip = _clip()
    twice = mirror(mirror(clip))
    np.testing.assert_allclose(twice.rotations, clip.rotations, atol=1e-6)
    # On a left-right symmetric skeleton, the mirrored pose's joints are the reflection.
    rest = target_rest_joints().copy()
    from genhmr_core.skeleton import mirror_index

    rest = 0.5 * (rest + rest[mirror_index()] * [-1, 1, 1])
    pos = pose_joint_positions(clip.rotations, rest, clip.root_position)
    mpos = pose_joint_positions(mirror_rotations(clip.rotations), rest,
                                clip.root_position * [-1, 1, 1])
    from genhmr.motion.augment import POSE_MIRROR_INDEX

    np.testing.assert_allclose(mpos, (pos * [-1, 1, 1])[:, POSE_MIRROR_INDEX], atol=1e-5)


def test_speed_change_and_recombination() -> None:
    clip = _clip(61)
    fast = change_speed(clip, 2.0)
    assert fast.num_frames == 31
    np.testing.assert_allclose(fast.rotations[5], clip.rotations[10], atol=1e-6)
    donor = _clip(100, seed=1)
    mixed = recombine(clip, donor, ("left_arm",), np.random.default_rng(0))
    arm = [JOINT_INDEX[n] for n in ("left_collar", "left_shoulder", "left_elbow", "left_wrist")]
    legs = [JOINT_INDEX["left_knee"], JOINT_INDEX["right_hip"]]
    start = int(mixed.name.rsplit("@", 1)[1])
    np.testing.assert_allclose(mixed.rotations[:, arm], donor.rotations[start:start + 61][:, arm])
    np.testing.assert_allclose(mixed.rotations[:, legs], clip.rotations[:, legs])


def test_registry_motion_lies_within_the_joint_limits(motion_dir) -> None:
    clips = load_deepmimic(motion_dir / "deepmimic") + load_climbing(motion_dir / "climbing")
    body = np.concatenate([c.rotations[:, 1:] for c in clips])
    inside = within_limits(body)
    assert inside.mean(0).min() > 0.93, dict(zip(BODY_JOINTS, inside.mean(0).round(3),
                                                 strict=True))


def test_procedural_poses_stay_within_limits_and_add_distinct_poses() -> None:
    rng = np.random.default_rng(0)
    uniform = sample_poses(500, rng)
    assert within_limits(uniform, tolerance_deg=1e-3).all()
    data = np.repeat(_clip(5).rotations[:, 1:], 20, axis=0)  # 100 frames, 5 poses
    mixed = sample_poses(500, rng, data_poses=data, uniform_fraction=0.3)
    assert within_limits(mixed, tolerance_deg=1e-3).all()
    rest = target_rest_joints()
    assert count_distinct(data, rest) == 5
    assert count_distinct(mixed, rest) > 400


def test_dataset_round_trip_and_split(tmp_path) -> None:
    clips = [_clip(10, 0), _clip(7, 1)]
    clips[1].name = "test/b"
    data = MotionDataset.from_clips(clips, ["train", "val"], {"note": "x"})
    data.save(tmp_path / "d.npz")
    back = MotionDataset.load(tmp_path / "d.npz")
    assert back.num_clips == 2 and back.info == {"note": "x"}
    assert back.poses("train").shape == (10, 21, 3, 3) and back.poses("val").shape[0] == 7
    np.testing.assert_allclose(back.clip(1).rotations, clips[1].rotations.astype(np.float32))
    with pytest.raises(ValueError, match="split"):
        MotionDataset.from_clips(clips, ["train", "test"])


@pytest.mark.slow
def test_build_command_writes_a_dataset_with_a_report(motion_dir, tmp_path) -> None:
    out = tmp_path / "motion.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "genhmr.motion.build", "--out", str(out), "--sources",
         str(motion_dir), "--procedural", "300", "--recombine", "4", "--speeds", "1.25"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    data = MotionDataset.load(out)
    assert set(data.clip_split[data.clip_sources != "procedural"]) == {"train", "val"}
    assert "climbing/seq_4" in summary["val_clips"]
    val_names = set(data.clip_names[data.clip_split == "val"])
    assert not any(n.startswith(tuple(val_names)) for n in data.clip_names[
        data.clip_split == "train"])  # no augmented copy of a validation clip
    cov = summary["coverage"]
    assert cov["+ procedural"]["mean_joint_coverage"] > cov["source clips (train)"][
        "mean_joint_coverage"]
    assert cov["+ augmentation"]["distinct_poses"] > cov["source clips (train)"][
        "distinct_poses"]
    assert summary["source_frames"]["climbing"] > 3000
    assert summary["source_frames"]["anny"] == 50
    assert set(POSE_JOINT_NAMES[1:]) == set(cov["+ procedural"]["joint_coverage"])
