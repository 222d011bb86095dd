"""The floor from people's feet (``genhmr_core.ground``): known answers on synthetic feet."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_core.ground import (
    FOOT_POINTS,
    LEVEL_MERGE_M,
    Ground,
    GroundConfig,
    estimate_ground,
    merge_levels,
    up_from_bodies,
    up_from_feet_plane,
    without_lean,
)
from genhmr_core.keypoints import NUM_KEYPOINTS

CAMERA_HEIGHT = 1.6  # metres above the grass
MERGED = GroundConfig(merge_m=LEVEL_MERGE_M)  # support levels closer than 0.2 m merged


def _people(feet_y: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (P, F, K, 3) whose lowest foot point is at ``feet_y[p]`` (world y, down) per
    frame (NaN: not seen), the rest of the body 1.7 m above; and valid (P, F)."""
    frames = max(len(y) for y in feet_y)
    kp = np.zeros((len(feet_y), frames, NUM_KEYPOINTS, 3))
    valid = np.zeros((len(feet_y), frames), dtype=bool)
    for p, ys in enumerate(feet_y):
        ys = np.asarray(ys, dtype=np.float64)
        valid[p, :len(ys)] = np.isfinite(ys)
        ys = np.where(np.isfinite(ys), ys, 0.0)
        kp[p, :len(ys), :, 1] = ys[:, None] - 1.7
        for k, lift in zip(FOOT_POINTS, (0.0, 0.05, 0.02, 0.0), strict=True):
            kp[p, :len(ys), k, 1] = ys - lift  # the lowest foot point is at ys
        kp[p, :len(ys), :, 2] = 6.0
    return kp, valid


def test_someone_on_a_box_does_not_lift_the_floor():
    """demo.mp4's case: the man stands on a 2 m box for 180 frames, jumps down and runs on for
    40; the woman walks on the grass for 170. Pooling everybody's feet puts the floor between
    box and grass (pulled towards the box: 6 cm here, 7-9 cm on demo.mp4); the lowest
    well-supported level is the grass."""
    rng = np.random.default_rng(0)
    man = np.concatenate([CAMERA_HEIGHT - 2.0 + rng.normal(0, 0.04, 180),
                          np.linspace(CAMERA_HEIGHT - 2.3, CAMERA_HEIGHT - 0.5, 6),  # flight
                          CAMERA_HEIGHT + rng.normal(0, 0.04, 40)])
    woman = CAMERA_HEIGHT + rng.normal(0, 0.04, 170)
    kp, valid = _people([man, woman])
    pooled = float(np.median(np.concatenate([man, woman])))
    assert CAMERA_HEIGHT - pooled > 0.05  # the old estimate sinks the woman by > 5 cm
    ground = estimate_ground(kp, valid)
    assert ground.estimated
    assert ground.camera_height == pytest.approx(CAMERA_HEIGHT, abs=0.02)
    assert ground.levels[0] == 0.0 and ground.levels[1] == pytest.approx(2.0, abs=0.05)
    np.testing.assert_allclose(ground.normal, [0.0, -1.0, 0.0])
    # the woman stands on it: her lowest foot point within 2 cm of the floor (median)
    heights = ground.height_above(kp[1, :170][:, list(FOOT_POINTS)]).min(axis=1)
    assert abs(np.median(heights)) < 0.02
    plane = ground.as_array()
    assert plane.dtype == np.float32 and plane.shape == (4,)
    assert plane[3] == pytest.approx(-CAMERA_HEIGHT, abs=0.02)


def test_one_box_top_whose_feet_spread_over_two_windows_is_one_level():
    """demo.mp4's case: the man's solved feet on the box top spread wider than one level's
    20 cm window (there: 2.10-2.50 m), in two clumps 16 cm apart. Unmerged, they make two
    levels 14 cm apart (demo.mp4: 2.23 and 2.37 m); merged, one level at the box's height,
    holding the person-frames of both, and the floor stays the grass, at 0."""
    rng = np.random.default_rng(3)
    box = np.concatenate([2.0 - 0.08 + rng.normal(0, 0.05, 100),
                          2.0 + 0.08 + rng.normal(0, 0.05, 80)])
    man = np.concatenate([CAMERA_HEIGHT - box, CAMERA_HEIGHT + rng.normal(0, 0.04, 40)])
    woman = CAMERA_HEIGHT + rng.normal(0, 0.04, 170)
    kp, valid = _people([man, woman])
    split = estimate_ground(kp, valid, GroundConfig(merge_m=0.0))
    assert len(split.levels) == 3  # the floor and two box tops ...
    assert split.levels[2] - split.levels[1] == pytest.approx(0.14, abs=0.02)  # ... 14 cm apart
    ground = estimate_ground(kp, valid, MERGED)
    assert len(ground.levels) == 2
    assert ground.levels[0] == 0.0
    assert ground.camera_height == pytest.approx(split.camera_height)  # the floor untouched
    assert ground.camera_height == pytest.approx(CAMERA_HEIGHT, abs=0.02)
    assert ground.levels[1] == pytest.approx(2.0, abs=0.03)
    assert ground.support[1] == split.support[1] + split.support[2]
    assert ground.support[1] >= 160  # 90 % of the man's 180 frames on the box


@pytest.mark.parametrize("step", [0.3, 0.5])
def test_a_step_or_a_box_stays_its_own_level(step):
    """Surfaces that really differ stay apart when merging: one person walks on the floor, one
    stands on a 0.3 m step (a kerb, a stair) or a 0.5 m box, both with 6 cm of height noise
    (demo.mp4's on the grass)."""
    rng = np.random.default_rng(4)
    walker = CAMERA_HEIGHT + rng.normal(0, 0.06, 170)
    stander = CAMERA_HEIGHT - step + rng.normal(0, 0.06, 120)
    ground = estimate_ground(*_people([walker, stander]), MERGED)
    assert len(ground.levels) == 2 and ground.levels[0] == 0.0
    assert ground.camera_height == pytest.approx(CAMERA_HEIGHT, abs=0.02)
    assert ground.levels[1] == pytest.approx(step, abs=0.03)
    assert ground.support[0] >= 140 and ground.support[1] >= 100  # over 80 % each


def test_merging_takes_the_support_weighted_median_and_does_not_chain():
    """Known answers on levels given directly (height, feet heights)."""
    floor = (0.0, np.zeros(100))
    tail = (0.15, np.full(30, 0.15))
    (height, feet), = merge_levels([tail, floor], 0.2)
    assert height == 0.0 and len(feet) == 130  # the weighted median stays with the floor
    # 0, 0.15 and 0.3 m, equal support: the first pair merges (at 0.075 m), which is then
    # 0.225 m from the third: two levels, not one slab 0.3 m thick
    three = [(h, np.full(50, h)) for h in (0.0, 0.15, 0.3)]
    assert [(round(h, 3), len(f)) for h, f in merge_levels(three, 0.2)] == [(0.075, 100),
                                                                             (0.3, 50)]
    # 0.2 m apart is not closer than 0.2 m; and 0 keeps every level
    assert len(merge_levels([(0.0, np.zeros(5)), (0.2, np.full(5, 0.2))], 0.2)) == 2
    assert len(merge_levels(three, 0.0)) == 3


def test_jumps_and_stray_frames_are_not_a_floor():
    """One walker, with a few frames of feet misplaced far below (detector errors) and a jump:
    the floor is the walking level, not the stray frames (too few to be a support level)."""
    rng = np.random.default_rng(1)
    feet = CAMERA_HEIGHT + rng.normal(0, 0.03, 200)
    feet[50:54] = CAMERA_HEIGHT + 1.2  # below the ground: a bad depth for 4 frames
    feet[120:135] = CAMERA_HEIGHT - np.sin(np.linspace(0, np.pi, 15)) * 0.6  # a jump
    kp, valid = _people([feet])
    ground = estimate_ground(kp, valid)
    assert ground.camera_height == pytest.approx(CAMERA_HEIGHT, abs=0.02)


def test_few_frames_pool_the_feet_and_nobody_gives_the_fallback():
    kp, valid = _people([np.array([1.4, 1.45, 1.5])])
    ground = estimate_ground(kp, valid)  # 3 frames: under min_frames, pooled median
    assert ground.estimated and ground.camera_height == pytest.approx(1.45)
    nobody = estimate_ground(kp, np.zeros_like(valid), GroundConfig(fallback_height_m=1.2))
    assert not nobody.estimated and nobody.camera_height == 1.2
    above = estimate_ground(*_people([np.full(30, -0.5)]))  # "feet" above the camera
    assert not above.estimated and above.camera_height == GroundConfig().fallback_height_m


def test_height_above_is_signed_distance_to_the_plane():
    ground = Ground(normal=np.array([0.0, -1.0, 0.0]), offset=-1.5, levels=(0.0,),
                    support=(1,), estimated=True)
    np.testing.assert_allclose(ground.height_above(np.array([[3.0, 1.5, 7.0], [0.0, 0.5, 2.0],
                                                             [0.0, 1.6, 2.0]])),
                               [0.0, 1.0, -0.1])


def test_the_camera_pitch_comes_from_upright_people():
    """A camera pitched 20 degrees down and rolled 3: people standing upright (leaning up to 8
    degrees either way alike) give the world's up in the camera's axes within a degree (on
    Pose2Sim's calibrated lab cameras: 0.3-5.8), and the feet then rest on a floor tilted the
    same way, the camera its true height above it."""
    from genhmr_core.ground import body_up_vectors, up_from_bodies
    from genhmr_core.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    rng = np.random.default_rng(3)
    tilt = axis_angle_to_matrix(np.radians([20.0, 0.0, 3.0]))  # world (level) -> camera
    up_true = tilt @ np.array([0.0, -1.0, 0.0])
    frames = 120
    sway = np.linspace(-8.0, 8.0, frames)  # leaning both ways alike, forward and sideways
    lean = axis_angle_to_matrix(np.radians(np.stack(
        [rng.permutation(sway), np.zeros(frames), rng.permutation(sway)], 1)))
    facing = axis_angle_to_matrix(np.radians(rng.uniform(-180, 180, frames))[:, None]
                                  * [0.0, 1.0, 0.0])
    upright = axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))  # model +Y -> camera -y
    orient = matrix_to_axis_angle(tilt @ lean @ facing @ upright)[None]
    ups = body_up_vectors(orient, np.ones((1, frames), bool))
    assert ups.shape == (frames, 3)
    up = up_from_bodies(ups, GroundConfig())
    assert np.degrees(np.arccos(up @ up_true)) < 1.0
    assert up_from_bodies(ups[:10], GroundConfig()) is None  # too few to tell
    # feet on the tilted floor, 1.7 m below the camera, walking around
    floor_points = np.stack([rng.uniform(-2, 2, frames), np.full(frames, 1.7),
                             rng.uniform(3, 7, frames)], 1) @ tilt.T
    kp, valid = _people([np.zeros(frames)])
    for k in FOOT_POINTS:
        kp[0, :, k] = floor_points + (0.0 if k == FOOT_POINTS[0] else 0.03) * -up_true
    ground = estimate_ground(kp, valid, body_up=ups)
    assert ground.camera_height == pytest.approx(1.7, abs=0.05)  # feet 3-7 m away
    assert np.degrees(np.arccos(ground.normal @ up_true)) < 1.0
    level = estimate_ground(kp, valid)  # without the bodies: level, and the height is off
    np.testing.assert_allclose(level.normal, [0.0, -1.0, 0.0])


def test_the_backgrounds_up_replaces_the_bodies_and_the_feet_give_the_height():
    """A camera pitched 25 degrees down; the bodies read it 10 degrees short (as MediaPipe's
    did on Pose2Sim). With the background's up (``genhmr_core.vertical``) the floor takes it
    as it is and the feet, on the true floor 1.8 m below, give the height; a background up
    that is missing, not finite or tilted past ``max_tilt_deg`` leaves the bodies' rule."""
    from genhmr_core.rotations import axis_angle_to_matrix

    rng = np.random.default_rng(4)
    tilt = axis_angle_to_matrix(np.radians([25.0, 0.0, 0.0]))  # world (level) -> camera
    up_true = tilt @ np.array([0.0, -1.0, 0.0])
    short = axis_angle_to_matrix(np.radians([15.0, 0.0, 0.0])) @ np.array([0.0, -1.0, 0.0])
    frames = 120
    floor_points = np.stack([rng.uniform(-2, 2, frames), np.full(frames, 1.8),
                             rng.uniform(3, 7, frames)], 1) @ tilt.T
    kp, valid = _people([np.zeros(frames)])
    for k in FOOT_POINTS:
        kp[0, :, k] = floor_points + (0.0 if k == FOOT_POINTS[0] else 0.03) * up_true  # lifted
    bodies = np.repeat(short[None], frames, axis=0)

    def error_deg(ground: Ground) -> float:
        return float(np.degrees(np.arccos(np.clip(ground.normal @ up_true, -1.0, 1.0))))

    people = estimate_ground(kp, valid, body_up=bodies)
    assert error_deg(people) > 5.0  # the bodies' tilt, as far as the feet agree
    ground = estimate_ground(kp, valid, body_up=bodies, background_up=2.0 * up_true)
    assert error_deg(ground) < 1e-6  # normalised, taken as it is
    assert ground.camera_height == pytest.approx(1.8, abs=0.02)
    for bad in (np.full(3, np.nan), np.zeros(3),
                axis_angle_to_matrix(np.radians([50.0, 0.0, 0.0])) @ np.array([0, -1.0, 0])):
        fallback = estimate_ground(kp, valid, body_up=bodies, background_up=bad)
        np.testing.assert_allclose(fallback.normal, people.normal)


def test_a_tilt_that_leaves_no_floor_gives_way_to_the_feet_plane():
    """vtest.avi: a camera 6 m up pitched 27 degrees over a plaza people cross every way; the
    background's vertical edges said 6 degrees. Under that tilt the feet spread over metres of
    height, no level holds them and there was no floor at all; their own plane, fitted where
    they cover an area, is the floor. Feet along one path (a line) leave the tilt about it
    free: no plane then, the feet are pooled as before."""
    from genhmr_core.rotations import axis_angle_to_matrix

    rng = np.random.default_rng(7)
    tilt = axis_angle_to_matrix(np.radians([27.0, 0.0, 0.0]))  # world (level) -> camera
    up_true = tilt @ np.array([0.0, -1.0, 0.0])
    wrong = axis_angle_to_matrix(np.radians([6.0, 0.0, 0.0])) @ np.array([0.0, -1.0, 0.0])

    def feet_on_the_plaza(across: float, along: float) -> tuple[np.ndarray, np.ndarray]:
        frames = 300
        plaza = np.stack([rng.uniform(-across, across, frames), np.full(frames, 6.0)
                          + rng.normal(0, 0.03, frames), rng.uniform(12 - along, 12 + along,
                                                                     frames)], 1) @ tilt.T
        kp, valid = _people([np.zeros(frames)])
        for k in FOOT_POINTS:
            kp[0, :, k] = plaza + (0.0 if k == FOOT_POINTS[0] else 0.03) * up_true
        return kp, valid

    kp, valid = feet_on_the_plaza(across=6.0, along=6.0)
    ground = estimate_ground(kp, valid, background_up=wrong)
    assert ground.estimated and ground.tilt_from == "feet"
    assert np.degrees(np.arccos(ground.normal @ up_true)) < 1.0
    assert ground.camera_height == pytest.approx(6.0, abs=0.05)
    assert ground.support[0] >= 0.9 * valid.sum()
    # a tilt the feet agree with is kept as it is: the plane is only a fallback
    near = axis_angle_to_matrix(np.radians([27.5, 0.0, 0.0])) @ np.array([0.0, -1.0, 0.0])
    np.testing.assert_allclose(estimate_ground(kp, valid, background_up=near).normal, near)

    kp, valid = feet_on_the_plaza(across=0.1, along=6.0)  # one path, away from the camera
    feet = kp[0, :, FOOT_POINTS[0]]
    assert up_from_feet_plane(feet, GroundConfig()) is None
    np.testing.assert_allclose(estimate_ground(kp, valid, background_up=wrong).normal,
                               [0.0, -1.0, 0.0])  # all feet pooled under the camera's up


def test_a_runner_leaning_into_the_run_does_not_tilt_the_world():
    """A body leaning 15 degrees forward as it runs 4 m/s along the floor: the bodies' median
    up is 15 degrees off the world's, and 0 once each body's lean along its own travel is
    taken out; a jump (travel along the up) and a slow walk keep their up as it is."""
    frames, fps = 30, 30.0
    world_up = np.array([0.0, -1.0, 0.0])
    travel = np.array([1.0, 0.0, 0.0])
    lean = np.radians(15.0)
    ups = np.tile(np.cos(lean) * world_up + np.sin(lean) * travel, (1, frames, 1))
    valid = np.ones((1, frames), bool)
    running = (np.arange(frames) / fps * 4.0)[None, :, None] * travel
    config = GroundConfig()

    def off(u: np.ndarray) -> float:
        found = up_from_bodies(u[valid], config)
        return float(np.degrees(np.arccos(np.clip(found @ world_up, -1.0, 1.0))))

    assert off(ups) == pytest.approx(15.0, abs=0.01)
    assert off(without_lean(ups, running, valid, fps)) < 0.01
    jumping = (np.arange(frames) / fps * 4.0)[None, :, None] * world_up
    np.testing.assert_allclose(without_lean(ups, jumping, valid, fps), ups, atol=1e-12)
    walking = running * 0.1  # 0.4 m/s
    np.testing.assert_allclose(without_lean(ups, walking, valid, fps), ups, atol=1e-12)
