"""The pose tokenizer (genhmr.models.tokenizer): shapes, the three decoder inputs, training that
actually learns, checkpoints, and the shipped config's size budget.

One tiny tokenizer is trained once per module (a few seconds on CPU) on synthetic but
body-like motion: random axis-angle rotations (|angle| <= 0.6 rad) driven by a few smooth
latent signals, so joints move together as in real motion and there is structure to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from genhmr.models.checkpoint import state_nbytes
from genhmr.models.frozen_codebook import FrozenCodebook
from genhmr.models.tokenizer import (
    PoseTokenizer,
    TokenizerConfig,
    body_points,
    codebook_usage,
    default_skeleton,
    load_tokenizer,
    mean_rotation,
    mirror_pose,
    rotation_angle_deg,
)
from genhmr.train.common import config_from_dict, load_config, read_metrics
from genhmr.train.tokenizer import DEFAULT_CONFIG, TokenizerTrainingConfig, train_tokenizer
from scipy.spatial.transform import Rotation

from genhmr_core.skeleton import mirror_index

TEST_CONFIG = DEFAULT_CONFIG.with_name("tokenizer_test.toml")


def synthetic_poses(clips: int, frames: int, seed: int = 0) -> list[np.ndarray]:
    """Per clip (frames, 22, 3, 3) rotations: smooth 6-D latent trajectories mapped linearly to
    axis-angles, plus jitter, each clipped to 0.6 rad."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, 22 * 3)) * 0.25
    out = []
    for _ in range(clips):
        t = np.arange(frames)[:, None] / 30.0
        z = np.sin(2 * np.pi * rng.uniform(0.3, 2.0, (1, 6)) * t + rng.uniform(0, 6.3, (1, 6)))
        aa = (z @ basis).reshape(frames, 22, 3) + rng.normal(scale=0.03, size=(frames, 22, 3))
        angle = np.linalg.norm(aa, axis=-1, keepdims=True)
        aa *= np.minimum(1.0, 0.6 / np.maximum(angle, 1e-9))
        out.append(Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix()
                   .reshape(frames, 22, 3, 3).astype(np.float32))
    return out


def split_poses(clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Body poses (M, 21, 3, 3) of all clips but the last (train) and of the last (val)."""
    train = torch.from_numpy(np.concatenate([c[:, 1:] for c in clips[:-1]]))
    return train, torch.from_numpy(clips[-1][:, 1:])


def random_pose(batch: int, seed: int = 0, max_angle: float = 0.6) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    aa = rng.normal(size=(batch * 21, 3))
    aa *= rng.uniform(0, max_angle, (batch * 21, 1)) / np.linalg.norm(aa, axis=-1, keepdims=True)
    return torch.from_numpy(Rotation.from_rotvec(aa).as_matrix().reshape(batch, 21, 3, 3)).float()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[PoseTokenizer, Path, dict]:
    """(tokenizer trained 300 steps with the test config, its run folder, last val metrics)."""
    out = tmp_path_factory.mktemp("tokenizer_run")
    config = load_config(TokenizerTrainingConfig, TEST_CONFIG,
                         {"train.max_steps": 300, "train.val_every": 300})
    train, val = split_poses(synthetic_poses(clips=6, frames=200))
    model, result = train_tokenizer(config, train, val, out)
    assert result.finished and result.step == 300
    return model.eval(), out, result.metrics


def test_shapes_and_rotations():
    model = PoseTokenizer(TokenizerConfig(num_tokens=6, codebook_size=32, code_dim=8,
                                          hidden_dim=16, channel_mlp_dim=16, token_mlp_dim=8,
                                          kmeans_init=False)).eval()
    pose = random_pose(5)
    enc = model.encode(pose)
    assert enc.indices.shape == (5, 6) and enc.indices.dtype == torch.int64
    assert int(enc.indices.min()) >= 0 and int(enc.indices.max()) < 32
    assert enc.quantized.shape == enc.latents.shape == (5, 6, 8)
    assert model.codebook.shape == (32, 8)
    for rot in (model.decode_indices(enc.indices), model.decode_quantized(enc.quantized),
                model.decode_logits(torch.randn(5, 6, 32))):
        assert rot.shape == (5, 21, 3, 3)
        eye = torch.eye(3).expand(5, 21, 3, 3)
        torch.testing.assert_close(rot.transpose(-1, -2) @ rot, eye, atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.linalg.det(rot), torch.ones(5, 21), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="global orientation excluded"):
        model.encode(torch.eye(3).expand(5, 22, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        model.decode_indices(torch.zeros(5, 7, dtype=torch.long))
    with pytest.raises(TypeError):
        model.decode_indices(torch.zeros(5, 6))


def test_codebook_is_what_encode_quantizes_to(trained):
    model, _, _ = trained
    enc = model.encode(random_pose(16, seed=1))
    torch.testing.assert_close(enc.quantized, model.codebook[enc.indices], atol=0, rtol=0)


def test_one_hot_distributions_decode_like_their_indices(trained):
    model, _, _ = trained
    indices = torch.randint(0, model.codebook_size, (8, model.num_tokens),
                            generator=torch.Generator().manual_seed(3))
    hard = model.decode_indices(indices)
    one_hot = torch.nn.functional.one_hot(indices, model.codebook_size).float()
    torch.testing.assert_close(model.decode_probs(one_hot), hard, atol=1e-6, rtol=0)
    # very peaked logits: softmax underflows to exactly one-hot
    torch.testing.assert_close(model.decode_logits(one_hot * 1e4), hard, atol=1e-6, rtol=0)
    # ... and a low temperature does the same to moderate logits
    torch.testing.assert_close(model.decode_logits(one_hot * 5, temperature=1e-3), hard,
                               atol=1e-6, rtol=0)
    # a soft distribution decodes to something else (the expected code is not a code)
    assert not torch.allclose(model.decode_logits(one_hot * 2), hard, atol=1e-3)


def test_soft_decode_is_differentiable_in_the_logits(trained):
    model, _, _ = trained
    logits = torch.randn(4, model.num_tokens, model.codebook_size, requires_grad=True)
    target = random_pose(4, seed=2)
    loss = (model.decode_logits(logits, temperature=0.7) - target).square().sum()
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(grad).all()
    # every token slot of every sample steers the pose
    assert (grad.abs().sum(-1) > 0).all()
    # a step against the gradient lowers the loss (it is a usable optimisation signal)
    with torch.no_grad():
        after = (model.decode_logits(logits - 0.5 * grad / grad.norm(), 0.7) - target)
        assert after.square().sum() < loss


def test_training_beats_the_mean_pose_by_far(trained):
    model, out, metrics = trained
    # the tokenizer must reconstruct held-out poses much better than the mean pose does
    assert metrics["val/mpjpe_mm"] < 0.5 * metrics["val/mean_pose_mpjpe_mm"], metrics
    assert metrics["val/rot_err_deg"] < metrics["val/mean_pose_rot_err_deg"], metrics
    # EMA codebook with dead-code reset: most codes stay in use on held-out data
    assert model.vq._codebook.decay == pytest.approx(0.99)
    assert model.vq._codebook.threshold_ema_dead_code > 0
    assert metrics["val/codebook_used"] > 0.3, metrics
    assert metrics["val/perplexity"] > 0.15 * model.codebook_size, metrics
    records = read_metrics(out / "metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(20, 301, 20))
    assert train[-1]["joints"] < 0.5 * train[0]["joints"]
    assert {"loss", "rotation", "joints", "commit", "grad_norm", "lr", "time"} <= set(train[-1])


def test_load_tokenizer_round_trip(trained):
    model, out, _ = trained
    pose = random_pose(12, seed=4)
    enc = model.encode(pose)
    payload = torch.load(out / "model.pt", weights_only=True)  # plain tensors and types only
    assert set(payload) >= {"format", "version", "model_config", "model", "config", "step"}
    for name in ("model.pt", "last.pt"):
        loaded = load_tokenizer(out / name)
        assert not loaded.training
        assert loaded.config == model.config
        # loaded for use, the codes are frozen (no training library): the same encodings
        assert isinstance(loaded.vq, FrozenCodebook) and model.trainable
        enc2 = loaded.encode(pose)
        assert torch.equal(enc2.indices, enc.indices)
        assert torch.equal(enc2.quantized, enc.quantized)
        assert float(enc2.commit_loss) == float(enc.commit_loss.detach()) == 0.0  # eval mode
        assert torch.equal(loaded.decode_indices(enc.indices), model.decode_indices(enc.indices))
        assert torch.equal(loaded.codebook, model.codebook)
    # the frozen codes keep the library's layout: a trainable tokenizer reads them back
    again = PoseTokenizer(model.config)
    again.load_state_dict(load_tokenizer(out / "model.pt").state_dict())
    assert torch.equal(again.codebook, model.codebook)
    assert set(again.state_dict()) == set(model.state_dict())


def test_load_tokenizer_rejects_other_checkpoints(tmp_path: Path):
    torch.save({"format": "something-else", "model": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a pose tokenizer"):
        load_tokenizer(tmp_path / "x.pt")


def test_mirror_pose_mirrors_the_skeleton():
    skeleton = default_skeleton()
    pose = random_pose(6, seed=5)
    mirrored = mirror_pose(pose)
    torch.testing.assert_close(mirror_pose(mirrored), pose)
    (joints, _), (joints_m, _) = body_points(skeleton, pose), body_points(skeleton, mirrored)
    reflected = joints[:, torch.as_tensor(mirror_index()[:22])] * torch.tensor([-1.0, 1, 1])
    torch.testing.assert_close(joints_m, reflected, atol=1e-5, rtol=0)


def test_metric_helpers():
    pose = random_pose(50, seed=6, max_angle=0.3)
    assert float(rotation_angle_deg(pose, pose).max()) < 0.1
    about_x = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # 90 degrees
    assert float(rotation_angle_deg(torch.eye(3), about_x)) == pytest.approx(90, abs=1e-3)
    mean = mean_rotation(pose)
    torch.testing.assert_close(mean.transpose(-1, -2) @ mean, torch.eye(3).expand(21, 3, 3),
                               atol=1e-5, rtol=0)
    assert float(rotation_angle_deg(mean, torch.eye(3)).max()) < 10
    usage = codebook_usage(torch.tensor([5.0, 5.0, 0.0, 0.0]))
    assert usage == pytest.approx({"codebook_used": 0.5, "perplexity": 2.0})


def test_shipped_configs_load_and_the_default_model_is_small():
    config = load_config(TokenizerTrainingConfig, DEFAULT_CONFIG)
    assert config.model.ema_decay == 0.99 and config.model.dead_code_threshold > 0
    model = PoseTokenizer(config.model)
    # the shipped tokenizer + transformer must stay a few MB: the tokenizer gets ~1.5 MB
    assert state_nbytes(model) <= 1.5e6
    assert 16 <= config.model.num_tokens <= 64
    assert load_config(TokenizerTrainingConfig, TEST_CONFIG).model.codebook_size == 64
    # the TOML restates the code defaults, so the two cannot drift apart silently
    assert config_from_dict(TokenizerTrainingConfig, {}).model == config.model
