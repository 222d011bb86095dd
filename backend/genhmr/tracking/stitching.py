"""Offline stitching: join the tracklets that belong to one person.

An online tracker must decide at every frame; it splits a person whenever the detector loses
them for longer than its patience (a jump against the sun, a walk behind a tree) or their
motion breaks its prediction (a fall, a flip). Here the whole clip is known, so every pair
"tracklet A ends, later tracklet B starts" can be judged with everything both tracklets show:

* **motion continuity**: A's end extrapolated forward (and B's start backward) at their
  measured velocities should reach the other, within a tolerance that grows with the gap
  (people move while unseen: ``motion_growth`` body heights per second) and with how fast
  they move at either end (``speed_tolerance``: a share of the distance covered at that
  speed over the gap; a speed read off a few frames says little about its course over half
  a second: demo.mp4's man, lost at the top of his jump and found falling at 46 px a frame
  18 frames later, 230 px from where his last speed pointed);
* **size**: the person's height in pixels changes little over a few seconds; over longer
  gaps they may have walked towards the camera or away, so where one ground explains the
  clip's sizes (:mod:`.ground_sizes`) the person's *stature* (height over the height a person
  has at that place) counts too, whichever of the two matches better;
* **appearance**: colour statistics of torso and thighs (:mod:`.appearance`), the deciding cue
  across long gaps (its gate tightens with the gap);
* **body proportions**: segment-length ratios of the detector's 3D landmarks
  (:mod:`.proportions`), a gate against gross mismatches only: on our clips they vary as much
  within a person as between people.

Each cue is a normalised distance in [0, 1] where 1 is its gate (beyond it the pair is refused
whatever the others say), combined with weights into one cost. Links are chosen all at once
with the Hungarian algorithm on the (ends x starts) cost matrix, so every tracklet gets at most
one successor and one predecessor and the chains are people; leaving a tracklet's end or start
unlinked has a price too (``unlinked_cost``), so the cheapest set of links wins, not the
largest (:func:`cheapest_links`). Tracklets that overlap in time
are not joined: the same person cannot be detected twice in one frame (duplicates are the
plausibility stage's business), except by a few frames at a handover (``max_overlap``): where
a tracklet was cut because its clothes changed (:mod:`.look_changes`), or the tracker started
the person again a few frames before losing them (following them twice, or its old tracklet
on a neighbour for a moment), the right continuation can begin before the other ends; the
earlier tracklet is then judged, and joined, without its last frames.

Pure numpy/scipy.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from .appearance import appearance_distance
from .ground_sizes import GroundSizes, GroundSizesConfig, fit_ground_sizes
from .proportions import proportion_distance
from .tracklets import Tracklet

log = logging.getLogger(__name__)

_REFUSED = 1e6


@dataclasses.dataclass
class StitchingConfig:
    """Gates, weights and the acceptance threshold of a link; see the module docstring."""

    # Longer gaps are never bridged. vtest.avi's pair (3, 4) come back after 13-18 s; with
    # 10 s they could not be joined (docs/detection.md, "People who come back nearer").
    max_gap_s: float = 20.0
    motion_tolerance: float = 0.6  # body heights allowed between prediction and detection
    motion_growth: float = 0.25  # extra body heights allowed per second of gap
    # and this share of the distance covered over the gap at the faster end's speed: fast
    # motion (a fall, a sprint) is the least predictable over a gap. 0.25 joins demo.mp4's
    # jumping man in all 19 noise draws (17 of 19 without it) and changes nothing elsewhere
    # (docs/detection.md, "Speed in the motion tolerance").
    speed_tolerance: float = 0.25
    max_size_ratio: float = 1.8  # height ratio across the gap beyond which the pair is refused
    # Statures against the clip's ground (None: pixel heights alone).
    ground_sizes: GroundSizesConfig | None = dataclasses.field(
        default_factory=GroundSizesConfig)
    # Hellinger distance gate on colour statistics: lenient across short gaps, where motion
    # continuity is a strong cue and the light may have changed the colours (a flip against
    # the sun), strict across long ones, where the clothes are all there is.
    max_appearance_short: float = 0.6
    max_appearance_long: float = 0.35
    short_gap_s: float = 1.0  # the gate goes from short to long between these two gaps
    long_gap_s: float = 3.0
    max_proportions: float = 0.25  # mean |log ratio| gate on segment-length ratios
    motion_weight: float = 0.4
    size_weight: float = 0.15
    appearance_weight: float = 0.45
    # Segment-length ratios of MediaPipe's world landmarks differ as much between tracklets of
    # one person as between different people on our clips (bench: median 0.04 vs 0.02): a gate
    # against gross mismatches only, no vote.
    proportions_weight: float = 0.0
    # A small preference for shorter gaps among equal candidates, this much at the longest gap
    # (so 0.005 per second with the 20 s window). Twice that per second (what 0.1 over the
    # earlier 10 s window gave) lets vtest.avi's pair come back in 1 of 3 noise draws instead
    # of 3 (IDF1 0.76 against 0.81): their returns cost 0.5-0.8 against the 0.6 allowed, or
    # are refused by the colour gate (docs/detection.md, "People who come back nearer").
    gap_weight: float = 0.1
    max_cost: float = 0.6  # links costlier than this are not made
    # The price of a tracklet end, or start, left without a link (:func:`cheapest_links`). At or
    # above half of ``max_cost`` every allowed link is worth making on its own and this only
    # settles competing links; below, it lowers ``max_cost``. vtest.avi over 19 runs: 0.25 /
    # 0.3 / 0.35 / 0.4 / 0.5 / none (as many links as possible) gave IDF1 0.78 / 0.84 / 0.84
    # / 0.84 / 0.84 / 0.82, its unperturbed run 0.79 / 0.85 / 0.85 / 0.85 / 0.85 / 0.71
    # (docs/detection.md, "Clothes in the online tracker, and the cheapest links").
    unlinked_cost: float = 0.35
    # A later tracklet may start this many frames before an earlier one ends (its last frames
    # then dropped from the person). vtest.avi over 6 noise draws (with the statures and the
    # 20 s window), 2 / 3 / 4 / 5 / 8 / 12 frames: IDF1 0.78 / 0.80 / 0.81 / 0.81 / 0.81 /
    # 0.81: its tracker twice followed one man with two tracklets for 3-4 frames at 10 fps
    # (docs/detection.md). demo.mp4 and Pose2Sim the same with 2 or 5.
    max_overlap: int = 5

    def max_appearance(self, gap_s: float) -> float:
        """The appearance gate across a gap of ``gap_s`` seconds."""
        t = (gap_s - self.short_gap_s) / max(self.long_gap_s - self.short_gap_s, 1e-9)
        t = min(max(t, 0.0), 1.0)
        return (1 - t) * self.max_appearance_short + t * self.max_appearance_long


@dataclasses.dataclass(frozen=True)
class LinkCost:
    """One candidate link's cues (normalised, 1 = gate) and total; ``None`` = cue unavailable."""

    motion: float
    size: float
    appearance: float | None
    proportions: float | None
    gap_s: float
    total: float


def link_cost(a: Tracklet, b: Tracklet, fps: float, config: StitchingConfig,
              ground: GroundSizes | None = None) -> LinkCost | None:
    """The cost of "b continues a" (a ends before b starts), or ``None`` when a gate refuses.
    ``ground``: the clip's sizes at each place (:func:`.ground_sizes.fit_ground_sizes`), so
    that a person who walked towards the camera while unseen is not refused for looking
    bigger."""
    gap = b.start - a.end
    gap_s = gap / max(fps, 1e-6)
    if gap < 1 or gap_s > config.max_gap_s:
        return None
    end_pos, end_vel, end_h = a.end_state(at_start=False)
    start_pos, start_vel, start_h = b.end_state(at_start=True)
    height = math.sqrt(max(end_h, 1.0) * max(start_h, 1.0))
    # Extrapolate each side towards the other; the better of the two (and of "did not move")
    # counts, since one side's velocity may be noise from a short or jerky tracklet.
    errors = [np.linalg.norm(end_pos + end_vel * gap - start_pos),
              np.linalg.norm(start_pos - start_vel * gap - end_pos),
              np.linalg.norm(start_pos - end_pos)]
    speed = max(float(np.linalg.norm(end_vel)), float(np.linalg.norm(start_vel)))
    allowed = (config.motion_tolerance + config.motion_growth * gap_s
               + config.speed_tolerance * speed * gap / height)
    motion = float(min(errors)) / height / allowed
    size_change = abs(math.log(max(end_h, 1.0) / max(start_h, 1.0)))
    if ground is not None:  # the person stayed at one depth, or moved along the ground
        stature_change = abs(math.log(ground.stature(a, at_start=False)
                                      / ground.stature(b, at_start=True)))
        size_change = min(size_change, stature_change)
    size = size_change / math.log(config.max_size_ratio)
    look = appearance_distance(a.look, b.look)
    appearance = None if look is None else look / config.max_appearance(gap_s)
    shape = proportion_distance(a.proportions, b.proportions)
    proportions = None if shape is None else shape / config.max_proportions
    cues = [(motion, config.motion_weight), (size, config.size_weight),
            (appearance, config.appearance_weight), (proportions, config.proportions_weight)]
    if any(value is not None and value > 1.0 for value, _ in cues):
        return None
    # Missing cues do not vote: the others' weights are rescaled to the same total.
    present = [(value, weight) for value, weight in cues if value is not None and weight > 0]
    total = sum(v * w for v, w in present) / sum(w for _, w in present)
    total += config.gap_weight * gap_s / config.max_gap_s
    return LinkCost(motion, size, appearance, proportions, gap_s, float(total))


def stitch(tracklets: list[Tracklet], fps: float,
           config: StitchingConfig | None = None) -> list[list[Tracklet]]:
    """Chains of tracklets, one per person, each in time order; chains ordered by start."""
    config = config or StitchingConfig()
    n = len(tracklets)
    if n == 0:
        return []
    ground = (None if config.ground_sizes is None
              else fit_ground_sizes(tracklets, config.ground_sizes))
    if ground is not None:
        log.info("sizes against the ground: %.3f px per image row, %+.1f px (spread %.3f)",
                 ground.slope, ground.intercept, ground.spread)
    cost = np.full((n, n), _REFUSED)
    trimmed: dict[tuple[int, int], Tracklet] = {}  # links made across an overlap
    for i, a in enumerate(tracklets):
        for j, b in enumerate(tracklets):
            if i == j:
                continue
            earlier = _before(a, b, config.max_overlap)
            if earlier is None:
                continue
            link = link_cost(earlier, b, fps, config, ground)
            if link is not None and link.total <= config.max_cost:
                cost[i, j] = link.total
                if earlier is not a:
                    trimmed[i, j] = earlier
                log.debug("link %d -> %d: %s", a.id, b.id, link)
    successor: dict[int, int] = {}
    for i, j in cheapest_links(cost, config.unlinked_cost):
        successor[i] = j
        log.info("stitched tracklet %d -> %d (cost %.2f)", tracklets[i].id,
                 tracklets[j].id, cost[i, j])
    has_predecessor = set(successor.values())
    chains = []
    for i in range(n):
        if i in has_predecessor:
            continue
        chain, k = [], i
        while True:
            nxt = successor.get(k)
            chain.append(trimmed.get((k, nxt), tracklets[k]))
            if nxt is None:
                break
            k = nxt
        chains.append(chain)
    chains.sort(key=lambda c: c[0].start)
    return chains


def cheapest_links(cost: np.ndarray, unlinked: float) -> list[tuple[int, int]]:
    """The (end, start) pairs of the cheapest set of links, where every tracklet end and every
    tracklet start left without a link costs ``unlinked``.

    An assignment on ``cost`` alone (refused pairs made prohibitively dear) makes as many links
    as it can before it looks at their cost: two links at 0.5 beat one at 0.2, so a person's
    right continuation is given away to let a second, doubtful link be made. Pricing "no link"
    makes the choice a min-cost flow over the tracklets (a person enters and leaves once): a
    pair linked on its own costs less than both left free exactly when its cost is under
    ``2 * unlinked``. Done as one assignment on the matrix [[cost, ends left], [starts left,
    0]] (the diagonal blocks priced ``unlinked``, the rest refused).
    """
    n = cost.shape[0]
    free = np.full((n, n), _REFUSED)
    np.fill_diagonal(free, unlinked)
    augmented = np.block([[cost, free], [free, np.zeros((n, n))]])
    rows, cols = linear_sum_assignment(augmented)
    return [(i, j) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
            if i < n and j < n and cost[i, j] < _REFUSED]


def _before(a: Tracklet, b: Tracklet, max_overlap: int) -> Tracklet | None:
    """``a`` as it may precede ``b``: itself when it ends before ``b`` starts, its frames
    before ``b``'s start when ``b`` starts at most ``max_overlap`` frames before ``a`` ends
    (and at least two frames of ``a`` are left), else None."""
    if b.start > a.end:
        return a
    if a.end - b.start + 1 > max_overlap or b.start <= a.start:
        return None
    keep = int(np.searchsorted(a.frames, b.start))
    return a.piece(slice(0, keep), a.id) if keep >= 2 else None
