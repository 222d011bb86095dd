"""Hide the other people from one person's landmark-model input.

Why: the BlazePose landmark model draws exactly one body per region. When two people overlap so
much that every region around one also holds the other (Pose2Sim Demo_MultiPerson cam03: the
man close to the camera, the woman half behind him), the pose it draws slides onto the other
person, or becomes a hybrid of both, and the followed person is lost. Instead of a model that
separates people, we condition its *input*: in the crop made for person A, the body of every
other person B (drawn from B's last landmarks: torso polygon, head disc and limb capsules, as
wide as limbs are) is painted over with the surrounding colours, except where A's own body (the
same shapes, narrower) lies, so the model sees one person.

All geometry is done in the network's input space (the 256 x 256 crop), so masking costs a
few small OpenCV drawing calls per crop, not a copy of the frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .landmark_model import INPUT_SIZE, NUM_LANDMARKS, Roi

# BlazePose topology: shoulders 11/12, elbows 13/14, wrists 15/16, hands 17-22, hips 23/24,
# knees 25/26, ankles 27/28, heels 29/30, toes 31/32; head 0-10.
TORSO = (11, 12, 24, 23)
LIMBS = ((11, 13), (13, 15), (12, 14), (14, 16), (15, 19), (16, 20),
         (23, 25), (25, 27), (24, 26), (26, 28), (27, 29), (28, 30), (27, 31), (28, 32),
         (29, 31), (30, 32), (11, 23), (12, 24), (11, 12), (23, 24))
HEAD = (0, 2, 5, 7, 8, 9, 10)


@dataclasses.dataclass(frozen=True)
class MaskSettings:
    """How the other people are painted over, widths in units of a person's torso length
    (mid-shoulder to mid-hip), which a turn or a crouch changes little, unlike the box.

    Attributes:
        limb: half-width of the limb capsules painted over another person (an adult's thigh
            is about 0.3 torso lengths wide; the rest is a margin for the landmarks' error and
            a frame's motion).
        head: radius of the head disc around the head landmarks' centre.
        protect: half-width of the capsules that keep the followed person's own body visible.
            Narrow on purpose: where the two bodies overlap, a wide protected band keeps a
            strip of the other person in view, and the pose slides onto it again (Pose2Sim
            cam03, the man, in a development version with the "mean" fill: tracked in 0.81 of
            his frames at 0.3, 0.93 at 0.22, 1.0 at 0.15, 0.93 at 0.1).
        protect_head: keep the own head visible against the others' heads too. Off: where two
            heads overlap, the face in view is taken to be the other's (the man in cam03,
            turned away, leans his head behind the woman's face, and with her face in his
            region the model draws his head on it).
        min_torso_px: torso lengths below this (in input pixels) are not trusted to draw a
            mask: a pose that small in someone's region is a far person, not an overlap.
        fill: "smear" spreads the surrounding colours into the hole (a wide normalised blur
            of the visible pixels), which leaves little outline; "mean" paints the mean colour
            of the rest, a flat area in the shape of a person (cam03, the man, over 3 draws of
            +-1 grey-level noise: tracked in 0.91-1.0 of his frames with "smear", 0.76-0.96
            with "mean").
    """

    limb: float = 0.22
    head: float = 0.45
    protect: float = 0.15
    protect_head: bool = False
    min_torso_px: float = 8.0
    fill: str = "smear"


def image_to_input(roi: Roi) -> np.ndarray:
    """(2, 3) affine matrix from frame pixels to the network input's pixels for ``roi``: the
    inverse of :meth:`Roi.input_to_image` (a rotation and a scale, inverted in closed form;
    ``numpy.linalg.inv`` cost a millisecond per call here, next to onnxruntime's threads)."""
    forward = roi.input_to_image()
    linear = forward[:, :2].T / (roi.size / INPUT_SIZE) ** 2
    return np.hstack([linear, -(linear @ forward[:, 2])[:, None]])


def to_input(landmarks_px: np.ndarray, roi: Roi) -> np.ndarray:
    """(33, 2) landmark positions in the input pixels of ``roi``."""
    matrix = image_to_input(roi)
    xy = np.asarray(landmarks_px, dtype=np.float64)[:NUM_LANDMARKS, :2]
    return xy @ matrix[:, :2].T + matrix[:, 2]


def torso_length(points: np.ndarray) -> float:
    """Mid-shoulder to mid-hip distance of (33, 2) points (same units as the points)."""
    shoulders = points[[11, 12]].mean(axis=0)
    hips = points[[23, 24]].mean(axis=0)
    return float(np.hypot(*(shoulders - hips)))


def body_mask(points: np.ndarray, limb: float, head: float,
              size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) bool masks of the body (filled torso and limb capsules) and of the head
    (a disc) of a person whose (33, 2) landmarks are ``points`` (input pixels); widths in torso
    lengths."""
    import cv2

    body = np.zeros((size, size), np.uint8)
    face = np.zeros((size, size), np.uint8)
    if not np.isfinite(points).all():
        return body.astype(bool), face.astype(bool)
    torso = torso_length(points)
    scale = 16.0  # sub-pixel drawing: OpenCV takes integer points with a fractional shift
    fixed = np.round(points * scale).astype(np.int32)
    cv2.fillConvexPoly(body, fixed[list(TORSO)], 1, lineType=cv2.LINE_8, shift=4)
    width = int(np.clip(round(2 * limb * torso), 1, 4 * size))  # OpenCV caps line widths
    for a, b in LIMBS:
        cv2.line(body, tuple(fixed[a]), tuple(fixed[b]), 1, width, cv2.LINE_8, shift=4)
    centre = points[list(HEAD)].mean(axis=0)
    cv2.circle(face, tuple(np.round(centre * scale).astype(np.int32)),
               int(np.clip(round(head * torso * scale), 1, 4 * size * scale)), 1, -1,
               cv2.LINE_8, shift=4)
    return body.astype(bool), face.astype(bool)


def others_mask(roi: Roi, own: np.ndarray | None, others: list[np.ndarray],
                settings: MaskSettings = MaskSettings()) -> np.ndarray | None:
    """(256, 256) bool: the input pixels of ``roi`` to paint over, or ``None`` if none.

    ``others`` are the (33, >=2) frame-pixel landmarks of the people to hide; ``own`` those of
    the person the region is for, or ``None`` if unknown. Own body (torso and limbs) is kept
    visible against everything of the others; own head only against their bodies: where two
    heads overlap, the face the model sees there belongs to the other (Pose2Sim cam03: the man,
    turned away, leans his head behind the woman's face, and with her face in his region the
    model draws his head on it)."""
    hide_body = np.zeros((INPUT_SIZE, INPUT_SIZE), bool)
    hide_head = np.zeros((INPUT_SIZE, INPUT_SIZE), bool)
    for landmarks in others:
        points = to_input(landmarks, roi)
        if torso_length(points) >= settings.min_torso_px and _reaches_input(points, settings):
            body, head = body_mask(points, settings.limb, settings.head)
            hide_body |= body
            hide_head |= head
    if not (hide_body.any() or hide_head.any()):
        return None
    if own is not None:
        points = to_input(own, roi)
        if np.isfinite(points).all():
            body, head = body_mask(points, settings.protect, settings.head)
            hide_body &= ~(body | head)
            if settings.protect_head:
                hide_head &= ~head
            hide_head &= ~body
    hide = hide_body | hide_head
    return hide if hide.any() else None


def _reaches_input(points: np.ndarray, settings: MaskSettings) -> bool:
    """Whether a person's shapes (points in input pixels, widened by the widest shape) can
    reach into the input at all: most people are nowhere near a given person's region, and
    drawing them costs more than this test."""
    reach = max(settings.limb, settings.head) * torso_length(points)
    low, high = points.min(axis=0) - reach, points.max(axis=0) + reach
    return bool((high > 0).all() and (low < INPUT_SIZE).all())


def paint(patch: np.ndarray, hide: np.ndarray, fill: str = "smear") -> np.ndarray:
    """``patch`` (256, 256, 3) float with the ``hide`` pixels painted over (``fill``: see
    :class:`MaskSettings`)."""
    if fill not in ("smear", "mean"):
        raise ValueError(f"fill must be 'smear' or 'mean', got {fill!r}")
    import cv2

    keep = (~hide).astype(np.uint8)
    if not keep.any():
        return np.broadcast_to(patch.reshape(-1, 3).mean(axis=0), patch.shape).astype(patch.dtype)
    if fill == "mean":
        colour = np.asarray(cv2.mean(patch, mask=keep)[:3], patch.dtype)
        source = np.broadcast_to(colour, patch.shape)
    else:
        source = _smeared(patch, keep)
    out = patch.copy()
    cv2.copyTo(np.ascontiguousarray(source), hide.astype(np.uint8), out)
    return out


def _smeared(patch: np.ndarray, keep: np.ndarray, scale: int = 4) -> np.ndarray:
    """The visible (``keep``) pixels' colours spread over the whole patch: a normalised box
    blur a quarter of the patch wide, computed at 1/``scale`` resolution (the fill is smooth
    anyway; full resolution cost as much as the landmark network)."""
    import cv2

    small = (patch.shape[1] // scale, patch.shape[0] // scale)
    weight = cv2.resize(keep.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    colour = cv2.resize(patch * keep[:, :, None].astype(np.float32), small,
                        interpolation=cv2.INTER_AREA)
    side = 2 * (small[0] // 8) + 1
    weight = cv2.blur(weight, (side, side))
    colour = cv2.blur(colour, (side, side))
    fallback = cv2.mean(patch, mask=keep)[:3]
    spread = np.where(weight[:, :, None] > 1e-3, colour / np.maximum(weight, 1e-3)[:, :, None],
                      np.asarray(fallback, np.float32))
    return cv2.resize(spread.astype(patch.dtype), (patch.shape[1], patch.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
