"""Every person in a frame: person boxes, then BlazePose landmarks in each person's own region.

Why this design (measurements: docs/detection.md):

* MediaPipe's BlazePose *detector* finds a person from the face and misses people who turn
  away, are small, or partly hidden. A real person detector (SSDLite-MobileNetV2, person class
  only, :mod:`.person_boxes`) finds them from the whole body.
* The BlazePose *landmark model* is then run directly on a square region around each person
  (:mod:`.landmark_model`), not on the frame: each person gets the whole 256-px input, and
  people who overlap each keep their own region.
* As MediaPipe's own video tracker does, a person's region for the next frame comes from this
  frame's landmarks (hip centre, body size and the body's tilt), so a person keeps being
  followed through frames where the box detector misses them (an upside-down flip against the
  sun, a partial occlusion). Detector boxes that no followed person explains start new regions;
  a new region is settled at once (landmarks from the box's upright region, then a second pass
  in the region those landmarks define), since a loose box gives a loose first pose.
* The person detector runs on the full frame plus a few large tiles (tiling "auto") every
  ``detect_every`` frames; every ``scan_every_s`` seconds (and on the first frame) it scans a
  finer grid of tiles too (tiling "on"), which finds far people and silhouettes against the light
  (demo.mp4's man on the box, against the sun) that the coarse view scores too low. Following
  then carries whoever a scan found.
* Every ``blazepose_every``-th time the person detector runs, MediaPipe's face-driven BlazePose
  detector (:mod:`.blazepose_detector`) also runs once on the full frame, and the landmark
  model is run in the region it gives each person, as MediaPipe's own landmarker does (the
  same landmarks to 0.06 px, median); the people found are proposals like the boxes, with
  their landmarks. The two detectors fail in different places: on Pose2Sim Demo_MultiPerson
  cam03/cam04 the box detector misses the man seen close up from above in most frames while
  BlazePose finds him in 37 of 40 sampled frames, and BlazePose misses the woman in 29 of 40
  where the box detector finds her every time.
* A followed region that has not been confirmed by a detector box for ``max_unconfirmed_s`` is
  dropped: the landmark model keeps "seeing" a body on texture once put there.
* Two regions that converge on one person give near-identical landmarks; duplicates are
  merged on keypoints (box overlap alone would merge a person with the one standing behind).
* The landmark model draws one body per region, so where two followed people overlap heavily
  (Pose2Sim cam03: the man close to the camera, the woman half behind him) the pose in one
  region slides onto the other person. With ``mask_others``, each followed person's region is
  given to the model with the other followed people painted over (their last poses, minus this
  person's own body: :mod:`.masking`); two people who were each found with the other
  painted over are told apart by their body keypoints alone (their heads may coincide), and
  a pose whose extent holds a painted-out person's box is not taken for one across two people.
  On cam03 all three are needed (the man tracked in 0.93 of his frames; 0.63-0.83 with any one
  left out; 0.64 with none).

A frame that does not directly follow the previous call (a seek, a re-run range) forgets the
followed people, so no reset is ever needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Self

import numpy as np

from genhmr.boxes import box_area, box_containment, box_intersection, box_iou, landmark_box

from .blazepose_detector import BlazePoseDetector
from .landmark_model import (
    LandmarkResult,
    Roi,
    RoiLandmarker,
    alignment_from_pose,
    crop_input,
    roi_from_box,
    roi_from_landmarks,
)
from .masking import MaskSettings, others_mask, paint
from .mediapipe_detector import PersonDetection, torso_score
from .person_boxes import PersonBoxDetector, TilingMode
from .tiling import keypoint_overlap, merge_duplicates

# shoulders, elbows, wrists, hips, knees, ankles: what tells two overlapping bodies apart
BODY_POINTS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
LEGS = ((25, 27), (26, 28))  # (knee, ankle) of the left and the right leg


@dataclasses.dataclass(frozen=True, eq=False)
class _Proposal:
    """Somebody a detector found this frame: a person box, or (BlazePose) a pose."""

    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    keypoints: np.ndarray | None = None  # BlazePose: (33, 3) landmarks in its region


@dataclasses.dataclass
class _Followed:
    result: LandmarkResult
    unconfirmed_ms: float  # time since a detector box last overlapped this person
    masked: bool = False  # found in a region where other people were painted over


class PersonPoseDetector:
    """Detect every person in BGR frames (see the module docstring for the strategy).

    Args:
        max_people: most people returned per frame (the best scores win).
        tiling: the person detector's tiling ("off", "auto", "on"; see
            :class:`~genhmr.detection.person_boxes.PersonBoxDetector`); "auto" also scans the
            fine grid every ``scan_every_s``, "on" scans it on every detector run, "off" never.
        box_threshold: person detector score threshold.
        min_presence: landmark model "a person is in this region" threshold (MediaPipe's 0.5).
        min_score: drop people whose torso visibility is below this.
        detect_every: run the person detector on every n-th followed frame (always on frames
            that do not follow the previous call, and on the frame after a followed person was
            lost). Following costs one landmark pass per person; the detector (one pass per
            tile) is what finds people who enter, so 3 at 30 fps finds them within 0.1 s.
        follow_max_step_ms: a frame more than this after the previous call (or not after it)
            starts afresh.
        max_unconfirmed_s: drop a followed person not overlapped by a detector box for longer.
        scan_every_s: run the person detector with every tile level ("on") this often (and on
            the first frame); 0: never. A scan costs ~16 network calls on a 16:9 frame.
        blazepose_every: also run MediaPipe's BlazePose detector on the full frame every n-th
            time the person detector runs (0: never).
        box_model, landmark_model, pose_model: ONNX files (default: the ones shipped in
            ``assets``).
        num_threads: onnxruntime intra-op threads of each model.
        mask_others: paint the other followed people over in each followed person's region
            (module docstring; :mod:`.masking`).
        mask_settings: shapes and fill of that painting (default :class:`MaskSettings`).
    """

    def __init__(
        self,
        max_people: int = 6,
        tiling: TilingMode = "auto",
        box_threshold: float = 0.35,
        min_presence: float = 0.5,
        min_score: float = 0.3,
        detect_every: int = 3,
        follow_max_step_ms: int = 250,
        max_unconfirmed_s: float = 2.0,
        scan_every_s: float = 1.0,
        blazepose_every: int = 2,
        box_model: str | Path | None = None,
        landmark_model: str | Path | None = None,
        pose_model: str | Path | None = None,
        num_threads: int = 2,
        mask_others: bool = True,
        mask_settings: MaskSettings | None = None,
    ) -> None:
        if max_people < 1:
            raise ValueError("max_people must be >= 1")
        if detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        self.max_people = int(max_people)
        self.min_presence = float(min_presence)
        self.min_score = float(min_score)
        self.detect_every = int(detect_every)
        self.follow_max_step_ms = int(follow_max_step_ms)
        self.max_unconfirmed_ms = 1000.0 * float(max_unconfirmed_s)
        self._boxes = PersonBoxDetector(box_model, score_threshold=box_threshold, tiling=tiling,
                                        num_threads=num_threads)
        self._landmarks = RoiLandmarker(landmark_model, num_threads=num_threads)
        self.tiling: TilingMode = tiling
        self.scan_every_ms = 1000.0 * float(scan_every_s)
        self._since_scan_ms = 0.0
        self.blazepose_every = int(blazepose_every)
        self._box_runs = 0
        self._blazepose = None
        if self.blazepose_every > 0:
            self._blazepose = BlazePoseDetector(pose_model, max_people=max_people,
                                                num_threads=num_threads)
        self.mask_others = bool(mask_others)
        self.mask_settings = mask_settings or MaskSettings()
        self._followed: list[_Followed] = []
        self._last_ms: int | None = None
        self._since_boxes = 0
        self._lost_someone = False
        self.calls_last_frame = 0  # network calls on the last frame (diagnostics)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Forget the followed people (the onnxruntime sessions go with the object)."""
        self._followed = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- detection ---------------------------------------------------------------------------
    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int = 0) -> list[PersonDetection]:
        """All people in one (H, W, 3) uint8 BGR frame, best score first."""
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.shape} "
                             f"{frame.dtype}")
        height, width = frame.shape[:2]
        step = None if self._last_ms is None else int(timestamp_ms) - self._last_ms
        self._last_ms = int(timestamp_ms)
        follows = step is not None and 0 < step <= self.follow_max_step_ms
        if not follows:
            self._followed = []
            self._since_boxes = 0
            self._box_runs = 0
        run_boxes = (not follows or self._lost_someone
                     or self._since_boxes + 1 >= self.detect_every)
        if follows:
            self._since_scan_ms += step
        scan = (self.tiling == "auto" and self.scan_every_ms > 0
                and (not follows or self._since_scan_ms >= self.scan_every_ms))
        if scan:
            self._since_scan_ms = 0.0
        self.calls_last_frame = 0
        proposals = self._propose(frame, run_boxes or scan, "on" if scan else self.tiling)
        candidates = self._follow_people(frame, proposals, step or 0)
        candidates += self._start_people(frame, proposals, candidates)
        people, kept = self._merge(candidates, width, height)
        self._followed = [candidates[i] for i in kept]
        return people

    def _propose(self, frame: np.ndarray, run: bool, tiling: TilingMode) -> list[_Proposal]:
        """Everybody the box detector (and, every ``blazepose_every``-th run, BlazePose) finds;
        nothing on frames where they do not run."""
        if not run:
            self._since_boxes += 1
            return []
        height, width = frame.shape[:2]
        boxes, _ = self._boxes.detect(frame, tiling=tiling)
        proposals = [_Proposal(b) for b in boxes]
        self.calls_last_frame += len(self._boxes.plan(width, height, tiling))
        self._since_boxes = 0
        if self._blazepose is not None and self._box_runs % self.blazepose_every == 0:
            proposals += self._pose_proposals(frame)
        self._box_runs += 1
        return proposals

    def _pose_proposals(self, frame: np.ndarray) -> list[_Proposal]:
        """The people BlazePose finds on the full frame, each with the landmarks in the region
        its detector gives them (what MediaPipe's landmarker returns for a still image): those
        the landmark model sees a person in whose torso shows, one per person (duplicates
        merged on box overlap and keypoints, as :class:`~.mediapipe_detector.PoseDetector`
        did)."""
        found = self._blazepose.detect(frame)  # full frame, no memory between calls
        self.calls_last_frame += 1
        if not found:
            return []
        results = self._landmarks.landmarks_many(frame, [d.roi() for d in found])
        self.calls_last_frame += 1
        results = [r for r in results if r.presence >= self.min_presence
                   and torso_score(r.landmarks_px) >= self.min_score]
        if not results:
            return []
        height, width = frame.shape[:2]
        boxes = np.stack([landmark_box(r.landmarks_px, width, height, 0.1) for r in results])
        rank = np.array([torso_score(r.landmarks_px)
                         + 0.2 * min(float(np.ptp(r.landmarks_px[:, 1])) / max(width, height),
                                     1.0) for r in results])
        keep = merge_duplicates(boxes, rank, np.stack([r.landmarks_px for r in results]),
                                iou_threshold=0.4, max_keep=self.max_people)
        return [_Proposal(boxes[i], results[i].landmarks_px) for i in keep]

    def _follow_people(self, frame: np.ndarray, proposals: list[_Proposal],
                       step: int) -> list[_Followed]:
        """Last frame's people in the regions their landmarks define, with the time since a
        proposal last backed each; those lost, slid over two people or unbacked for too long
        are left out."""
        self._lost_someone = False
        if not self._followed:
            return []
        height, width = frame.shape[:2]
        followed, masked = self._follow_landmarks(frame)
        self.calls_last_frame += 1
        boxes = np.array([p.box for p in proposals]).reshape(-1, 4)
        bare = np.array([p.box for p in proposals if p.keypoints is None]).reshape(-1, 4)
        out: list[_Followed] = []
        for i, (previous, result) in enumerate(zip(self._followed, followed, strict=True)):
            if result.presence < self.min_presence:
                self._lost_someone = True  # look for them with the detector next frame
                continue
            if _spans_two_people(result.landmarks_px, self._not_followed(bare, followed, i)):
                continue  # the boxes inside start one region each (_start_people)
            own = landmark_box(result.landmarks_px, width, height)
            confirmed = len(boxes) > 0 and _overlaps(own, boxes).any()
            # only frames with proposals can confirm; time passes on all of them
            unconfirmed = 0.0 if confirmed else previous.unconfirmed_ms + step
            if unconfirmed <= self.max_unconfirmed_ms:
                out.append(_Followed(result, unconfirmed, masked[i]))
        return out

    def _follow_landmarks(self, frame: np.ndarray) -> tuple[list[LandmarkResult], list[bool]]:
        """Each followed person's landmarks in the region their last pose defines, and whether
        anybody was painted over in it: with ``mask_others``, the other followed people (their
        last poses) are painted over first, except where this person's own last pose lies, so
        that the model, which draws one body per region, cannot slide onto them. One batched
        network call either way."""
        rois = [f.result.next_roi for f in self._followed]
        if not self.mask_others or len(rois) < 2:
            return self._landmarks.landmarks_many(frame, rois), [False] * len(rois)
        poses = [f.result.landmarks_px for f in self._followed]
        inputs, masked = [], []
        for i, roi in enumerate(rois):
            patch = crop_input(frame, roi)
            hide = others_mask(roi, poses[i], poses[:i] + poses[i + 1:], self.mask_settings)
            inputs.append(patch if hide is None else paint(patch, hide, self.mask_settings.fill))
            masked.append(hide is not None)
        return self._landmarks.landmarks_from_inputs(np.stack(inputs), rois), masked

    def _not_followed(self, boxes: np.ndarray, results: list[LandmarkResult],
                      index: int) -> np.ndarray:
        """The detector ``boxes`` that no followed person other than ``index`` explains, with
        ``mask_others`` (else all of them). A person painted over in this person's region
        cannot be what this pose slid onto, so their box inside this pose's extent (the man
        leaning over the woman in Pose2Sim cam03) is no sign of a pose across two people."""
        if not self.mask_others or len(results) < 2 or not len(boxes):
            return boxes
        others = [r.landmarks_px for j, r in enumerate(results)
                  if j != index and r.presence >= self.min_presence]
        return boxes[np.array([not _explained(b, None, others) for b in boxes], bool)]

    def _start_people(self, frame: np.ndarray, proposals: list[_Proposal],
                      followed: list[_Followed]) -> list[_Followed]:
        """New people from the proposals no followed person explains, each settled in two
        landmark passes (the proposal's region, :func:`_start_roi`, then the region that pose
        defines)."""
        known = [f.result.landmarks_px for f in followed]
        fresh = [_start_roi(p) for p in proposals if not _explained(p.box, p.keypoints, known)]
        if not fresh:
            return []
        first = self._landmarks.landmarks_many(frame, fresh)
        seen = [r for r in first if r.presence >= self.min_presence]
        settled = self._landmarks.landmarks_many(frame, [r.next_roi for r in seen])
        self.calls_last_frame += 1 + bool(seen)
        started = [_Followed(fine if fine.presence >= self.min_presence else rough, 0.0)
                   for rough, fine in zip(seen, settled, strict=True)]
        return [s for s in started
                if not any(_phantom_of(s.result.landmarks_px, k) for k in known)]

    def follow(self, frame_bgr: np.ndarray, person: PersonDetection) -> PersonDetection | None:
        """The same person in a neighbouring frame (before or after ``person``'s own), found in
        the region ``person``'s landmarks define, or ``None`` if the landmark model no longer
        sees a person there. Stateless: it neither uses nor changes the followed people.

        This is what lets the perception stage walk *backwards* from where the detector first
        found someone (:class:`genhmr.perception.Backfill`)."""
        frame = np.asarray(frame_bgr)
        height, width = frame.shape[:2]
        if person.alignment_px is not None:
            roi = roi_from_landmarks(person.alignment_px)
        else:
            rough = self._landmarks.landmarks(frame, roi_from_box(person.box))
            if rough.presence < self.min_presence:
                return None
            roi = rough.next_roi
        result = self._landmarks.landmarks(frame, roi)
        score = torso_score(result.landmarks_px)
        if result.presence < self.min_presence or score < self.min_score:
            return None
        return _person(result, landmark_box(result.landmarks_px, width, height), score,
                       source="backfill")

    def _merge(self, candidates: list[_Followed], width: int,
               height: int) -> tuple[list[PersonDetection], list[int]]:
        scores = [torso_score(c.result.landmarks_px) for c in candidates]
        usable = [i for i, s in enumerate(scores) if s >= self.min_score]
        if not usable:
            return [], []
        boxes = np.stack([landmark_box(candidates[i].result.landmarks_px, width, height)
                          for i in usable])
        keypoints = np.stack([candidates[i].result.landmarks_px for i in usable])
        rank = np.array([scores[i] + 0.1 * candidates[i].result.presence for i in usable])
        # Keypoints decide; containment does not: the person behind someone has a box inside
        # theirs (Pose2Sim cam03: the woman behind the man, for half the clip).
        keep = _keep_distinct(boxes, rank, keypoints, [candidates[i].masked for i in usable],
                              self.max_people)
        people = [_person(candidates[usable[k]].result, boxes[k], scores[usable[k]])
                  for k in keep]
        order = np.argsort([-p.score for p in people], kind="stable")
        return [people[i] for i in order], [usable[keep[i]] for i in order]


def _keep_distinct(boxes: np.ndarray, rank: np.ndarray, keypoints: np.ndarray,
                   masked: list[bool], max_keep: int, iou_threshold: float = 0.7,
                   keypoint_threshold: float = 0.5) -> list[int]:
    """Indices of the candidates to keep, best ``rank`` first (greedy duplicate removal).

    A candidate is a duplicate of a kept one when their boxes overlap with IoU >=
    ``iou_threshold`` or their keypoints coincide (:func:`keypoint_overlap` >=
    ``keypoint_threshold``; 11 of the 33 are on the head). Between two people each found with
    the others painted over (``masked``) only :data:`BODY_POINTS` count: one head can be right
    behind the other's (Pose2Sim cam03) while the bodies are two, and a pose that had slid onto
    the other person would have found it painted over. Box containment is never a reason: the
    person behind someone has a box inside theirs."""
    return merge_duplicates(
        boxes, rank, keypoints, iou_threshold=iou_threshold, containment_threshold=2.0,
        keypoint_threshold=keypoint_threshold, max_keep=max_keep,
        compared_keypoints=lambda i, k: BODY_POINTS if masked[i] and masked[k] else None)


def _person(result: LandmarkResult, box: np.ndarray, score: float,
            source: str = "roi") -> PersonDetection:
    return PersonDetection(landmarks_px=result.landmarks_px,
                           world_landmarks=result.world_landmarks, box=box, score=score,
                           source=source, alignment_px=result.auxiliary_px)


def _start_roi(proposal: _Proposal) -> Roi:
    """The first region for a new person: upright around a box, or for a BlazePose proposal
    from its pose (centred on the hips and turned with the body; :func:`alignment_from_pose`).

    Why a pose proposal is not started from the region its landmarks were found in (the
    detector's, whose pass is already done, saving one): on demo.mp4 both find the jumping man
    again at frame 186, in his flip against the sun, 17 frames after he was lost. Settled from
    the detector's region, his pose is one from which following him back fails at once, and his
    two tracklets then look too different in that light to be joined (link cost 0.65 > 0.60);
    settled from his pose's region, following him back reaches frame 181 and they are joined.
    """
    if proposal.keypoints is not None:
        return roi_from_landmarks(alignment_from_pose(proposal.keypoints))
    return roi_from_box(proposal.box)


def _extent(landmarks: np.ndarray) -> np.ndarray:
    """(4,) x0, y0, x1, y1: the unpadded extent of a pose's landmarks, every one counted."""
    return np.concatenate([landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)])


def _spans_two_people(landmarks: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether a followed pose has slid over two people walking side by side: two detector
    boxes, each (nearly) inside the pose's extent and at least half its height, that do not
    overlap each other. A region that holds two people lets the landmark model draw one body
    across both, and following then keeps it there (vtest.avi's pairs of pedestrians); the
    person detector, which sees them apart, settles it."""
    if len(boxes) < 2:
        return False
    extent = _extent(landmarks)
    inside = box_intersection(boxes, extent)[:, 0] / np.maximum(box_area(boxes), 1e-9)
    tall = (boxes[:, 3] - boxes[:, 1]) >= 0.5 * (extent[3] - extent[1])
    members = boxes[(inside >= 0.7) & tall]
    if len(members) < 2:
        return False
    overlap = box_iou(members, members)
    return bool((overlap[np.triu_indices(len(members), 1)] < 0.3).any())


def _phantom_of(landmarks: np.ndarray, other: np.ndarray, inside: float = 0.9,
                smaller: float = 0.75, radius: float = 0.1) -> bool:
    """Whether a new pose is a phantom drawn on part of a followed person (``other``): its
    extent (nearly) inside the other's, much shorter, and standing on one of the other's legs
    (its knee and ankle on one side each within ``radius`` x the other's height of the other's
    knee and ankle on one side: the phantom's legs are drawn near the real ones, 14-46 px off
    on a man ~800 px tall).

    Why: the box detector sometimes boxes only part of a person (Pose2Sim cam03: the man
    leaning over, whose bare upper body against the wall it does not see, boxed from the hips
    down). That box overlaps his whole extent too little to be explained as him, so it started
    a person, and the landmark model drew a small body on his legs; followed from then on and
    painted out of his region, it took his legs from him, until he was lost (frame 63 of one
    noise draw, and the 37 frames after). A real person behind or in front of someone has legs
    of their own: the woman half behind the man in the same clip is inside his extent but
    stands on her own knees and ankles."""
    seen = landmarks[:, 2] >= 0.5
    if seen.sum() < 4:
        return False
    mine, theirs = _extent(landmarks), _extent(other)
    other_height = max(theirs[3] - theirs[1], 1.0)
    if max(mine[3] - mine[1], 1.0) > smaller * other_height:
        return False
    if box_intersection(mine, theirs)[0, 0] < inside * max(float(box_area(mine)[0]), 1.0):
        return False
    near = radius * other_height

    def on(point: int, theirs: int) -> bool:
        return bool(landmarks[point, 2] >= 0.5 and other[theirs, 2] >= 0.5
                    and np.linalg.norm(landmarks[point, :2] - other[theirs, :2]) <= near)

    return any(on(knee, their_knee) and on(ankle, their_ankle)
               for knee, ankle in LEGS for their_knee, their_ankle in LEGS)


def _explained(box: np.ndarray, keypoints: np.ndarray | None,
               known: list[np.ndarray]) -> bool:
    """Whether a proposal is somebody already followed (landmarks in ``known``).

    With landmarks (a BlazePose proposal) the keypoints decide. A bare box is compared with
    the extent of each person's *visible* landmarks, unpadded, which is what a person detector
    boxes: for the same person the two overlap closely (IoU >= 0.5), while a person standing
    partly behind another has a box that overlaps the other's much less, however much of it
    lies inside the other's padded box."""
    for landmarks in known:
        if keypoints is not None:
            if keypoint_overlap(keypoints, landmarks, conf_threshold=0.5) >= 0.5:
                return True
            continue
        seen = landmarks[landmarks[:, 2] >= 0.5]
        if len(seen) < 4:
            continue
        extent = np.concatenate([seen[:, :2].min(axis=0), seen[:, :2].max(axis=0)])
        if box_iou(np.asarray(box, np.float64)[None], extent[None])[0, 0] >= 0.5:
            return True
    return False


def _overlaps(box: np.ndarray, others: np.ndarray, iou: float = 0.3,
              containment: float = 0.7) -> np.ndarray:
    """(M,) whether ``box`` and each of ``others`` may be the same person (enough overlap, or
    one box nearly inside the other): lenient, for confirming that a followed person is still
    backed by a detection."""
    both = np.concatenate([np.asarray(box, np.float64).reshape(1, 4),
                           np.asarray(others, np.float64).reshape(-1, 4)])
    return (box_iou(both[:1], both[1:])[0] >= iou) | (box_containment(both)[0, 1:] >= containment)
