"""Foot locking (``genhmr_core.foot_lock``): known answers on a synthetic person whose planted
foot slides."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from genhmr_core.contacts import CONTACT_INDEX, sliding_mm_per_frame
from genhmr_core.foot_lock import (
    FootLockConfig,
    lock_feet,
    planted_stretches,
)
from genhmr_core.keypoints import keypoint_attachments
from genhmr_core.limb_ik import soft_goal, two_bone_ik
from genhmr_core.posed_skeleton import forward_kinematics
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX, NUM_BODY_JOINTS, builtin_rest_joints

FPS = 30.0
LEG_JOINTS = {JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle", "right_hip",
                                       "right_knee", "right_ankle")}


def _person(frames: int = 40, seed: int = 0, jitter: tuple[float, float, float] = (0.02,) * 3,
            depth_drift: float = 0.0):
    """A person 5 m in front of the camera, knees slightly bent, whose pelvis jitters by
    ``jitter`` (x, y, z std, metres; 2 cm each way as the solve's does) and drifts in depth by
    ``depth_drift`` (metres, once back and forth a second) while the left foot is planted
    (frames 5-29) and the right swings: rest joints, orientation, pose, translation,
    keypoints, contacts."""
    rng = np.random.default_rng(seed)
    rest = builtin_rest_joints()
    go = np.tile([np.pi, 0.0, 0.0], (frames, 1))  # upright, facing the camera
    pose = np.zeros((frames, NUM_BODY_JOINTS, 3))
    for side in ("left", "right"):
        pose[:, JOINT_INDEX[f"{side}_hip"] - 1] = [-0.25, 0.0, 0.0]
        pose[:, JOINT_INDEX[f"{side}_knee"] - 1] = [0.45, 0.0, 0.0]
    transl = np.tile([0.0, 0.3, 5.0], (frames, 1)) + rng.normal(0.0, 1.0, (frames, 3)) * jitter
    transl[:, 2] += depth_drift * np.sin(2 * np.pi * np.arange(frames) / FPS)
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    contact = np.zeros((frames, 4))
    contact[5:30, :2] = 0.95  # left heel and toe
    return rest, go, pose, transl, keypoints, contact


# The pins reached exactly, the body moved only along its ray (the lock before 2026-12-05):
# what the tests of exact placement use. The default eases a leg into full extension and
# lifts a body solved low instead (the last tests below).
EXACT = FootLockConfig(soft_reach=1.0, rise_to_pins=False)
LEGS_ONLY = dataclasses.replace(EXACT, depth_from_feet_m=0.0)


def test_a_planted_foot_stops_sliding_and_only_the_legs_bend():
    rest, go, pose, transl, keypoints, contact = _person()
    valid = np.ones(len(go), bool)
    before = sliding_mm_per_frame(keypoints[:, list(CONTACT_INDEX)], contact)
    new_pose, new_transl, joints, new_keypoints = lock_feet(rest, go, pose, transl, keypoints,
                                                            contact, valid, FPS,
                                                            config=LEGS_ONLY)
    after = sliding_mm_per_frame(new_keypoints[:, list(CONTACT_INDEX)], contact)
    assert before > 15.0 and after < 1.0, (before, after)
    # the result is self-consistent: forward kinematics of the new pose gives the new joints
    fk, _ = forward_kinematics(rest, go, new_pose, new_transl)
    np.testing.assert_allclose(fk, joints, atol=1e-9)
    # bone lengths are kept, and only leg rotations changed (the pelvis did not move)
    old, _ = forward_kinematics(rest, go, pose, transl)
    for a, b in ((JOINT_INDEX["left_hip"], JOINT_INDEX["left_knee"]),
                 (JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"])):
        np.testing.assert_allclose(np.linalg.norm(joints[:, b] - joints[:, a], axis=1),
                                   np.linalg.norm(old[:, b] - old[:, a], axis=1), atol=1e-9)
    changed = {j + 1 for j in range(NUM_BODY_JOINTS)
               if not np.allclose(new_pose[:, j], pose[:, j], atol=1e-9)}
    assert changed and changed <= LEG_JOINTS
    np.testing.assert_array_equal(new_transl, transl)  # the pelvis stays (legs only)
    np.testing.assert_allclose(joints[:, 0], old[:, 0])
    # the foot keeps its orientation in the world: heel-to-toe is only moved, not turned
    heel, toe = CONTACT_INDEX[0], CONTACT_INDEX[1]
    np.testing.assert_allclose(new_keypoints[:, toe] - new_keypoints[:, heel],
                               keypoints[:, toe] - keypoints[:, heel], atol=1e-9)


def test_the_planted_feet_steady_the_bodys_depth():
    """The solve's pelvis drifts 5 cm back and forth in depth (its noisiest direction, what
    is left after the depth smoothing) and jitters 3 mm, while the left foot is planted. By
    default the whole body first slides along the camera's ray through its pelvis by the
    pinned ankle's move along it (smoothed over a tenth of a second): the pelvis keeps its
    pixel, its depth over the stretch steadies, and the knee moves far less against the pelvis
    than the legs-only lock must move it, with the foot as still."""
    rest, go, pose, transl, keypoints, contact = _person(seed=5, jitter=(0.003,) * 3,
                                                         depth_drift=0.05)
    valid = np.ones(len(go), bool)
    old, _ = forward_kinematics(rest, go, pose, transl)
    new_pose, new_transl, joints, locked = lock_feet(rest, go, pose, transl, keypoints,
                                                     contact, valid, FPS, config=EXACT)
    _, _, legs_only, _ = lock_feet(rest, go, pose, transl, keypoints, contact,
                                             valid, FPS, config=LEGS_ONLY)
    assert sliding_mm_per_frame(locked[:, list(CONTACT_INDEX)], contact) < 1.0
    fk, _ = forward_kinematics(rest, go, new_pose, new_transl)
    np.testing.assert_allclose(fk, joints, atol=1e-9)
    # along the ray: the pelvis's pixel is where it was
    pixel = joints[:, 0, :2] / joints[:, 0, 2:]
    np.testing.assert_allclose(pixel, old[:, 0, :2] / old[:, 0, 2:], atol=1e-12)
    stretch = slice(8, 27)  # inside the pin, past its fade-in
    assert joints[stretch, 0, 2].std() < 0.5 * old[stretch, 0, 2].std()
    assert np.abs(joints[:, 0, 2] - old[:, 0, 2]).max() > 0.005  # it did move
    knee = JOINT_INDEX["left_knee"]

    def knee_moved(js: np.ndarray) -> float:  # against the pelvis, mean over the stretch
        return float(np.linalg.norm((js[stretch, knee] - js[stretch, 0])
                                    - (old[stretch, knee] - old[stretch, 0]), axis=1).mean())

    assert knee_moved(joints) < 0.5 * knee_moved(legs_only), (knee_moved(joints),
                                                             knee_moved(legs_only))
    # beyond the pin and its fade the body is left exactly where the solve put it
    np.testing.assert_allclose(joints[-6:], old[-6:], atol=1e-12)


def test_the_lock_fades_out_without_a_pop():
    """Frame-to-frame movement of the left ankle at the stretch's ends stays within what the
    solve itself did (no jump where the pin lets go)."""
    rest, go, pose, transl, keypoints, contact = _person()
    _, _, joints, _ = lock_feet(rest, go, pose, transl, keypoints, contact,
                             np.ones(len(go), bool), FPS)
    old, _ = forward_kinematics(rest, go, pose, transl)
    ankle = JOINT_INDEX["left_ankle"]
    step_new = np.linalg.norm(np.diff(joints[:, ankle], axis=0), axis=1)
    step_old = np.linalg.norm(np.diff(old[:, ankle], axis=0), axis=1)
    assert step_new.max() < 1.5 * step_old.max()
    np.testing.assert_allclose(joints[:2], old[:2], atol=1e-12)  # untouched, far from the pin
    np.testing.assert_allclose(joints[-6:], old[-6:], atol=1e-12)


def test_a_turning_camera_pins_in_the_world_and_unseen_frames_stay():
    rest, go, pose, transl, keypoints, contact = _person()
    turn = axis_angle_to_matrix(np.radians(np.linspace(0, 10, len(go)))[:, None] * [0, 1.0, 0])
    # the same scene seen by the panning camera
    go_cam = np.array([(t @ axis_angle_to_matrix(g)) for t, g in zip(turn, go, strict=True)])
    from genhmr_core.rotations import matrix_to_axis_angle

    go_cam = matrix_to_axis_angle(go_cam)
    transl_cam = np.einsum("fij,fj->fi", turn, rest[0] + transl) - rest[0]
    kp_cam = np.einsum("fij,fkj->fki", turn, keypoints)
    valid = np.ones(len(go), bool)
    valid[12] = False
    _, _, _, locked = lock_feet(rest, go_cam, pose, transl_cam, kp_cam, contact, valid, FPS,
                             camera_rotation=turn)
    world = np.einsum("fji,fkj->fki", turn, locked)
    planted = contact.copy()
    planted[12] = 0.0
    assert sliding_mm_per_frame(world[:, list(CONTACT_INDEX)], planted) < 1.0


def test_two_bone_ik_and_stretches():
    hip, knee, ankle = np.array([0.0, 0, 0]), np.array([0.0, 0.4, 0.1]), np.array([0.0, 0.8, 0])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, np.array([0.1, 0.7, 0.05]))
    np.testing.assert_allclose(new_ankle, [0.1, 0.7, 0.05], atol=1e-9)
    assert np.linalg.norm(new_knee - hip) == pytest.approx(np.linalg.norm(knee - hip))
    assert np.linalg.norm(new_ankle - new_knee) == pytest.approx(np.linalg.norm(ankle - knee))
    assert new_knee[2] > 0  # still bending forward, as before
    _, far = two_bone_ik(hip, knee, ankle, np.array([0.0, 5.0, 0.0]))  # out of reach
    assert np.linalg.norm(far - hip) == pytest.approx(np.linalg.norm(knee - hip)
                                                      + np.linalg.norm(ankle - knee), abs=1e-5)
    assert planted_stretches(np.array([1, 1, 0, 1, 1, 1, 0, 1], bool), 2) == [(0, 2), (3, 6)]
    assert planted_stretches(np.array([1, 1, 0, 1, 1, 1], bool), 3) == [(3, 6)]


def test_a_high_threshold_locks_nothing():
    rest, go, pose, transl, keypoints, contact = _person()
    new_pose, _, _, new_keypoints = lock_feet(rest, go, pose, transl, keypoints, contact,
                                           np.ones(len(go), bool), FPS,
                                           config=FootLockConfig(threshold=0.99))
    np.testing.assert_allclose(new_pose, pose, atol=1e-9)
    np.testing.assert_allclose(new_keypoints, keypoints, atol=1e-9)


def test_pins_rest_on_the_level_they_stand_on():
    """With the floor known, a planted foot is put exactly on it (here 3 cm below where the
    solve had it), or on a higher support level it stands on (a box 1.2 m up)."""
    from genhmr_core.ground import Ground

    rest, go, pose, transl, keypoints, contact = _person()
    heel = CONTACT_INDEX[0]
    heel_y = float(np.median(keypoints[5:30, heel, 1]))  # OpenCV y: down
    for box in (0.0, 1.2):
        floor_y = heel_y + 0.03 + box  # the floor 3 cm below the solved heel (+ the box)
        ground = Ground(normal=np.array([0.0, -1.0, 0.0]), offset=-floor_y,
                        levels=(0.0, 1.2), support=(10, 10), estimated=True)
        config = FootLockConfig(max_reach=1.0)  # 3 cm lower is out of a near-straight leg's reach
        _, new_transl, _, locked = lock_feet(rest, go, pose, transl, keypoints, contact,
                                             np.ones(len(go), bool), FPS, config=config,
                                             ground=ground)
        heights = ground.height_above(locked[5:30, heel])
        np.testing.assert_allclose(heights, box, atol=1e-6)
        assert np.abs(new_transl - transl).max() > 0.005  # the root was adjusted to get there
        _, legs_only, _, short = lock_feet(rest, go, pose, transl, keypoints, contact,
                                           np.ones(len(go), bool), FPS, config=LEGS_ONLY,
                                           ground=ground)
        np.testing.assert_array_equal(legs_only, transl)  # only the legs move
        assert (ground.height_above(short[5:30, heel]) >= box - 1e-9).all()  # as far as they go


def test_a_planted_foot_that_turns_about_its_pin_is_held_straight():
    """The solve turns a planted foot a few degrees from frame to frame about the vertical
    (demo.mp4's walking woman: her heels swept 21-23 mm per frame about the pinned toes); the
    foot's heading is held at the stretch's median, so heel and toe both stay put."""
    rest, go, pose, transl, _, contact = _person(seed=3)
    frames = len(go)
    wobble = np.radians(8.0) * np.sin(np.arange(frames) * 1.3)
    pose[:, JOINT_INDEX["left_ankle"] - 1] = np.outer(wobble, [0.0, 1.0, 0.0])
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    contact[5:30, 0] = 0.6  # the toe rests most: it is the pinned point
    valid = np.ones(frames, bool)
    heel, toe = CONTACT_INDEX[0], CONTACT_INDEX[1]
    points = [heel, toe]

    def sliding(kp: np.ndarray) -> np.ndarray:  # per point, over the planted frames
        return 1000 * np.linalg.norm(np.diff(kp[5:30][:, points], axis=0)[..., [0, 2]],
                                     axis=-1).mean(0)

    held = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS)
    free = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS,
                     config=FootLockConfig(lock_heading=False))
    assert sliding(keypoints).min() > 10.0
    assert sliding(free[3])[1] < 1.0 and sliding(free[3])[0] > 10.0  # the heel swept
    assert sliding(held[3]).max() < 1.0, sliding(held[3])
    # still its own forward kinematics, bones kept
    fk, _ = forward_kinematics(rest, go, held[0], held[1])
    np.testing.assert_allclose(fk, held[2], atol=1e-9)
    foot = JOINT_INDEX["left_foot"]
    np.testing.assert_allclose(np.linalg.norm(held[2][:, foot] - held[2][:, foot - 3], axis=1),
                               np.linalg.norm(joints[:, foot] - joints[:, foot - 3], axis=1),
                               atol=1e-9)


def test_feet_driven_into_the_floor_are_brought_up_onto_it():
    """The floor 2 cm above the solved heels: the planted left foot's pinned heel rests on it,
    and its toe, pitched into the floor by the solve, is tipped up about the heel onto it; the
    swinging right foot, not pinned, is lifted onto it by the leg. Without ``lift_feet`` both
    stay under it."""
    from genhmr_core.ground import Ground

    rest, go, pose, transl, _, contact = _person(seed=5)
    frames = len(go)
    pose[:, JOINT_INDEX["left_ankle"] - 1] = [0.25, 0.0, 0.0]  # the toe dips
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    contact[5:30, 0] = 0.99  # the heel rests most: the pinned point
    heel, toe = CONTACT_INDEX[0], CONTACT_INDEX[1]
    floor_y = float(np.median(keypoints[5:30, heel, 1])) - 0.02  # OpenCV y: down
    ground = Ground(normal=np.array([0.0, -1.0, 0.0]), offset=-floor_y, levels=(0.0,),
                    support=(frames,), estimated=True)
    valid = np.ones(frames, bool)
    feet = list(CONTACT_INDEX)
    assert (ground.height_above(keypoints[5:30, toe]) < -0.03).all()
    assert (ground.height_above(keypoints[:, feet[2:]]).min(axis=1) < -0.01).any()

    lifted = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS, ground=ground,
                       config=EXACT)
    kept = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS, ground=ground,
                     config=dataclasses.replace(EXACT, lift_feet=False))
    np.testing.assert_allclose(ground.height_above(lifted[3][5:30, heel]), 0.0, atol=1e-6)
    assert ground.height_above(lifted[3][5:30, toe]).min() > -1e-6  # tipped up, not under
    assert ground.height_above(kept[3][5:30, toe]).min() < -0.03
    right = ground.height_above(lifted[3][:, feet[2:]]).min(axis=1)
    assert right.min() > -1e-6, right.min()
    # the left foot in every frame too, the 0.1 s before and after its stretch included, where
    # the pin's correction fades out (the fade once let the toe sink 4-8 cm: Pose2Sim's man)
    left = ground.height_above(lifted[3][:, feet[:2]]).min(axis=1)
    assert (ground.height_above(keypoints[:, feet[:2]]).min(axis=1)[30:36] < -0.01).all()
    assert left.min() > -1e-6, (np.argmin(left), left.min())
    fk, _ = forward_kinematics(rest, go, lifted[0], lifted[1])
    np.testing.assert_allclose(fk, lifted[2], atol=1e-9)


def test_a_foot_held_off_the_floor_by_the_depth_reaches_it_along_the_ray():
    """The solve put the whole body 15 cm too near along the camera's ray (its noisiest
    direction), and the camera looks down at 25 degrees, so the planted heel hovers about 7 cm
    over the floor. Its pin is moved onto the floor along the camera's ray through it (by
    default, up to 0.3 m): the body then slides back along its own ray towards the pin, the
    heel lands on the floor and the knee moves less than half as far against the pelvis as
    when the pin goes straight down, where the leg reaches for it and still falls short."""
    from genhmr_core.ground import Ground

    rest, go, pose, transl, keypoints, contact = _person(seed=7, jitter=(0.002,) * 3)
    frames = len(go)
    valid = np.ones(frames, bool)
    heel = CONTACT_INDEX[0]
    tilt = np.radians(25.0)
    up = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])  # the floor's up, camera axes
    ground = Ground(normal=up, offset=float(np.median(keypoints[5:30, heel] @ up)),
                    levels=(0.0,), support=(frames,), estimated=True)
    pelvis = rest[0] + transl
    near = -0.15 * pelvis / np.linalg.norm(pelvis, axis=1, keepdims=True)  # along the ray
    solved_transl, solved_keypoints = transl + near, keypoints + near[:, None]
    hover = ground.height_above(solved_keypoints[5:30, heel])
    assert (hover > 0.05).all(), hover.min()

    true_joints, _ = forward_kinematics(rest, go, pose, transl)
    solved, _ = forward_kinematics(rest, go, pose, solved_transl)
    along = lock_feet(rest, go, pose, solved_transl, solved_keypoints, contact, valid, FPS,
                      config=EXACT, ground=ground)
    straight = lock_feet(rest, go, pose, solved_transl, solved_keypoints, contact, valid, FPS,
                         config=dataclasses.replace(EXACT, level_along_ray_m=0.0),
                         ground=ground)
    stretch = slice(8, 27)  # inside the pin, past its fade-in
    np.testing.assert_allclose(ground.height_above(along[3][stretch, heel]), 0.0, atol=1e-6)
    # straight down, the leg reaches as far as it goes and the heel still hovers
    assert (ground.height_above(straight[3][stretch, heel]) > 0.02).all()
    for locked in (along, straight):
        fk, _ = forward_kinematics(rest, go, locked[0], locked[1])
        np.testing.assert_allclose(fk, locked[2], atol=1e-9)
    knee = JOINT_INDEX["left_knee"]

    def knee_moved(js: np.ndarray) -> float:  # against the pelvis, mean over the stretch
        return float(np.linalg.norm((js[stretch, knee] - js[stretch, 0])
                                    - (solved[stretch, knee] - solved[stretch, 0]),
                                    axis=1).mean())

    assert knee_moved(along[2]) < 0.5 * knee_moved(straight[2]), (knee_moved(along[2]),
                                                                 knee_moved(straight[2]))
    # and the body is back near where it stood (from 15 cm too near to under 5)
    depth_error = np.abs(along[2][stretch, 0, 2] - true_joints[stretch, 0, 2])
    assert depth_error.max() < 0.05, depth_error.max()


def _pixels(points: np.ndarray) -> np.ndarray:
    """(F, K, 3) pixels and full confidence of camera-frame points, a 1000-px lens."""
    xy = 1000.0 * points[..., :2] / points[..., 2:] + [640.0, 360.0]
    return np.concatenate([xy, np.ones(points.shape[:-1] + (1,))], axis=-1)


def test_a_foot_that_creeps_in_the_picture_is_followed_by_its_pin():
    """Standing for 80 frames with the left foot in contact throughout, the person shuffles
    20 cm to the side (Pose2Sim's woman moved a foot 11-13 cm so); the solve follows, with 2
    cm of its usual jitter. One pin for the whole stretch holds the foot where it stood at
    the stretch's middle; given the detector's 2D keypoints, which show the creep, the pin
    glides after it (new pins where the foot has moved 5 % of the person's height, joined
    centre to centre), so the locked foot ends within a few centimetres of where it went,
    moving 2-3 mm a frame more than one pin lets it, far steadier than the unlocked solve. A
    foot standing still, its keypoints jittering, keeps its one pin: the same result as
    without them."""
    frames = 80
    rest, go, pose, transl, _, _ = _person(frames=frames, seed=2, jitter=(0.0,) * 3)
    creep = np.linspace(0.0, 0.2, frames)
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0, 0.02, (frames, 3))
    attached, offsets = keypoint_attachments()

    def keypoints_of(t: np.ndarray) -> np.ndarray:
        joints, rots = forward_kinematics(rest, go, pose, t)
        return joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)

    moving = transl + np.outer(creep, [1.0, 0.0, 0.0])
    true_keypoints = keypoints_of(moving)
    solved_transl = moving + noise
    solved = keypoints_of(solved_transl)
    contact = np.zeros((frames, 4))
    contact[:, :2] = 0.95
    valid = np.ones(frames, bool)
    heel = CONTACT_INDEX[0]
    detected = _pixels(true_keypoints) + np.concatenate(
        [rng.normal(0.0, 2.0, true_keypoints.shape[:-1] + (2,)), np.zeros((frames, 25, 1))], -1)

    one_pin = lock_feet(rest, go, pose, solved_transl, solved, contact, valid, FPS,
                        config=EXACT)[3]
    followed = lock_feet(rest, go, pose, solved_transl, solved, contact, valid, FPS,
                         config=EXACT, keypoints2d=detected)[3]
    assert np.ptp(one_pin[:, heel, 0]) < 0.005  # held at one place (as far as the leg reaches)
    assert abs(one_pin[-1, heel, 0] - true_keypoints[-1, heel, 0]) > 0.08
    assert abs(followed[-1, heel, 0] - true_keypoints[-1, heel, 0]) < 0.06
    assert followed[-1, heel, 0] - followed[0, heel, 0] > 0.1
    steps = 1000 * np.linalg.norm(np.diff(followed[:, heel], axis=0), axis=1)
    unlocked = 1000 * np.linalg.norm(np.diff(solved[:, heel], axis=0), axis=1)
    held = 1000 * np.linalg.norm(np.diff(one_pin[:, heel], axis=0), axis=1)
    # the glide adds 2-3 mm a frame (20 cm over 80 frames) to what one pin leaves (a few
    # frames where the jittered body is out of the leg's reach), and nothing jumps
    assert (steps - held).max() < 3.0, (steps - held).max()
    assert steps.mean() < 0.2 * unlocked.mean(), (steps.mean(), unlocked.mean())

    still = _pixels(keypoints_of(transl)) + np.concatenate(
        [rng.normal(0.0, 3.0, (frames, 25, 2)), np.zeros((frames, 25, 1))], -1)
    kept = lock_feet(rest, go, pose, transl + noise, keypoints_of(transl + noise), contact,
                     valid, FPS, keypoints2d=still)
    alone = lock_feet(rest, go, pose, transl + noise, keypoints_of(transl + noise), contact,
                      valid, FPS)
    for a, b in zip(kept, alone, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_goal_near_full_reach_is_eased_into_it():
    """``soft_goal`` keeps goals up to where the easing starts, moves farther ones nearer
    along the same line, never to full length, and without a kink: near full extension a
    centimetre of goal swings the knee of the eased chain a fraction of what it swings the
    exact one."""
    hip, length = np.zeros(3), 0.8
    down = np.array([0.0, 1.0, 0.0])
    near = hip + 0.7 * down
    np.testing.assert_array_equal(soft_goal(hip, near, length, 0.74), near)
    distances = np.linspace(0.70, 0.90, 201)
    eased = np.array([np.linalg.norm(soft_goal(hip, d * down, length, 0.74)) for d in distances])
    assert (np.diff(eased) > 0).all() and eased.max() < length  # monotone, never straight
    slope = np.diff(eased) / np.diff(distances)
    # no kink: the slope falls from 1 no faster than the easing's curvature (1 / 0.06 per m)
    assert slope.max() <= 1.0 + 1e-9 and np.abs(np.diff(slope)).max() < 1.05 * 0.001 / 0.06
    assert np.linalg.norm(soft_goal(hip, length * down, length, 0.74)) == pytest.approx(
        0.74 + 0.06 * (1 - np.exp(-1)))
    # a leg of two 0.4 m bones at 97 %, its goal 1 cm nearer or farther
    forward = np.array([0.0, 0.0, -1.0])
    knee = 0.4 * np.array([0.0, np.cos(0.245), -np.sin(0.245)])
    ankle = 2 * (knee @ down) * down

    def knee_at(goal: np.ndarray) -> float:
        return float(two_bone_ik(hip, knee, ankle, goal)[0] @ forward)

    goals = [(np.linalg.norm(ankle) + d) * down for d in (-0.01, 0.01)]
    exact = [knee_at(g) for g in goals]
    soft = [knee_at(soft_goal(hip, g, length, 0.93 * length)) for g in goals]
    assert abs(exact[1] - exact[0]) > 0.04  # 2 cm of goal: the knee swings over 4 cm
    assert abs(soft[1] - soft[0]) < 0.5 * abs(exact[1] - exact[0]), (soft, exact)


def _standing(frames: int = 40, seed: int = 0, bend: float = 0.2):
    """Both feet planted throughout, legs nearly straight (knees bent ``bend`` radians), the
    solve's pelvis swaying 1 cm up and down over a second and a third (2 mm of jitter on
    top): the case where exact pins swing the knees."""
    rest, go, pose, _, _, _ = _person(frames=frames, seed=seed, jitter=(0.0,) * 3)
    for side in ("left", "right"):
        pose[:, JOINT_INDEX[f"{side}_hip"] - 1] = [-bend / 2, 0.0, 0.0]
        pose[:, JOINT_INDEX[f"{side}_knee"] - 1] = [bend, 0.0, 0.0]
    rng = np.random.default_rng(seed)
    transl = np.tile([0.0, 0.3, 5.0], (frames, 1))
    transl[:, 1] += 0.01 * np.sin(2 * np.pi * np.arange(frames) / (1.3 * FPS))
    transl[:, 1] += rng.normal(0.0, 0.002, frames)
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    contact = np.full((frames, 4), 0.95)
    return rest, go, pose, transl, keypoints, contact


def _knee_scatter(joints: np.ndarray) -> float:
    """How much the knees move against the pelvis over the clip (metres, RMS)."""
    knees = [JOINT_INDEX["left_knee"], JOINT_INDEX["right_knee"]]
    rel = joints[:, knees] - joints[:, :1]
    return float(np.sqrt(((rel - rel.mean(axis=0)) ** 2).sum(-1).mean()))


def test_standing_knees_do_not_swing_under_the_pins():
    """A standing person whose solved pelvis jitters by a centimetre: exact pins pull the
    nearly straight legs straight and bend them again every frame, the knees moving several
    times the sway against the pelvis; by default (the body rises where the pins are nearer,
    the legs ease into full reach) the knees move less than half as much, and no foot is left
    more than 2.6 % of the leg from its pin."""
    rest, go, pose, transl, keypoints, contact = _standing()
    valid = np.ones(len(go), bool)
    solved, _ = forward_kinematics(rest, go, pose, transl)
    exact = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS, config=EXACT)
    eased = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS)
    assert _knee_scatter(solved) < 1e-9  # the solve's legs do not move against the pelvis
    assert _knee_scatter(exact[2]) > 0.02, _knee_scatter(exact[2])
    assert _knee_scatter(eased[2]) < 0.5 * _knee_scatter(exact[2]), (
        _knee_scatter(eased[2]), _knee_scatter(exact[2]))
    feet = list(CONTACT_INDEX)
    pins = np.median(exact[3][:, feet], axis=0)
    leg = np.linalg.norm(solved[0, JOINT_INDEX["left_ankle"]] - solved[0, JOINT_INDEX["left_hip"]])
    assert np.linalg.norm(eased[3][:, feet] - pins, axis=-1).max() < 0.026 * leg / 0.97
    fk, _ = forward_kinematics(rest, go, eased[0], eased[1])
    np.testing.assert_allclose(fk, eased[2], atol=1e-9)


def test_a_body_solved_low_rises_onto_its_pins():
    """The floor 2 cm above the solved feet (the solve put the body a little low): with exact
    pins the knees fold to lift the feet onto it; by default the whole body rises about those
    2 cm along the legs instead, the knees keep the solve's bend, and the toes rest on the
    floor."""
    from genhmr_core.ground import Ground

    rest, go, pose, _, _, _ = _standing(seed=1)
    frames = len(go)
    transl = np.tile([0.0, 0.3, 5.0], (frames, 1))
    joints, rots = forward_kinematics(rest, go, pose, transl)
    attached, offsets = keypoint_attachments()
    keypoints = joints[:, attached] + np.einsum("fkij,kj->fki", rots[:, attached], offsets)
    contact = np.full((frames, 4), 0.99)
    contact[:, [0, 2]] = 0.9  # the toes rest most (the lowest points): they are pinned
    toe = CONTACT_INDEX[1]
    floor_y = float(np.median(keypoints[:, toe, 1])) - 0.02  # OpenCV y: down
    ground = Ground(normal=np.array([0.0, -1.0, 0.0]), offset=-floor_y, levels=(0.0,),
                    support=(frames,), estimated=True)
    valid = np.ones(frames, bool)
    # the pins straight up onto the floor, the body not slid along its ray: the rise alone
    alone = {"depth_from_feet_m": 0.0, "level_along_ray_m": 0.0}
    exact = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS, ground=ground,
                      config=dataclasses.replace(EXACT, **alone))
    risen = lock_feet(rest, go, pose, transl, keypoints, contact, valid, FPS, ground=ground,
                      config=dataclasses.replace(FootLockConfig(), **alone))
    middle = slice(5, 35)  # past the smoothing's edges
    knee, ankle = JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"]
    # the body rises as far as the exact lock raised the ankles against the hips (2 cm)
    lift = transl[middle, 1] - risen[1][middle, 1]  # OpenCV y: down
    raised = joints[middle, ankle, 1] - exact[2][middle, ankle, 1]
    assert np.all(lift > 0.019) and np.abs(lift - raised).max() < 0.003, (lift, raised)
    np.testing.assert_array_equal(exact[1], transl)

    def knee_moved(js: np.ndarray) -> float:
        return float(np.linalg.norm((js[middle, knee] - js[middle, 0])
                                    - (joints[middle, knee] - joints[middle, 0]), axis=1).max())

    assert knee_moved(risen[2]) < 0.003 and knee_moved(exact[2]) > 0.01, (
        knee_moved(risen[2]), knee_moved(exact[2]))
    np.testing.assert_allclose(ground.height_above(risen[3][middle, toe]), 0.0, atol=2e-3)
