"""A noise model of MediaPipe Pose: what the detector reports for a body whose 25 keypoints we
know exactly, fitted on renders of our own body (numpy only).

Why: the generative model is trained on *synthetic* conditioning (motion data projected through
random cameras). At test time it sees MediaPipe. The closer the training noise is to
MediaPipe's real behaviour, the less the model has to generalise across that gap. Everything
here is estimated from (known keypoints, MediaPipe detection) pairs by :func:`fit`, and
:meth:`NoiseModel.apply` draws from the very model :func:`fit` estimates, so a fit on samples
of ``apply`` recovers the parameters (the tests check it).

The model, per keypoint k (our 25, ``genhmr_core.keypoints.KEYPOINT_NAMES``):

* **Bias**: MediaPipe's idea of a hip, shoulder, ear ... sits at a fixed offset ``bias[k]``
  (metres) from ours in the frame of the body part that carries it (``BIAS_FRAME_JOINT``:
  hips in the pelvis frame, elbows in the upper-arm frame, ...), so it turns with the body.
* **2D jitter**: pixel error / person scale ~ N(0, ``jitter[k]``) per image axis, where person
  scale is the body height in pixels at the hips' depth (``f * body_height / z``: independent
  of pose and view). Jitter is ``low_conf_scale`` times larger where visibility < 0.5, and with
  probability ``outlier_rate[k]`` a point is an outlier ~ N(0, ``outlier_scale``). Over time it
  is AR(1) with lag-1 correlation ``rho`` per ``rho_dt`` seconds, plus (``slow_share`` of
  the variance) a slow AR(1) with ``slow_rho``: an offset that holds for seconds.
* **Visibility**: logit(visibility) = ``vis_coef[k] . (1, facing, side, outside)`` + N(0,
  ``vis_std[k]``), AR(1) with ``vis_rho``: *facing* is how much the body part's front faces
  the camera, *side* how much its own side (left part: the body's left) does, *outside* is 1
  when the true point is outside the image.
* **Swaps**: with ``body_swap_rate`` the whole body's left and right are exchanged, with
  ``group_swap_rate[g]`` only the arms or the legs (``SWAP_GROUPS``).
* **Misses**: with ``frame_miss_rate`` the person is not detected at all.
* **3D world landmarks** (hip-centred, metres, image-aligned axes): our keypoints plus
  ``world_bias[k]`` (part frame), centred at the hips, turned into MediaPipe's frame
  (``world_frame``: the camera's axes, or the "ray" frame of a camera turned to look at the
  hips) with a random rotation of ``world_rot_std`` degrees per axis, scaled by
  ``world_scale * (body_height / reference_height) ** world_scale_exponent`` (MediaPipe
  assumes an average body: exponent -1 means it always reports the same size), with log-normal
  scale noise ``world_scale_std`` and per-axis noise ``world_std[k]`` (metres; z = depth), all
  three over time like the 2D jitter (``world_rho``; slow shares ``world_rot_slow_share``,
  ``world_scale_slow_share``, ``world_slow_share``).

The sizes of every error are fitted on renders (:func:`fit`). How long the world landmarks'
errors persist can be fitted on real footage (``genhmr.synthetic.noise_persistence``: renders
come in 4-frame sequences, too short to see an offset that holds for seconds); the shipped
model does not carry that yet (docs/synthetic.md, "Persistence on real footage").
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np

from genhmr.camera import ray_rotation
from genhmr_core.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS
from genhmr_core.skeleton import JOINT_INDEX

MODEL_VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parent / "mediapipe_noise.json"
REFERENCE_HEIGHT = 1.7  # metres: the body height the world scale refers to

# Which joint's frame carries each keypoint's bias: the segment that positions the point
# (a joint centre is placed by its parent segment, a surface point by its own).
_BIAS_FRAME_LEFT = {
    "eye": "head", "ear": "head", "shoulder": "spine3", "elbow": "left_shoulder",
    "wrist": "left_elbow", "index": "left_wrist", "pinky": "left_wrist", "hip": "pelvis",
    "knee": "left_hip", "ankle": "left_knee", "heel": "left_ankle", "foot_index": "left_ankle",
}  # fmt: skip


def _bias_frame_joints() -> np.ndarray:
    out = np.zeros(NUM_KEYPOINTS, dtype=np.int64)
    for name, k in KEYPOINT_INDEX.items():
        if name == "nose":
            out[k] = JOINT_INDEX["head"]
            continue
        side, part = name.split("_", 1)
        joint = _BIAS_FRAME_LEFT[part]
        if side == "right" and joint.startswith("left_"):
            joint = "right_" + joint[5:]
        out[k] = JOINT_INDEX[joint]
    return out


BIAS_FRAME_JOINT = _bias_frame_joints()
SIDE = np.array([1.0 if n.startswith("left_") else -1.0 if n.startswith("right_") else 0.0
                 for n in KEYPOINT_NAMES])
FLIP = np.array([KEYPOINT_INDEX[n.replace("left_", "RIGHT_").replace("right_", "left_")
                                .replace("RIGHT_", "right_")] for n in KEYPOINT_NAMES])
SWAP_GROUPS: dict[str, tuple[str, ...]] = {
    "arms": ("elbow", "wrist", "index", "pinky"),
    "legs": ("knee", "ankle", "heel", "foot_index"),
}
LEFT_HIP, RIGHT_HIP = KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]
LEFT_SHOULDER, RIGHT_SHOULDER = KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"]


def _group_permutation(parts: tuple[str, ...]) -> np.ndarray:
    perm = np.arange(NUM_KEYPOINTS)
    for part in parts:
        left, right = KEYPOINT_INDEX["left_" + part], KEYPOINT_INDEX["right_" + part]
        perm[left], perm[right] = right, left
    return perm


GROUP_PERM = {name: _group_permutation(parts) for name, parts in SWAP_GROUPS.items()}


# --------------------------------------------------------------------------------------------
# Geometry helpers shared by apply and fit


def bias_frames(global_rotations: np.ndarray, camera_R: np.ndarray) -> np.ndarray:
    """Rotation of each keypoint's bias frame in camera axes (..., 25, 3, 3), from the body's
    world-space joint rotations (..., 55, 3, 3) and the world->camera rotation (..., 3, 3)."""
    g = np.asarray(global_rotations, np.float64)[..., BIAS_FRAME_JOINT, :, :]
    return np.asarray(camera_R, np.float64)[..., None, :, :] @ g


def torso_frames(keypoints_cam: np.ndarray) -> np.ndarray:
    """Fallback bias frames when joint rotations are unknown: the torso's frame from the
    keypoints themselves (x = body left, y = up, z = forward), for every keypoint."""
    x = keypoints_cam[..., LEFT_HIP, :] - keypoints_cam[..., RIGHT_HIP, :]
    up = (keypoints_cam[..., LEFT_SHOULDER, :] + keypoints_cam[..., RIGHT_SHOULDER, :]
          - keypoints_cam[..., LEFT_HIP, :] - keypoints_cam[..., RIGHT_HIP, :])
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    y = up - (up * x).sum(-1, keepdims=True) * x
    y = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    frame = np.stack([x, y, z], -1)
    return np.repeat(frame[..., None, :, :], NUM_KEYPOINTS, axis=-3)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera points (..., N, 3) and K (..., 3, 3) -> pixels (..., N, 2)."""
    z = np.maximum(points[..., 2:3], 1e-6)
    focal = np.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    return points[..., :2] / z * focal + K[..., None, :2, 2]


def person_scale_px(keypoints_cam: np.ndarray, K: np.ndarray, body_height: np.ndarray
                    ) -> np.ndarray:
    """Body height in pixels at the hips' depth (...,): the unit of 2D jitter."""
    hip_z = 0.5 * (keypoints_cam[..., LEFT_HIP, 2] + keypoints_cam[..., RIGHT_HIP, 2])
    return K[..., 1, 1] * body_height / np.maximum(hip_z, 1e-3)


def visibility_features(keypoints_cam: np.ndarray, frames: np.ndarray, K: np.ndarray,
                        image_size: np.ndarray) -> np.ndarray:
    """(..., 25, 4) regressors of logit visibility: 1, facing, side, outside (see module)."""
    to_cam = -keypoints_cam / np.maximum(np.linalg.norm(keypoints_cam, axis=-1, keepdims=True),
                                         1e-9)
    facing = (frames[..., :, 2] * to_cam).sum(-1)
    side = (frames[..., :, 0] * to_cam).sum(-1) * SIDE
    uv = project(keypoints_cam, K)
    size = np.asarray(image_size, np.float64)[..., None, :]
    outside = ((uv < 0) | (uv > size)).any(-1) | (keypoints_cam[..., 2] <= 0)
    return np.stack([np.ones_like(facing), facing, side, outside.astype(np.float64)], -1)


def _rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(v, axis=-1, keepdims=True)[..., None]
    k = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    kx = np.zeros(v.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx = kx - np.swapaxes(kx, -1, -2)
    eye = np.broadcast_to(np.eye(3), kx.shape)
    return eye + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _matrix_to_rotvec(m: np.ndarray) -> np.ndarray:
    cos = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    w = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1)
    sin = np.sin(angle)[..., None]
    return np.where(sin > 1e-6, w / np.maximum(2 * sin, 1e-12), 0.5 * w) * np.where(
        sin > 1e-6, angle[..., None], 1.0)


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float, time_axis: int = 1
         ) -> np.ndarray:
    """Standard normal noise, AR(1) along ``time_axis`` with lag-1 correlation ``rho``."""
    noise = rng.standard_normal(shape)
    if rho <= 0 or shape[time_axis] < 2:
        return noise
    noise = np.moveaxis(noise, time_axis, 0)
    keep = np.sqrt(1 - rho**2)
    for t in range(1, noise.shape[0]):
        noise[t] = rho * noise[t - 1] + keep * noise[t]
    return np.moveaxis(noise, 0, time_axis)


def _ar1_mixed(rng: np.random.Generator, shape: tuple[int, ...], rho: float, slow_rho: float,
               slow_share: float, time_axis: int = 1) -> np.ndarray:
    """Standard normal noise over time: a fast AR(1) (``rho``) plus, with ``slow_share`` of the
    variance, a slow one (``slow_rho``). Why two: on real footage MediaPipe's errors have both a
    frame-to-frame jitter and an offset that holds for seconds (its idea of a person's size,
    lean and depth); one AR(1) fitted on the jitter lets a model average the offset away, which
    it cannot do on real footage (docs/synthetic.md, "Persistence on real footage"). With no
    slow share it draws exactly what ``_ar1`` draws."""
    fast = _ar1(rng, shape, rho, time_axis)
    if slow_share <= 0:
        return fast
    slow = _ar1(rng, shape, slow_rho, time_axis)
    return np.sqrt(1.0 - slow_share) * fast + np.sqrt(slow_share) * slow


def _hip_mid(points: np.ndarray) -> np.ndarray:
    return 0.5 * (points[..., LEFT_HIP, :] + points[..., RIGHT_HIP, :])


# --------------------------------------------------------------------------------------------
# The model


@dataclasses.dataclass
class Observation:
    """What the detector "reports": shapes follow the input's leading dims; NaN keypoints and
    zero confidence where the person was missed (``detected`` False)."""

    keypoints_2d: np.ndarray  # (..., 25, 2) pixels
    confidence: np.ndarray  # (..., 25) visibility in [0, 1]
    world: np.ndarray  # (..., 25, 3) hip-centred metres, image-aligned axes
    detected: np.ndarray  # (...,) bool
    person_scale_px: np.ndarray  # (...,) body height in pixels at the hips' depth


def _zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape)


@dataclasses.dataclass
class NoiseModel:
    """Parameters of MediaPipe's behaviour on our keypoints (module docstring has the model)."""

    bias: np.ndarray = dataclasses.field(default_factory=lambda: _zeros(NUM_KEYPOINTS, 3))
    jitter: np.ndarray = dataclasses.field(
        default_factory=lambda: np.full((NUM_KEYPOINTS, 2), 0.01))
    outlier_rate: np.ndarray = dataclasses.field(default_factory=lambda: _zeros(NUM_KEYPOINTS))
    outlier_scale: float = 0.1
    low_conf_scale: float = 1.0
    rho: float = 0.0
    rho_dt: float = 1 / 30
    vis_coef: np.ndarray = dataclasses.field(
        default_factory=lambda: np.tile([5.0, 0.0, 0.0, -6.0], (NUM_KEYPOINTS, 1)))
    vis_std: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(NUM_KEYPOINTS))
    vis_rho: float = 0.0
    body_swap_rate: float = 0.0
    group_swap_rate: dict[str, float] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(SWAP_GROUPS, 0.0))
    frame_miss_rate: float = 0.0
    world_bias: np.ndarray = dataclasses.field(default_factory=lambda: _zeros(NUM_KEYPOINTS, 3))
    world_std: np.ndarray = dataclasses.field(
        default_factory=lambda: np.full((NUM_KEYPOINTS, 3), 0.02))
    world_scale: float = 1.0
    world_scale_exponent: float = 0.0
    world_scale_std: float = 0.0
    world_frame: str = "camera"
    world_rot_std: float = 0.0  # degrees per axis
    world_rho: float = 0.0
    # Persistence (``_ar1_mixed``): the share of each error's variance that drifts slowly,
    # with lag-1 correlation ``slow_rho`` per ``rho_dt``; fitted on real footage
    # (``noise_persistence``), zero in a model fitted on renders of 4-frame sequences alone
    # (the shipped one).
    slow_rho: float = 0.0
    slow_share: float = 0.0  # the 2D keypoints'
    world_slow_share: float = 0.0  # the world landmarks' per-point noise
    world_rot_slow_share: float = 0.0  # the world frame's rotation
    world_scale_slow_share: float = 0.0  # the world landmarks' scale
    reference_height: float = REFERENCE_HEIGHT
    provenance: dict = dataclasses.field(default_factory=dict)

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict:
        out: dict = {"version": MODEL_VERSION, "keypoint_names": list(KEYPOINT_NAMES),
                     "swap_groups": {k: list(v) for k, v in SWAP_GROUPS.items()}}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = np.round(value.astype(np.float64), 6).tolist()
            elif isinstance(value, float):
                value = round(value, 6)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict) -> NoiseModel:
        if data.get("version") != MODEL_VERSION:
            raise ValueError(f"noise model version {data.get('version')}, expected "
                             f"{MODEL_VERSION}")
        if tuple(data.get("keypoint_names", ())) != KEYPOINT_NAMES:
            raise ValueError("noise model keypoints differ from genhmr_core.keypoints")
        kwargs = {}
        defaults = cls()
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if isinstance(getattr(defaults, f.name), np.ndarray):
                value = np.asarray(value, np.float64)
            kwargs[f.name] = value
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> NoiseModel:
        return cls.from_json(json.loads(Path(path).read_text()))

    # -- sampling ----------------------------------------------------------------------------
    def apply(self, keypoints_cam: np.ndarray, K: np.ndarray, rng: np.random.Generator, *,
              image_size: np.ndarray | tuple[int, int], body_height: float | np.ndarray = 1.7,
              frames: np.ndarray | None = None, dt: float | None = None) -> Observation:
        """Draw what MediaPipe would report for known keypoints.

        Args:
            keypoints_cam: (B, T, 25, 3) our keypoints in OpenCV camera space (metres);
                (T, 25, 3) or (25, 3) are read as B = 1 (and T = 1).
            K: intrinsics, (3, 3) or broadcastable to (B, T, 3, 3).
            rng: the only source of randomness (a seed reproduces the draw).
            image_size: (width, height), broadcastable to (B, T, 2).
            body_height: metres of the body's rest height, broadcastable to (B, T).
            frames: (B, T, 25, 3, 3) bias frames (:func:`bias_frames`); None uses the torso
                frame from the keypoints (:func:`torso_frames`) for every keypoint.
            dt: seconds between consecutive frames along T; None = independent frames.
        """
        x = np.asarray(keypoints_cam, np.float64)
        lead = x.shape[:-2]
        x = x.reshape((1,) * max(0, 2 - len(lead)) + x.shape)
        B, T = x.shape[:2]
        K = np.broadcast_to(np.asarray(K, np.float64), (B, T, 3, 3))
        size = np.broadcast_to(np.asarray(image_size, np.float64), (B, T, 2))
        height = np.broadcast_to(np.asarray(body_height, np.float64), (B, T))
        F = torso_frames(x) if frames is None else np.asarray(frames, np.float64).reshape(
            B, T, NUM_KEYPOINTS, 3, 3)

        def rho_at(r: float) -> float:
            return 0.0 if dt is None else float(r) ** (dt / self.rho_dt) if r > 0 else 0.0

        scale = person_scale_px(x, K, height)[..., None, None]  # (B, T, 1, 1)
        biased = x + (F @ self.bias[:, :, None])[..., 0]
        uv = project(biased, K)

        feats = visibility_features(x, F, K, size)
        logit = (feats * self.vis_coef).sum(-1)
        logit = logit + self.vis_std * _ar1(rng, (B, T, NUM_KEYPOINTS), rho_at(self.vis_rho))
        vis = 1.0 / (1.0 + np.exp(-logit))

        sigma = self.jitter * np.where(vis < 0.5, self.low_conf_scale, 1.0)[..., None]
        slow = rho_at(self.slow_rho)
        err = _ar1_mixed(rng, (B, T, NUM_KEYPOINTS, 2), rho_at(self.rho), slow,
                         self.slow_share) * sigma
        outlier = rng.random((B, T, NUM_KEYPOINTS)) < self.outlier_rate
        err = np.where(outlier[..., None], rng.standard_normal(err.shape) * self.outlier_scale,
                       err)
        uv = uv + err * scale

        world = self._world(x, F, height, rng, rho_at(self.world_rho), slow)

        # Left/right confusions relabel everything the detector reports for that frame.
        perm = np.broadcast_to(np.arange(NUM_KEYPOINTS), (B, T, NUM_KEYPOINTS)).copy()
        for name, group in GROUP_PERM.items():
            hit = rng.random((B, T)) < self.group_swap_rate.get(name, 0.0)
            perm[hit] = perm[hit][:, group]
        hit = rng.random((B, T)) < self.body_swap_rate
        perm[hit] = perm[hit][:, FLIP]
        uv = np.take_along_axis(uv, perm[..., None], 2)
        vis = np.take_along_axis(vis, perm, 2)
        world = np.take_along_axis(world, perm[..., None], 2)

        detected = rng.random((B, T)) >= self.frame_miss_rate
        uv[~detected] = np.nan
        world[~detected] = np.nan
        vis[~detected] = 0.0
        return Observation(
            keypoints_2d=uv.reshape(lead + (NUM_KEYPOINTS, 2)),
            confidence=vis.reshape(lead + (NUM_KEYPOINTS,)),
            world=world.reshape(lead + (NUM_KEYPOINTS, 3)),
            detected=detected.reshape(lead),
            person_scale_px=scale[..., 0, 0].reshape(lead))

    def _world(self, x: np.ndarray, F: np.ndarray, height: np.ndarray,
               rng: np.random.Generator, rho: float, slow_rho: float = 0.0) -> np.ndarray:
        B, T = x.shape[:2]
        pts = x + (F @ self.world_bias[:, :, None])[..., 0]
        centred = pts - _hip_mid(pts)[..., None, :]
        rot = _rotvec_to_matrix(np.radians(self.world_rot_std) * _ar1_mixed(
            rng, (B, T, 3), rho, slow_rho, self.world_rot_slow_share))
        if self.world_frame == "ray":
            rot = rot @ ray_rotation(_hip_mid(x))
        log_scale = (np.log(self.world_scale)
                     + self.world_scale_exponent * np.log(height / self.reference_height)
                     + self.world_scale_std * _ar1_mixed(rng, (B, T), rho, slow_rho,
                                                         self.world_scale_slow_share))
        world = np.exp(log_scale)[..., None, None] * (centred @ np.swapaxes(rot, -1, -2))
        return world + _ar1_mixed(rng, (B, T, NUM_KEYPOINTS, 3), rho, slow_rho,
                                  self.world_slow_share) * self.world_std


# --------------------------------------------------------------------------------------------
# Fitting


@dataclasses.dataclass
class Pairs:
    """M frames of known keypoints and what the detector reported for them.

    ``sequence``/``time`` group frames into clips so temporal correlation can be measured
    (consecutive frames of one sequence); ``det_*`` may hold anything where not ``detected``.
    """

    known_cam: np.ndarray  # (M, 25, 3) our keypoints in OpenCV camera space, metres
    K: np.ndarray  # (M, 3, 3)
    image_size: np.ndarray  # (M, 2) width, height
    body_height: np.ndarray  # (M,) metres
    detected: np.ndarray  # (M,) bool
    det_2d: np.ndarray  # (M, 25, 2) pixels
    det_vis: np.ndarray  # (M, 25)
    det_world: np.ndarray  # (M, 25, 3)
    frames: np.ndarray | None = None  # (M, 25, 3, 3) bias frames; None = torso frames
    sequence: np.ndarray | None = None  # (M,) int
    time: np.ndarray | None = None  # (M,) seconds

    def __len__(self) -> int:
        return int(self.known_cam.shape[0])

    def subset(self, mask: np.ndarray) -> Pairs:
        fields = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            fields[f.name] = None if value is None else np.asarray(value)[mask]
        return Pairs(**fields)

    @classmethod
    def from_observation(cls, obs: Observation, known_cam: np.ndarray, K: np.ndarray,
                         image_size, body_height, frames: np.ndarray | None = None,
                         dt: float | None = None) -> Pairs:
        """Pairs from :meth:`NoiseModel.apply` on (B, T, 25, 3) input (for tests/evaluation)."""
        x = np.asarray(known_cam, np.float64)
        B, T = x.shape[:2]
        M = B * T
        seq = np.repeat(np.arange(B), T)
        time = np.tile(np.arange(T) * (dt or 1.0), B)
        return cls(
            known_cam=x.reshape(M, NUM_KEYPOINTS, 3),
            K=np.broadcast_to(np.asarray(K, np.float64), (B, T, 3, 3)).reshape(M, 3, 3),
            image_size=np.broadcast_to(np.asarray(image_size, np.float64), (B, T, 2)
                                       ).reshape(M, 2),
            body_height=np.broadcast_to(np.asarray(body_height, np.float64), (B, T)
                                        ).reshape(M),
            detected=obs.detected.reshape(M),
            det_2d=obs.keypoints_2d.reshape(M, NUM_KEYPOINTS, 2),
            det_vis=obs.confidence.reshape(M, NUM_KEYPOINTS),
            det_world=obs.world.reshape(M, NUM_KEYPOINTS, 3),
            frames=None if frames is None else np.asarray(frames).reshape(
                M, NUM_KEYPOINTS, 3, 3),
            sequence=seq if dt is not None else np.arange(M),
            time=time if dt is not None else np.zeros(M))


def _frames_of(pairs: Pairs) -> np.ndarray:
    return torso_frames(pairs.known_cam) if pairs.frames is None else np.asarray(pairs.frames)


BODY_SWAP_FLOOR = 0.04  # median error (person scale) below which no swap is declared
GROUP_SWAP_FLOOR = 0.05


def _swap_decisions(err_direct: np.ndarray, err_swapped: np.ndarray, floor: float
                    ) -> np.ndarray:
    """A frame is swapped when the swapped labelling fits at least twice as well and the
    direct one is clearly wrong (side views, where left and right overlap, never qualify)."""
    return (err_swapped < 0.5 * err_direct) & (err_direct > floor)


def detect_swaps(pairs: Pairs) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, int]]:
    """Per frame: whole-body swap (M,) and per-group swaps {group: (M,)} (after undoing the
    body swap), judged on 2D errors in units of person scale; False where not detected.

    Also returns, per kind ("body" and each group), how many detected frames could show such
    a swap at all: in a side view left and right project onto each other and a swap is
    invisible, so rates are counted over the frames where it would be seen."""
    ok = np.asarray(pairs.detected, bool)
    body = np.zeros(len(pairs), bool)
    groups = {name: np.zeros(len(pairs), bool) for name in GROUP_PERM}
    visible = dict.fromkeys(["body", *GROUP_PERM], 0)
    if not ok.any():
        return body, groups, visible
    x, K = pairs.known_cam[ok], pairs.K[ok]
    truth = project(x, K)
    scale = person_scale_px(x, K, pairs.body_height[ok])[:, None]
    det = pairs.det_2d[ok]

    def err(d: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.linalg.norm(d[:, idx] - truth[:, idx], axis=-1) / scale

    every = np.arange(NUM_KEYPOINTS)
    flipped = _swap_decisions(np.median(err(det, every), 1),
                              np.median(err(det[:, FLIP], every), 1), BODY_SWAP_FLOOR)
    visible["body"] = int((np.median(err(truth[:, FLIP], every), 1) > 1.5 * BODY_SWAP_FLOOR).sum())
    body[ok] = flipped
    det = np.where(flipped[:, None, None], det[:, FLIP], det)
    for name, perm in GROUP_PERM.items():
        idx = np.flatnonzero(perm != every)
        groups[name][ok] = _swap_decisions(err(det, idx).mean(1),
                                           err(det[:, perm], idx).mean(1), GROUP_SWAP_FLOOR)
        visible[name] = int((err(truth[:, perm], idx).mean(1) > 1.5 * GROUP_SWAP_FLOOR).sum())
    return body, groups, visible


def unswap(pairs: Pairs, body: np.ndarray, groups: dict[str, np.ndarray]) -> Pairs:
    """The pairs with detected labels put back where swaps were found."""
    perm = np.broadcast_to(np.arange(NUM_KEYPOINTS), (len(pairs), NUM_KEYPOINTS)).copy()
    perm[body] = perm[body][:, FLIP]
    for name, hit in groups.items():
        perm[hit] = perm[hit][:, GROUP_PERM[name]]
    out = dataclasses.replace(pairs)
    out.det_2d = np.take_along_axis(pairs.det_2d, perm[..., None], 1)
    out.det_vis = np.take_along_axis(pairs.det_vis, perm, 1)
    out.det_world = np.take_along_axis(pairs.det_world, perm[..., None], 1)
    return out


def _projection_jacobian(x: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2, 3) d(pixels)/d(camera point) at x (..., 3)."""
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    X, Y, Z = x[..., 0], x[..., 1], np.maximum(x[..., 2], 1e-6)
    J = np.zeros(x.shape[:-1] + (2, 3))
    J[..., 0, 0] = fx / Z
    J[..., 0, 2] = -fx * X / Z**2
    J[..., 1, 1] = fy / Z
    J[..., 1, 2] = -fy * Y / Z**2
    return J


def _lag1(z: np.ndarray, pairs: Pairs, valid: np.ndarray) -> tuple[float, float]:
    """Pooled lag-1 correlation of normalised residuals z (M, ...) between consecutive frames
    of one sequence where both are ``valid`` (M, ...), and the median frame spacing (s)."""
    if pairs.sequence is None or pairs.time is None or len(pairs) < 2:
        return 0.0, 1 / 30
    order = np.lexsort((pairs.time, pairs.sequence))
    seq, time = pairs.sequence[order], pairs.time[order]
    same = seq[1:] == seq[:-1]
    if not same.any():
        return 0.0, 1 / 30
    dt = float(np.median(np.diff(time)[same]))
    a, b = z[order][:-1][same], z[order][1:][same]
    ok = valid[order][:-1][same] & valid[order][1:][same]
    a, b = a[ok], b[ok]
    if a.size < 10:
        return 0.0, dt if dt > 0 else 1 / 30
    rho = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    return max(rho, 0.0), dt if dt > 0 else 1 / 30


def _fit_bias(e: np.ndarray, A: np.ndarray, w: np.ndarray, ridge: float = 1e-4) -> np.ndarray:
    """Weighted least squares b (3,) for e (M, 2) ~ A (M, 2, 3) @ b, weights w (M,)."""
    AtA = np.einsum("m,mij,mik->jk", w, A, A) + ridge * np.eye(3)
    Atb = np.einsum("m,mij,mi->j", w, A, e)
    return np.linalg.solve(AtA, Atb)


def _fit_2d(model: NoiseModel, pairs: Pairs, F: np.ndarray, iterations: int = 30) -> None:
    """Bias (IRLS) then the jitter mixture (EM): core per keypoint and axis, low-visibility
    scale, outlier rate per keypoint and a shared outlier scale."""
    ok = pairs.detected
    x, K, vis = pairs.known_cam[ok], pairs.K[ok], pairs.det_vis[ok]
    Fk = F[ok]
    scale = person_scale_px(x, K, pairs.body_height[ok])[:, None, None]
    e = (pairs.det_2d[ok] - project(x, K)) / scale  # (M, 25, 2) in person-scale units
    A = _projection_jacobian(x, K[:, None]) @ Fk / scale[..., None]  # (M, 25, 2, 3)
    conf = vis >= 0.5
    bias = np.zeros((NUM_KEYPOINTS, 3))
    for k in range(NUM_KEYPOINTS):
        w = conf[:, k].astype(np.float64)
        for _ in range(5):  # Huber-like reweighting keeps outliers from dragging the bias
            b = _fit_bias(e[:, k], A[:, k], w)
            r = np.linalg.norm(e[:, k] - (A[:, k] @ b), axis=-1)
            s = 1.4826 * np.median(r[conf[:, k]]) + 1e-9 if conf[:, k].any() else 1.0
            w = conf[:, k] * np.minimum(1.0, 2.0 * s / np.maximum(r, 1e-12))
        bias[k] = b
    model.bias = bias
    biased = x + (Fk @ bias[:, :, None])[..., 0]
    r = (pairs.det_2d[ok] - project(biased, K)) / scale  # (M, 25, 2)

    # EM for: core N(0, (c_i sigma_k)^2) per axis (c_i = low_conf_scale when vis < 0.5),
    # with probability pi_k an outlier N(0, s_out^2).
    sigma = np.full((NUM_KEYPOINTS, 2), 0.01)
    if conf.any():
        sigma = np.maximum(1.4826 * np.median(np.abs(r), axis=0), 1e-5)
    pi = np.full(NUM_KEYPOINTS, 0.02)
    s_out, c = 10 * float(np.median(sigma)), 1.5
    low = ~conf
    for _ in range(iterations):
        cmul = np.where(low, c, 1.0)[..., None]
        sc = sigma * cmul
        log_core = -0.5 * ((r / sc) ** 2).sum(-1) - np.log(sc).sum(-1)
        log_out = -0.5 * (r**2).sum(-1) / s_out**2 - 2 * np.log(s_out)
        a = np.log(np.maximum(1 - pi, 1e-12)) + log_core
        b = np.log(np.maximum(pi, 1e-12)) + log_out
        m = np.maximum(a, b)
        w_core = np.exp(a - m) / (np.exp(a - m) + np.exp(b - m))
        w_out = 1 - w_core
        pi = np.clip(w_out.mean(0), 0.0, 0.5)
        s_out = float(np.sqrt((w_out[..., None] * r**2).sum() / max(2 * w_out.sum(), 1e-9)))
        s_out = max(s_out, 3 * float(np.median(sigma)))
        norm = r / cmul
        sigma = np.sqrt((w_core[..., None] * norm**2).sum(0) / np.maximum(
            w_core.sum(0), 1e-9)[:, None])
        sigma = np.maximum(sigma, 1e-5)
        wl = w_core * low
        if wl.sum() > 20:
            c = float(np.sqrt((wl[..., None] * (r / sigma) ** 2).sum() / (2 * wl.sum())))
        else:
            c = 1.0
    model.jitter, model.outlier_rate, model.outlier_scale = sigma, pi, s_out
    model.low_conf_scale = c
    z = r / (sigma * np.where(low, c, 1.0)[..., None])
    sub = pairs.subset(ok)
    rho, dt = _lag1(z, sub, np.repeat((w_core > 0.5)[..., None], 2, -1))
    model.rho, model.rho_dt = rho, dt


def _fit_visibility(model: NoiseModel, pairs: Pairs, F: np.ndarray) -> None:
    """Per-keypoint least squares of logit visibility on the four regressors."""
    ok = pairs.detected
    feats = visibility_features(pairs.known_cam[ok], F[ok], pairs.K[ok], pairs.image_size[ok])
    v = np.clip(pairs.det_vis[ok], 1e-6, 1 - 1e-6)
    logit = np.log(v / (1 - v))
    coef = np.zeros((NUM_KEYPOINTS, 4))
    std = np.zeros(NUM_KEYPOINTS)
    resid = np.zeros_like(logit)
    for k in range(NUM_KEYPOINTS):
        X = feats[:, k]
        # A tiny ridge keeps a never-seen regressor (no point ever outside) at zero.
        coef[k] = np.linalg.solve(X.T @ X + 1e-3 * np.eye(4), X.T @ logit[:, k])
        resid[:, k] = logit[:, k] - X @ coef[k]
        std[k] = resid[:, k].std()
    model.vis_coef, model.vis_std = coef, std
    z = resid / np.maximum(std, 1e-9)
    model.vis_rho, _ = _lag1(z, pairs.subset(ok), np.ones_like(z, dtype=bool))


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame scale (M,) and rotation (M, 3, 3) with dst ~ s R src (both centred)."""
    H = np.swapaxes(src, -1, -2) @ dst  # (M, 3, 3)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.zeros_like(H)
    D[:, 0, 0], D[:, 1, 1], D[:, 2, 2] = 1, 1, d
    R = np.swapaxes(Vt, -1, -2) @ D @ np.swapaxes(U, -1, -2)
    s = (S * np.stack([np.ones_like(d), np.ones_like(d), d], -1)).sum(-1) / (
        (src**2).sum((-1, -2)))
    return s, R


def _fit_world(model: NoiseModel, pairs: Pairs, F: np.ndarray) -> None:
    """World bias (part frames), frame choice, rotation, scale law and per-axis noise."""
    ok = pairs.detected
    x, Fk, W = pairs.known_cam[ok], F[ok], pairs.det_world[ok]
    height = pairs.body_height[ok]
    Wc = W - _hip_mid(W)[:, None]
    bias = np.zeros((NUM_KEYPOINTS, 3))
    for _ in range(4):
        pts = x + (Fk @ bias[:, :, None])[..., 0]
        Y = pts - _hip_mid(pts)[:, None]
        s, R = _similarity(Y, Wc)
        back = (Wc @ R) / s[:, None, None]  # R^T W / s, in our camera axes
        q = back - Y
        bias = bias + np.median(np.einsum("mkji,mkj->mki", Fk, q), axis=0)
    pts = x + (Fk @ bias[:, :, None])[..., 0]
    Y = pts - _hip_mid(pts)[:, None]
    s, R = _similarity(Y, Wc)
    model.world_bias = bias

    ray = ray_rotation(_hip_mid(x))
    ang_cam = np.linalg.norm(_matrix_to_rotvec(R), axis=-1)
    rel_ray = R @ np.swapaxes(ray, -1, -2)
    ang_ray = np.linalg.norm(_matrix_to_rotvec(rel_ray), axis=-1)
    use_ray = np.median(ang_ray) < np.median(ang_cam)
    model.world_frame = "ray" if use_ray else "camera"
    rel = rel_ray if use_ray else R
    vec = _matrix_to_rotvec(rel)
    # Robust: |w| of a 3D Gaussian rotation vector is sigma * chi(3), median 1.5382. A few
    # frames with an unnoticed left/right swap (side views) would dominate an RMS.
    model.world_rot_std = float(np.degrees(np.median(np.linalg.norm(vec, axis=-1)) / 1.5382))

    # Scale law: log s = log s0 + a log(h / h_ref) + noise.
    lx = np.log(height / model.reference_height)
    ly = np.log(np.maximum(s, 1e-6))
    if lx.std() > 1e-3:
        a, b = np.polyfit(lx, ly, 1)
    else:
        a, b = 0.0, float(ly.mean())
    model.world_scale, model.world_scale_exponent = float(np.exp(b)), float(a)
    scale_res = ly - (b + a * lx)
    model.world_scale_std = float(1.4826 * np.median(np.abs(scale_res - np.median(scale_res))))

    # What remains is noise: fit it in MediaPipe's (image-aligned) axes. MediaPipe's origin is
    # the midpoint of its own noisy hips, so compare with W as given, not re-centred.
    res = W - s[:, None, None] * (Y @ np.swapaxes(R, -1, -2))
    model.world_std = 1.4826 * np.median(np.abs(res - np.median(res, 0)), axis=0)
    z = res / np.maximum(model.world_std, 1e-9)
    model.world_rho, _ = _lag1(z, pairs.subset(ok), np.abs(z) < 5)


def fit(pairs: Pairs, provenance: dict | None = None) -> NoiseModel:
    """Estimate every parameter of :class:`NoiseModel` from (known, detected) pairs."""
    model = NoiseModel()
    detected = np.asarray(pairs.detected, bool)
    model.frame_miss_rate = float(1.0 - detected.mean()) if len(pairs) else 0.0
    pairs = dataclasses.replace(pairs, detected=detected)
    body, groups, visible = detect_swaps(pairs)
    model.body_swap_rate = float(body.sum() / max(visible["body"], 1))
    model.group_swap_rate = {name: float(hit.sum() / max(visible[name], 1))
                             for name, hit in groups.items()}
    clean = unswap(pairs, body, groups)
    F = _frames_of(clean)
    _fit_2d(model, clean, F)
    _fit_visibility(model, clean, F)
    _fit_world(model, clean, F)
    model.provenance = dict(provenance or {})
    model.provenance.setdefault("fitted", datetime.datetime.now(datetime.UTC).isoformat(
        timespec="seconds"))
    model.provenance.setdefault("frames", len(pairs))
    model.provenance.setdefault("detected_frames", int(detected.sum()))
    return model


# --------------------------------------------------------------------------------------------
# Statistics for reports and held-out checks


def summary_stats(pairs: Pairs) -> dict:
    """Model-free statistics of detections vs truth: per keypoint median and 90th percentile
    2D error (fraction of person scale), mean visibility and P(visibility < 0.5), world
    landmark error after hip-centring (m, per axis), detection and swap rates."""
    ok = pairs.detected
    out: dict = {"frames": len(pairs), "detection_rate": float(ok.mean()) if len(pairs) else 0}
    if not ok.any():
        return out
    body, groups, visible = detect_swaps(pairs)
    out["body_swap_rate"] = float(body.sum() / max(visible["body"], 1))
    out["group_swap_rate"] = {k: float(v.sum() / max(visible[k], 1)) for k, v in groups.items()}
    p = unswap(pairs, body, groups).subset(ok)
    scale = person_scale_px(p.known_cam, p.K, p.body_height)[:, None]
    err = np.linalg.norm(p.det_2d - project(p.known_cam, p.K), axis=-1) / scale
    known_c = p.known_cam - _hip_mid(p.known_cam)[:, None]
    w_err = np.abs(p.det_world - known_c)
    out["person_scale_px"] = {"median": float(np.median(scale)), "min": float(scale.min())}
    out["err2d_median"] = dict(zip(KEYPOINT_NAMES, np.round(np.median(err, 0), 4).tolist(),
                                   strict=True))
    out["err2d_p90"] = dict(zip(KEYPOINT_NAMES, np.round(np.percentile(err, 90, 0), 4).tolist(),
                                strict=True))
    out["err2d_median_all"] = float(np.median(err))
    out["err2d_p90_all"] = float(np.percentile(err, 90))
    out["vis_mean"] = dict(zip(KEYPOINT_NAMES, np.round(p.det_vis.mean(0), 3).tolist(),
                               strict=True))
    out["vis_low_rate"] = dict(zip(KEYPOINT_NAMES, np.round((p.det_vis < 0.5).mean(0), 3)
                                   .tolist(), strict=True))
    out["vis_low_rate_all"] = float((p.det_vis < 0.5).mean())
    out["vis_quantiles"] = np.round(np.quantile(p.det_vis, [0.05, 0.25, 0.5, 0.75, 0.95]),
                                    4).tolist()
    out["world_abs_err_median_xyz"] = np.round(np.median(w_err.reshape(-1, 3), 0), 4).tolist()
    out["world_mpjpe_m"] = float(np.linalg.norm(p.det_world - known_c, axis=-1).mean())
    return out
