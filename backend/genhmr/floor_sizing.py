"""People sized by the floor they share (``genhmr_core.floor_size``), applied to a solve.

A scale ``s`` about the camera keeps a person's picture: every point of the body moves along
its own viewing ray. So the person's body is scaled uniformly, ``JobResult.body_scale`` (their
rest joints, keypoint offsets and mesh ``s`` times their shape's), and their translation with
it: the pelvis, ``rest_joints[0] + transl``, lands at ``s`` times its place, and every joint
and keypoint posed again from the same rotations is ``s`` times where it was. Exactly, in every
frame: the refined fit to the 2D keypoints is kept to the pixel.

Before 2026-12-05 the body's *height* shape coefficient was changed instead (the body model
has no uniform scale of its own). MakeHuman's height lengthens the legs more than the torso
(+0.6: stature +18 %, thighs +24 %, torso +15 %), so a person sized up grew long legs and one
sized down short ones, and the picture moved: on Pose2Sim the refined bodies' median
reprojection error rose from 3.2-8.3 px to 5.3-11.6 px, the knees' depth went with the
proportions, and PA-MPJPE was 0.2 mm worse (docs/world_space.md §2, "A uniform size instead
of the height coefficient").

Runs once per job, on the refined bodies before the world-space steps, so the solve kept in
the job folder is the sized one, and stage 1 is scaled with it (``Stage1.body_scale``), so a
re-run of part of a track refines the body at its size.
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


def standing_height(body: Any, betas: np.ndarray, body_scale: float = 1.0) -> float:
    """A person's standing height (metres): the vertical extent of their body's mesh in its
    rest pose (the model's y axis is up), soles to the top of the head, at their size."""
    vertices = body.mesh.shaped(np.asarray(betas, np.float64))[0]
    return float(body_scale) * float(np.ptp(vertices[:, 1]))


def resize_person(result: JobResult, p: int, body: Any, scale: float,
                  stage1: Any | None = None) -> None:
    """Person ``p`` made ``scale`` times bigger about the camera, in place (module docstring):
    ``body_scale``, rest joints, translation, joints and keypoints, and their stage-1 output
    (``generative.Stage1``) when given."""
    scale = float(scale)
    sizes = result.body_scales()
    sizes[p] *= scale
    result.body_scale = sizes.astype(np.float32)
    skeleton = body.skeleton(np.asarray(result.betas[p], np.float64), float(sizes[p]))
    result.rest_joints[p] = skeleton.rest_joints.detach().cpu().numpy().astype(
        result.rest_joints.dtype)
    result.transl[p] = (scale * np.asarray(result.transl[p], np.float64)).astype(
        result.transl.dtype)
    pose_again(result, p, slice(None), skeleton)
    if stage1 is not None:
        resize_stage1(stage1, scale)


def resize_stage1(stage1: Any, scale: float) -> None:
    """The same resize on a person's stage-1 output (``generative.Stage1``), in place, so a
    re-run of refinement starts from the sized body at its sized depth."""
    stage1.transl = (float(scale) * np.asarray(stage1.transl, np.float64)).astype(
        np.asarray(stage1.transl).dtype)
    stage1.body_scale = float(stage1.body_scale) * float(scale)


def _lowest_feet(result: JobResult, p: int, ground: Ground) -> np.ndarray:
    """(F_p,) person ``p``'s lowest foot point above the floor in each frame they were seen."""
    return lowest_foot_heights(result.keypoints3d[p], result.camera_rotation,
                               ground)[result.valid[p]]


def size_person_on_the_floor(result: JobResult, p: int, body: Any, ground: Ground,
                             stage1: Any | None = None, config: FloorSizeConfig | None = None
                             ) -> float:
    """Person ``p`` alone (with their ``stage1`` output when given) sized to stand on
    ``ground``, the floor the others (already sized) stand on, in place: a person solved again
    by a merge. Returns the scale applied."""
    answer = floor_scale(_lowest_feet(result, p, ground), ground.camera_height, ground.levels,
                         config)
    if not answer.takes_part or answer.scale == 1.0:
        log.info("floor size: person %d unchanged (raw %.3f)", p, answer.raw)
        return 1.0
    resize_person(result, p, body, answer.scale, stage1)
    log.info("floor size: person %d x%.3f against the others' floor", p, answer.scale)
    return answer.scale


def size_people_on_the_floor(result: JobResult, body: Any, ground: Ground,
                             stage1: list[Any] | None = None,
                             config: FloorSizeConfig | None = None) -> list[float]:
    """Every person (and their ``stage1`` output, one per person, when given) sized by the
    shared floor (``genhmr_core.floor_size``), in place; returns each person's scale applied
    (1.0: unchanged). ``ground``: the floor found from these bodies."""
    heights = [_lowest_feet(result, p, ground) for p in range(result.num_people)]
    answers = floor_scales(heights, ground.camera_height, ground.levels, config)
    applied = []
    for p, answer in enumerate(answers):
        scale = answer.scale if answer.takes_part else 1.0
        if scale != 1.0:
            resize_person(result, p, body, scale, None if stage1 is None else stage1[p])
        applied.append(scale)
        log.info("floor size: person %d %s (raw %.3f over %d frames on their lowest level)%s",
                 p, f"x{scale:.3f}" if answer.takes_part else "unchanged", answer.raw,
                 answer.frames, "" if answer.takes_part or not np.isfinite(answer.raw)
                 else " - on a platform, or too few people on the floor")
    return applied
