"""Left and right kept consistent over a track: undo the detector's front/back confusions.

MediaPipe's landmark model, seeing a person from the front, now and then labels them as seen
from the back for a few frames: every left keypoint (eyes and ears included) is reported where
the right one is and the reverse, and its metric 3D landmarks turn the body round to match (the
nose behind the shoulders). On ``demo.mp4`` the man facing the camera on the box is "turned
round" at frames 12-13, 16-17 and 67-72; every method that reads those labels makes him spin
180 degrees and back (docs/BENCHMARKS.md, facing flips). A real person cannot turn round in a
frame, and their left shoulder does not jump to where their right one was.

So each frame of a track gets one of two states, *as detected* or *sides swapped*, chosen for
the whole track at once (:func:`genhmr_core.temporal.min_cost_path`) to make the labels
continuous:

* in the picture, a keypoint should stay near where the same-named keypoint was one frame
  before (2D cost: the paired keypoints' displacements with and without the swap, in torso
  lengths, confidence-weighted);
* in 3D, the direction the shoulders and hips face should not turn by much between frames
  (3D cost: the angle between the two frames' facing across the vertical, over 180 degrees);
* a swap costs a little in every frame where it is applied, so the detector's labels stand
  unless the picture says otherwise, and where two long stretches disagree the longer wins;
* both continuity costs are measured between frames two apart as well as between neighbours
  (half weight each). The detector does not always swap a whole body at once: on Pose2Sim
  cam02 the kicking man's arms are reported swapped one frame and his legs the next (and an arm
  half-way the frame before), and each step then moves the labels too little to show. Seen
  from neighbours alone, the labels slid into 25 frames of "seen from the back" there (2D
  error 91 px instead of 18 against the triangulated truth; one noise draw in seven of either
  proposal source); across two frames the slide shows, and that draw is right again.

A swapped frame's 2D keypoints exchange their left and right names; its 3D landmarks exchange
them too and are mirrored in depth (MediaPipe's ``z``, along the viewing ray), which turns
MediaPipe's "seen from the back" body into the same body seen from the front: its picture is
unchanged, so it still agrees with the 2D keypoints.

Plain numpy; the tracker's output runs through it before any 3D stage (``genhmr.perception``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES
from .temporal import min_cost_path

PAIRS: tuple[tuple[int, int], ...] = tuple(
    (KEYPOINT_INDEX[name], KEYPOINT_INDEX["right_" + name[5:]])
    for name in KEYPOINT_NAMES if name.startswith("left_"))
SIDE_SWAP: np.ndarray = np.arange(len(KEYPOINT_NAMES))
for _left, _right in PAIRS:
    SIDE_SWAP[_left], SIDE_SWAP[_right] = _right, _left
_SHOULDERS = (KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"])
_HIPS = (KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"])
_DEPTH = 2  # MediaPipe's world z: along the viewing ray, away from the camera
_VERTICAL = 1  # MediaPipe's world y: down


@dataclass
class SideConfig:
    """Weights of :func:`side_swaps`; the defaults are tuned on ``demo.mp4`` and Pose2Sim."""

    swap_cost: float = 0.05  # per swapped frame, against one frame's label jump of ~1-2
    picture_weight: float = 1.0  # 2D cost, per torso length a keypoint pair moves
    facing_weight: float = 1.0  # 3D cost of turning round (180 degrees) between two frames
    min_confidence: float = 0.3  # keypoints below this take no part in the 2D cost
    jump_cap: float = 2.0  # torso lengths: a pair moving further counts as this far
    max_gap: int = 15  # frames: detections further apart are not compared
    skip_weight: float = 0.5  # share of the continuity measured between frames two apart
    # side_swaps_3d: what a labelling costs per frame when the face contradicts it (true
    # positions make the face a direct measurement, so it outweighs continuity)
    face_weight: float = 5.0


def swap_sides(keypoints2d: np.ndarray, world: np.ndarray, swapped: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """``keypoints2d`` (F, 25, C) and MediaPipe-frame ``world`` (F, 25, 3) with the frames
    where ``swapped`` (F,) is True given the other side's names (and the 3D mirrored in
    depth). Returns new arrays."""
    swapped = np.asarray(swapped, dtype=bool)
    kp = np.array(keypoints2d, copy=True)
    out = np.array(world, copy=True)
    kp[swapped] = kp[swapped][:, SIDE_SWAP]
    out[swapped] = _turned_round(out[swapped])
    return kp, out


def _turned_round(world: np.ndarray) -> np.ndarray:
    """MediaPipe-frame landmarks (F, 25, 3) with their sides' names exchanged and mirrored
    in depth: the same picture, the body seen from the other side."""
    out = world[:, SIDE_SWAP]
    out[..., _DEPTH] *= -1.0
    return out


def _torso(points: np.ndarray, valid: np.ndarray) -> float:
    """The track's median torso length (mid-shoulder to mid-hip), in the points' unit."""
    torso = np.linalg.norm(points[:, list(_SHOULDERS)].mean(1) - points[:, list(_HIPS)].mean(1),
                           axis=-1)
    seen = valid & np.isfinite(torso) & (torso > 0)
    return float(np.median(torso[seen])) if seen.any() else 1.0


def _continuity(points: np.ndarray, weight: np.ndarray, frames: np.ndarray, scale: float,
                config: SideConfig, lag: int = 1) -> np.ndarray:
    """(len(frames) - lag, 2, 2): how far the paired keypoints move between ``frames`` ``lag``
    apart (neighbours for 1) when the two frames' sides are alike ([s, s]) and when one is
    swapped ([s, 1-s]), in ``scale`` units (torso lengths), the weighted mean over the pairs
    seen in both frames. ``points`` (F, 25, D), ``weight`` (F, 25) (0 = not seen)."""
    left = [a for a, _ in PAIRS]
    right = [b for _, b in PAIRS]
    a, b = frames[:-lag], frames[lag:]

    def moved(p: list[int], q: list[int]) -> np.ndarray:  # (n - 1, pairs)
        d = np.linalg.norm(points[b][:, p] - points[a][:, q], axis=-1) / scale
        return np.minimum(np.nan_to_num(d, nan=config.jump_cap), config.jump_cap)

    w = np.minimum.reduce([weight[a][:, left], weight[a][:, right], weight[b][:, left],
                           weight[b][:, right]])
    w = np.where(w >= config.min_confidence, w, 0.0)
    total = np.maximum(w.sum(-1), 1e-9)
    kept = (w * (moved(left, left) + moved(right, right))).sum(-1) / total
    crossed = (w * (moved(left, right) + moved(right, left))).sum(-1) / total
    return np.stack([np.stack([kept, crossed], -1), np.stack([crossed, kept], -1)], -2)


def _turning(facing: np.ndarray, facing_swapped: np.ndarray, lag: int = 1) -> np.ndarray:
    """(n - lag, 2, 2) the turn between the facings (n, 2) of frames ``lag`` apart for each
    pair of states, over 180 degrees; 0 where either facing is unknown (zero)."""
    states = np.stack([facing, facing_swapped], 1)  # (n, 2 states, 2)
    cos = np.einsum("nsc,ntc->nst", states[:-lag], states[lag:])
    known = np.any(states[:-lag], -1)[:, :, None] & np.any(states[lag:], -1)[:, None, :]
    return np.where(known, np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi, 0.0)


def _facing(world: np.ndarray) -> np.ndarray:
    """(F, 2) unit direction of the right-to-left shoulder and hip line across the vertical
    (MediaPipe's x, z); zero where it is too short to say."""
    across = (world[:, _SHOULDERS[0]] - world[:, _SHOULDERS[1]]
              + world[:, _HIPS[0]] - world[:, _HIPS[1]])
    flat = across[:, [0, _DEPTH]]
    norm = np.linalg.norm(flat, axis=-1, keepdims=True)
    return np.where(norm > 0.05, flat / np.maximum(norm, 1e-9), 0.0)


def _links(frames: np.ndarray, max_gap: int, lag: int = 1) -> np.ndarray:
    """(n - lag,) 1 where ``frames`` ``lag`` apart are close enough to compare, else 0."""
    return ((frames[lag:] - frames[:-lag]) <= max_gap).astype(np.float64)


def side_swaps(keypoints2d: np.ndarray, world: np.ndarray, valid: np.ndarray,
               config: SideConfig | None = None) -> np.ndarray:
    """(F,) bool: the frames of one track whose sides should be swapped (see the module
    docstring). ``keypoints2d`` (F, 25, 3) pixels + confidence, ``world`` (F, 25, 3) the
    detector's metric landmarks in its own frame, ``valid`` (F,)."""
    cfg = config or SideConfig()
    keypoints2d = np.asarray(keypoints2d, dtype=np.float64)
    world = np.asarray(world, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    frames = np.flatnonzero(valid)
    swapped = np.zeros(len(valid), dtype=bool)
    if len(frames) < 2:
        return swapped
    xy, conf = keypoints2d[..., :2], keypoints2d[..., 2]
    scale = _torso(xy, valid)
    facing = _facing(world[frames])
    facing_swapped = _facing(_turned_round(world[frames]))

    def change(lag: int) -> np.ndarray:  # (n - lag, 2, 2): frames lag apart, in both states
        cost = (cfg.picture_weight * _continuity(xy, conf, frames, scale, cfg, lag)
                + cfg.facing_weight * _turning(facing, facing_swapped, lag))
        return cost * _links(frames, cfg.max_gap, lag)[:, None, None]

    unary = np.zeros((len(frames), 2))
    unary[:, 1] = cfg.swap_cost
    if cfg.skip_weight > 0 and len(frames) >= 3:
        path = min_cost_path(unary, (1.0 - cfg.skip_weight) * change(1),
                             cfg.skip_weight * change(2))
    else:
        path = min_cost_path(unary, change(1))
    swapped[frames] = path.astype(bool)
    return swapped


def side_swaps_3d(points: np.ndarray, valid: np.ndarray, up: np.ndarray,
                  weight: np.ndarray | None = None, config: SideConfig | None = None
                  ) -> np.ndarray:
    """(F,) bool: frames of one person whose left and right names should be exchanged, for
    points (F, 25, 3) at their true positions (triangulated from several views, NaN where
    unknown), ``up`` the world's vertical, ``weight`` (F, 25) how far each point is trusted
    (default: 1 where finite).

    Here a swap only renames (the positions are right). Besides continuity, the face says
    which way the body faces: the shoulders' and hips' facing (their right-to-left line turned
    a quarter about ``up``) should point the way the nose points from between the ears, so a
    labelling that contradicts it costs up to ``face_weight`` per frame and the answer does not
    depend on which labelling most frames happen to have.
    """
    cfg = config or SideConfig()
    points = np.asarray(points, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(points[:, list(_SHOULDERS + _HIPS)]
                                                        ).all(axis=(1, 2))
    frames = np.flatnonzero(valid)
    swapped = np.zeros(len(valid), dtype=bool)
    if len(frames) == 0:
        return swapped
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    pts = points[frames]
    across = (pts[:, _SHOULDERS[0]] - pts[:, _SHOULDERS[1]] + pts[:, _HIPS[0]]
              - pts[:, _HIPS[1]])
    facing = np.cross(across, up)
    if weight is None:
        weight = np.isfinite(points).all(-1).astype(np.float64)
    weight = np.where(np.isfinite(points).all(-1), np.asarray(weight, dtype=np.float64), 0.0)
    face = [KEYPOINT_INDEX["nose"], KEYPOINT_INDEX["left_ear"], KEYPOINT_INDEX["right_ear"]]
    ears = pts[:, face[1:]].mean(1)
    nose = pts[:, face[0]] - ears
    nose -= np.outer(nose @ up, up)
    agree = np.nan_to_num(np.einsum("nc,nc->n", facing, nose)
                          / np.maximum(np.linalg.norm(facing, axis=-1)
                                       * np.linalg.norm(nose, axis=-1), 1e-9))
    agree *= weight[frames][:, face].min(-1)
    unary = np.zeros((len(frames), 2))
    unary[:, 0] = cfg.face_weight * np.maximum(-agree, 0.0)  # the face says turned round
    unary[:, 1] = cfg.face_weight * np.maximum(agree, 0.0) + cfg.swap_cost
    pairwise = cfg.picture_weight * _continuity(np.nan_to_num(points), weight, frames,
                                                _torso(points, valid), cfg)
    pairwise *= _links(frames, cfg.max_gap)[:, None, None]
    swapped[frames] = min_cost_path(unary, pairwise).astype(bool)
    return swapped
