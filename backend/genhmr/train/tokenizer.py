"""Train the pose tokenizer (VQ-VAE) on a motion dataset file.

    python -m genhmr.train.tokenizer --config backend/configs/tokenizer.toml \\
        --data PATH/motion_dataset.npz --out runs/tokenizer [--resume] [--device auto|cpu|cuda]
    torchrun --nproc_per_node 4 -m genhmr.train.tokenizer --data ... --out ...

The data is ``MotionDataset.poses("train")`` — every frame's 21 body rotations, global
orientation excluded — held in memory on the training device (a million frames is ~0.8 GB).
Validation runs on the dataset's ``val`` split (whole held-out clips), subsampled evenly to at
most ``data.val_max_frames`` frames, and reports the FK joint error (MPJPE, mm, 22 joints,
pelvis-aligned), the mean joint rotation error (degrees), codebook usage and perplexity, and the
same errors for always predicting the training set's mean pose, the baseline to beat.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genhmr.body.skeleton_model import SkeletonModel
from genhmr.models.tokenizer import (
    PoseTokenizer,
    TokenizerConfig,
    TokenizerLossConfig,
    body_points,
    codebook_usage,
    default_skeleton,
    mean_rotation,
    mirror_pose,
    rotation_angle_deg,
    tokenizer_losses,
)
from genhmr.train.common import (
    DistContext,
    EpochBatches,
    TrainConfig,
    TrainResult,
    config_to_dict,
    run_command,
    run_training,
    step_generator,
    training_parser,
)

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tokenizer.toml"
VAL_CHUNK = 4096  # validation frames per forward pass


@dataclass
class TokenizerDataConfig:
    """How training poses are drawn."""

    mirror_prob: float = 0.5  # chance of a left/right mirrored copy (cheap, exact augmentation)
    val_max_frames: int = 20000  # evenly subsample the val split to at most this many frames

    def __post_init__(self) -> None:
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise ValueError(f"data.mirror_prob must be in [0, 1], got {self.mirror_prob}")
        if self.val_max_frames < 1:
            raise ValueError("data.val_max_frames must be at least 1")


@dataclass
class TokenizerTrainingConfig:
    """Everything in ``configs/tokenizer.toml``; stored whole in ``last.pt`` and ``model.pt``."""

    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    loss: TokenizerLossConfig = field(default_factory=TokenizerLossConfig)
    data: TokenizerDataConfig = field(default_factory=TokenizerDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def even_subsample(poses: Tensor, max_frames: int) -> Tensor:
    """At most ``max_frames`` evenly spaced frames (consecutive frames are near duplicates)."""
    if len(poses) <= max_frames:
        return poses
    return poses[torch.linspace(0, len(poses) - 1, max_frames).round().long()]


class TokenizerTask:
    """The tokenizer's plug-in for :func:`genhmr.train.common.run_training`."""

    def __init__(self, config: TokenizerTrainingConfig, train_poses: Tensor, val_poses: Tensor,
                 ctx: DistContext, skeleton: SkeletonModel | None = None,
                 dataset_info: dict[str, Any] | None = None) -> None:
        self.config, self.ctx = config, ctx
        torch.manual_seed(config.train.seed)  # identical initial weights on every rank
        self.model = PoseTokenizer(config.model, sync_codebook=ctx.distributed)
        self.skeleton = (default_skeleton() if skeleton is None else skeleton).to(ctx.device)
        self.train_poses = train_poses.to(ctx.device, torch.float32)
        self.batches = EpochBatches(len(train_poses), config.train.batch_size, config.train.seed,
                                    ctx.rank, ctx.world_size)
        val = even_subsample(val_poses, config.data.val_max_frames).to(torch.float32)
        self.val_frames = len(val)
        self.val_local = val[ctx.rank::ctx.world_size].to(ctx.device)  # this rank's shard
        # the baseline: always answer the training set's (chordal) mean pose
        sample = even_subsample(train_poses, 200_000).to(torch.float32)
        self.mean_pose = mean_rotation(sample).to(ctx.device)
        self.dataset_info = dict(dataset_info or {})

    def train_step(self, model: nn.Module, step: int) -> dict[str, Tensor]:
        pose = self.train_poses[self.batches.indices(step).to(self.ctx.device)]
        prob = self.config.data.mirror_prob
        if prob > 0:
            # flags for the whole global batch from (seed, step): independent of rank count
            flags = torch.rand(self.config.train.batch_size,
                               generator=step_generator(self.config.train.seed, step)) < prob
            start = self.ctx.rank * self.batches.local_batch
            flags = flags[start:start + self.batches.local_batch].to(self.ctx.device)
            pose = torch.where(flags.view(-1, 1, 1, 1), mirror_pose(pose), pose)
        out = model(pose)
        with torch.autocast(self.ctx.device.type, enabled=False):  # FK and losses in float32
            return tokenizer_losses(out.rotmat.float(), pose, out.encoding.commit_loss.float(),
                                    self.skeleton, self.config.loss)

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float]:
        if self.val_frames == 0:
            return {}
        assert isinstance(model, PoseTokenizer)
        dev = self.ctx.device
        # per-frame sums: joint error (m), rotation error (deg), keypoint error (m), then the
        # same three for the mean pose
        sums = torch.zeros(6, dtype=torch.float64, device=dev)
        counts = torch.zeros(model.codebook_size, dtype=torch.float64, device=dev)
        for chunk in self.val_local.split(VAL_CHUNK):
            encoding = model.encode(chunk)
            target = body_points(self.skeleton, chunk)
            for offset, pred in ((0, model.decode_indices(encoding.indices)),
                                 (3, self.mean_pose.expand_as(chunk))):
                joints, keypoints = body_points(self.skeleton, pred)
                sums[offset:offset + 3] += torch.stack([
                    (joints - target[0]).norm(dim=-1).mean(-1).sum(),
                    rotation_angle_deg(pred, chunk).mean(-1).sum(),
                    (keypoints - target[1]).norm(dim=-1).mean(-1).sum()]).double()
            counts += torch.bincount(encoding.indices.flatten(),
                                     minlength=model.codebook_size).double()
        self.ctx.all_reduce_sum(sums)
        self.ctx.all_reduce_sum(counts)
        mean = (sums / self.val_frames).tolist()
        usage = codebook_usage(counts)
        return {"val/mpjpe_mm": 1000 * mean[0], "val/rot_err_deg": mean[1],
                "val/keypoint_err_mm": 1000 * mean[2],
                "val/codebook_used": usage["codebook_used"],
                "val/perplexity": usage["perplexity"],
                "val/mean_pose_mpjpe_mm": 1000 * mean[3], "val/mean_pose_rot_err_deg": mean[4],
                "val/mean_pose_keypoint_err_mm": 1000 * mean[5]}

    def export(self, model: nn.Module) -> dict[str, Any]:
        assert isinstance(model, PoseTokenizer)
        payload = model.checkpoint_payload()
        payload["dataset"] = self.dataset_info
        return payload


def train_tokenizer(config: TokenizerTrainingConfig, train_poses: Tensor, val_poses: Tensor,
                    out_dir: str | Path, ctx: DistContext | None = None,
                    checkpoint: dict[str, Any] | None = None, stop_at: int | None = None,
                    dataset_info: dict[str, Any] | None = None) -> tuple[PoseTokenizer,
                                                                          TrainResult]:
    """Train (or continue, from a ``last.pt`` payload) on in-memory poses (M, 21, 3, 3)."""
    ctx = ctx or DistContext()
    task = TokenizerTask(config, train_poses, val_poses, ctx, dataset_info=dataset_info)
    result = run_training(task, config.train, config_to_dict(config), out_dir, ctx,
                          checkpoint=checkpoint, stop_at=stop_at, desc="tokenizer")
    return task.model, result


def main(argv: list[str] | None = None) -> int:
    parser = training_parser("python -m genhmr.train.tokenizer", __doc__.split("\n\n")[0],
                             DEFAULT_CONFIG)
    args = parser.parse_args(argv)

    from genhmr.motion.clip import MotionDataset

    def build(config: TokenizerTrainingConfig, checkpoint: dict | None, ctx: DistContext
              ) -> tuple[TokenizerTask, str]:
        dataset = MotionDataset.load(args.data)
        train = torch.from_numpy(dataset.poses("train"))
        val = torch.from_numpy(dataset.poses("val"))
        info = {"path": str(args.data), "train_frames": len(train), "val_frames": len(val)}
        banner = (f"tokenizer: {len(train)} train / {len(val)} val frames, "
                  f"{ctx.world_size} process(es) on {ctx.device}")
        return TokenizerTask(config, train, val, ctx, dataset_info=info), banner

    return run_command(args, TokenizerTrainingConfig, DEFAULT_CONFIG, build, desc="tokenizer")

if __name__ == "__main__":
    sys.exit(main())
