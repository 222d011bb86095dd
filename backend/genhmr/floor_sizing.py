"""People sized by the floor they share (``genhmr_core.floor_size``), applied to a solve.

A scale ``s`` about the camera keeps a person's picture: every point of the body moves along
its own viewing ray. The body model has no uniform scale, so the person's *height* shape
coefficient is changed until the rest skeleton's stature is ``s`` times what it was (within the
shape's limits), the pelvis is moved to ``s`` times its place (same ray, ``s`` times the
depth), and the joints and keypoints are posed again from the same rotations. Runs once per
job, on the refined bodies before the world-space steps, so the solve kept in the job folder is
the sized one and a re-run of part of a track keeps the size.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from genhmr_core.floor_size import FloorSizeConfig, floor_scale, floor_scales
from genhmr_core.ground import Ground, lowest_foot_heights
from genhmr_core.result_format import JobResult

from .repose import pose_again

log = logging.getLogger(__name__)

HEIGHT_SHAPE = "height"  # the shape coefficient that changes the body's size
_GRID = 41  # coefficients tried across the shape's limits (the stature is smooth in it)


def stature(body: Any, betas: np.ndarray) -> float:
    """The rest skeleton's vertical extent (metres): head joint to the lowest joint."""
    joints = body.rest_joints(np.asarray(betas, dtype=np.float64)[None])[0].detach().cpu()
    return float(joints[:, 1].max() - joints[:, 1].min())


def scaled_betas(body: Any, betas: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Shape coefficients whose stature is ``scale`` times that of ``betas`` (only the height
    coefficient changes, clamped to its limits), and the scale reached. A body without a height
    coefficient (a user's SMPL-X) keeps its shape: (``betas``, 1.0)."""
    betas = np.asarray(betas, dtype=np.float64).copy()
    names = tuple(getattr(body, "shape_names", ()) or ())
    if HEIGHT_SHAPE not in names:
        return betas, 1.0
    k = names.index(HEIGHT_SHAPE)
    low, high = (float(v) for v in body.shape_limits[k])
    tried = np.linspace(low, high, _GRID)
    trials = np.repeat(betas[None], _GRID, axis=0)
    trials[:, k] = tried
    joints = body.rest_joints(trials).detach().cpu().numpy()  # (GRID, J, 3), one call
    heights = joints[..., 1].max(axis=1) - joints[..., 1].min(axis=1)
    if not np.all(np.diff(heights) > 0):
        return betas, 1.0
    before = stature(body, betas)
    betas[k] = float(np.interp(scale * before, heights, tried))
    return betas, stature(body, betas) / before


def _root(body: Any, betas: np.ndarray) -> np.ndarray:
    return body.rest_joints(np.asarray(betas, dtype=np.float64)[None])[0, 0].detach().cpu(
    ).numpy().astype(np.float64)


def moved_translation(transl: np.ndarray, old_root: np.ndarray, new_root: np.ndarray,
                      scale: float) -> np.ndarray:
    """The translation (F, 3) that puts the pelvis of the new shape (rest root ``new_root``) at
    ``scale`` times where the old shape's pelvis was: the same viewing ray."""
    return scale * (np.asarray(transl, np.float64) + old_root) - new_root


def resize_person(result: JobResult, p: int, body: Any, scale: float
                  ) -> tuple[float, np.ndarray]:
    """Person ``p`` made ``scale`` times bigger about the camera, in place (module docstring);
    returns the scale reached (the height coefficient has limits) and the new shape."""
    betas, reached = scaled_betas(body, result.betas[p], scale)
    if reached == 1.0:
        return 1.0, betas
    skeleton = body.skeleton(betas)
    rest = skeleton.rest_joints.detach().cpu().numpy()
    result.transl[p] = moved_translation(result.transl[p], result.rest_joints[p, 0].astype(
        np.float64), rest[0].astype(np.float64), reached).astype(result.transl.dtype)
    result.betas[p] = betas[:result.betas.shape[1]].astype(result.betas.dtype)
    result.rest_joints[p] = rest.astype(result.rest_joints.dtype)
    pose_again(result, p, slice(None), skeleton)
    return reached, betas


def resize_stage1(stage1: Any, body: Any, betas: np.ndarray, scale: float) -> None:
    """The same resize on a person's stage-1 output (``generative.Stage1``), in place, so a
    re-run of refinement starts from the sized body at its sized depth."""
    old_root, new_root = _root(body, stage1.betas), _root(body, betas)
    stage1.transl = moved_translation(stage1.transl, old_root, new_root, scale).astype(
        np.asarray(stage1.transl).dtype)
    stage1.betas = np.asarray(betas, np.float64)[:len(stage1.betas)].astype(
        np.asarray(stage1.betas).dtype)


def _lowest_feet(result: JobResult, p: int, ground: Ground) -> np.ndarray:
    """(F_p,) person ``p``'s lowest foot point above the floor in each frame they were seen."""
    return lowest_foot_heights(result.keypoints3d[p], result.camera_rotation,
                               ground)[result.valid[p]]


def size_person_on_the_floor(result: JobResult, p: int, body: Any, ground: Ground,
                             config: FloorSizeConfig | None = None
                             ) -> tuple[float, np.ndarray]:
    """Person ``p`` alone sized to stand on ``ground``, the floor the others (already sized)
    stand on, in place: a person solved again by a merge. Returns the scale and the shape."""
    answer = floor_scale(_lowest_feet(result, p, ground), ground.camera_height, ground.levels,
                         config)
    if not answer.takes_part:
        log.info("floor size: person %d unchanged (raw %.3f)", p, answer.raw)
        return 1.0, result.betas[p].astype(np.float64)
    reached, betas = resize_person(result, p, body, answer.scale)
    log.info("floor size: person %d x%.3f against the others' floor", p, reached)
    return reached, betas


def size_people_on_the_floor(result: JobResult, body: Any, ground: Ground,
                             config: FloorSizeConfig | None = None
                             ) -> list[tuple[float, np.ndarray]]:
    """Every person sized by the shared floor (``genhmr_core.floor_size``), in place; returns
    each person's scale applied (1.0: unchanged) and shape. ``ground``: the floor found from
    these bodies."""
    heights = [_lowest_feet(result, p, ground) for p in range(result.num_people)]
    answers = floor_scales(heights, ground.camera_height, ground.levels, config)
    applied = []
    for p, answer in enumerate(answers):
        reached, betas = (resize_person(result, p, body, answer.scale) if answer.takes_part
                          else (1.0, result.betas[p].astype(np.float64)))
        applied.append((reached, betas))
        log.info("floor size: person %d %s (raw %.3f over %d frames on their lowest level)%s",
                 p, f"x{reached:.3f}" if answer.takes_part else "unchanged", answer.raw,
                 answer.frames, "" if answer.takes_part or not np.isfinite(answer.raw)
                 else " - on a platform, or too few people on the floor")
    return applied
