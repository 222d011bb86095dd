"""The floor under the people, from their feet: the lowest level that people stand on.

Why: one ground height taken from everybody's feet pooled together is wrong as soon as someone
stands on something. On demo.mp4 the man stands on a 2 m box for most of the clip, the pooled
median of the feet lies between box and grass, and the walking woman sinks into the "ground".
The floor is instead the *lowest level that is well supported*: heights where feet rest often
enough (at least ``min_share`` of all person-frames, and ``min_frames``) are support levels (the
grass, the top of the box); the lowest of them is the floor, and anyone above it is standing on
something. Levels closer than ``merge_m`` are one surface and can be merged
(:func:`merge_levels`; :data:`LEVEL_MERGE_M`, 0.2 m): the solved feet on one surface spread
wider than one level's window. Off by default for now: ``contacts.support_heights`` still puts
a foot on a level only within 0.1 m below it, which the split levels happened to cover.

Conventions: points are in the **world frame** of the result (the camera at the job's first
frame, OpenCV axes: x right, y down, z forward; ``genhmr_core.scene_space.to_world_axes`` turns
later frames into it). The floor is a plane ``n . X = d`` with ``n`` the unit normal pointing up
(towards the camera's side), so a camera above the floor has ``d < 0`` and stands ``-d`` above
it. The floor's tilt against the camera (the camera's pitch and roll) comes from the
background when its vertical edges tell it (``background_up``: their vanishing point,
``genhmr_core.vertical``, found by the backend; within a degree or so of the calibration on
Pose2Sim), else from the people themselves: they stand upright, so the median of their body
axes is the world's up (:func:`up_from_bodies`; 4-11 degrees off on Pose2Sim, where the detector
reads people's pitch short). Fitting a plane to the feet does not work on most real footage:
the feet of people walking along a path lie close to a line, which leaves the tilt about that
line free (Pose2Sim cam01: the feet spread 2.0 m one way and 0.2 m the other). It is the
fallback where the tilt given leaves the feet without any level and they do cover an area
(:func:`up_from_feet_plane`; vtest.avi's plaza).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .keypoints import KEYPOINT_INDEX
from .root_depth import MAD_TO_SIGMA
from .rotations import axis_angle_to_matrix
from .scene_space import to_world_axes

# the foot points that rest on the ground: heels and big toes (also the contact points)
FOOT_POINT_NAMES = ("left_heel", "left_foot_index", "right_heel", "right_foot_index")
FOOT_POINTS = tuple(KEYPOINT_INDEX[name] for name in FOOT_POINT_NAMES)
UP = np.array([0.0, -1.0, 0.0])  # OpenCV y points down
# support levels closer than this are one surface (:func:`merge_levels` says why 0.2 m)
LEVEL_MERGE_M = 0.2


@dataclasses.dataclass(frozen=True)
class GroundConfig:
    tolerance_m: float = 0.1  # feet within this of a level rest on it
    # levels closer than this are one surface (:func:`merge_levels`; 0 keeps every level).
    # ``contacts.support_heights`` takes a foot as far below its level as this, so a merged
    # level still holds the feet it was merged from (docs/world_space.md, section 2)
    merge_m: float = LEVEL_MERGE_M
    min_share: float = 0.1  # a support level holds at least this share of person-frames ...
    min_frames: int = 5  # ... and at least this many
    fallback_height_m: float = 1.5  # camera height when nobody's feet are known
    # the floor's tilt (the camera's pitch and roll) from the people's body axes
    # (:func:`up_from_bodies`): needs this many person-frames, and at most this tilt
    min_plane_points: int = 30
    max_tilt_deg: float = 45.0
    # the feet's plane (:func:`up_from_feet_plane`) only where they cover an area: this much
    # spread (metres, standard deviation) along its second direction
    min_feet_spread_m: float = 1.0


@dataclasses.dataclass(frozen=True)
class Ground:
    """The floor plane ``normal . X = offset`` (world frame, metres) and every support level
    found (heights of the levels above the floor, the floor's first)."""

    normal: np.ndarray  # (3,) unit, pointing up
    offset: float
    levels: tuple[float, ...]  # support levels, metres above the floor, ascending (0.0 first)
    support: tuple[int, ...]  # person-frames resting on each level
    estimated: bool  # False: nobody's feet were known, the fallback height is used
    # where the tilt came from: "background" (its vertical edges), "people" (their body axes,
    # as far as the feet agree), "feet" (their plane: :func:`up_from_feet_plane`) or "level"
    # (the first frame's camera)
    tilt_from: str = "level"

    @property
    def camera_height(self) -> float:
        """How far the first frame's camera is above the floor (metres)."""
        return -self.offset

    def as_array(self) -> np.ndarray:
        """(4,) float32 ``[nx, ny, nz, d]``: the result file's ``ground_plane``."""
        return np.append(self.normal, self.offset).astype(np.float32)

    def height_above(self, points: np.ndarray) -> np.ndarray:
        """Signed height (metres) of world points (..., 3) above the floor."""
        return np.asarray(points, dtype=np.float64) @ self.normal - self.offset


def lowest_feet(keypoints3d_world: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, 3) the lowest foot point (largest world y, i.e. down) of every valid person-frame:
    keypoints (P, F, K, 3) in the world frame, valid (P, F)."""
    feet = np.asarray(keypoints3d_world, dtype=np.float64)[..., FOOT_POINTS, :]  # (P, F, 4, 3)
    lowest = np.take_along_axis(feet, feet[..., 1].argmax(axis=-1)[..., None, None],
                                axis=-2)[..., 0, :]
    out = lowest[np.asarray(valid, dtype=bool)]
    return out[np.isfinite(out).all(axis=1)]


def lowest_foot_heights(keypoints3d: np.ndarray, camera_rotation: np.ndarray | None,
                        ground: Ground) -> np.ndarray:
    """(F,) one person's lowest foot point (heels and big toes) above ``ground``'s floor in
    each frame: keypoints (F, K, 3) in each frame's camera axes, turned into the world frame
    with ``camera_rotation`` (F, 3, 3; None for a fixed camera)."""
    feet = to_world_axes(keypoints3d, camera_rotation)[:, list(FOOT_POINTS)]
    return ground.height_above(feet).min(axis=1)


# People lean into their motion (a runner 10-20 degrees forward): :func:`without_lean`
LEAN_SPAN_S = 0.25  # travel measured over this long on each side of a frame
LEAN_MIN_SPEED = 0.8  # m/s: slower than this the lean is left (standing, a slow walk)
LEAN_MAX_RISE = 0.5  # |cos| of travel against the up: steeper travel (a jump) is left


def body_up_vectors(global_orient: np.ndarray, valid: np.ndarray,
                    camera_rotation: np.ndarray | None = None,
                    keypoints3d: np.ndarray | None = None, fps: float | None = None
                    ) -> np.ndarray:
    """(N, 3) every valid person-frame's body up axis in the world frame: the SMPL-X model's +Y
    turned by the root rotation (``global_orient`` (P, F, 3), camera axes per frame), then by
    ``camera_rotation[f].T`` when the camera turned. With ``keypoints3d`` (P, F, K, 3; camera
    axes per frame) and ``fps``, each body's lean into its own travel is taken out
    (:func:`without_lean`)."""
    orient = np.asarray(global_orient, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    ups = axis_angle_to_matrix(orient)[..., :, 1]  # (P, F, 3): the model's +Y axis
    if camera_rotation is not None:
        ups = np.einsum("fji,pfj->pfi", np.asarray(camera_rotation, dtype=np.float64), ups)
    if keypoints3d is not None and fps and valid.any():
        hips = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]
        pelvis = np.stack([to_world_axes(np.asarray(person, dtype=np.float64)[:, hips].mean(1),
                                         camera_rotation) for person in keypoints3d])
        ups = without_lean(ups, pelvis, valid, float(fps))
    return ups[valid]


def without_lean(ups: np.ndarray, pelvis: np.ndarray, valid: np.ndarray, fps: float
                 ) -> np.ndarray:
    """(P, F, 3) body up axes with each one's component along its person's direction of travel
    taken out (and made unit again), where they travel faster than :data:`LEAN_MIN_SPEED`
    mostly across the up (travel within 60 degrees of the up, a jump, is left alone).

    Why: the world's up is read as the median of the bodies' up axes, but people lean into
    their motion, a runner 10-20 degrees forward, so a clip of someone running one way tilts it
    by their lean. The lean turns the up towards the travel, and the travel is horizontal, so
    removing the up's component along it gives the upright again: on the synthetic clip of a
    runner followed by a panning camera (``benchmarks/synthetic_world.py``) the people's up
    went from 22.0 to 3.3 degrees off, and the walks' from 3.1-4.5 to 1.4-1.6 (docs/
    world_space.md). ``pelvis`` (P, F, 3): where each body is (world frame), from which the
    travel is measured over :data:`LEAN_SPAN_S` either side."""
    ups = np.array(ups, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    ups = ups / np.maximum(np.linalg.norm(ups, axis=-1, keepdims=True), 1e-12)
    rough = np.median(ups[valid], axis=0)
    rough = rough / max(np.linalg.norm(rough), 1e-12)
    k = max(1, round(LEAN_SPAN_S * fps))
    frames = np.arange(ups.shape[1])
    a, b = np.maximum(frames - k, 0), np.minimum(frames + k, ups.shape[1] - 1)
    pelvis = np.asarray(pelvis, dtype=np.float64)
    travel = (pelvis[:, b] - pelvis[:, a]) * fps / np.maximum(b - a, 1)[None, :, None]
    speed = np.linalg.norm(travel, axis=-1, keepdims=True)
    d = travel / np.maximum(speed, 1e-12)
    leaning = (valid & valid[:, a] & valid[:, b] & (b > a)[None, :]
               & (speed[..., 0] >= LEAN_MIN_SPEED) & (np.abs(d @ rough) <= LEAN_MAX_RISE))
    upright = ups - np.sum(ups * d, axis=-1, keepdims=True) * d
    upright /= np.maximum(np.linalg.norm(upright, axis=-1, keepdims=True), 1e-12)
    ups = np.where(leaning[..., None], upright, ups)
    return ups


def _tilt_feet_agree_with(feet: np.ndarray, body_normal: np.ndarray,
                          config: GroundConfig) -> np.ndarray:
    """Between level (the camera's own up) and the bodies' up, the tilt under which the most
    feet rest on one level (the densest 2 x tolerance window of heights), nearest to level on
    a tie. The bodies' up is a few degrees off at times (Pose2Sim: 0.3-6.8); for a near-level
    camera that is noise the feet can overrule (demo.mp4: a quarter of the way), for a
    strongly pitched one they confirm it (Pose2Sim: all the way, 18-34 degrees)."""
    candidates = []
    for t in np.linspace(0.0, 1.0, 5):
        n = (1.0 - t) * UP + t * body_normal
        candidates.append(n / np.linalg.norm(n))
    width = 2.0 * config.tolerance_m

    def resting(n: np.ndarray) -> int:
        heights = np.sort(-(feet @ n))
        if not len(heights):
            return 0
        ends = np.searchsorted(heights, heights + width, side="right")
        return int((ends - np.arange(len(heights))).max())

    return candidates[int(np.argmax([resting(n) for n in candidates]))]


def up_from_bodies(body_up: np.ndarray, config: GroundConfig) -> np.ndarray | None:
    """The world's up direction (unit, OpenCV axes) from people's body axes (N, 3): each
    person-frame's pelvis "up" (the SMPL-X model's +Y turned by the root rotation), in the
    world frame. People stand and walk upright, leaning a few degrees either way, so the
    median over many frames is the direction of gravity, i.e. the floor's normal, which tells
    the camera's pitch and roll. None when there are fewer than ``min_plane_points`` or the
    result leans more than ``max_tilt_deg`` from the camera's own up."""
    ups = np.asarray(body_up, dtype=np.float64).reshape(-1, 3)
    ups = ups[np.isfinite(ups).all(axis=1)]
    if len(ups) < config.min_plane_points:
        return None
    ups = ups / np.maximum(np.linalg.norm(ups, axis=1, keepdims=True), 1e-12)
    up = np.median(ups, axis=0)
    up = up / max(np.linalg.norm(up), 1e-12)
    if up @ UP < np.cos(np.radians(config.max_tilt_deg)):
        return None
    return up


def up_from_feet_plane(feet: np.ndarray, config: GroundConfig) -> np.ndarray | None:
    """The up direction (unit, OpenCV axes) of the plane through the feet (N, 3; world
    frame), fitted robustly (feet more than three spreads off it set aside, twice), or None
    where the feet do not cover an area (less than ``min_feet_spread_m`` along the plane's
    second direction: people walking along one path leave the tilt about it free, Pose2Sim
    cam01's feet spread 2.0 m one way and 0.2 m the other), are too few, or the plane tilts
    more than ``max_tilt_deg`` from the camera's own up."""
    points = np.asarray(feet, dtype=np.float64).reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < config.min_plane_points:
        return None
    for _ in range(3):
        centre = np.median(points, axis=0)
        _, singular, axes = np.linalg.svd(points - centre, full_matrices=False)
        normal = axes[2]
        distance = np.abs((points - centre) @ normal)
        spread = MAD_TO_SIGMA * float(np.median(distance))
        inliers = distance <= 3.0 * spread + 1e-9
        if inliers.all() or inliers.sum() < config.min_plane_points:
            break
        points = points[inliers]
    if singular[1] / np.sqrt(len(points)) < config.min_feet_spread_m:
        return None
    return _checked_up(normal if normal @ UP > 0 else -normal, config)


def merge_levels(levels: list[tuple[float, np.ndarray]],
                 merge_m: float) -> list[tuple[float, np.ndarray]]:
    """Support levels that are one surface, merged. Each level is ``(height, feet)``: its
    height and the feet heights resting on it (1-D, any order, along the same axis). The two
    levels closest in height are merged while they are less than ``merge_m`` apart; the merged
    level holds the feet of both, at their median, i.e. the support-weighted median of the
    two, so the better-supported level moves least. Levels not merged keep their height.

    Why: :func:`support_levels` takes a window of 2 x ``tolerance_m`` at a time, but the solved
    feet on one surface spread wider than that. Their height jitters with the 3D stage's pose
    and depth noise (demo.mp4: sigma 6 cm on the grass, 9 cm on the box, where the man's feet
    span 2.10-2.50 m), so the feet left over beside the first window make a second level one
    to two sigma away (demo.mp4's box top: 2.23 m and 2.37 m, 14 cm apart), and the person on
    the box seems to step between the two. :data:`LEVEL_MERGE_M`, 0.2 m, about two sigma of
    the noisiest surface seen, takes such a tail back in, while surfaces that really differ
    stay apart: a step or kerb of 0.3 m or more, a box of 0.5 m. A lower real step (a 15 cm
    kerb) is merged: the price of this noise. Closest pair first, and the merged height is
    measured again before the next merge, so levels do not chain into one thick slab: 0, 0.15
    and 0.3 m with equal support give two levels, not one. The floor stays the lowest level:
    a weak tail merged into it moves it by little (the weighted median stays in its feet)."""
    merged = [(float(h), np.asarray(f, dtype=np.float64)) for h, f in levels if len(f)]
    merged.sort(key=lambda level: level[0])
    while len(merged) > 1:
        gaps = np.diff([h for h, _ in merged])
        i = int(np.argmin(gaps))
        if not gaps[i] < merge_m:
            break
        feet = np.concatenate([merged[i][1], merged[i + 1][1]])
        merged[i:i + 2] = [(float(np.median(feet)), feet)]
    return merged


def support_levels(feet_y: np.ndarray, config: GroundConfig) -> list[tuple[float, int]]:
    """Heights (world y) where feet rest, each with the person-frames on it, lowest level
    (largest y) first. A level is the median of a densest window of width 2 x tolerance;
    its points are then set aside and the next level is looked for. Levels closer than
    ``config.merge_m`` are then one level (:func:`merge_levels`) at the median of their feet,
    holding the person-frames of all of them."""
    remaining = np.sort(np.asarray(feet_y, dtype=np.float64))
    needed = max(config.min_frames, int(np.ceil(config.min_share * len(remaining))))
    found: list[tuple[float, np.ndarray]] = []  # each level and the feet resting on it
    width = 2.0 * config.tolerance_m
    while len(remaining) >= needed:
        # densest window [y_i, y_i + width]: count by binary search
        ends = np.searchsorted(remaining, remaining + width, side="right")
        counts = ends - np.arange(len(remaining))
        best = int(np.argmax(counts))
        if counts[best] < needed:
            break
        members = remaining[best:ends[best]]
        level = float(np.median(members))
        near = np.abs(remaining - level) <= config.tolerance_m
        found.append((level, remaining[near]))
        remaining = remaining[~near]
    levels = [(height, len(feet)) for height, feet in merge_levels(found, config.merge_m)]
    levels.sort(key=lambda item: -item[0])  # largest y = lowest first
    return levels


def _checked_up(up: np.ndarray | None, config: GroundConfig) -> np.ndarray | None:
    """``up`` as a unit vector, or None when it is missing, not finite, or tilted more than
    ``max_tilt_deg`` from the camera's own up (the same bound as the people's up)."""
    if up is None:
        return None
    up = np.asarray(up, dtype=np.float64).reshape(3)
    norm = np.linalg.norm(up)
    if not (np.isfinite(up).all() and norm > 1e-12):
        return None
    up = up / norm
    return up if up @ UP >= np.cos(np.radians(config.max_tilt_deg)) else None


def estimate_ground(keypoints3d_world: np.ndarray, valid: np.ndarray,
                    config: GroundConfig | None = None,
                    body_up: np.ndarray | None = None,
                    background_up: np.ndarray | None = None) -> Ground:
    """The floor from everybody's feet (keypoints (P, F, K, 3) in the world frame, valid
    (P, F)): the lowest well-supported level (see the module docstring). Its tilt: the
    background's up ``background_up`` (3,; world frame; ``genhmr_core.vertical``) when given,
    as it is (it is accurate to a degree or so; the feet would only blur it); else, with the
    people's body axes ``body_up`` (N, 3; world frame; :func:`body_up_vectors`), between level
    and their up (:func:`up_from_bodies`), as far as the feet agree
    (:func:`_tilt_feet_agree_with`); else level with the first frame's camera. The feet give
    the floor's height in every case."""
    config = config or GroundConfig()
    feet = lowest_feet(keypoints3d_world, valid)
    normal = _checked_up(background_up, config)
    tilt_from = "background"
    if normal is None:
        normal = None if body_up is None else up_from_bodies(body_up, config)
        tilt_from = "level" if normal is None else "people"
        normal = UP.copy() if normal is None else _tilt_feet_agree_with(feet, normal, config)
    feet_y = -(feet @ normal)  # how far below the camera along the floor's normal
    levels = support_levels(feet_y, config)
    if not levels:
        # No level where feet rest under that tilt: it is wrong. vtest.avi's vertical edges
        # say the camera pitches 6 degrees, while the people, spread over the plaza, stand on
        # a plane pitched 27 (the horizon their sizes put above the picture says the same):
        # their feet then lie from 1.3 m above the camera's height to 2.5 m below it, and
        # there was no floor at all. Where the feet cover an area, their plane is the floor.
        plane_up = up_from_feet_plane(feet, config)
        if plane_up is not None:
            normal, tilt_from = plane_up, "feet"
            feet_y = -(feet @ normal)
            levels = support_levels(feet_y, config)
    if not levels:
        if len(feet_y):  # too few frames for a level: all feet pooled, as before
            floor, support = float(np.median(feet[:, 1])), (len(feet_y),)
            normal, tilt_from = UP.copy(), "level"
        else:
            return Ground(normal=UP.copy(), offset=-config.fallback_height_m, levels=(0.0,),
                          support=(0,), estimated=False)
        heights = (0.0,)
    else:
        floor = levels[0][0]
        heights = tuple(floor - y for y, _ in levels)
        support = tuple(n for _, n in levels)
    if not floor > 0.05:  # the floor at or above the camera: not a floor (the fallback)
        return Ground(normal=UP.copy(), offset=-config.fallback_height_m, levels=(0.0,),
                      support=(0,), estimated=False)
    return Ground(normal=normal, offset=-floor, levels=heights, support=support,
                  estimated=True, tilt_from=tilt_from)


def up_of_bodies(global_orient: np.ndarray, valid: np.ndarray,
                 camera_rotation: np.ndarray | None = None,
                 config: GroundConfig | None = None, keypoints3d: np.ndarray | None = None,
                 fps: float | None = None) -> np.ndarray | None:
    """The people's up (:func:`up_from_bodies`) from a result's root rotations (P, F, 3),
    valid (P, F) and ``camera_rotation`` (with ``keypoints3d`` and ``fps``, their lean into
    their travel taken out: :func:`without_lean`): the prior the background's vertical lines
    are checked against (``genhmr_core.vertical``)."""
    return up_from_bodies(body_up_vectors(global_orient, valid, camera_rotation, keypoints3d,
                                          fps), config or GroundConfig())


def ground_of_solve(keypoints3d: np.ndarray, global_orient: np.ndarray, valid: np.ndarray,
                    camera_rotation: np.ndarray | None = None,
                    config: GroundConfig | None = None, tilt: bool = True,
                    background_up: np.ndarray | None = None, fps: float | None = None
                    ) -> Ground:
    """The floor of a solved clip, from a result's own arrays (keypoints (P, F, K, 3) and root
    rotations (P, F, 3) in each frame's camera axes, valid (P, F), ``camera_rotation`` when the
    camera turned): what the job writes as ``ground_plane`` and what the add-on estimates for
    older results. ``background_up``: the tilt from the background's vertical lines when the
    job found one (the add-on has no frames to look at, so for older results the tilt is the
    people's). ``tilt=False``: level with the first frame's camera (the rule before the tilt
    was estimated, for comparisons). ``fps``: the people's lean into their travel is taken out
    of their up (:func:`without_lean`; without it, as for older results, it stays)."""
    world = np.stack([to_world_axes(person, camera_rotation) for person in keypoints3d]) \
        if len(keypoints3d) else np.asarray(keypoints3d, dtype=np.float64)
    body_up = body_up_vectors(global_orient, valid, camera_rotation, keypoints3d,
                              fps) if tilt else None
    return estimate_ground(world, valid, config, body_up=body_up,
                           background_up=background_up if tilt else None)
