"""A long track refined in chunks (``generative.REFINE_CHUNK``) gives the body it would get in
one piece, so that time and memory stay linear in the frames without changing the motion.

Measured with the shipped model on held-out motion capture detected through the noise model:
a 72-frame dance refined in chunks of 24 frames is within 0.5 mm (measured 0.003) of one piece
at every keypoint of every frame (the seams included), because every chunk refines a margin of
frames on both sides and uses the whole track's loss scale (``refinement.LossScale``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from genhmr import generative
from genhmr.body.default_body import load_default_body
from genhmr.evaluation import make_sequences
from genhmr.generative import (
    GenerativeConfig,
    load_generative,
    observations,
    refine_chunks,
    refine_track,
    sample_track,
)
from genhmr.models.refinement import RefinementConfig, RefinementInput, loss_scale, refine
from genhmr.motion.build import VAL_CLIPS
from genhmr.motion.sources.deepmimic import load_deepmimic

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_chunks_cover_the_track_evenly_with_margins():
    assert refine_chunks(1000, chunk=1000) == [(0, 0, 1000, 1000)]
    chunks = refine_chunks(2500, chunk=1000, margin=16)
    assert [(start, stop) for _, start, stop, _ in chunks] == [(0, 833), (833, 1667),
                                                              (1667, 2500)]
    assert [(low, high) for low, _, _, high in chunks] == [(0, 849), (817, 1683), (1651, 2500)]
    for frames in (1001, 1999, 3001, 10_000):
        kept = [range(start, stop) for _, start, stop, _ in refine_chunks(frames, chunk=1000)]
        assert [f for r in kept for f in r] == list(range(frames))
        assert max(len(r) for r in kept) <= 1000


@pytest.fixture(scope="module")
def walk(motion_dir: Path):
    """A held-out clip's stage 1 and detections (72 frames), with the models."""
    clips = [c for c in load_deepmimic(motion_dir / "deepmimic") if c.name in VAL_CLIPS]
    seq = make_sequences(clips, load_default_body(), count=1, length=72, seed=4)[0]
    model, tokenizer = load_generative()
    body = load_default_body()
    kp2d, world = seq.detector_output()
    obs = observations(kp2d, world, seq.detected, seq.K[0])
    stage1 = sample_track(model, tokenizer, body, None, obs, seq.K[0], GenerativeConfig(),
                          fps=30.0)
    return tokenizer, body, stage1, obs, seq.K[0]


def test_a_track_refined_in_chunks_is_the_track_refined_in_one_piece(walk, monkeypatch):
    tokenizer, body, stage1, obs, K = walk
    config = RefinementConfig(steps=20)
    whole, _ = refine_track(tokenizer, body, stage1, obs, K, config)
    monkeypatch.setattr(generative, "REFINE_CHUNK", 24)
    assert len(refine_chunks(72)) == 3
    chunked, _ = refine_track(tokenizer, body, stage1, obs, K, config)
    apart = np.linalg.norm(chunked.keypoints3d - whole.keypoints3d, axis=-1)
    assert apart.max() < 5e-4, apart.max(axis=1)  # metres, seams included
    # Without the margins the seams would show (measured 0.26 m): each chunk's end frames
    # refined blind.
    monkeypatch.setattr(generative, "refine_chunks",
                        lambda n: [(a, a, b, b) for a, b in ((0, 24), (24, 48), (48, 72))])
    blind, _ = refine_track(tokenizer, body, stage1, obs, K, config)
    assert np.linalg.norm(blind.keypoints3d - whole.keypoints3d, axis=-1).max() > 2e-3


def test_a_loss_scale_of_the_inputs_own_changes_nothing(walk):
    """``RefinementInput.scale`` given as the inputs' own is the default, bit for bit; a
    different one (a chunk's share of a longer track) moves the body."""
    tokenizer, body, stage1, obs, K = walk

    def inputs(scale=None) -> RefinementInput:
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)[None]

        return RefinementInput(
            logits=t(stage1.logits), global_orient=t(stage1.global_orient),
            transl=t(stage1.transl), betas=t(stage1.betas),
            keypoints_2d=t(np.nan_to_num(obs.uv)), confidence=t(obs.confidence),
            K=torch.as_tensor(K, dtype=torch.float32),
            valid=torch.as_tensor(obs.valid)[None], landmarks_3d=t(obs.landmarks), scale=scale)

    config = RefinementConfig(steps=5)
    default = refine(tokenizer, body, inputs(), config)
    own = loss_scale(torch.as_tensor(obs.confidence)[None], torch.as_tensor(obs.valid)[None],
                     torch.as_tensor(obs.landmarks)[None], config)
    same = refine(tokenizer, body, inputs(own), config)
    torch.testing.assert_close(same.keypoints_3d, default.keypoints_3d, rtol=0, atol=0)
    own.keypoint_weight *= 3  # the 2D term a third as strong against the others
    moved = refine(tokenizer, body, inputs(own), config)
    assert (moved.keypoints_3d - default.keypoints_3d).abs().max() > 1e-3


def test_a_sized_person_is_refined_at_their_size(walk):
    """A person sized by the floor (``floor_sizing``: stage 1 scaled with them,
    ``Stage1.body_scale``) is refined on the body at that size, so a re-run keeps the size:
    the body is the unsized one's scaled about the camera, to a couple of centimetres (the
    metric terms are not scale-free; measured 1.6 cm hip-centred), with the same picture.
    Were the size ignored, the unsized body's limbs would be fitted at the sized depth: 10.9
    cm off."""
    import dataclasses

    from genhmr.floor_sizing import resize_stage1

    tokenizer, body, stage1, obs, K = walk
    config = RefinementConfig(steps=20)
    plain, _ = refine_track(tokenizer, body, stage1, obs, K, config)
    sized_stage1 = dataclasses.replace(stage1, transl=stage1.transl.copy())
    resize_stage1(sized_stage1, 1.15)
    sized, _ = refine_track(tokenizer, body, sized_stage1, obs, K, config)

    def hip_centred(kp: np.ndarray) -> np.ndarray:
        return kp - kp[:, 11:13].mean(axis=1, keepdims=True)  # COCO hips

    def apart(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.median(np.linalg.norm(a - b, axis=-1)))

    assert apart(hip_centred(sized.keypoints3d), 1.15 * hip_centred(plain.keypoints3d)) < 0.03
    assert apart(hip_centred(sized.keypoints3d), hip_centred(plain.keypoints3d)) > 0.06
    assert np.median(sized.transl[:, 2] / plain.transl[:, 2]) == pytest.approx(1.15, abs=0.01)
    assert abs(sized.reprojection_px - plain.reprojection_px) < 0.5
