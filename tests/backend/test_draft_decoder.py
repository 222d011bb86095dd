"""The draft decoder: distilled from a tokenizer's decoder, tied to that tokenizer, and used by
refinement for its early steps only (the pose it ends on is the tokenizer's own decode)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.models import draft_decoder
from genhmr.models.draft_decoder import (
    DraftConfig,
    draft_for,
    load_draft,
    new_draft,
    register_draft,
    teacher_fingerprint,
)
from genhmr.models.refinement import RefinementConfig, RefinementInput, refine
from genhmr.models.tokenizer import PoseTokenizer, TokenizerConfig, rotation_angle_deg
from genhmr.train.common import DistContext, TrainConfig
from genhmr.train.draft_decoder import (
    DraftDataConfig,
    DraftTask,
    DraftTrainingConfig,
    soft_logits,
)

SMALL = DraftConfig(num_tokens=8, code_dim=16, hidden_dim=24, channel_mlp_dim=32,
                    token_mlp_dim=16, joint_blocks=1, token_blocks=1)


def tiny_tokenizer(seed: int) -> PoseTokenizer:
    torch.manual_seed(seed)
    tokenizer = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16,
                                              hidden_dim=48, channel_mlp_dim=96,
                                              token_mlp_dim=32, joint_blocks=1, token_blocks=1,
                                              kmeans_init=False)).eval()
    with torch.no_grad():
        tokenizer.codebook.normal_(0.0, 1.0)
    return tokenizer


def random_poses(count: int, seed: int) -> torch.Tensor:
    from scipy.spatial.transform import Rotation

    rotvec = np.random.default_rng(seed).normal(0.0, 0.3, (count * 21, 3))
    return torch.as_tensor(Rotation.from_rotvec(rotvec).as_matrix(),
                           dtype=torch.float32).reshape(count, 21, 3, 3)


def test_a_draft_belongs_to_the_tokenizer_it_was_distilled_from(tmp_path):
    teacher, other = tiny_tokenizer(0), tiny_tokenizer(1)
    assert teacher_fingerprint(teacher) == teacher_fingerprint(teacher)
    assert teacher_fingerprint(teacher) != teacher_fingerprint(other)
    path = tmp_path / "draft.pt"
    torch.save(new_draft(teacher, SMALL).checkpoint_payload(), path)
    assert load_draft(path, teacher).teacher == teacher_fingerprint(teacher)
    with pytest.raises(ValueError, match="another tokenizer"):
        load_draft(path, other)
    assert draft_for(other, path) is None  # refinement then decodes every step itself
    with pytest.raises(ValueError, match="another tokenizer"):
        register_draft(other, load_draft(path, teacher))
    (tmp_path / "damaged.pt").write_bytes(b"not a checkpoint")
    assert draft_for(tiny_tokenizer(2), tmp_path / "damaged.pt") is None


def test_the_soft_tokens_are_drawn_from_the_seed_and_range_from_sure_to_unsure():
    teacher = tiny_tokenizer(0)
    poses = random_poses(64, seed=3)
    cfg = DraftDataConfig()
    a = soft_logits(teacher, poses, torch.Generator().manual_seed(5), cfg)
    b = soft_logits(teacher, poses, torch.Generator().manual_seed(5), cfg)
    c = soft_logits(teacher, poses, torch.Generator().manual_seed(6), cfg)
    assert a.shape == (64, 8, 64)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    top = torch.softmax(a, -1).max(-1).values
    assert float(top.min()) < 0.3 and float(top.max()) > 0.9


def test_distillation_brings_the_draft_close_to_its_teacher():
    teacher = tiny_tokenizer(0)
    config = DraftTrainingConfig(model=SMALL, train=TrainConfig(batch_size=64, lr=3e-3,
                                                                warmup_steps=10))
    task = DraftTask(config, teacher, random_poses(512, seed=1), random_poses(128, seed=2),
                     DistContext())
    before = task.validate(task.model.eval())["val/rot_err_deg"]
    optimizer = torch.optim.Adam(task.model.parameters(), lr=3e-3)
    task.model.train()
    for step in range(150):
        optimizer.zero_grad()
        task.train_step(task.model, step)["loss"].backward()
        optimizer.step()
    after = task.validate(task.model.eval())["val/rot_err_deg"]
    assert after < 0.5 * before, (before, after)


def _track(teacher: PoseTokenizer, body, frames: int = 5):
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(1, frames, teacher.num_tokens, teacher.codebook_size, generator=g) * 3
    orient = torch.as_tensor(np.diag([1.0, -1.0, -1.0]), dtype=torch.float32).expand(
        1, frames, 3, 3).clone()
    transl = torch.tensor([0.0, 0.0, 4.0]).expand(1, frames, 3).clone()
    K = torch.tensor([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    target = torch.tensor([640.0, 360.0]) + 40 * torch.randn(1, frames, 25, 2, generator=g)
    return RefinementInput(logits=logits, global_orient=orient, transl=transl,
                           betas=torch.zeros(1, body.num_betas), keypoints_2d=target,
                           confidence=torch.ones(1, frames, 25), K=K,
                           valid=torch.ones(1, frames, dtype=torch.bool))


def test_refinement_takes_its_early_steps_on_the_draft_and_ends_on_the_real_decoder():
    teacher, body = tiny_tokenizer(0), load_default_body()
    inputs = _track(teacher, body)
    register_draft(teacher, None)
    plain = refine(teacher, body, inputs, RefinementConfig(steps=6, polish_steps=2))
    exact = refine(teacher, body, inputs, RefinementConfig(steps=6, draft=False))
    torch.testing.assert_close(plain.body_pose, exact.body_pose, atol=0, rtol=0)  # no draft

    draft = new_draft(teacher, SMALL)
    register_draft(teacher, draft)
    try:
        assert draft_for(teacher) is draft
        drafted = refine(teacher, body, inputs, RefinementConfig(steps=6, polish_steps=2))
        unused = refine(teacher, body, inputs, RefinementConfig(steps=6, polish_steps=6))
    finally:
        draft_decoder._drafts.pop(teacher, None)
    torch.testing.assert_close(unused.body_pose, exact.body_pose, atol=0, rtol=0)
    # the error before is stage 1's on the real decoder; the pose it ends on is the real
    # decoder's reading of the final logits, whatever decoded the early steps
    torch.testing.assert_close(drafted.reprojection_px_before, exact.reprojection_px_before)
    with torch.no_grad():
        final = teacher.decode_logits(drafted.logits.reshape(5, 8, 64)).reshape(1, 5, 21, 3, 3)
    torch.testing.assert_close(drafted.body_pose, final)
    # and the (untrained) draft did steer the early steps: not the same logits as without it
    assert float(rotation_angle_deg(drafted.body_pose, exact.body_pose).max()) > 0.01
