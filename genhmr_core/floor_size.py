"""Each person's size from the floor they share with the others.

From one view, a person's size and distance trade against each other: a body twice as big
twice as far away draws the same picture. The 3D stage takes the size from the detector's
metric landmarks, which come at about one adult size for everybody, so a small woman is drawn
as big as the man next to her and placed further away to look her size (Pose2Sim: her legs
1.3 times the truth's, 13-18 % too far). What one view does tell is where everybody's feet
are: people who walk on one floor have their feet on one plane. Scaling a person about the
camera (every point times ``s``) keeps their picture and moves their feet along their rays, so
the scale that puts their planted feet on the floor is their size relative to the others'.

* Per person, the frames their lowest foot rests on their **lowest support level**
  (``contacts.support_heights``; the floor for most people, a box top for someone who never
  leaves it), and the median height ``m`` of those feet above the floor, found from
  everybody's feet together (``ground.estimate_ground``).
* The camera is ``H`` above the floor; those feet are ``H - m`` below it, and the scale that
  puts them on the floor is ``s = H / (H - m)``.
* **Size or a box?** One view cannot tell a person too small standing on the floor from one
  of the right size on a platform. Adults differ in height by about ±15 %; a person whose
  scale would have to pass ``max_ratio`` (or whose feet are above the camera) is taken to
  stand on something and keeps their size (demo.mp4's man on a 2 m box).
* **The absolute scale** is not in the picture at all: the scales of the people that take
  part are divided by their (frame-weighted) geometric mean, so the group keeps the solve's
  average size and only the differences between people change. One person alone keeps their
  size.

Pure numpy; the backend applies the scales to the bodies (``genhmr.pipeline``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .contacts import support_heights


@dataclasses.dataclass(frozen=True)
class FloorSizeConfig:
    """Tuning of :func:`floor_scales` (module docstring)."""

    max_ratio: float = 1.3  # a larger change of size than this (or 1/this) means a platform
    min_frames: int = 10  # frames on the lowest level a person needs to take part
    min_people: int = 2  # people needed to compare sizes at all


@dataclasses.dataclass(frozen=True)
class FloorScale:
    """One person's answer: ``scale`` to apply about the camera (1.0: unchanged), and why."""

    scale: float
    raw: float  # H / (H - m) before the group's mean is taken out; nan when not measured
    frames: int  # frames on the lowest support level
    takes_part: bool


def floor_scale(foot_heights: np.ndarray, camera_height: float, levels: tuple[float, ...],
                config: FloorSizeConfig | None = None) -> FloorScale:
    """One person's scale about the camera that puts their feet on the floor, not compared
    with anybody (``scale`` = ``raw`` when plausible, else 1.0): for a person solved again
    among people already sized (a merge). ``foot_heights`` (F,): their lowest foot point's
    height above the floor in each frame they were seen."""
    config = config or FloorSizeConfig()
    height = float(camera_height)
    h = np.asarray(foot_heights, dtype=np.float64)
    h = h[np.isfinite(h)]
    if not len(h) or not np.isfinite(height) or height <= 0:
        return FloorScale(1.0, float("nan"), 0, False)
    level = support_heights(h, levels)
    counts = {float(v): int(n) for v, n in zip(*np.unique(level, return_counts=True),
                                               strict=True)}
    usable = sorted(v for v, n in counts.items() if n >= config.min_frames)
    if not usable:
        return FloorScale(1.0, float("nan"), 0, False)
    on_lowest = level == usable[0]
    below_camera = height - float(np.median(h[on_lowest]))
    raw = height / below_camera if below_camera > 0 else float("inf")
    plausible = 1.0 / config.max_ratio <= raw <= config.max_ratio
    return FloorScale(raw if plausible else 1.0, raw, int(on_lowest.sum()), bool(plausible))


def floor_scales(foot_heights: Sequence[np.ndarray], camera_height: float,
                 levels: tuple[float, ...],
                 config: FloorSizeConfig | None = None) -> list[FloorScale]:
    """Per person, the scale about the camera that puts them on the shared floor, the group's
    mean size kept (module docstring).

    ``foot_heights``: per person, (F_p,) the height above the floor (metres) of their lowest
    foot point in each frame they were seen; ``camera_height``: the camera above the floor;
    ``levels``: the support levels found (``ground.Ground.levels``, 0.0 first)."""
    config = config or FloorSizeConfig()
    answers = [floor_scale(h, camera_height, levels, config) for h in foot_heights]
    taking_part = [a for a in answers if a.takes_part]
    if len(taking_part) < config.min_people:
        return [dataclasses.replace(a, scale=1.0, takes_part=False) for a in answers]
    weights = np.array([a.frames for a in taking_part], dtype=np.float64)
    mean = float(np.exp(np.sum(weights * np.log([a.raw for a in taking_part]))
                        / weights.sum()))
    return [dataclasses.replace(a, scale=a.raw / mean) if a.takes_part else a
            for a in answers]
