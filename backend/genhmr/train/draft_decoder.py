"""Distil the draft decoder (``genhmr.models.draft_decoder``) from a tokenizer's decoder.

    python -m genhmr.train.draft_decoder --config backend/configs/draft_decoder.toml \\
        --data PATH/motion_dataset.npz --out runs/draft [--set data.teacher=CHECKPOINT]

The draft learns to give the teacher's pose for the *soft* tokens refinement feeds a decoder
(``softmax(logits) @ codebook``), so the training inputs are distributions over codes, made
from the motion dataset's poses as stage 1 and refinement would hold them:

* each pose's encoder latents, turned into a distribution over the codebook by their squared
  distances to every code at a random temperature (relative to the nearest code's distance):
  from nearly one-hot to the broad distributions stage 1 gives where it hesitates (its top
  code's probability is 0.2-0.74 for 80 % of the slots on demo.mp4);
* Gaussian noise on the logits (refinement moves them freely, 0.2 per step);
* for some poses, a mixture with another pose's distribution (stage 1 torn between two
  readings, e.g. a limb in front of or behind the body).

The loss is the tokenizer's own (rotation-matrix MSE and the default body's joint and keypoint
distances) between the draft's pose and the teacher's on the same logits. Validation reports
the mean joint rotation error (degrees) and keypoint error (mm) against the teacher on the
``val`` split's poses, with the same kind of logits drawn from a fixed seed.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genhmr.models.draft_decoder import DraftConfig, DraftDecoder, new_draft
from genhmr.models.tokenizer import (
    PoseTokenizer,
    TokenizerLossConfig,
    body_points,
    default_skeleton,
    mirror_pose,
    rotation_angle_deg,
    tokenizer_losses,
)
from genhmr.train.common import (
    DistContext,
    EpochBatches,
    TrainConfig,
    run_command,
    step_generator,
    training_parser,
)
from genhmr.train.tokenizer import even_subsample

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "draft_decoder.toml"
VAL_SEED = 12345


@dataclass
class DraftDataConfig:
    """The teacher, and how the soft-token inputs are drawn."""

    teacher: str = ""  # a generative checkpoint ("" = the shipped default) or a tokenizer's
    mirror_prob: float = 0.5
    # temperature of the code distances, as a multiple of the nearest code's squared distance:
    # log-uniform in [min, max]
    min_temperature: float = 0.05
    max_temperature: float = 1.5
    max_noise: float = 1.0  # std of the Gaussian noise on the logits: uniform in [0, max]
    mixture_prob: float = 0.3  # chance that a pose's distribution is mixed with another's
    val_max_frames: int = 4000

    def __post_init__(self) -> None:
        for name in ("mirror_prob", "mixture_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"data.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.min_temperature <= self.max_temperature:
            raise ValueError("data.min_temperature must be positive and at most max_temperature")
        if self.max_noise < 0 or self.val_max_frames < 1:
            raise ValueError("data.max_noise must not be negative, val_max_frames positive")


@dataclass
class DraftTrainingConfig:
    """Everything in ``configs/draft_decoder.toml``; stored whole in ``last.pt``."""

    model: DraftConfig = field(default_factory=DraftConfig)
    loss: TokenizerLossConfig = field(default_factory=TokenizerLossConfig)
    data: DraftDataConfig = field(default_factory=DraftDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_teacher(path: str) -> PoseTokenizer:
    """The tokenizer inside a generative checkpoint ("" = the shipped one)."""
    from genhmr.generative import load_generative

    return load_generative(path)[1]


@torch.no_grad()
def soft_logits(tokenizer: PoseTokenizer, poses: Tensor, generator: torch.Generator,
                cfg: DraftDataConfig) -> Tensor:
    """(B, num_tokens, codebook_size) logits around ``poses`` (B, 21, 3, 3): see the module
    docstring. Every random draw comes from ``generator`` (on the CPU), so a step's inputs
    depend only on (seed, step)."""
    batch = poses.shape[0]
    latents = tokenizer.encode_latents(poses)  # (B, N, D)
    codebook = tokenizer.codebook.to(latents.dtype)
    d2 = (latents.square().sum(-1, keepdim=True) - 2 * latents @ codebook.T
          + codebook.square().sum(-1)).clamp(min=0)  # (B, N, C)
    nearest = d2.min(-1).values.mean(-1).clamp(min=1e-6)  # (B,)

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).to(poses.device)

    log_t = math.log(cfg.min_temperature) + draw(batch) * math.log(
        cfg.max_temperature / cfg.min_temperature)
    temperature = (log_t.exp() * nearest).view(batch, 1, 1)
    logits = -d2 / temperature
    noise = torch.randn(logits.shape, generator=generator).to(poses.device)
    logits = logits + cfg.max_noise * draw(batch).view(batch, 1, 1) * noise
    mixed = draw(batch) < cfg.mixture_prob
    if bool(mixed.any()):
        partner = torch.roll(logits, 1, dims=0)  # another pose of the (shuffled) batch
        share = draw(batch).view(batch, 1, 1)
        mixture = torch.logaddexp(torch.log_softmax(logits, -1) + share.log(),
                                  torch.log_softmax(partner, -1) + (1 - share).log())
        logits = torch.where(mixed.view(batch, 1, 1), mixture, logits)
    return logits


class DraftTask:
    """The draft decoder's plug-in for :func:`genhmr.train.common.run_training`."""

    def __init__(self, config: DraftTrainingConfig, teacher: PoseTokenizer, train_poses: Tensor,
                 val_poses: Tensor, ctx: DistContext) -> None:
        self.config, self.ctx = config, ctx
        torch.manual_seed(config.train.seed)
        self.teacher = teacher.to(ctx.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.model: DraftDecoder = new_draft(teacher, config.model).to(ctx.device)
        self.skeleton = default_skeleton().to(ctx.device)
        self.train_poses = train_poses.to(ctx.device, torch.float32)
        self.batches = EpochBatches(len(train_poses), config.train.batch_size, config.train.seed,
                                    ctx.rank, ctx.world_size)
        val = even_subsample(val_poses, config.data.val_max_frames).to(torch.float32)
        self.val_frames = len(val)
        self.val_local = val[ctx.rank::ctx.world_size].to(ctx.device)

    def _inputs(self, poses: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        logits = soft_logits(self.teacher, poses, generator, self.config.data)
        with torch.no_grad():
            target = self.teacher.decode_logits(logits)
        return logits, target

    def train_step(self, model: nn.Module, step: int) -> dict[str, Tensor]:
        generator = step_generator(self.config.train.seed, step)
        pose = self.train_poses[self.batches.indices(step).to(self.ctx.device)]
        flags = torch.rand(len(pose), generator=generator) < self.config.data.mirror_prob
        pose = torch.where(flags.view(-1, 1, 1, 1).to(pose.device), mirror_pose(pose), pose)
        logits, target = self._inputs(pose, generator)
        pred = model(logits)
        zero = torch.zeros((), device=pred.device)
        return tokenizer_losses(pred.float(), target, zero, self.skeleton, self.config.loss)

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float]:
        if self.val_frames == 0:
            return {}
        generator = torch.Generator().manual_seed(VAL_SEED + self.ctx.rank)
        sums = torch.zeros(2, dtype=torch.float64, device=self.ctx.device)
        for chunk in self.val_local.split(1024):
            logits, target = self._inputs(chunk, generator)
            pred = model(logits)
            _, kp_target = body_points(self.skeleton, target)
            _, kp = body_points(self.skeleton, pred)
            sums += torch.stack([rotation_angle_deg(pred, target).mean(-1).sum(),
                                 (kp - kp_target).norm(dim=-1).mean(-1).sum()]).double()
        self.ctx.all_reduce_sum(sums)
        mean = (sums / self.val_frames).tolist()
        return {"val/rot_err_deg": mean[0], "val/keypoint_err_mm": 1000 * mean[1]}

    def export(self, model: nn.Module) -> dict[str, Any]:
        assert isinstance(model, DraftDecoder)
        return model.checkpoint_payload()


def main(argv: list[str] | None = None) -> int:
    parser = training_parser("python -m genhmr.train.draft_decoder", __doc__.split("\n\n")[0],
                             DEFAULT_CONFIG)
    args = parser.parse_args(argv)

    from genhmr.motion.clip import MotionDataset

    def build(config: DraftTrainingConfig, checkpoint: dict | None, ctx: DistContext
              ) -> tuple[DraftTask, str]:
        teacher = load_teacher(config.data.teacher)
        dataset = MotionDataset.load(args.data)
        train = torch.from_numpy(dataset.poses("train"))
        val = torch.from_numpy(dataset.poses("val"))
        banner = (f"draft decoder: {len(train)} train / {len(val)} val frames, teacher "
                  f"{config.data.teacher or 'the shipped checkpoint'}, {ctx.world_size} "
                  f"process(es) on {ctx.device}")
        return DraftTask(config, teacher, train, val, ctx), banner

    return run_command(args, DraftTrainingConfig, DEFAULT_CONFIG, build, desc="draft decoder")


if __name__ == "__main__":
    sys.exit(main())
