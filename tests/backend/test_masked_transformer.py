"""The masked pose transformer: MaskGIT masking, iterative decoding, synthetic conditioning, the
model, and a tiny end-to-end training run with its checkpoint.

Motion is synthetic (smooth random joint rotations walking across the floor) and the tokenizer
is a tiny untrained one (eval mode: a fixed, deterministic pose -> tokens map), so the module
needs no dataset and no trained weights and runs in well under a minute on one core.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.models.checkpoint import state_nbytes
from genhmr.models.masked_transformer import (
    MaskedPoseTransformer,
    MaskedPoseTransformerConfig,
    PoseCondition,
    load_masked_transformer,
    widened_state_dict,
)
from genhmr.models.sampling import (
    decode_schedule,
    iterative_decode,
    joint_uncertainty,
    mask_tokens,
    predict_pose,
    select_best,
)
from genhmr.models.tokenizer import PoseTokenizer, TokenizerConfig
from genhmr.motion.clip import MotionClip
from genhmr.synthetic.conditioning import (
    ConditioningConfig,
    ConditioningSampler,
    crop_camera_to_translation,
)
from genhmr.train.common import ConfigError, DistContext, load_config, read_metrics
from genhmr.train.masked_transformer import (
    DEFAULT_CONFIG,
    TransformerTask,
    TransformerTrainingConfig,
    initialise_from,
    procrustes_align,
    train_masked_transformer,
)
from scipy.spatial.transform import Rotation

TEST_CONFIG = DEFAULT_CONFIG.with_name("masked_transformer_test.toml")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_clip(name: str, frames: int, seed: int, source: str = "cmu") -> MotionClip:
    """Smooth random motion (|angle| <= 0.6 rad per joint), the body walking along +Z."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, 22 * 3)) * 0.25
    t = np.arange(frames)[:, None] / 30.0
    z = np.sin(2 * np.pi * rng.uniform(0.3, 2.0, (1, 6)) * t + rng.uniform(0, 6.3, (1, 6)))
    aa = (z @ basis).reshape(frames, 22, 3)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    aa *= np.minimum(1.0, 0.6 / np.maximum(angle, 1e-9))
    rot = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(frames, 22, 3, 3)
    root = np.stack([np.zeros(frames), np.full(frames, 0.95), 1.2 * t[:, 0]], -1)
    return MotionClip(name, source, "test", 30.0, rot, root)


@pytest.fixture(scope="module")
def clips() -> list[MotionClip]:
    return [make_clip(f"c{i}", 60, i) for i in range(4)] + [
        make_clip("proc", 30, 9, source="procedural")]


@pytest.fixture(scope="module")
def body():
    return load_default_body()


@pytest.fixture(scope="module")
def sampler(body) -> ConditioningSampler:
    return ConditioningSampler(body)


def tiny_tokenizer() -> PoseTokenizer:
    torch.manual_seed(0)
    return PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16,
                                         hidden_dim=32, channel_mlp_dim=32, token_mlp_dim=16,
                                         joint_blocks=1, token_blocks=1, kmeans_init=False),
                         sync_codebook=False).eval()


# -- masking ----------------------------------------------------------------------------------


def test_mask_tokens_follows_the_cosine_schedule():
    B, N, C = 4000, 32, 64
    targets = torch.randint(0, C, (B, N), generator=torch.Generator().manual_seed(1))
    out = mask_tokens(targets, C, C, torch.Generator().manual_seed(2), random_rate=0.05)
    count = out.masked.sum(-1)
    assert int(count.min()) >= 1 and int(count.max()) <= N
    assert torch.equal(count, (out.ratio * N).ceil().long().clamp(1, N))
    assert float(out.ratio.min()) >= 0 and float(out.ratio.max()) <= 1
    # E[cos(pi/2 r)] = 2/pi for r ~ U(0, 1); ceil adds up to one token
    assert float(count.float().mean()) / N == pytest.approx(2 / math.pi + 0.5 / N, abs=0.02)
    assert (out.tokens == C).equal(out.masked)
    assert not (out.masked & out.replaced).any()
    unmasked = ~out.masked
    rate = float(out.replaced.sum()) / float(unmasked.sum())
    assert rate == pytest.approx(0.05, abs=0.01)
    keep = unmasked & ~out.replaced
    assert torch.equal(out.tokens[keep], targets[keep])
    again = mask_tokens(targets, C, C, torch.Generator().manual_seed(2), random_rate=0.05)
    assert torch.equal(again.tokens, out.tokens)
    none = mask_tokens(targets[:50], C, C, torch.Generator().manual_seed(3), random_rate=0.0)
    assert not none.replaced.any()


def test_decode_schedule():
    s = decode_schedule(32, 8)
    assert s == [32 - math.floor(32 * math.cos(math.pi / 2 * t / 8)) for t in range(1, 9)]
    assert s[-1] == 32 and s == sorted(set(s))  # strictly increasing
    assert decode_schedule(4, 10) == [1, 2, 3, 4]  # never an iteration that commits nothing
    assert decode_schedule(5, 1) == [5]


# -- decoding ---------------------------------------------------------------------------------


class Recorder:
    """A stand-in model: fixed random logits, plus a log of the tokens it was shown."""

    def __init__(self, batch: int, n: int, c: int, seed: int = 0) -> None:
        self.logits = torch.randn(batch, n, c, generator=torch.Generator().manual_seed(seed)) * 2
        self.seen: list[torch.Tensor] = []

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seen.append(tokens.clone())
        return self.logits


def test_iterative_decode_commits_on_schedule_and_never_remasks():
    B, N, C, T = 6, 16, 20, 5
    rec = Recorder(B, N, C)
    res = iterative_decode(rec, B, N, mask_id=C, iterations=T)
    schedule = decode_schedule(N, T)
    assert len(rec.seen) == len(schedule)
    assert (rec.seen[0] == C).all()  # fully masked start
    for t, kept in enumerate(schedule):
        assert ((res.committed_at <= t).sum(-1) == kept).all()
        if t > 0:  # what the model sees at t is exactly what was committed before t
            assert torch.equal(rec.seen[t] != C, res.committed_at < t)
        for later in rec.seen[t + 1:]:  # committed tokens never change nor return to [MASK]
            shown = rec.seen[t] != C
            assert torch.equal(later[shown], rec.seen[t][shown])
    # greedy: the argmax, committed most confident first
    assert torch.equal(res.tokens, rec.logits.argmax(-1))
    logp = torch.log_softmax(rec.logits, -1)
    conf = logp.max(-1).values
    first = res.committed_at == 0
    for row in range(B):  # per sample: the first committed are the most confident
        assert conf[row][first[row]].min() >= conf[row][~first[row]].max()
    torch.testing.assert_close(res.log_likelihood, conf.sum(-1))
    torch.testing.assert_close(res.confidence, conf.exp())
    assert res.logits.shape == (B, N, C) and res.entropy.shape == (B, N)
    assert (res.entropy > 0).all()
    again = iterative_decode(Recorder(B, N, C), B, N, mask_id=C, iterations=T)
    assert torch.equal(again.tokens, res.tokens)


def test_hypotheses_differ_with_temperature_and_reproduce_with_a_seed():
    B, N, C = 8, 16, 20

    def run(seed: int):
        return iterative_decode(Recorder(B, N, C), B, N, mask_id=C, iterations=4,
                                temperature=1.5, choice_noise=1.0,
                                generator=torch.Generator().manual_seed(seed))

    a, b, a2 = run(1), run(2), run(1)
    assert torch.equal(a.tokens, a2.tokens)
    assert not torch.equal(a.tokens, b.tokens)
    # best of hypotheses: rows 2i, 2i+1 belong to sample i
    best, rows = select_best(a, 2)
    assert best.tokens.shape == (B // 2, N)
    ll = a.log_likelihood.view(-1, 2)
    torch.testing.assert_close(best.log_likelihood, ll.max(-1).values)
    assert torch.equal(rows, ll.argmax(-1) + torch.arange(B // 2) * 2)


def test_joint_uncertainty_reflects_token_spread():
    tok = tiny_tokenizer()
    tokens = torch.randint(0, 64, (3, 8), generator=torch.Generator().manual_seed(0))
    sure = torch.nn.functional.one_hot(tokens, 64).float() * 1e4
    flat = torch.zeros(3, 8, 64)
    u_sure, u_flat = joint_uncertainty(tok, tokens, sure), joint_uncertainty(tok, tokens, flat)
    assert u_sure.shape == u_flat.shape == (3, 21)
    assert float(u_sure.max()) < 1e-2
    assert float(u_flat.mean()) > 10 * float(u_sure.mean()) + 1e-3


# -- conditioning -----------------------------------------------------------------------------


def test_conditioning_is_deterministic_and_per_sample(sampler, clips):
    items = [(0, 3), (1, 10), (2, 0), (3, 59)]
    seeds = [11, 12, 13, 14]
    a = sampler.sample(clips, items, seeds)
    b = sampler.sample(clips, items, seeds)
    alone = sampler.sample(clips, items[2:3], seeds[2:3])
    for name in ("keypoints_2d", "confidence", "world", "box", "crop_camera", "betas"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert torch.equal(getattr(a, name)[2:3], getattr(alone, name)), name
    c = sampler.sample(clips, items, [21, 22, 23, 24])
    assert not torch.equal(a.keypoints_2d, c.keypoints_2d)


def test_conditioning_shapes_and_targets(sampler, clips, body):
    items = sampler.windows(clips)[::9][:24]
    batch = sampler.sample(clips, items, np.arange(len(items)))
    B = len(items)
    assert batch.keypoints_2d.shape == (B, 1, 25, 2) and batch.world.shape == (B, 1, 25, 3)
    assert batch.confidence.shape == (B, 1, 25) and batch.detected.shape == (B, 1)
    assert batch.body_pose.shape == (B, 21, 3, 3) and batch.betas.shape == (B, 5)
    for name in ("keypoints_2d", "confidence", "world", "box", "crop_camera"):
        assert torch.isfinite(getattr(batch, name)).all(), name
    limits = body.shape_limits
    assert ((batch.betas >= limits[:, 0]) & (batch.betas <= limits[:, 1])).all()
    for b, (ci, start) in enumerate(items):
        np.testing.assert_allclose(batch.body_pose[b].numpy(), clips[ci].rotations[start, 1:],
                                   atol=1e-6)
    R = batch.global_orient_cam
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3).expand(B, 3, 3),
                               atol=1e-5, rtol=0)
    # the crop camera and the box give back the pelvis position in camera space
    torch.testing.assert_close(crop_camera_to_translation(batch.crop_camera, batch.box_px[:, 0],
                                                          batch.K), batch.transl_cam,
                               atol=1e-3, rtol=1e-4)


def test_crop_normalisation_uses_the_observed_box(sampler, clips):
    items = sampler.windows(clips)[::7][:30]
    batch = sampler.sample(clips, items, 100 + np.arange(len(items)))
    pad = sampler.config.crop_padding
    kp, conf = batch.keypoints_2d[:, 0], batch.confidence[:, 0]
    for b in range(len(items)):
        if not batch.detected[b, 0]:
            continue
        used = conf[b] >= sampler.config.min_confidence
        if used.sum() < 2:
            continue
        pts = kp[b][used]
        lo, hi = pts.min(0).values, pts.max(0).values
        # centred on the used points' box, the longer side spans 2 / (1 + pad)
        torch.testing.assert_close(lo + hi, torch.zeros(2), atol=1e-4, rtol=0)
        assert float((hi - lo).max()) == pytest.approx(2 / (1 + pad), abs=1e-4)
    # box in focal units matches the pixel box
    f = batch.K[:, 0, 0]
    torch.testing.assert_close(batch.box[:, 0, 2], batch.box_px[:, 0, 2] / f)


def test_windows_skip_procedural_clips_for_temporal_samples(body, clips):
    w3 = ConditioningSampler(body, config=ConditioningConfig(window=3))
    win = w3.windows(clips)
    assert 4 not in set(win[:, 0].tolist())  # the procedural clip
    assert len(win) == 4 * (60 - 2)
    assert 4 in set(ConditioningSampler(body).windows(clips)[:, 0].tolist())
    batch = w3.sample(clips, win[[0, 57]], [1, 2])
    assert batch.keypoints_2d.shape == (2, 3, 25, 2) and batch.box.shape == (2, 3, 3)
    np.testing.assert_allclose(batch.body_pose[1].numpy(), clips[0].rotations[58, 1:], atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        ConditioningConfig(window=4)


# -- model and training -----------------------------------------------------------------------


def test_model_shapes_and_default_size(sampler, clips):
    default = MaskedPoseTransformer(MaskedPoseTransformerConfig())
    assert state_nbytes(default) <= 1.5e6
    cfg = MaskedPoseTransformerConfig(num_tokens=8, codebook_size=64, dim=32, layers=1, heads=2,
                                      ffn_dim=32)
    model = MaskedPoseTransformer(cfg).eval()
    batch = sampler.sample(clips, [(0, 0), (1, 1), (2, 2)], [1, 2, 3])
    cond = PoseCondition.from_batch(batch)
    tokens = torch.full((3, 8), model.mask_id)
    out = model(cond, tokens)
    assert out.logits.shape == (3, 8, 64)
    assert out.global_orient.shape == (3, 3, 3) and out.betas.shape == (3, 5)
    assert out.camera.shape == (3, 3) and (out.camera[:, 0] > 0).all()
    pred = predict_pose(model, cond, iterations=3, num_hypotheses=3,
                        generator=torch.Generator().manual_seed(0))
    assert pred.decode.tokens.shape == (3, 8) and pred.all_hypotheses.tokens.shape == (9, 8)
    greedy = iterative_decode(lambda t: model(cond, t).logits, 3, 8, model.mask_id, 3)
    assert torch.equal(pred.all_hypotheses.tokens[::3], greedy.tokens)  # hypothesis 0 greedy
    # A custom score picks its argmax per sample, and the heads are those of the chosen rows.
    rank = torch.tensor([0.0, 2.0, 1.0, 5.0, 4.0, 3.0, 0.0, 0.0, 9.0])
    scored = predict_pose(model, cond, iterations=3, num_hypotheses=3,
                          generator=torch.Generator().manual_seed(0),
                          score=lambda result, heads: rank)
    assert torch.equal(scored.all_hypotheses.tokens, pred.all_hypotheses.tokens)
    chosen = torch.tensor([1, 3, 8])
    assert torch.equal(scored.decode.tokens, pred.all_hypotheses.tokens[chosen])
    again = model(cond, scored.decode.tokens)
    assert torch.allclose(scored.heads.camera, again.camera, atol=1e-5)
    assert torch.allclose(scored.heads.orient_6d, again.orient_6d, atol=1e-5)
    three_frames = PoseCondition(batch.keypoints_2d.repeat(1, 3, 1, 1),
                                 batch.confidence.repeat(1, 3, 1), batch.world.repeat(1, 3, 1, 1),
                                 batch.detected.repeat(1, 3), batch.box.repeat(1, 3, 1))
    with pytest.raises(ValueError, match="window"):
        model(three_frames, tokens)


def _window(cond: PoseCondition, frames: slice) -> PoseCondition:
    return PoseCondition(cond.keypoints_2d[:, frames], cond.confidence[:, frames],
                         cond.world[:, frames], cond.detected[:, frames], cond.box[:, frames])


def test_a_widened_model_starts_as_the_single_frame_one_and_then_reads_its_window(body, clips):
    """The temporal model is fine-tuned from the single-frame one: widened, it gives exactly the
    narrow model's output on the centre frame whatever the other frames hold; one training
    step later the other frames matter."""
    cfg = MaskedPoseTransformerConfig(num_tokens=8, codebook_size=64, dim=32, layers=1,
                                      heads=2, ffn_dim=64, dropout=0.0)  # the test config's
    narrow = MaskedPoseTransformer(cfg).eval()
    config = load_config(TransformerTrainingConfig, TEST_CONFIG,
                         {"data.window": 5, "data.val_samples": 0, "model.dropout": 0.0})
    wide_sampler = ConditioningSampler(body, config=config.data.conditioning())
    task = TransformerTask(config, tiny_tokenizer(), wide_sampler, clips[:3], clips[3:4],
                           DistContext())
    wide = task.model
    initialise_from(wide, narrow.checkpoint_payload())
    wide.eval()
    batch = wide_sampler.sample(clips, [(0, 0), (1, 3)], [1, 2])
    cond = PoseCondition.from_batch(batch)
    tokens = torch.full((2, 8), wide.mask_id)
    shuffled = PoseCondition(cond.keypoints_2d.flip(1), cond.confidence.flip(1),
                             cond.world.flip(1), cond.detected, cond.box.flip(1))
    expected = narrow(_window(cond, slice(2, 3)), tokens)
    for c in (cond, shuffled):  # the centre frame is the same in both
        out = wide(c, tokens)
        torch.testing.assert_close(out.logits, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.camera, expected.camera, atol=1e-5, rtol=0)

    wide.train()
    optimiser = torch.optim.SGD(wide.parameters(), lr=0.1)
    loss = task.train_step(wide, 0)["loss"]
    loss.backward()
    optimiser.step()
    wide.eval()
    assert not torch.allclose(wide(cond, tokens).logits, wide(shuffled, tokens).logits)

    with pytest.raises(ValueError, match="even number"):
        widened_state_dict(narrow.state_dict(), 1, 4)
    other = MaskedPoseTransformer(dataclasses.replace(cfg, dim=64, heads=2))
    with pytest.raises(ConfigError, match="beyond its window"):
        initialise_from(wide, other.checkpoint_payload())


def test_procrustes_alignment_removes_a_similarity():
    x = torch.randn(4, 22, 3, generator=torch.Generator().manual_seed(0))
    R = torch.from_numpy(Rotation.random(4, random_state=1).as_matrix()).float()
    y = 1.3 * x @ R.transpose(1, 2) + torch.tensor([0.1, -0.2, 0.3])
    torch.testing.assert_close(procrustes_align(x, y), y, atol=1e-4, rtol=0)


def test_tiny_training_run_learns_and_round_trips(tmp_path, sampler, clips):
    config = load_config(TransformerTrainingConfig, TEST_CONFIG)
    tokenizer = tiny_tokenizer()
    model, result = train_masked_transformer(config, tokenizer, clips[:3], clips[3:4], tmp_path,
                                             sampler=sampler)
    assert result.finished and result.step == config.train.max_steps
    train = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in train] == [10, 20, 30, 40]
    assert train[-1]["loss"] < 0.8 * train[0]["loss"], train
    assert train[-1]["tokens"] < train[0]["tokens"]
    metrics = result.metrics
    for key in ("val/token_acc", "val/token_acc_onepass", "val/mpjpe_mm", "val/pa_mpjpe_mm",
                "val/tokenizer_mpjpe_mm", "val/orient_err_deg", "val/betas_rmse"):
        assert math.isfinite(metrics[key]), key
    assert metrics["val/pa_mpjpe_mm"] <= metrics["val/mpjpe_mm"] + 1e-6
    assert 0.0 <= metrics["val/token_acc"] <= 1.0
    model.eval()
    batch = sampler.sample(clips, [(3, 5), (3, 6)], [5, 6])
    cond = PoseCondition.from_batch(batch)
    tokens = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    for name in ("model.pt", "last.pt"):
        loaded, tok = load_masked_transformer(tmp_path / name)
        assert not loaded.training and loaded.config == model.config
        a, b = loaded(cond, tokens), model(cond, tokens)
        assert torch.equal(a.logits, b.logits) and torch.equal(a.camera, b.camera)
        assert torch.equal(tok.codebook, tokenizer.codebook)


def test_worker_processes_make_the_same_batches(sampler, clips):
    config = load_config(TransformerTrainingConfig, TEST_CONFIG, {"data.workers": 1,
                                                                  "data.val_samples": 0})
    task = TransformerTask(config, tiny_tokenizer(), sampler, clips[:3], clips[3:4],
                           DistContext())
    for step in (3, 4, 9):  # consecutive steps, then a jump (restarts the workers)
        a, b = task.next_batch(step), task.batch(step)
        assert torch.equal(a.keypoints_2d, b.keypoints_2d) and torch.equal(a.betas, b.betas)
    assert not torch.equal(task.batch(3).betas, task.batch(4).betas)


def test_reprojection_score_prefers_the_hypothesis_that_explains_the_keypoints(sampler, clips,
                                                                               body):
    """Hypothesis selection by 2D reprojection: per sample, two hypotheses with the true pose
    and crop camera, one with the true orientation and one turned 90 degrees; the score must
    prefer the true one and find it near the (noisy) keypoints, in crop units."""
    from types import SimpleNamespace

    from genhmr.body.skeleton_model import matrix_to_rotation_6d
    from genhmr.generative import reprojection_score
    from genhmr.models.masked_transformer import MaskedPoseOutput
    from genhmr.models.refinement import keypoint_rig
    from scipy.spatial.transform import Rotation

    batch = sampler.sample(clips, [(0, 5), (1, 9), (2, 20)], [4, 5, 6])
    cond = PoseCondition.from_batch(batch)
    turn = torch.as_tensor(Rotation.from_euler("y", 90, degrees=True).as_matrix(),
                           dtype=torch.float32)
    orient = torch.stack([batch.global_orient_cam, batch.global_orient_cam @ turn], 1)

    class TruthDecoder:  # the score's only use of a tokenizer: tokens -> body rotations
        def decode_indices(self, tokens: torch.Tensor) -> torch.Tensor:
            return batch.body_pose.repeat_interleave(2, 0)

    heads = MaskedPoseOutput(logits=torch.zeros(6, 8, 64),
                             orient_6d=matrix_to_rotation_6d(orient.reshape(6, 3, 3)),
                             betas=batch.betas.repeat_interleave(2, 0),
                             camera=batch.crop_camera.repeat_interleave(2, 0))
    score = reprojection_score(TruthDecoder(), keypoint_rig(body, torch.zeros(1, 5)), cond, 2)
    scores = score(SimpleNamespace(tokens=torch.zeros(6, 8, dtype=torch.long)), heads).view(3, 2)
    seen = batch.detected[:, 0]  # a missed frame has no keypoints: every score is 0
    assert seen.sum() >= 2
    assert (scores[seen, 0] > scores[seen, 1] + 0.1).all(), scores
    assert (-scores[seen, 0] < 0.1).all(), scores  # the crop spans [-1, 1]
