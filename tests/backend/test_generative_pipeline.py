"""The generative method through the real pipeline: real MediaPipe on real frames, a tiny
transformer + tokenizer trained here (seconds; not a useful model), the result contract the
add-on reads. Quality is the benchmark's business (tools/bench_generative.py); this checks the
plumbing: shapes, finiteness, uncertainty-weighted confidences, refinement's effect, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.generative import (
    GenerativeConfig,
    estimate_track,
    load_generative,
    observations,
    refine_track,
    sample_track,
    solve_threads,
    window_rows,
    window_stride,
)
from genhmr.models.refinement import RefinementConfig
from genhmr.pipeline import JobError, JobOptions, run_job
from genhmr.synthetic.conditioning import ConditioningSampler
from genhmr.train.common import load_config
from genhmr.train.masked_transformer import (
    DEFAULT_CONFIG,
    TransformerTrainingConfig,
    train_masked_transformer,
)
from test_masked_transformer import make_clip, tiny_tokenizer  # same folder (rootdir-relative)

from genhmr_core.result_format import load_result


def _tiny_checkpoint(tmp_path_factory, name: str, **overrides) -> Path:
    """A tiny transformer trained here in seconds (not a useful model) on synthetic clips."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp(name)
        clips = [make_clip(f"c{i}", 60, i) for i in range(4)]
        config = load_config(TransformerTrainingConfig,
                             DEFAULT_CONFIG.with_name("masked_transformer_test.toml"), overrides)
        train_masked_transformer(config, tiny_tokenizer(), clips[:3], clips[3:], out,
                                 sampler=ConditioningSampler(load_default_body(),
                                                             config=config.data.conditioning()))
    finally:
        torch.set_num_threads(before)
    return out / "model.pt"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory, "generative_ckpt")


@pytest.fixture(scope="module")
def temporal_checkpoint(tmp_path_factory) -> Path:
    """Conditioned on 3 frames: it reads its window."""
    return _tiny_checkpoint(tmp_path_factory, "temporal_ckpt", **{
        "data.window": 3, "train.max_steps": 10, "train.val_every": 10})


def test_window_rows_centre_on_the_frame_or_its_nearest_detection():
    valid = np.array([0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1], bool)
    seen = np.flatnonzero(valid)
    nearest = seen[np.abs(np.arange(11)[:, None] - seen[None]).argmin(1)]
    rows, inside = window_rows(valid, nearest, 3)
    assert rows[0].tolist() == [1, 2, 3] and rows[1].tolist() == [1, 2, 3]  # unseen: frame 2's
    assert rows[3].tolist() == [2, 3, 4]  # seen: its own
    assert rows[7].tolist() == [3, 4, 5]  # in the gap: the nearest detection, frame 4
    assert rows[10].tolist() == [9, 10, 10] and inside[10].tolist() == [True, True, False]
    rows, inside = window_rows(valid, nearest, 3, stride=2)
    assert rows[2].tolist() == [0, 2, 4] and inside[2].tolist() == [True, True, True]
    assert rows[3].tolist() == [1, 3, 5]
    assert inside[10].tolist() == [True, True, False] and rows[10].tolist() == [8, 10, 10]
    assert window_stride(None) == 1 and window_stride(30) == 1 and window_stride(60) == 2


def test_a_temporal_model_reads_the_frames_around_each_frame(temporal_checkpoint: Path,
                                                             checkpoint: Path):
    """Changing one frame's keypoints changes stage 1 in that frame and its window neighbours
    for a 3-frame model, only in that frame for the single-frame model, and nowhere else."""
    body = load_default_body()
    kp2d, world, valid, K = _walker_track()
    moved = kp2d.copy()
    moved[5, :, :2] += np.random.default_rng(1).normal(0, 40, (25, 2))
    for path, touched in ((temporal_checkpoint, {4, 5, 6}), (checkpoint, {5})):
        model, tokenizer = load_generative(path)
        logits = [sample_track(model, tokenizer, body, np.zeros(body.num_betas),
                               observations(kp, world, valid, K), K).logits
                  for kp in (kp2d, moved)]
        changed = {f for f in range(len(valid))
                   if not np.allclose(logits[0][f], logits[1][f], atol=1e-5)}
        assert changed == touched, (path.parent.name, changed)
        assert np.isfinite(logits[1]).all()


@pytest.mark.slow
def test_generative_job_on_the_demo_clip(media_dir: Path, checkpoint: Path, tmp_path: Path):
    summary = run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path),
                                 start=20, end=32, method="generative",
                                 checkpoint=str(checkpoint)))
    result = summary.result
    assert result.method == "generative" and summary.num_people >= 1
    assert summary.result_path.is_file()
    for name in ("global_orient", "body_pose", "transl", "joints3d", "keypoints3d", "betas",
                 "joint_confidence"):
        assert np.isfinite(getattr(result, name)).all(), name
    conf = result.joint_confidence[result.valid]
    assert (conf >= 0).all() and (conf <= 1).all() and conf.max() > 0
    # Per-joint uncertainty (degrees) is exported, finite, and reloads from the file.
    unc = result.joint_uncertainty
    assert unc is not None and unc.shape == (summary.num_people, 12, 21)
    assert np.isfinite(unc).all() and (unc >= 0).all() and unc.max() > 0
    np.testing.assert_allclose(load_result(summary.result_path).joint_uncertainty, unc)
    # The person is in front of the camera, and refinement put the keypoints near the 2D ones.
    assert (result.transl[result.valid][:, 2] > 0.5).all()
    assert all(np.isfinite(px) for px in summary.reprojection_px)


def _walker_track(frames: int = 20):
    """A synthetic walker 4 m in front of the camera: (keypoints2d, world, valid, K)."""
    sampler = ConditioningSampler(load_default_body())
    clip = make_clip("t", frames, 7)
    rng = np.random.default_rng(0)
    K = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    with torch.no_grad():
        betas = torch.zeros(1, 5)
        _, _, kps = sampler.body.pose(betas, torch.as_tensor(clip.rotations)[None],
                                      torch.as_tensor(clip.root_position)[None])
    # Camera 4 m in front of the walker, looking back at it (OpenCV axes).
    flip = np.diag([-1.0, -1.0, 1.0]) @ np.diag([1.0, -1.0, -1.0])
    cam = (kps[0].numpy() - clip.root_position[:, None]) @ flip.T + [0, 0, 4.0]
    uv = cam[..., :2] / cam[..., 2:] * 900 + [640, 360] + rng.normal(0, 2, cam[..., :2].shape)
    kp2d = np.concatenate([uv, np.ones((frames, 25, 1))], -1)
    world = cam - cam[:, 11:13].mean(1, keepdims=True)
    return kp2d, world, np.ones(frames, bool), K


def test_refinement_lowers_the_tracks_reprojection(checkpoint: Path):
    """On a synthetic track the tiny model's stage-1 guess is poor; refinement must pull the
    keypoints towards the 2D evidence. (2D terms only, and the lighter smoothing of a fast
    walker: the shipped defaults are checked on held-out motion in test_shipped_model.py.)"""
    model, tokenizer = load_generative(checkpoint)
    body = load_default_body()
    kp2d, world, valid, K = _walker_track()
    runs = {}
    for steps in (0, 100):
        fit, _ = estimate_track(model, tokenizer, body, None, kp2d, world, valid, K,
                                GenerativeConfig(refinement=RefinementConfig(
                                    steps=steps, landmarks_3d=0.0, smooth=5.0)))
        runs[steps] = fit.reprojection_px
    assert runs[100] < 0.7 * runs[0], runs


def test_temporal_selection_keeps_hypotheses_and_moves_less(checkpoint: Path):
    """``select="temporal"`` picks, per frame, one of the hypotheses the likelihood selection
    chooses from (same seed, same samples), and the sequence it picks moves no more from frame
    to frame than the likeliest-per-frame one."""
    model, tokenizer = load_generative(checkpoint)
    body = load_default_body()
    kp2d, world, valid, K = _walker_track()
    obs = observations(kp2d, world, valid, K)
    motion, tokens = {}, {}
    for select in ("likelihood", "temporal"):
        stage1 = sample_track(model, tokenizer, body, np.zeros(body.num_betas), obs, K,
                              GenerativeConfig(hypotheses=3, select=select))
        fit, _ = refine_track(tokenizer, body, stage1, obs, K, RefinementConfig(steps=0))
        relative = fit.keypoints3d - fit.joints3d[:, :1]
        motion[select] = float(np.linalg.norm(np.diff(relative, axis=0), axis=-1).mean())
        tokens[select] = stage1.logits.argmax(-1)
    assert motion["temporal"] <= motion["likelihood"] + 1e-6, motion
    assert tokens["temporal"].shape == tokens["likelihood"].shape


def test_a_cancelled_track_stops_within_a_refinement_step(checkpoint: Path):
    model, tokenizer = load_generative(checkpoint)
    polls: list[int] = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    with pytest.raises(InterruptedError):
        estimate_track(model, tokenizer, load_default_body(), None, *_walker_track(),
                       GenerativeConfig(refinement=RefinementConfig(steps=100)),
                       should_stop=should_stop)
    assert len(polls) == 4  # one poll per sampling batch and refinement step, then it stopped


def test_a_track_is_solved_on_one_torch_thread_and_the_count_restored(checkpoint: Path):
    """Sampling and refinement run on ``SOLVE_THREADS`` (one: a second thread only spins on a
    track's small tensors, issue #12) and leave torch's thread count as they found it."""
    model, tokenizer = load_generative(checkpoint)
    seen: list[int] = []

    def should_stop() -> bool:
        seen.append(torch.get_num_threads())
        return False

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        estimate_track(model, tokenizer, load_default_body(), None, *_walker_track(),
                       GenerativeConfig(refinement=RefinementConfig(steps=3)),
                       should_stop=should_stop)
        assert torch.get_num_threads() == 2
        with solve_threads(0):  # 0: leave the count alone
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}, seen


def test_missing_checkpoint_is_a_clear_job_error(media_dir: Path, tmp_path: Path):
    with pytest.raises(JobError, match="checkpoint"):
        run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path), start=0,
                           end=2, method="generative", checkpoint=str(tmp_path / "none.pt")))
