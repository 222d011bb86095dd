"""Planted feet that stay planted: a foot-locking pass over a solved person.

Why: while a foot rests on the ground it should not move in the world, but the per-frame solve
lets it slide by centimetres from one frame to the next (demo.mp4: 27-41 mm per frame after the
depth smoothing). For every stretch of frames where a foot is in contact
(:mod:`genhmr_core.contacts`) this pass pins the foot's most planted point over the stretch
(heel or big toe) to one place in the world, the median of where the solve put it (moved onto
the support level it rests on, the floor or e.g. a box top, when the floor is known: along the
camera's ray through it, the solve's least certain direction, ``level_along_ray_m``), and bends
that leg so the point lands there, with two-bone IK (the knee stays in its bending plane). The
foot keeps its pitch and roll, so it can still roll about the pinned point (heel strike,
push-off), but its heading about the vertical is held at the stretch's median: pinned by one
point alone, a foot the solve turns by a few degrees a frame sweeps its other end across the
floor. With the floor known, nothing is left under the level the person stands on
(``lift_feet``): a pinned foot whose other end the solve drove into the floor is tipped up about
its pinned point, and a foot that is not pinned (the swing) but dips under the level is lifted
onto it by the same leg IK. Before the legs bend, the whole body slides along the camera's ray
through its pelvis by the pinned ankles' mean move along that ray (``depth_from_feet_m``): the
solve's depth is its noisiest direction, and a pin asks every planted ankle to undo the same
depth error, which bending the legs alone turned into knees swinging back and forth; along the
ray the pelvis keeps its pixel. Where the pins still sit nearer the hips than the solve's feet,
the body rises along the legs (``rise_to_pins``), and a leg asked to reach farther than the
solve's own leg, near its full length, eases into it (``soft_reach``): near full extension every
millimetre of reach swings the knee by several. With ``max_reach`` set, a leg that still cannot
reach moves the whole body towards the pin by what is missing. The pin holds over the whole
stretch; the correction it made at each end fades out over ``blend_s`` into the frames before
and after (the swing), so nothing pops. A planted foot that creeps in the picture without
lifting (a person standing and talking shuffles) gets a new pin wherever its detected 2D
position has moved 5 % of the person's height, the pin gliding from one place to the next
(``creep_limit``, :mod:`genhmr_core.foot_drift`).

Everything is numpy over the result's own arrays (SMPL-X local axis-angles, camera space per
frame); apart from those shifts of the whole body the pelvis and the rest of the body are left
where the solve put them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .contacts import CONTACT_INDEX, person_height_px, support_heights
from .foot_drift import drift_breaks
from .ground import Ground
from .limb_ik import soft_goal, two_bone_ik
from .posed_skeleton import carry_keypoints, forward_kinematics
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS
from .temporal import gaussian_smooth

# (hip, knee, ankle) joints and the contact columns (heel, toe) of each leg
LEGS = (
    (tuple(JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle")), (0, 1)),
    (tuple(JOINT_INDEX[n] for n in ("right_hip", "right_knee", "right_ankle")), (2, 3)),
)


@dataclasses.dataclass(frozen=True)
class FootLockConfig:
    threshold: float = 0.5  # a foot is planted where heel or toe contact reaches this
    blend_s: float = 0.1  # the pin fades in and out over this long at a stretch's ends
    min_frames: int = 3  # shorter stretches are left alone
    # None: legs only (a pin out of reach is approached as far as the leg goes). A number: a
    # leg may straighten to this share of its length, and beyond it the whole body moves
    # towards the pin (the root adjusted). Off by default: on demo.mp4 it takes sliding from
    # 9.5 / 8.8 to 7.9 / 8.1 mm per frame but costs 0.7-1.3 px of median reprojection, since
    # the whole body leaves its detected pixels (docs/world_space.md).
    max_reach: float | None = None
    # The planted feet tell the body's depth: a frame's pins are fixed places in the world,
    # while the solve's depth (along the camera's ray) is its noisiest direction. So the whole
    # body first slides along the ray through its pelvis, at most this far, by the pinned
    # ankles' mean move along that ray; then the legs bend for what is left.
    # Along the ray the pelvis keeps its pixel and the rest of the body only scales about it (a
    # few pixels). Without it (0) the legs alone took the depth noise: on Pose2Sim's standing
    # people the pinned knees moved 3.5-11 cm against the pelvis, legs pulled straight in up to
    # 87 % of frames, and the knees' error grew by 9-18 mm (docs/world_space.md, §3).
    depth_from_feet_m: float = 0.3
    depth_smooth_s: float = 0.1  # that slide smoothed over time (Gaussian sigma)
    # The planted foot's heading (heel to toe, about the vertical) held too, at the stretch's
    # median: pinning one point alone let the foot turn about it, and the other point swept
    # 20 mm per frame (demo.mp4's walking woman: heels 21-23 mm/frame about pinned toes).
    lock_heading: bool = True
    # A foot that is not pinned but dips under the level the person stands on (a swinging foot
    # of a body solved a little low) is lifted onto it by the same leg IK (needs the floor).
    lift_feet: bool = True
    # A pin is put on its support level by moving it along the camera's ray through it, at most
    # this far, then straight up or down for whatever is left (0: straight, as before
    # 2026-12-04). A planted foot that hovers over its level or sinks under it is mostly the
    # solve's depth: with the camera looking down, a body a little too near stands a little
    # too high. Moved straight down, the pin asked the leg to reach for it, and near full
    # extension a centimetre of reach is several of knee: on Pose2Sim (contacts in every frame)
    # the lock cost 3.3 mm of PA-MPJPE, the knees 9-16 mm each; along the ray the body slides
    # after it (``depth_from_feet_m``) and the cost is 0.3 mm (the knees still 7-13 mm, the
    # feet 1-4 mm better; docs/world_space.md, section 5).
    level_along_ray_m: float = 0.3
    # A planted foot whose detected 2D position creeps (smoothed over ``creep_smooth_s``) more
    # than ``creep_limit`` person heights from where its pin started gets a new pin from there,
    # and the pin glides from one place to the next (:mod:`genhmr_core.foot_drift`; needs the
    # 2D keypoints). A person standing and talking shuffles without lifting a foot: Pose2Sim's
    # woman moves her left foot 11-13 cm in contact, and one pin per stretch held it still.
    # 0.05 / 0.2 s: Pose2Sim PA-MPJPE 63.6 -> 63.0 mm; 0.03 / 0.15 s split on the detector's
    # slow jitter (synthetic walk's true contacts slid 3.4 -> 6.2 mm/frame); a pin that jumps
    # to the next place within the fade instead of gliding made the boxer's planted feet slide
    # 3.0 -> 4.0 mm/frame, gliding 3.6 (docs/world_space.md, section 5).
    creep_limit: float = 0.05
    creep_smooth_s: float = 0.2
    # Near full extension a centimetre of reach is several of knee (``limb_ik``), and a pin
    # is a fixed place while the solve's hips move by a centimetre or two from frame to frame:
    # standing legs were pulled straight and bent again, the knees swinging 3-6 cm against
    # the pelvis (Pose2Sim's women: hip-centred knee scatter 17-25 mm without the lock,
    # 24-39 with it). Two changes take that out of the knees. A leg asked to reach farther
    # than the solve's own leg does (and beyond ``soft_reach`` of its length) eases into full
    # extension (``limb_ik.soft_goal``) rather than snapping straight: the foot stops short of
    # its pin by what is left. Where the pins sit nearer the hips than the solve's feet (the
    # body solved a little low), the whole body rises along the legs by the planted legs' mean
    # shortfall (smoothed over ``rise_smooth_s``, at most ``rise_max_m``) instead of the knees
    # folding forward. Pose2Sim PA-MPJPE 63.0 -> 62.3 mm (knees 79 / 60 -> 71 / 57), the
    # synthetic world clips' 48.0 -> 46.7 against their exact truth; demo.mp4's reprojection
    # +0.5-0.8 px, sliding +0.2 mm/frame (docs/world_space.md, section 5).
    soft_reach: float = 0.93
    rise_to_pins: bool = True
    rise_smooth_s: float = 0.1
    rise_max_m: float = 0.1


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) turning direction ``a`` onto direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = float(np.linalg.norm(axis)), float(np.clip(a @ b, -1.0, 1.0))
    if s < 1e-12:
        return np.eye(3)  # parallel (an exactly opposite bone does not occur in a leg solve)
    return axis_angle_to_matrix(axis / s * np.arctan2(s, c))


def planted_stretches(planted: np.ndarray, min_frames: int) -> list[tuple[int, int]]:
    """[start, end) runs of True at least ``min_frames`` long."""
    runs, start = [], None
    for f, on in enumerate(list(planted) + [False]):
        if on and start is None:
            start = f
        elif not on and start is not None:
            if f - start >= min_frames:
                runs.append((start, f))
            start = None
    return runs


def lock_feet(rest_joints: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
              transl: np.ndarray, keypoints3d: np.ndarray, contact: np.ndarray,
              valid: np.ndarray, fps: float, camera_rotation: np.ndarray | None = None,
              config: FootLockConfig | None = None, ground: Ground | None = None,
              keypoints2d: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One person's ``(body_pose, transl, joints3d, keypoints3d)`` with planted feet pinned
    (see the module docstring; ``transl`` changes along the camera's ray where a foot is pinned).
    Inputs as in the result file for one person: camera space per frame,
    ``camera_rotation`` (F, 3, 3) when the camera turned (the pin is a place in the world),
    contact (F, 4) from :mod:`genhmr_core.contacts`. With ``ground``, each pin is put exactly
    on the support level it rests on (the floor, or a level above it such as a box top), so
    planted feet neither sink into it nor hover. With ``keypoints2d`` (F, K, 3+: the detector's,
    in steady pixels when the camera turned, :func:`genhmr_core.contacts.steady_pixels`), a
    planted foot that creeps in the picture is followed (``FootLockConfig.creep_limit``)."""
    config = config or FootLockConfig()
    valid = np.asarray(valid, dtype=bool)
    body_pose = np.array(body_pose, dtype=np.float64)
    joints, rots = forward_kinematics(rest_joints, global_orient, body_pose, transl)
    frames = len(joints)
    turn = (np.tile(np.eye(3), (frames, 1, 1)) if camera_rotation is None
            else np.asarray(camera_rotation, dtype=np.float64))
    new_joints, new_rots = joints.copy(), rots.copy()
    blend = max(1, round(config.blend_s * fps))
    targets = []  # per leg: (hip, knee, ankle, moves, turns, pivots; zero where not pinned)
    pins = []  # per leg: (F,) the frames its foot is pinned
    # the world's up: the floor's normal, else the camera's (OpenCV: y points down)
    up = np.array([0.0, -1.0, 0.0]) if ground is None else np.asarray(ground.normal, float)
    # the detector's keypoints, to follow a planted foot that creeps in the picture
    creep = None if keypoints2d is None or config.creep_limit <= 0 else \
        np.asarray(keypoints2d, dtype=np.float64)
    height_px = 0.0 if creep is None else person_height_px(creep, valid)
    for (hip, knee, ankle), columns in LEGS:
        planted = valid & (np.asarray(contact)[:, list(columns)].max(axis=1) >= config.threshold)
        moves = np.zeros((frames, 3))  # how far each frame's pinned point is sent
        turns = np.zeros((frames, 3))  # how the foot turns about its pinned point (world, aa)
        pivots = np.zeros((frames, 3))  # the pinned point, where the solve put it
        pinned = np.zeros(frames, dtype=bool)
        for start, end in planted_stretches(planted, config.min_frames):
            # the point that rests most over the stretch: the heel, or the toe (tiptoe)
            column = max(columns, key=lambda c: float(np.mean(contact[start:end, c])))
            point = np.asarray(keypoints3d, dtype=np.float64)[:, CONTACT_INDEX[column]]
            world = np.einsum("fji,fj->fi", turn[start:end], point[start:end])
            cuts = [] if creep is None else (start + np.flatnonzero(drift_breaks(
                creep[start:end, [CONTACT_INDEX[c] for c in columns]], valid[start:end],
                height_px, config.creep_limit, config.creep_smooth_s * fps))).tolist()
            knots, places = [], []
            for a, b in zip([start, *cuts], [*cuts, end], strict=True):
                one = np.median(world[a - start:b - start], axis=0)
                if ground is not None:  # onto the level it rests on
                    one = _onto_level(one, ground, config.level_along_ray_m)
                knots.append((a + b - 1) / 2.0 - start)
                places.append(one)
            # a creeping foot creeps: from one pin to the next evenly, centre to centre
            frame = np.arange(end - start, dtype=np.float64)
            pin = np.stack([np.interp(frame, knots, [p[i] for p in places]) for i in range(3)],
                           axis=-1)
            for f in range(start, end):
                moves[f] = turn[f] @ pin[f - start] - point[f]  # the pin, in this camera
                pivots[f] = point[f]
            if config.lock_heading:
                turns[start:end] = np.outer(
                    _heading_turns(keypoints3d, columns, turn, start, end, up), up)
            if config.lift_feet and ground is not None:
                other = columns[1] if column == columns[0] else columns[0]
                turns[start:end] = _pitch_up(turns[start:end], world, np.einsum(
                    "fji,fj->fi", turn[start:end],
                    np.asarray(keypoints3d, dtype=np.float64)[start:end, CONTACT_INDEX[other]]),
                    up)
            pinned[start:end] = True
            for edge, step in ((start, -1), (end - 1, 1)):  # fade the correction out
                for k in range(1, blend + 1):
                    f = edge + step * k
                    if not (0 <= f < frames) or not valid[f] or pinned[f]:
                        break
                    moves[f] = moves[edge] * (1.0 - k / (blend + 1))
                    turns[f] = turns[edge] * (1.0 - k / (blend + 1))
                    pivots[f] = np.asarray(keypoints3d, dtype=np.float64)[
                        f, CONTACT_INDEX[column]]
        targets.append((hip, knee, ankle, moves, turns, pivots))
        pins.append(pinned)
    new_transl = np.array(transl, dtype=np.float64)
    per_frame = []  # (frame, legs, headings) where a foot is pinned or fading
    for f in range(frames):
        legs, headings = [], []
        for h, k, a, m, t, pivot in targets:
            if not (m[f].any() or t[f].any()):
                continue
            # the foot's turn, in this frame's camera
            spin = turn[f] @ axis_angle_to_matrix(t[f]) @ turn[f].T
            # the ankle goes where the foot, turned about its pinned point, puts it
            legs.append((h, k, a, pivot[f] + m[f] + spin @ (joints[f, a] - pivot[f])))
            headings.append((a, spin))
        if legs:
            per_frame.append((f, legs, headings))
    # each leg's full reach: bone lengths are the rest skeleton's, the same in every frame
    full_reach = {ankle: _leg_length(joints[0], hip, knee, ankle)
                  for (hip, knee, ankle), _ in LEGS}
    depth = _depth_shifts(joints, per_frame, valid, config, fps)
    depth = depth + _rise_shifts(joints + depth[:, None], per_frame, valid, config, fps)
    for f, legs, headings in per_frame:
        new_joints[f] += depth[f]  # the whole body: along the ray, then up to its pins
        new_transl[f] += depth[f]
        if config.max_reach is not None:
            shift = _root_shift(new_joints[f], legs, config.max_reach)
            new_joints[f] += shift  # the whole body, when a leg cannot reach its pin
            new_transl[f] += shift
        for hip, knee, ankle, target in legs:
            if config.soft_reach < 1.0 and config.max_reach is None:  # eased beyond the
                # solve's own reach (with ``max_reach`` the body moves to let the leg reach)
                length = full_reach[ankle]
                solved = float(np.linalg.norm(new_joints[f, ankle] - new_joints[f, hip]))
                target = soft_goal(new_joints[f, hip], target, length,
                                   max(config.soft_reach * length, solved))
            _bend_leg(new_joints[f], new_rots[f], hip, knee, ankle, target)
        for ankle, spin in headings:
            _turn_foot(new_joints[f], new_rots[f], ankle, spin)
    if config.lift_feet and ground is not None:
        _lift_unpinned(new_joints, new_rots, carry_keypoints(keypoints3d, joints, rots,
                                                             new_joints, new_rots),
                       keypoints3d, pins, turn, valid, ground, up)
    for leg_joints, _ in LEGS:
        for j in leg_joints:  # back to SMPL-X locals: parent^T @ global
            local = np.swapaxes(new_rots[:, PARENTS[j]], -1, -2) @ new_rots[:, j]
            body_pose[:, j - 1] = matrix_to_axis_angle(local)
    return body_pose, new_transl, new_joints, carry_keypoints(keypoints3d, joints, rots,
                                                              new_joints, new_rots)


def _onto_level(pin: np.ndarray, ground: Ground, along_ray_m: float) -> np.ndarray:
    """``pin`` (world) moved onto the support level it rests on: along the camera's ray
    through it by at most ``along_ray_m``, then straight up or down for what is left. The
    camera sits at the world's origin (it only turns), so that ray is the pin's own direction
    and moving along it scales the pin."""
    height = float(ground.height_above(pin))
    level = float(support_heights(np.array([height]), ground.levels)[0])
    towards = float(pin @ ground.normal)  # height gained per unit of scale along the ray
    distance = float(np.linalg.norm(pin))
    if along_ray_m > 0 and abs(towards) > 1e-6 and distance > 1e-6:
        scale = 1.0 + (level - height) / towards
        step = np.clip(scale - 1.0, -along_ray_m / distance, along_ray_m / distance)
        pin = pin * (1.0 + step)
        height = float(ground.height_above(pin))
    return pin - (height - level) * ground.normal


def _depth_shifts(joints: np.ndarray, per_frame: list, valid: np.ndarray,
                  config: FootLockConfig, fps: float) -> np.ndarray:
    """(F, 3) how far the whole body slides along the camera's ray through its pelvis
    (``joints[f, 0]``, camera frame: the camera at the origin) in each frame with a pinned or
    fading foot: the pinned ankles' mean move along that ray, at most ``depth_from_feet_m``
    either way, smoothed over ``depth_smooth_s`` (zero outside the pins, so the shift fades
    with them). The solve's depth noise moves the whole body along the ray, so a pin asks
    every planted ankle to move back by about the same amount; moving the body does that
    without bending a leg (a leg's length alone cannot tell it: for an upright leg a 2 cm
    change of depth changes the hip-to-ankle distance by a quarter of a millimetre). The
    smoothing keeps the ankles' own frame-to-frame noise out of the body's path."""
    frames = len(joints)
    amount = np.zeros(frames)
    if config.depth_from_feet_m <= 0 or not per_frame:
        return np.zeros((frames, 3))
    rays = joints[:, 0] / np.maximum(np.linalg.norm(joints[:, 0], axis=1, keepdims=True), 1e-9)
    for f, legs, _ in per_frame:
        amount[f] = np.mean([(target - joints[f, ankle]) @ rays[f]
                             for _hip, _knee, ankle, target in legs])
    amount = np.clip(amount, -config.depth_from_feet_m, config.depth_from_feet_m)
    if config.depth_smooth_s > 0:
        amount = gaussian_smooth(amount, valid, config.depth_smooth_s * fps)
    return amount[:, None] * rays


def _rise_shifts(joints: np.ndarray, per_frame: list, valid: np.ndarray,
                 config: FootLockConfig, fps: float) -> np.ndarray:
    """(F, 3) how far the whole body rises in each frame where its pins sit nearer its hips
    than the solve's own ankles (``joints``: after the slide along the ray): along the planted
    legs' mean direction (hip to pin), by their mean shortfall, at most ``rise_max_m``,
    smoothed over ``rise_smooth_s`` (zero elsewhere, so it fades with the pins). Bending the
    knees would shorten the legs instead, and a nearly straight leg does that by swinging its
    knee forward by several times the shortfall. Only up: a pin beyond reach is eased into
    (``soft_reach``) rather than pulling the body down off its pixels."""
    frames = len(joints)
    out = np.zeros((frames, 3))
    if not config.rise_to_pins or not per_frame:
        return out
    for f, legs, _ in per_frame:
        directions, shortfalls = [], []
        for hip, _knee, ankle, target in legs:
            reach = target - joints[f, hip]
            distance = float(np.linalg.norm(reach))
            if distance < 1e-9:
                continue
            directions.append(reach / distance)
            shortfalls.append(float(np.linalg.norm(joints[f, ankle] - joints[f, hip])) - distance)
        shortfall = float(np.mean(shortfalls)) if shortfalls else 0.0
        if shortfall <= 0:
            continue
        down = np.mean(directions, axis=0)
        down /= max(float(np.linalg.norm(down)), 1e-9)
        out[f] = -min(shortfall, config.rise_max_m) * down
    if config.rise_smooth_s > 0:
        out = gaussian_smooth(out, valid, config.rise_smooth_s * fps)
    return out


def _leg_length(joints: np.ndarray, hip: int, knee: int, ankle: int) -> float:
    """Thigh plus shin (metres): how far the leg reaches when straight."""
    return float(np.linalg.norm(joints[knee] - joints[hip])
                 + np.linalg.norm(joints[ankle] - joints[knee]))


def _root_shift(joints: np.ndarray, legs: list, max_reach: float) -> np.ndarray:
    """(3,) how far to move the whole body so every pinned leg can reach its target with the
    knee at most ``max_reach`` of full extension: towards the farthest target by what is
    missing (zero when every target is within reach)."""
    shift = np.zeros(3)
    for hip, knee, ankle, target in legs:
        length = _leg_length(joints, hip, knee, ankle)
        reach = target - (joints[hip] + shift)
        missing = np.linalg.norm(reach) - max_reach * length
        if missing > 0:
            shift = shift + missing * reach / np.linalg.norm(reach)
    return shift


def _bend_leg(joints: np.ndarray, rots: np.ndarray, hip: int, knee: int, ankle: int,
              target: np.ndarray) -> None:
    """In place for one frame: the leg solved to ``target``, the foot's world orientation and
    everything below the ankle carried along rigidly."""
    new_knee, new_ankle = two_bone_ik(joints[hip], joints[knee], joints[ankle], target)
    turn_thigh = _rotation_between(joints[knee] - joints[hip], new_knee - joints[hip])
    turn_shin = _rotation_between(turn_thigh @ (joints[ankle] - joints[knee]),
                                  new_ankle - new_knee)
    shift = new_ankle - joints[ankle]
    below = [j for j in range(NUM_JOINTS) if _descends_from(j, ankle)]
    rots[hip] = turn_thigh @ rots[hip]
    rots[knee] = turn_shin @ turn_thigh @ rots[knee]
    joints[knee], joints[ankle] = new_knee, new_ankle
    for j in below:  # the ankle keeps its global rotation: the foot only moves
        joints[j] = joints[j] + shift


def _lift_unpinned(joints: np.ndarray, rots: np.ndarray, moved: np.ndarray,
                   keypoints3d: np.ndarray, pins: list[np.ndarray], turn: np.ndarray,
                   valid: np.ndarray, ground: Ground, up: np.ndarray) -> None:
    """In place: every valid frame where a leg's foot is not pinned but its lower point is
    under the support level the person stands on gets that leg bent so the foot rises onto it.

    Run last, on the feet as the pins left them (``moved``, keypoints after the pass), so the
    frames where a pin's correction fades out into the swing are covered too: a fading pitch
    or pin let the other foot point dip 4-8 cm under the floor for exactly those frames
    (Pose2Sim cam01/cam02's man). The level is read from the solve's own feet, as the pins'."""
    world = np.einsum("fji,fkj->fki", turn, np.asarray(keypoints3d, dtype=np.float64)[
        :, list(CONTACT_INDEX)])  # (F, 4, 3)
    level = support_heights(ground.height_above(world).min(axis=1), ground.levels)
    now = np.einsum("fji,fkj->fki", turn, moved[:, list(CONTACT_INDEX)])
    for ((hip, knee, ankle), columns), pinned in zip(LEGS, pins, strict=True):
        low = ground.height_above(now[:, list(columns)]).min(axis=1)
        for f in np.flatnonzero(valid & ~pinned & (low < level)):
            # the foot only moves with its ankle (_bend_leg keeps its orientation)
            _bend_leg(joints[f], rots[f], hip, knee, ankle,
                      joints[f, ankle] + turn[f] @ ((level[f] - low[f]) * up))


def _pitch_up(turns: np.ndarray, pinned: np.ndarray, other: np.ndarray,
              up: np.ndarray) -> np.ndarray:
    """(n, 3) each frame's foot turn (axis-angle, world) with a pitch added where the foot's
    other point, after the turn, would be under the pinned one's level: the foot tipped about
    its pinned point until that point is level with it (a toe driven into the floor while the
    heel is pinned). ``pinned`` and ``other``: (n, 3) world points as the solve put them."""
    out = np.array(turns, dtype=np.float64)
    for i in range(len(out)):
        turn = axis_angle_to_matrix(out[i])
        reach = turn @ (other[i] - pinned[i])
        length = np.linalg.norm(reach)
        below = -float(reach @ up)
        if below <= 0 or length < 1e-6:
            continue
        axis = np.cross(reach, up)
        if np.linalg.norm(axis) < 1e-9:
            continue
        angle = np.arcsin(min(below / length, 1.0))
        tip = axis_angle_to_matrix(axis / np.linalg.norm(axis) * angle)
        out[i] = matrix_to_axis_angle(tip @ turn)
    return out


def _turn_foot(joints: np.ndarray, rots: np.ndarray, ankle: int, spin: np.ndarray) -> None:
    """In place for one frame: the foot (the ankle's rotation and every joint below it) turned
    by ``spin`` about the ankle."""
    rots[ankle] = spin @ rots[ankle]
    for j in range(NUM_JOINTS):
        if _descends_from(j, ankle):
            rots[j] = spin @ rots[j]
            joints[j] = joints[ankle] + spin @ (joints[j] - joints[ankle])


def _heading_turns(keypoints3d: np.ndarray, columns: tuple[int, int], turn: np.ndarray,
                   start: int, end: int, up: np.ndarray) -> np.ndarray:
    """(end - start,) the turn (radians, about ``up``, world frame) that brings each frame's
    heel-to-toe heading onto the stretch's median heading."""
    kp = np.asarray(keypoints3d, dtype=np.float64)
    heel = np.einsum("fji,fj->fi", turn[start:end], kp[start:end, CONTACT_INDEX[columns[0]]])
    toe = np.einsum("fji,fj->fi", turn[start:end], kp[start:end, CONTACT_INDEX[columns[1]]])
    along = toe - heel
    along = along - np.outer(along @ up, up)  # horizontal
    # angles in the floor's plane, measured from any fixed horizontal direction
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    angle = np.arctan2(along @ e2, along @ e1)
    median = np.angle(np.median(np.cos(angle)) + 1j * np.median(np.sin(angle)))
    return np.angle(np.exp(1j * (median - angle)))  # wrapped to (-pi, pi]


def _descends_from(joint: int, ancestor: int) -> bool:
    p = PARENTS[joint]
    while p >= 0:
        if p == ancestor:
            return True
        p = PARENTS[p]
    return False
