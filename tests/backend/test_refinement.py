"""Stage-2 refinement: optimising soft tokens, orientation and translation against 2D keypoints
lowers the reprojection error on a synthetic case where the truth is known (and expressible by
the tokenizer), without moving the 3D pose away from the truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from genhmr.body.default_body import load_default_body
from genhmr.models.refinement import (
    RefinementConfig,
    RefinementInput,
    keypoint_rig,
    pose_keypoints,
    project,
    refine,
)
from genhmr.models.tokenizer import PoseTokenizer, TokenizerConfig
from scipy.spatial.transform import Rotation

FACING_CAMERA = np.diag([1.0, -1.0, -1.0])  # Y-up body facing +Z -> upright, facing an OpenCV cam


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    tokenizer = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16,
                                              hidden_dim=48, channel_mlp_dim=96,
                                              token_mlp_dim=32, joint_blocks=1, token_blocks=1,
                                              kmeans_init=False)).eval()
    with torch.no_grad():
        tokenizer.codebook.normal_(0.0, 1.0)  # a spread of codes, so poses differ
    return tokenizer, load_default_body()


def _truth(tokenizer, body, people: int, frames: int, seed: int = 0, still: bool = False):
    """Known poses; ``still`` holds one pose over the frames (a smooth track)."""
    g = torch.Generator().manual_seed(seed)
    T, C = tokenizer.num_tokens, tokenizer.codebook_size
    logits = torch.randn(people, 1 if still else frames, T, C, generator=g) * 4.0
    logits = logits.expand(people, frames, T, C).clone()
    n = people * frames
    yaw = Rotation.from_euler("y", np.linspace(-30, 30, n)[:, None], degrees=True).as_matrix()
    orient = torch.as_tensor(FACING_CAMERA @ yaw, dtype=torch.float32).reshape(people, frames,
                                                                                3, 3)
    transl = torch.tensor([0.0, 0.0, 4.0]).expand(people, frames, 3).clone()
    betas = torch.zeros(people, body.num_betas)
    with torch.no_grad():
        pose = tokenizer.decode_logits(logits.reshape(n, T, C),
                                       RefinementConfig().temperature)
        local = torch.cat([orient.reshape(n, 1, 3, 3), pose], dim=1)
        offsets, kp_off = keypoint_rig(body, betas)
        joints, kp = pose_keypoints(offsets.repeat_interleave(frames, 0),
                                    kp_off.repeat_interleave(frames, 0), local,
                                    transl.reshape(n, 3))
    K = torch.tensor([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    return dict(logits=logits, orient=orient, transl=transl, betas=betas, K=K,
                joints=joints.reshape(people, frames, 22, 3),
                kp3d=kp.reshape(people, frames, 25, 3),
                kp2d=project(kp, K).reshape(people, frames, 25, 2))


def _mpjpe(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a - a[..., :1, :]
    b = b - b[..., :1, :]
    return float((a - b).norm(dim=-1).mean()) * 1000


def test_refinement_lowers_reprojection_and_3d_error(setup) -> None:
    tokenizer, body = setup
    truth = _truth(tokenizer, body, people=2, frames=3)
    g = torch.Generator().manual_seed(1)
    noisy_orient = truth["orient"] @ torch.as_tensor(
        Rotation.from_rotvec(np.full((6, 3), 0.08)).as_matrix(), dtype=torch.float32
    ).reshape(2, 3, 3, 3)
    inputs = RefinementInput(
        logits=truth["logits"] + torch.randn(truth["logits"].shape, generator=g) * 4.0,
        global_orient=noisy_orient, transl=truth["transl"] + torch.tensor([0.08, -0.05, 0.1]),
        betas=truth["betas"], keypoints_2d=truth["kp2d"], confidence=torch.ones(2, 3, 25),
        K=truth["K"], valid=torch.ones(2, 3, dtype=torch.bool))
    result = refine(tokenizer, body, inputs, RefinementConfig(steps=60, smooth=0.0))
    before, after = result.reprojection_px_before.mean(), result.reprojection_px_after.mean()
    assert after < 0.5 * before, (before, after)
    # 3D: the refined joints are no further from the truth than stage 1's.
    with torch.no_grad():
        start = refine(tokenizer, body, inputs, RefinementConfig(steps=0))
    n = 6
    def joints_of(res):
        local = torch.cat([res.global_orient.reshape(n, 1, 3, 3),
                           res.body_pose.reshape(n, 21, 3, 3)], 1)
        offsets, kp_off = keypoint_rig(body, res.betas)
        j, _ = pose_keypoints(offsets.repeat_interleave(3, 0), kp_off.repeat_interleave(3, 0),
                              local, res.transl.reshape(n, 3))
        return j.reshape(2, 3, 22, 3)
    assert _mpjpe(joints_of(result), truth["joints"]) <= _mpjpe(joints_of(start),
                                                                 truth["joints"]) + 1.0
    assert result.body_pose.shape == (2, 3, 21, 3, 3)


def test_low_confidence_outliers_and_invalid_frames_are_ignored(setup) -> None:
    tokenizer, body = setup
    truth = _truth(tokenizer, body, people=1, frames=5, seed=3, still=True)
    kp = truth["kp2d"].clone()
    kp[0, :, 9] += 400.0  # a wild wrist ...
    conf = torch.ones(1, 5, 25)
    conf[0, :, 9] = 0.01  # ... that the detector itself doubted
    valid = torch.ones(1, 5, dtype=torch.bool)
    valid[0, 4] = False
    kp[0, 4] += 1000.0  # garbage in an invalid frame
    inputs = RefinementInput(logits=truth["logits"], global_orient=truth["orient"],
                             transl=truth["transl"], betas=truth["betas"], keypoints_2d=kp,
                             confidence=conf, K=truth["K"], valid=valid)
    result = refine(tokenizer, body, inputs, RefinementConfig(steps=30))
    # Starting at the truth, nothing should pull it away: Adam's first steps and the
    # smoothness of a turning body move it by a few pixels on a ~425 px person, the 400 px
    # outlier would move it by tens.
    assert float(result.reprojection_px_after[0, :4].max()) < 5.0
    assert torch.allclose(result.transl[0, :4], truth["transl"][0, :4], atol=0.03)


def test_shape_refinement_runs_and_changes_betas(setup) -> None:
    tokenizer, body = setup
    truth = _truth(tokenizer, body, people=1, frames=2, seed=5)
    inputs = RefinementInput(logits=truth["logits"], global_orient=truth["orient"],
                             transl=truth["transl"] * 1.0, betas=truth["betas"] + 0.5,
                             keypoints_2d=truth["kp2d"], confidence=torch.ones(1, 2, 25),
                             K=truth["K"], valid=torch.ones(1, 2, dtype=torch.bool))
    result = refine(tokenizer, body, inputs, RefinementConfig(steps=30, refine_shape=True))
    assert not torch.allclose(result.betas, inputs.betas)
    assert result.reprojection_px_after.mean() < result.reprojection_px_before.mean()


def test_the_3d_landmark_term_resolves_what_2d_cannot(setup) -> None:
    """2D keypoints leave depth ambiguous; the detector's hip-centred 3D landmarks do not. With
    the landmark term on, the refined joints end nearer the truth in 3D; NaN landmarks (missed
    points) are ignored rather than poisoning the loss."""
    tokenizer, body = setup
    truth = _truth(tokenizer, body, people=1, frames=4, seed=7)
    g = torch.Generator().manual_seed(2)
    hips = truth["kp3d"][..., [11, 12], :].mean(-2, keepdim=True)
    landmarks = truth["kp3d"] - hips
    landmarks[0, 1, 5] = float("nan")
    inputs = RefinementInput(
        logits=truth["logits"] + torch.randn(truth["logits"].shape, generator=g) * 4.0,
        global_orient=truth["orient"], transl=truth["transl"], betas=truth["betas"],
        keypoints_2d=truth["kp2d"], confidence=torch.ones(1, 4, 25), K=truth["K"],
        valid=torch.ones(1, 4, dtype=torch.bool), landmarks_3d=landmarks)
    errors = {}
    for weight in (0.0, 1.0):
        res = refine(tokenizer, body, inputs, RefinementConfig(steps=60, smooth=0.0,
                                                               landmarks_3d=weight))
        assert torch.isfinite(res.body_pose).all()
        local = torch.cat([res.global_orient.reshape(4, 1, 3, 3),
                           res.body_pose.reshape(4, 21, 3, 3)], 1)
        offsets, kp_off = keypoint_rig(body, res.betas)
        j, _ = pose_keypoints(offsets.expand(4, -1, -1), kp_off.expand(4, -1, -1), local,
                              res.transl.reshape(4, 3))
        errors[weight] = _mpjpe(j.reshape(1, 4, 22, 3), truth["joints"])
    assert errors[1.0] < 0.85 * errors[0.0], errors


def test_the_error_before_and_the_pose_prior_start_from_stage_one(setup) -> None:
    """Refinement decodes stage 1's pose once, at its first step, for both the pose prior's
    target and the error it reports before refining: that must be stage 1's own pose and
    error, whatever the number of steps."""
    tokenizer, body = setup
    truth = _truth(tokenizer, body, people=1, frames=4, seed=5)
    g = torch.Generator().manual_seed(6)
    inputs = RefinementInput(
        logits=truth["logits"] + torch.randn(truth["logits"].shape, generator=g) * 2.0,
        global_orient=truth["orient"], transl=truth["transl"] + torch.tensor([0.05, 0.0, 0.1]),
        betas=truth["betas"], keypoints_2d=truth["kp2d"], confidence=torch.ones(1, 4, 25),
        K=truth["K"], valid=torch.ones(1, 4, dtype=torch.bool))
    start = refine(tokenizer, body, inputs, RefinementConfig(steps=0))
    refined = refine(tokenizer, body, inputs, RefinementConfig(steps=5))
    with torch.no_grad():
        pose = tokenizer.decode_logits(inputs.logits.reshape(4, *inputs.logits.shape[2:]))
    torch.testing.assert_close(start.body_pose[0], pose)
    torch.testing.assert_close(start.reprojection_px_before, start.reprojection_px_after)
    torch.testing.assert_close(refined.reprojection_px_before, start.reprojection_px_before)
    assert float(start.reprojection_px_before.mean()) > 5.0  # stage 1 was off: a real check
    assert not torch.equal(refined.reprojection_px_after, refined.reprojection_px_before)


def test_the_decoder_refinement_runs_is_the_tokenizer_as_trained(setup) -> None:
    """The decoder runs sequence-first for speed (docs/performance.md); it must be the
    function of the tokenizer's modules applied as they were trained (batch-first), for the
    test tokenizer and for the shipped one."""
    from genhmr.body.skeleton_model import rotation_6d_to_matrix
    from genhmr.generative import load_generative

    tokenizers = [setup[0], load_generative()[1]]
    for tokenizer in tokenizers:
        g = torch.Generator().manual_seed(7)
        codes = torch.randn(6, tokenizer.num_tokens, tokenizer.config.code_dim, generator=g)
        with torch.no_grad():
            x = tokenizer.token_in(codes) + tokenizer.token_embed
            x = tokenizer.dec_joint_blocks(tokenizer.dec_resample(tokenizer.dec_token_blocks(x)))
            trained = rotation_6d_to_matrix(tokenizer.dec_out(tokenizer.dec_norm(x))
                                            + tokenizer.identity_6d)
            fast = tokenizer.decode_quantized(codes)
        torch.testing.assert_close(fast, trained, atol=1e-5, rtol=0)
        assert float((trained - torch.eye(3)).abs().max()) > 0.1  # not just the rest pose
