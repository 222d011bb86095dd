"""Training samples for the masked pose transformer, synthesised from motion clips.

Why: no image dataset with 3D labels is available, so the transformer learns from what the
product's detector would report for known 3D motion (DESIGN.md §2, "How we adapt it"). One
sample is a window of W consecutive frames of a clip on a randomly shaped default body, filmed
by a random camera (:func:`~genhmr.synthetic.cameras.sample_camera`) and "detected" through the
fitted MediaPipe noise model (:class:`~genhmr.synthetic.noise.NoiseModel`). The targets are
those of the window's centre frame.

Each sample is a pure function of ``(clip, start, seed)``: its betas, camera and noise are all
drawn from ``numpy.random.default_rng(seed)``, so a sample is the same alone or in any batch,
on any number of ranks.

Posing: the 25 keypoints ride rigidly on the FK joints of the shaped skeleton (the attachment
:meth:`BodyModel.skeleton` uses, made batched over betas, since the keypoints and rest joints
are linear in betas). Skinning the 13.7 k-vertex mesh would cost ~7 ms per frame on CPU for
keypoints that differ by millimetres.

Inputs, as at inference time (nothing here uses the truth except missed frames):

* ``keypoints_2d`` — pixels mapped into a square crop box around the *observed* keypoints
  (confidence >= ``min_confidence``), centre of their bounding box, half-side = half the
  longer side x (1 + ``crop_padding``), so the crop spans [-1, 1]. Missing points are 0 with
  confidence 0. A missed frame's box is the true one (its inputs are all zero anyway).
* ``box`` — the crop box in focal-length units ((cx - px) / f, (cy - py) / f, half / f), the
  CLIFF "bbox info": without it a crop cannot tell a perspective view from the centre of the
  image from one at its edge, and the camera-frame orientation depends on that.
* ``world`` — MediaPipe's hip-centred 3D landmarks (metres), 0 where missed.

Camera target: a **weak-perspective crop camera** (s, tx, ty): the pelvis projects to crop
coordinates (tx, ty) and s = f / (z_pelvis * half), so points near the pelvis project to
``s * (x_cam - pelvis_cam)[:2] + (tx, ty)``. It is exact at the pelvis and, with the box and
focal length known at inference, converts back to a camera-space translation
(:func:`crop_camera_to_translation`), which stage-2 refinement then optimises in full
perspective. The camera-frame translation is returned too (``transl_cam``), for evaluation.

Rotations use OpenCV camera axes (x right, y down, z forward): ``global_orient_cam =
R_cam @ global_orient``, with ``R_cam`` the world->camera rotation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from genhmr.body.body_model import BodyModel
from genhmr.body.skeleton_model import forward_kinematics
from genhmr.motion.clip import MotionClip
from genhmr.synthetic.cameras import CameraConfig, sample_camera
from genhmr.synthetic.noise import BIAS_FRAME_JOINT, NoiseModel
from genhmr_core.keypoints import NUM_KEYPOINTS, keypoint_attachments
from genhmr_core.skeleton import PARENTS

NUM_POSE = 22  # global orientation + 21 body joints


@dataclasses.dataclass
class ConditioningConfig:
    """How samples are drawn (the ``[data]`` keys of the transformer's training config)."""

    window: int = 1  # frames per sample; the targets are the centre frame's
    betas_range: float = 1.0  # betas ~ U(limits * betas_range)
    crop_padding: float = 0.1  # the crop box is this fraction larger than the keypoints' box
    min_confidence: float = 0.3  # points below this do not shape the crop box
    min_box_px: float = 16.0  # smallest crop half-side in pixels

    def __post_init__(self) -> None:
        if not 1 <= self.window <= 31 or self.window % 2 == 0:
            raise ValueError(f"data.window must be odd, 1..31, got {self.window}")
        if not 0.0 <= self.betas_range <= 1.0:
            raise ValueError(f"data.betas_range must be in [0, 1], got {self.betas_range}")
        if self.crop_padding < 0 or self.min_box_px <= 0:
            raise ValueError("data.crop_padding must be >= 0 and data.min_box_px > 0")


@dataclasses.dataclass
class ConditioningBatch:
    """B samples (float32 tensors on CPU); W = window, c = W // 2 the target frame."""

    keypoints_2d: Tensor  # (B, W, 25, 2) crop-normalised, 0 where missing
    confidence: Tensor  # (B, W, 25) in [0, 1], 0 where missing
    world: Tensor  # (B, W, 25, 3) hip-centred metres (MediaPipe axes), 0 where missing
    detected: Tensor  # (B, W) bool
    box: Tensor  # (B, W, 3) crop box in focal units ((cx-px)/f, (cy-py)/f, half/f)
    body_pose: Tensor  # (B, 21, 3, 3) target: local body rotations of frame c
    global_orient_cam: Tensor  # (B, 3, 3) target: pelvis orientation in camera axes
    betas: Tensor  # (B, 5) target
    crop_camera: Tensor  # (B, 3) target: weak-perspective (s, tx, ty) in frame c's crop
    transl_cam: Tensor  # (B, 3) pelvis position in camera space (metres), frame c
    box_px: Tensor  # (B, W, 3) crop box in pixels (cx, cy, half)
    K: Tensor  # (B, 3, 3) intrinsics of frame c

    def __len__(self) -> int:
        return int(self.keypoints_2d.shape[0])

    def to(self, device: torch.device | str) -> ConditioningBatch:
        return ConditioningBatch(**{f.name: getattr(self, f.name).to(device)
                                    for f in dataclasses.fields(self)})

    def index(self, rows: Tensor | slice) -> ConditioningBatch:
        return ConditioningBatch(**{f.name: getattr(self, f.name)[rows]
                                    for f in dataclasses.fields(self)})

    @staticmethod
    def cat(batches: Sequence[ConditioningBatch]) -> ConditioningBatch:
        return ConditioningBatch(**{f.name: torch.cat([getattr(b, f.name) for b in batches])
                                    for f in dataclasses.fields(ConditioningBatch)})


class BatchedKeypointBody:
    """Keypoints of many shapes and poses at once: FK joints + rigidly attached keypoints.

    Rest joints and rest keypoints of a linear shape model are linear in betas, so both are
    precomputed as template + directions; the body height (what the noise model scales its
    world landmarks by) uses the mesh's vertical extent.
    """

    def __init__(self, body: BodyModel) -> None:
        with torch.no_grad():
            self.num_betas = body.num_betas
            self.limits = body.shape_limits.double().numpy()  # (num_betas, 2)
            eye = torch.eye(body.num_betas, dtype=body.v_template.dtype)
            zero = torch.zeros(1, body.num_betas, dtype=eye.dtype)
            j0, kp0 = body.rest_joints(zero)[0], body.rest_keypoints(zero)[0]
            self.j_template = j0.double()[:NUM_POSE]
            self.j_dirs = (body.rest_joints(eye) - j0).double()[:, :NUM_POSE]  # (nb, 22, 3)
            kp_joint, _ = keypoint_attachments()
            self.kp_joint = torch.as_tensor(kp_joint)
            offset0 = kp0 - j0[self.kp_joint]
            offsets = body.rest_keypoints(eye) - body.rest_joints(eye)[:, self.kp_joint]
            self.kp_offset = offset0.double()
            self.kp_offset_dirs = (offsets - offset0).double()  # (nb, 25, 3)
            self.v_y = body.v_template[:, 1].double()
            self.v_y_dirs = body.shape_dirs[:, 1, :].double()  # (V, nb)
        self.parents = torch.as_tensor(PARENTS[1:NUM_POSE])

    def sample_betas(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        lo, hi = self.limits[:, 0] * scale, self.limits[:, 1] * scale
        return rng.uniform(lo, hi)

    def heights(self, betas: Tensor) -> Tensor:
        """(B,) rest height (vertical extent of the mesh) of shapes (B, nb)."""
        y = self.v_y + betas.double() @ self.v_y_dirs.T
        return y.max(-1).values - y.min(-1).values

    def pose(self, betas: Tensor, rotations: Tensor, pelvis: Tensor
             ) -> tuple[Tensor, Tensor, Tensor]:
        """Betas (B, nb), local rotations (B, T, 22, 3, 3), pelvis positions (B, T, 3) ->
        joints (B, T, 22, 3), global rotations (B, T, 22, 3, 3), keypoints (B, T, 25, 3)."""
        B, T = rotations.shape[:2]
        betas = betas.double()
        rest = self.j_template + torch.einsum("bn,njc->bjc", betas, self.j_dirs)
        offsets = torch.cat([torch.zeros_like(rest[:, :1]),
                             rest[:, 1:] - rest[:, self.parents]], 1)
        offsets = offsets.repeat_interleave(T, 0)
        joints, rots = forward_kinematics(offsets, rotations.reshape(B * T, NUM_POSE, 3, 3)
                                          .double(), pelvis.reshape(B * T, 3).double(),
                                          num_joints=NUM_POSE)
        kp_off = self.kp_offset + torch.einsum("bn,nkc->bkc", betas, self.kp_offset_dirs)
        kp_off = kp_off.repeat_interleave(T, 0)
        kps = joints[:, self.kp_joint] + (rots[:, self.kp_joint] @ kp_off[..., None])[..., 0]
        return (joints.reshape(B, T, NUM_POSE, 3), rots.reshape(B, T, NUM_POSE, 3, 3),
                kps.reshape(B, T, NUM_KEYPOINTS, 3))


def crop_box(uv: np.ndarray, valid: np.ndarray, padding: float, min_half: float
             ) -> np.ndarray:
    """(cx, cy, half) of the square crop around points uv (N, 2) where ``valid`` (N,)."""
    pts = uv[valid]
    lo, hi = pts.min(0), pts.max(0)
    centre = 0.5 * (lo + hi)
    half = max(0.5 * float((hi - lo).max()) * (1.0 + padding), min_half)
    return np.array([centre[0], centre[1], half])


@dataclasses.dataclass
class ObservationInputs:
    """One person's detector output over W frames, in the form the transformer reads."""

    keypoints_2d: np.ndarray  # (W, 25, 2) crop-normalised, 0 where missing
    confidence: np.ndarray  # (W, 25), 0 where missing
    world: np.ndarray  # (W, 25, 3), 0 where missing
    detected: np.ndarray  # (W,) bool
    box: np.ndarray  # (W, 3) crop box in focal units
    box_px: np.ndarray  # (W, 3) crop box in pixels (cx, cy, half)


def observation_inputs(uv: np.ndarray, conf: np.ndarray, world: np.ndarray,
                       detected: np.ndarray, K: np.ndarray, cfg: ConditioningConfig,
                       fallback_uv: np.ndarray | None = None) -> ObservationInputs:
    """Detector output (W frames: pixels (W, 25, 2) with NaN where missing, confidences,
    world landmarks, detected flags, intrinsics (W, 3, 3) or (3, 3)) -> transformer inputs.

    The crop box is built from the observed keypoints exactly as at inference; a frame with
    fewer than two usable points takes its box from ``fallback_uv`` (the truth, in training)
    or, without it, from the nearest frame that has one.
    """
    W = uv.shape[0]
    K = np.broadcast_to(K, (W, 3, 3))
    boxes = np.full((W, 3), np.nan)
    for w in range(W):
        finite = np.isfinite(uv[w]).all(-1)
        valid = finite & (conf[w] >= cfg.min_confidence)
        if valid.sum() < 2:
            valid = finite
        if detected[w] and valid.sum() >= 2:
            boxes[w] = crop_box(uv[w], valid, cfg.crop_padding, cfg.min_box_px)
        elif fallback_uv is not None:
            boxes[w] = crop_box(fallback_uv[w], np.ones(NUM_KEYPOINTS, bool), cfg.crop_padding,
                                cfg.min_box_px)
    have = np.flatnonzero(np.isfinite(boxes[:, 0]))
    if len(have) == 0:
        raise ValueError("no frame has two usable keypoints to place a crop box")
    for w in np.flatnonzero(~np.isfinite(boxes[:, 0])):
        boxes[w] = boxes[have[np.argmin(np.abs(have - w))]]
    norm = (uv - boxes[:, None, :2]) / boxes[:, None, 2:3]
    missing = ~np.isfinite(norm).all(-1)
    norm[missing] = 0.0
    f = K[:, 0, 0]
    return ObservationInputs(
        keypoints_2d=norm, confidence=np.where(missing, 0.0, conf),
        world=np.where(np.isfinite(world), world, 0.0), detected=np.asarray(detected, bool),
        box=np.stack([(boxes[:, 0] - K[:, 0, 2]) / f, (boxes[:, 1] - K[:, 1, 2]) / f,
                      boxes[:, 2] / f], -1),
        box_px=boxes)


def crop_camera_to_translation(crop_camera: Tensor, box_px: Tensor, K: Tensor) -> Tensor:
    """Weak-perspective crop cameras (B, 3) with their boxes (B, 3) (cx, cy, half in pixels)
    and intrinsics (B, 3, 3) -> pelvis positions in camera space (B, 3), metres."""
    s, tx, ty = crop_camera.unbind(-1)
    fx, fy = K[:, 0, 0], K[:, 1, 1]
    z = fx / (s.clamp(min=1e-6) * box_px[:, 2])
    u = box_px[:, 0] + tx * box_px[:, 2]
    v = box_px[:, 1] + ty * box_px[:, 2]
    return torch.stack([(u - K[:, 0, 2]) * z / fx, (v - K[:, 1, 2]) * z / fy, z], -1)


class ConditioningSampler:
    """Makes :class:`ConditioningBatch` es from (clip, start frame, seed) triples."""

    def __init__(self, body: BodyModel, noise: NoiseModel | None = None,
                 config: ConditioningConfig | None = None,
                 camera: CameraConfig | None = None) -> None:
        self.body = BatchedKeypointBody(body)
        self.noise = noise if noise is not None else NoiseModel.load()
        self.config = config or ConditioningConfig()
        self.camera = camera or CameraConfig()

    @property
    def window(self) -> int:
        return self.config.window

    def windows(self, clips: Sequence[MotionClip]) -> np.ndarray:
        """(M, 2) every valid (clip index, start frame): windows lie inside one clip, and for
        W > 1 clips of source "procedural" (frames with no temporal order) are skipped."""
        W = self.window
        out = []
        for i, clip in enumerate(clips):
            if W > 1 and clip.source == "procedural":
                continue
            n = clip.num_frames - W + 1
            if n > 0:
                out.append(np.stack([np.full(n, i), np.arange(n)], -1))
        return np.concatenate(out) if out else np.zeros((0, 2), np.int64)

    def sample(self, clips: Sequence[MotionClip], items: Sequence[tuple[int, int]] | np.ndarray,
               seeds: Sequence[int] | np.ndarray) -> ConditioningBatch:
        """One sample per (clip index, start) item, each drawn from its own seed."""
        W, cfg = self.window, self.config
        items = np.asarray(items, np.int64).reshape(-1, 2)
        if len(items) != len(seeds):
            raise ValueError("one seed per item")
        B, c = len(items), W // 2
        rots = np.empty((B, W, NUM_POSE, 3, 3), np.float32)
        root = np.empty((B, W, 3), np.float32)
        fps = np.empty(B)
        for b, (ci, start) in enumerate(items):
            clip = clips[int(ci)]
            if start < 0 or start + W > clip.num_frames:
                raise ValueError(f"window {start}..{start + W} outside clip {clip.name}")
            rots[b], root[b] = clip.rotations[start:start + W], clip.root_position[start:start + W]
            fps[b] = clip.fps
        rngs = [np.random.default_rng(int(s)) for s in seeds]
        betas = np.stack([self.body.sample_betas(r, cfg.betas_range) for r in rngs])
        betas_t = torch.from_numpy(betas)
        with torch.no_grad():
            _, grot, kps = self.body.pose(betas_t, torch.from_numpy(rots), torch.from_numpy(root))
            heights = self.body.heights(betas_t).numpy()
        grot, kps = grot.numpy(), kps.numpy()

        out = {name: [] for name in ("kp", "conf", "world", "det", "box", "box_px", "orient",
                                     "cam", "transl", "K")}
        for b, rng in enumerate(rngs):
            track = sample_camera(rng, kps[b], float(fps[b]), self.camera)
            R, t, K = track.R, track.t, track.K  # (W, 3, 3), (W, 3), (W, 3, 3)
            kp_cam = np.einsum("wij,wnj->wni", R, kps[b]) + t[:, None]
            frames = R[:, None] @ grot[b][:, BIAS_FRAME_JOINT]
            obs = self.noise.apply(kp_cam[None], K[None], rng, image_size=track.image_size,
                                   body_height=heights[b], frames=frames[None],
                                   dt=1.0 / fps[b] if W > 1 else None)
            true_uv = kp_cam[..., :2] / kp_cam[..., 2:3] * K[:, None, [0, 1], [0, 1]] \
                + K[:, None, :2, 2]
            inputs = observation_inputs(obs.keypoints_2d[0], obs.confidence[0], obs.world[0],
                                        obs.detected[0], K, cfg, fallback_uv=true_uv)
            norm, conf, world, det, boxes = (inputs.keypoints_2d, inputs.confidence,
                                             inputs.world, inputs.detected, inputs.box_px)
            out["box"].append(inputs.box)
            out["kp"].append(norm)
            out["conf"].append(conf)
            out["world"].append(world)
            out["det"].append(det)
            out["box_px"].append(boxes)
            out["orient"].append(R[c] @ grot[b, c, 0])
            pelvis = R[c] @ root[b, c] + t[c]
            u = K[c, 0, 0] * pelvis[0] / pelvis[2] + K[c, 0, 2]
            v = K[c, 1, 1] * pelvis[1] / pelvis[2] + K[c, 1, 2]
            half = boxes[c, 2]
            out["cam"].append([K[c, 0, 0] / (pelvis[2] * half), (u - boxes[c, 0]) / half,
                               (v - boxes[c, 1]) / half])
            out["transl"].append(pelvis)
            out["K"].append(K[c])

        def t32(key: str) -> Tensor:
            return torch.as_tensor(np.asarray(out[key]), dtype=torch.float32)

        return ConditioningBatch(
            keypoints_2d=t32("kp"), confidence=t32("conf"), world=t32("world"),
            detected=torch.as_tensor(np.asarray(out["det"]), dtype=torch.bool), box=t32("box"),
            body_pose=torch.from_numpy(rots[:, c, 1:].copy()),
            global_orient_cam=t32("orient"), betas=torch.from_numpy(betas).float(),
            crop_camera=t32("cam"), transl_cam=t32("transl"), box_px=t32("box_px"), K=t32("K"))
