"""Footage of a turning (and zooming) camera with a known answer, made from one real frame.

A camera that only turns maps the image by the homography ``K R K^-1`` whatever the depth of
each point, so warping a real frame by known rotations renders exactly what a panning, tilting,
rolling camera would have filmed; a zoom changes the focal length of the ``K`` it films with,
``K_z R K^-1``, still exact. Used to measure :mod:`genhmr.camera_motion`
(``tools/bench_camera_motion.py``) and in its tests.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..camera_motion import zoomed


def turned_frames(image: np.ndarray, K: np.ndarray, rotations: np.ndarray,
                  walker: bool = False, noise: int = 3, seed: int = 0,
                  zooms: np.ndarray | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of ``image`` (BGR) seen by a camera turned by ``rotations`` (F, 3, 3),
    world-to-camera, with sensor noise of ±``noise`` grey levels; with ``walker`` a blocky
    textured block (a stand-in person, half the frame tall) crosses 60 % of the width;
    ``zooms`` (F,): each frame's focal length over ``K``'s (None: a fixed lens). Returns the
    frames and, per frame, the boxes (N, 4) of what moves on its own (the walker)."""
    height, width = image.shape[:2]
    rng = np.random.default_rng(seed)
    patch = rng.integers(0, 255, (height // 2, width // 8, 3), dtype=np.uint8)
    patch = cv2.resize(cv2.resize(patch, None, fx=0.1, fy=0.1), patch.shape[1::-1],
                       interpolation=cv2.INTER_NEAREST)  # blocky texture: strong corners
    frames, boxes = [], []
    zooms = np.ones(len(rotations)) if zooms is None else np.asarray(zooms, np.float64)
    for i, rotation in enumerate(np.asarray(rotations, dtype=np.float64)):
        frame = turned_frame(image, K, rotation, rng, noise, zoom=float(zooms[i]))
        box = np.zeros((0, 4))
        if walker:
            x0, y0 = int(0.1 * width + i * 0.6 * width / len(rotations)), height // 4
            frame[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
            box = np.array([[x0, y0, x0 + patch.shape[1], y0 + patch.shape[0]]], float)
        frames.append(frame)
        boxes.append(box)
    return frames, boxes


def turned_frame(image: np.ndarray, K: np.ndarray, rotation: np.ndarray,
                 rng: np.random.Generator, noise: int = 3,
                 border: int = cv2.BORDER_REFLECT, zoom: float = 1.0) -> np.ndarray:
    """One frame of ``image`` (BGR, seen by intrinsics ``K``) as a camera turned by
    ``rotation`` (3, 3; world-to-camera, world = the image's camera) sees it through a lens
    ``zoom`` times ``K``'s focal length, with sensor noise of ±``noise`` grey
    levels drawn from ``rng``. Beyond the image's edges the picture is
    mirrored by default (still a fixed scene for a turning camera: each viewing ray keeps its
    colour, but its straight edges are mirrored too, so their vanishing points are wrong);
    ``border=cv2.BORDER_CONSTANT`` leaves it black instead."""
    height, width = image.shape[:2]
    frame = cv2.warpPerspective(image, zoomed(K, zoom) @ rotation @ np.linalg.inv(K),
                                (width, height), borderMode=border)
    return np.clip(frame.astype(np.int16) + rng.integers(-noise, noise + 1, frame.shape),
                   0, 255).astype(np.uint8)

