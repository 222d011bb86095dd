"""Clips with a known moving camera and known feet on a known floor, for the world stages.

Why: on real footage neither the camera's path nor when a foot rests is known exactly
(Pose2Sim's cameras are fixed; its contacts come from noisy triangulated landmarks), so foot
sliding, ground penetration and the world trajectory can only be compared with another
estimate. Here everything is known, and what is synthetic is kept to the parts whose effect
is already measured elsewhere:

* **the scene is a real lab**: Pose2Sim ``Demo_MultiPerson`` cam01's first frame, with that
  camera's published calibration (intrinsics, height, pitch, roll over the lab floor z = 0);
* **the camera turns by known rotations** about its centre (a tripod pan following the
  person, a hand-held wobble, or none), and its lens may **zoom** by a known amount: a pure
  turn maps the picture by ``K R K^-1``, a turn through a zoomed lens by ``K_z R K^-1``
  (:mod:`~genhmr.synthetic.turned_camera`), so the frames are exact pictures of the lab from
  the turned camera, with sensor noise (black beyond the real view, faded in: mirrored
  content there would have its vertical edges meet at a mirrored vanishing point, a hard
  edge would be a "vertical" line of its own); a textured patch in the person's box stands
  in for the person (it moves with them and hides the lab behind them, as a person would);
* **the person is the default body** (a random shape) performing registry motion, its floor
  put on the lab floor, walking where the lab's people walked;
* **the detector is the fitted MediaPipe noise model** (:mod:`~genhmr.synthetic.noise`): the
  body's keypoints projected through the turned camera, then jitter, bias, visibility,
  swaps, misses and metric world landmarks as MediaPipe gives them. Nothing detects the
  person in the pixels ("project", not "render").

So the product's camera stage (on the frames), its solve (on the noisy keypoints) and its
world stages (floor with the background's vertical lines, contacts, depth smoothing, foot
locking) all run on input whose answer is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from genhmr.motion.clip import MotionClip
from genhmr_core.ground import FOOT_POINTS

from ..camera_motion import zoomed
from .conditioning import BatchedKeypointBody
from .noise import BIAS_FRAME_JOINT, NoiseModel
from .turned_camera import turned_frame

# SMPL-X axes (Y up, the body facing +Z) -> a Z-up world: x stays, y -> z, z -> -y
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
CAMERA_MOTIONS = ("fixed", "follow", "wobble", "slow pan")
ADULT_HEIGHTS_M = (1.55, 1.90)  # the synthetic people's heights (the body's rest height)


@dataclasses.dataclass(frozen=True)
class SceneCamera:
    """A calibrated camera over a floor at z = 0 (Z-up world, metres) and its picture."""

    image: np.ndarray  # (H, W, 3) BGR, the camera's real view
    K: np.ndarray  # (3, 3)
    R: np.ndarray  # (3, 3) world-to-camera
    t: np.ndarray  # (3,)

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def floor_axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit (right, forward) directions of the camera along the floor (world xy, (2,))."""
        right, forward = self.R[0, :2], self.R[2, :2]
        return right / np.linalg.norm(right), forward / np.linalg.norm(forward)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """One synthetic clip: which motion, where on the floor, how the camera moves."""

    name: str
    motion: str  # a registry clip's name, e.g. "deepmimic/walk"
    camera: str  # one of CAMERA_MOTIONS
    loops: int = 1  # the motion played this many times end to end (cycles: walk, run)
    start: int = 0  # first frame of the source clip ...
    frames: int | None = None  # ... and how many (None: all)
    hold: int = 0  # frames the first and last pose are held before and after (a jump)
    distance_m: float = 3.2  # the path's middle, this far from the camera along the floor ...
    across_m: float = 0.0  # ... and this far to the right of its forward direction
    heading_deg: float = 0.0  # travel (or facing, when still) from the camera's right, on
    # the floor, counter-clockwise seen from above: 0 left to right, 90 away, -90 towards it
    seed: int = 0
    zoom: float = 1.0  # the lens's focal length at the last frame over the first's (1: fixed)


@dataclasses.dataclass
class WorldClip:
    """A clip's truth (world: Z up, the floor z = 0) and what the product is given."""

    spec: ClipSpec
    fps: float
    K: np.ndarray  # (3, 3) the true intrinsics
    image_size: tuple[int, int]
    camera_R: np.ndarray  # (F, 3, 3) world-to-camera of every frame
    camera_t: np.ndarray  # (F, 3)
    turn: np.ndarray  # (F, 3, 3) the camera's turn from frame 0 (``camera_R[f] @ R[0].T``)
    joints: np.ndarray  # (F, 22, 3) world
    keypoints: np.ndarray  # (F, 25, 3) world
    betas: np.ndarray
    body_height_m: float
    # what the detector reports, as the tracker hands it on (one person)
    keypoints2d: np.ndarray  # (F, 25, 3) pixels + confidence (0 where missed)
    world_keypoints: np.ndarray  # (F, 25, 3) the detector's hip-centred metric keypoints
    detected: np.ndarray  # (F,) bool
    boxes: np.ndarray  # (F, 4) the person's box, x0 y0 x1 y1 (from the true keypoints)
    # (F,) the lens's focal length in each frame over ``K``'s (ones: a fixed lens)
    zoom: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(0))

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def zooms(self) -> np.ndarray:
        """(F,) each frame's focal length over ``K``'s."""
        return np.ones(self.num_frames) if len(self.zoom) == 0 else np.asarray(self.zoom)

    def intrinsics(self) -> np.ndarray:
        """(F, 3, 3) the true intrinsics of every frame (``K`` zoomed)."""
        return np.stack([zoomed(self.K, float(z)) for z in self.zooms()])

    def to_first_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (F, ..., 3) in the first frame's camera axes (the product's world)."""
        return np.asarray(points, np.float64) @ self.camera_R[0].T + self.camera_t[0]

    def floor_in_first_camera(self) -> tuple[np.ndarray, float]:
        """The floor as the product's ``ground_plane`` holds one: ``(n, d)`` with ``n . X = d``
        in the first frame's camera axes, ``n`` up."""
        normal = self.camera_R[0][:, 2]
        centre = -self.camera_R[0].T @ self.camera_t[0]
        return normal, -float(centre[2])

    def frames(self, image: np.ndarray, seed: int | None = None) -> Iterator[np.ndarray]:
        """The footage: ``image`` (the first frame's real view) turned by each frame's camera
        turn, with a textured stand-in in the person's box (:func:`paint_stand_in`)."""
        rng = np.random.default_rng(self.spec.seed if seed is None else seed)
        texture = _blocky_texture(rng, 240, 96)
        for turn, box, seen, zoom in zip(self.turn, self.boxes, self.detected, self.zooms(),
                                         strict=True):
            frame = faded_edges(turned_frame(image, self.K, turn, rng, border=cv2.BORDER_CONSTANT,
                                             zoom=float(zoom)), self.K, turn, zoom=float(zoom))
            yield paint_stand_in(frame, box, texture) if seen else frame


def faded_edges(frame: np.ndarray, K: np.ndarray, turn: np.ndarray,
                width: float = 0.04, zoom: float = 1.0) -> np.ndarray:
    """A turned frame (seen through a lens ``zoom`` times ``K``'s focal length) whose real view
    fades to black over ``width`` of the frame's width before its edge. Beyond the first
    frame's view nothing is known; a hard black edge there is a long straight line that turns
    with the view, which the floor's vertical-line stage would take for an edge of the scene
    (its vanishing point the first camera's own down). Faded, it has no edge to find."""
    height, size = frame.shape[:2]
    inside = cv2.warpPerspective(np.ones((height, size), np.float32),
                                 zoomed(K, zoom) @ turn @ np.linalg.inv(K), (size, height),
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if inside.min() >= 1.0:
        return frame
    fade = np.clip(2.0 * cv2.GaussianBlur(inside, (0, 0), width * size) - 1.0, 0.0, 1.0)
    return (frame * fade[..., None]).astype(np.uint8)


def load_motion(folder: Path, name: str) -> MotionClip:
    """A registry clip by name (``deepmimic/walk``, ``boxing/Boxing_Toes``, ...) from the
    fetched motion folder (``$GENHMR_MOTION_DIR``)."""
    from genhmr.motion.build import load_registry

    source = name.split("/", 1)[0]
    for clip in load_registry(folder, (source,)):
        if clip.name == name:
            return clip
    raise ValueError(f"no registry clip {name!r} in {folder}")


def looped(clip: MotionClip, loops: int) -> MotionClip:
    """A cyclic clip (a walk or run cycle whose last frame leads into its first) played
    ``loops`` times, each cycle carried on from where the last one ended."""
    if loops < 1:
        raise ValueError("loops must be at least 1")
    root = clip.root_position.astype(np.float64)
    stride = root[-1] - root[0] + (root[-1] - root[-2])
    stride[1] = 0.0  # cycles end at the height they start
    roots = np.concatenate([root + k * stride for k in range(loops)])
    return dataclasses.replace(clip, rotations=np.concatenate([clip.rotations] * loops),
                               root_position=roots)


def trimmed(clip: MotionClip, start: int, frames: int | None, hold: int) -> MotionClip:
    """Frames ``[start, start + frames)`` of a clip, the first and last held ``hold`` frames
    longer (the person standing before and after a jump)."""
    stop = clip.num_frames if frames is None else start + frames
    if not 0 <= start < stop <= clip.num_frames:
        raise ValueError(f"{clip.name}: frames {start}-{stop} outside its {clip.num_frames}")
    index = np.concatenate([np.full(hold, start), np.arange(start, stop),
                            np.full(hold, stop - 1)]).astype(np.int64)
    return dataclasses.replace(clip, rotations=clip.rotations[index],
                               root_position=clip.root_position[index])


def heading_of(points: np.ndarray) -> float:
    """Direction of travel (radians, world xy) of a path (F, 3): first to last point."""
    step = points[-1, :2] - points[0, :2]
    return float(np.arctan2(step[1], step[0]))


def place_on_floor(keypoint_body: BatchedKeypointBody, clip: MotionClip, betas: np.ndarray,
                   camera: SceneCamera, spec: ClipSpec
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The posed body in the camera's world: joints (F, 22, 3), global rotations (F, 22, 3,
    3), keypoints (F, 25, 3). Its floor (the lowest any foot point goes over the clip) is put
    on z = 0, the middle of its path where ``spec`` says, travelling (or, standing, facing)
    along ``spec.heading_deg``."""
    with torch.no_grad():
        joints, rotations, keypoints = (x[0].numpy() for x in keypoint_body.pose(
            torch.as_tensor(betas)[None], torch.as_tensor(clip.rotations)[None],
            torch.as_tensor(clip.root_position)[None]))
    joints, keypoints = joints @ Y_UP_TO_Z_UP.T, keypoints @ Y_UP_TO_Z_UP.T
    rotations = Y_UP_TO_Z_UP @ rotations
    root = joints[:, 0]
    moving = np.linalg.norm(root[-1, :2] - root[0, :2]) > 0.3
    if moving:
        current = heading_of(root)
    else:  # facing: the body's +Z (forward) after the turn, averaged
        forward = rotations[:, 0, :, 2].mean(axis=0)
        current = float(np.arctan2(forward[1], forward[0]))
    right, ahead = camera.floor_axes()
    target = np.arctan2(*(np.cos(np.radians(spec.heading_deg)) * right
                          + np.sin(np.radians(spec.heading_deg)) * ahead)[::-1])
    yaw = Rotation.from_euler("z", target - current).as_matrix()
    joints, keypoints, rotations = joints @ yaw.T, keypoints @ yaw.T, yaw @ rotations
    floor = keypoints[:, list(FOOT_POINTS), 2].min()
    middle = 0.5 * (joints[:, 0].min(axis=0) + joints[:, 0].max(axis=0))
    spot = camera.centre[:2] + spec.distance_m * ahead + spec.across_m * right
    shift = np.array([spot[0] - middle[0], spot[1] - middle[1], -floor])
    return joints + shift, rotations, keypoints + shift


def adult_shape(keypoint_body: BatchedKeypointBody, rng: np.random.Generator,
                heights_m: tuple[float, float] = ADULT_HEIGHTS_M) -> tuple[np.ndarray, float]:
    """A random shape (the training set's range) whose height is an adult's, and that height:
    the solve draws one person at an adult's size (one view cannot tell how tall someone is),
    so a 2.1 m giant would measure that and little else."""
    for _ in range(1000):
        betas = keypoint_body.sample_betas(rng)
        height = float(keypoint_body.heights(torch.as_tensor(betas)[None])[0])
        if heights_m[0] <= height <= heights_m[1]:
            return betas, height
    raise ValueError(f"no shape found between {heights_m[0]} and {heights_m[1]} m")


def leg_scale(keypoint_body: BatchedKeypointBody, betas: np.ndarray) -> float:
    """How much longer this shape's legs are than the average shape's (rest pelvis height over
    the lowest foot point). Registry root paths are scaled to the average body's legs
    (``motion.retarget``); scaled again by this, a taller body takes longer strides and its
    planted feet stay planted instead of sliding."""
    rest = torch.eye(3).expand(1, 1, 22, 3, 3)

    def pelvis_height(shape: np.ndarray) -> float:
        with torch.no_grad():
            joints, _, keypoints = keypoint_body.pose(torch.as_tensor(shape)[None], rest,
                                                      torch.zeros(1, 1, 3))
        return float(joints[0, 0, 0, 1] - keypoints[0, 0, list(FOOT_POINTS), 1].min())

    return pelvis_height(np.asarray(betas)) / pelvis_height(np.zeros_like(betas))


def camera_turns(kind: str, camera: SceneCamera, target: np.ndarray, fps: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(F, 3, 3) the camera's turn from its first frame (world-to-camera, world = the first
    frame's camera) of each frame. ``target`` (F, 3): the world point a following camera keeps
    in view (the pelvis).

    * ``fixed``: never turns;
    * ``follow``: a tripod head panning about the world's vertical to keep ``target`` at its
      first azimuth, a quarter of a second behind, with a tilt of 3 degrees drifting in;
    * ``wobble``: hand-held, a random walk of about 2 degrees in pan, tilt and roll;
    * ``slow pan``: 6 degrees of pan about the vertical and 1 degree of roll over the clip.
    """
    frames = len(target)
    t = np.linspace(0.0, 1.0, frames)
    up = camera.R[:, 2]  # the world's up in the first camera's axes
    if kind == "fixed":
        return np.tile(np.eye(3), (frames, 1, 1))
    if kind == "follow":
        rays = (target @ camera.R.T + camera.t)
        across = np.cross(up, [0.0, 0.0, 1.0])
        across /= np.linalg.norm(across)
        ahead = np.cross(across, up)
        azimuth = np.unwrap(np.arctan2(rays @ ahead, rays @ across))
        pan = gaussian_filter1d(azimuth - azimuth[0], 0.25 * fps, mode="nearest")
        pan -= pan[0]
        tilt = np.radians(3.0) * t
        return np.stack([Rotation.from_rotvec(tilt[f] * np.array([1.0, 0.0, 0.0])).as_matrix()
                         @ Rotation.from_rotvec(pan[f] * up).as_matrix()
                         for f in range(frames)])
    if kind == "wobble":
        shake = np.cumsum(rng.normal(0.0, 0.12, (frames, 3)), axis=0)
        shake = gaussian_filter1d(shake, 0.15 * fps, axis=0, mode="nearest")
        return Rotation.from_euler("yxz", shake - shake[:1], degrees=True).as_matrix()
    if kind == "slow pan":
        return np.stack([Rotation.from_rotvec(np.radians(1.0 * t[f]) * np.array([0, 0, 1.0]))
                         .as_matrix() @ Rotation.from_rotvec(np.radians(6.0) * t[f] * up)
                         .as_matrix() for f in range(frames)])
    raise ValueError(f"unknown camera motion {kind!r}; available: {', '.join(CAMERA_MOTIONS)}")


def lens_zoom(zoom: float, frames: int) -> np.ndarray:
    """(F,) the focal length of each frame over the first's for a zoom to ``zoom`` times over
    the clip: a zoom rocker pushed and let go (smoothstep in the logarithm, at rest at both
    ends)."""
    t = np.linspace(0.0, 1.0, frames)
    return np.exp(np.log(zoom) * t * t * (3.0 - 2.0 * t))


def person_boxes(pixels: np.ndarray, height_px: np.ndarray) -> np.ndarray:
    """(F, 4) a detector-like box around each frame's projected keypoints (F, 25, 2): padded
    by 10 % of the person's height at the sides and feet, 15 % over the head (the keypoints
    stop at the eyes and ears)."""
    lo, hi = pixels.min(axis=1), pixels.max(axis=1)
    pad = np.asarray(height_px, np.float64)[:, None] * np.array([0.1, 0.15])
    return np.concatenate([lo - pad, hi + pad * np.array([1.0, 0.67])], axis=1)


def _blocky_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    patch = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(patch, (width, height), interpolation=cv2.INTER_NEAREST)


def paint_stand_in(frame: np.ndarray, box: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """``frame`` with ``texture`` stretched over the middle half of ``box`` (its full height):
    something that moves with the person and hides the background behind them, so the camera
    stage must keep the person out of the background as it does in a job."""
    x0, y0, x1, y1 = box
    left, right = x0 + 0.25 * (x1 - x0), x1 - 0.25 * (x1 - x0)
    height, width = frame.shape[:2]
    c0, r0 = max(int(left), 0), max(int(y0), 0)
    c1, r1 = min(int(right), width), min(int(y1), height)
    if c1 - c0 < 2 or r1 - r0 < 2:
        return frame
    out = frame.copy()
    out[r0:r1, c0:c1] = cv2.resize(texture, (c1 - c0, r1 - r0),
                                   interpolation=cv2.INTER_NEAREST)
    return out


def make_clip(spec: ClipSpec, clip: MotionClip, camera: SceneCamera,
              keypoint_body: BatchedKeypointBody, noise: NoiseModel | None = None
              ) -> WorldClip:
    """The truth and the detector's view of one clip (module docstring)."""
    rng = np.random.default_rng(spec.seed)
    motion = trimmed(looped(clip, spec.loops), spec.start, spec.frames, spec.hold)
    betas, height = adult_shape(keypoint_body, rng)
    motion = dataclasses.replace(motion, root_position=motion.root_position
                                 * leg_scale(keypoint_body, betas))
    joints, rotations, keypoints = place_on_floor(keypoint_body, motion, betas, camera, spec)
    turn = camera_turns(spec.camera, camera, joints[:, 0], motion.fps, rng)
    R = turn @ camera.R
    t = turn @ camera.t
    zoom = lens_zoom(spec.zoom, len(turn))
    lens = np.stack([zoomed(camera.K, float(z)) for z in zoom])  # (F, 3, 3)
    kp_cam = np.einsum("fij,fnj->fni", R, keypoints) + t[:, None]
    if (kp_cam[..., 2] < 0.5).any():
        raise ValueError(f"{spec.name}: the body comes within 0.5 m of the camera")
    frames = R[:, None] @ rotations[:, BIAS_FRAME_JOINT]
    obs = (noise or NoiseModel.load()).apply(
        kp_cam[None], lens[None], rng, image_size=camera.image_size, body_height=height,
        frames=frames[None], dt=1.0 / motion.fps)
    uv = obs.keypoints_2d[0]
    confidence = np.where(np.isfinite(uv).all(-1), obs.confidence[0], 0.0)
    pixels = (kp_cam[..., :2] / kp_cam[..., 2:] * lens[:, None, [0, 1], [0, 1]]
              + lens[:, None, :2, 2])
    width, image_height = camera.image_size
    inside = ((pixels >= 0) & (pixels < [width, image_height])).all(-1).all(-1)
    if not inside.all():
        raise ValueError(f"{spec.name}: the body leaves the picture in "
                         f"{int((~inside).sum())} frames")
    return WorldClip(
        spec=spec, fps=float(motion.fps), K=camera.K.copy(), image_size=camera.image_size,
        camera_R=R, camera_t=t, turn=turn, joints=joints, keypoints=keypoints, betas=betas,
        body_height_m=height,
        keypoints2d=np.concatenate([np.nan_to_num(uv), confidence[..., None]], -1),
        world_keypoints=np.nan_to_num(obs.world[0]), detected=obs.detected[0].astype(bool),
        boxes=person_boxes(pixels, obs.person_scale_px[0]), zoom=zoom)


def write_video(frames: Iterator[np.ndarray], path: Path, fps: float) -> Path:
    """Frames (BGR, one size) to a Motion-JPEG ``.avi`` (quality 90): what the product reads
    its footage from, with compression artefacts as a video has them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for frame in frames:
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                                         (frame.shape[1], frame.shape[0]))
                writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 90)
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError("no frames to write")
    return path
