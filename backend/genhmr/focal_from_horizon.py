"""The lens of a fixed, pitched camera from the scene: where its vertical edges meet, and where
the people's ground has its horizon.

Why: with no lens from the artist or the file and a camera that does not turn, the focal length
is a guess (``genhmr.camera.default_focal_px``: 60 degrees across the longer side, right for
phones). A camera high over a plaza (vtest.avi, CCTV-like footage) may have half that angle;
solved at the guess, its people stand on a floor pitched 27 degrees while the background's
vertical edges say 6.8, and no tilt fits both (docs/world_space.md, "A tilt that leaves no
floor"). Solved at the focal length found here (1,420 px against the guess's 665), the edges,
the feet and the people's own up agree within 3 degrees.

Geometry: square pixels, the principal point at the picture's centre, no roll, a camera
pitched by ``t``. The vertical direction vanishes at row ``c_y + f / tan t``, the ground's
horizon lies at row ``c_y - f tan t``, so ``f^2 = (c_y - horizon) (vanishing - c_y)``.

* The vanishing point: the up the background's vertical segments agree on
  (:func:`genhmr.vertical_lines.up_from_lines`, the camera's own up as the prior), projected
  back into the picture. The segments and the vote are in pixels, so the guessed focal length
  it starts from does not move the point.
* The horizon: the row where a standing person's height goes to zero
  (:mod:`genhmr.tracking.ground_sizes`: over level ground a person's height in pixels grows
  linearly with how far down the picture their feet are), fitted to every tracked frame.

Accuracy, against Pose2Sim's calibration (1,674-1,682 px): +16 %, +3 %, -12 % and no answer in
its four views (2-3 people give a loose horizon). The 60 degree guess is within 1 % there, so
the estimate replaces the guess only when it says the guess is far off (outside 0.7-1.4x of
it); a level camera (the vanishing point at infinity, the horizon through the middle) gives no
answer. Pure numpy.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from genhmr_core.ground import UP

from .tracking.ground_sizes import GroundSizesConfig, fit_ground_line
from .tracking.tracklets import feet_rows, standing_heights
from .vertical_lines import BackgroundLines, up_from_lines


@dataclasses.dataclass(frozen=True)
class FocalFromHorizonConfig:
    # the estimate is used only outside this range of the starting focal length: within it,
    # the guess (right for phones) is as good as the estimate's own accuracy (+-15 %)
    min_ratio: float = 0.7
    max_ratio: float = 1.4
    # a camera pitched less than this tells nothing: vanishing point and horizon too far apart
    min_pitch_deg: float = 5.0
    ground: GroundSizesConfig = dataclasses.field(default_factory=GroundSizesConfig)


@dataclasses.dataclass(frozen=True)
class FocalFromHorizon:
    focal_px: float
    horizon_row: float
    vanishing_row: float
    pitch_deg: float  # the camera's pitch the two rows give with ``focal_px`` (down > 0)
    believed: bool  # far enough from the starting focal length to replace it


def focal_from_rows(horizon_row: float, vanishing_row: float, centre_row: float
                    ) -> float | None:
    """The focal length (px) that puts the ground's horizon and the vertical vanishing point
    at these rows, or None when they are on the same side of the centre (no pitched camera
    sees them so) or not finite."""
    product = (centre_row - horizon_row) * (vanishing_row - centre_row)
    if not math.isfinite(product) or product <= 0:
        return None
    return math.sqrt(product)


def focal_from_horizon(tracks: Any, lines: BackgroundLines, K: np.ndarray,
                       config: FocalFromHorizonConfig | None = None
                       ) -> FocalFromHorizon | None:
    """The focal length of a fixed camera from ``tracks`` (a ``genhmr.perception.Tracks``: the
    people's landmarks, boxes and valid frames) and the background's vertical segments
    ``lines``, starting from ``K``; None when either cue is missing or the camera is too level
    to tell (module docstring)."""
    config = config or FocalFromHorizonConfig()
    valid = np.asarray(tracks.valid, dtype=bool)
    landmarks = np.asarray(tracks.landmarks2d)[valid]
    boxes = np.asarray(tracks.boxes)[valid]
    ground = fit_ground_line(feet_rows(landmarks, boxes), standing_heights(landmarks, boxes),
                             config.ground)
    if ground is None:
        return None
    vertical = up_from_lines(lines, K, UP)
    if vertical is None:
        return None
    point = np.asarray(K, dtype=np.float64) @ np.asarray(vertical.up, dtype=np.float64)
    if abs(point[2]) < 1e-12:
        return None  # parallel edges: a level camera
    vanishing_row = float(point[1] / point[2])
    centre_row = float(K[1, 2])
    focal = focal_from_rows(ground.horizon_row, vanishing_row, centre_row)
    if focal is None:
        return None
    pitch = math.degrees(math.atan2(centre_row - ground.horizon_row, focal))
    if abs(pitch) < config.min_pitch_deg:
        return None
    ratio = focal / float(K[0, 0])
    believed = not config.min_ratio <= ratio <= config.max_ratio
    return FocalFromHorizon(focal, float(ground.horizon_row), vanishing_row, pitch, believed)
