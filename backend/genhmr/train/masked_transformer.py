"""Train the masked pose transformer on synthetic conditioning from a motion dataset.

    python -m genhmr.train.masked_transformer --config backend/configs/masked_transformer.toml \\
        --data PATH/motion_v1.npz --tokenizer RUNS/tokenizer/model.pt --out RUNS/transformer \\
        [--resume] [--max-steps N] [--device auto|cpu|cuda]
    torchrun --nproc_per_node 4 -m genhmr.train.masked_transformer --data ... --out ...

Every step synthesises its samples on the fly (:mod:`genhmr.synthetic.conditioning`): the
global batch is a slice of an epoch permutation of all training windows, and each sample's
betas, camera and detector noise come from a seed fixed by (train.seed, step, position in the
global batch), so a resumed or re-sharded run sees exactly the same data. Target tokens come
from the frozen tokenizer; the tokenizer is stored inside every checkpoint (one file ships
both, and ``--resume`` uses the stored one).

Losses: cross-entropy on the masked and randomly replaced tokens (MaskGIT), the chordal
(matrix MSE) distance of the camera-frame global orientation, betas MSE, and L1 on the crop
camera (log s, tx, ty). Validation runs on a fixed synthetic set from the val clips: token
accuracy of one fully masked pass and of iterative decoding, MPJPE / PA-MPJPE (mm, 22 FK
joints of the default skeleton, pelvis-aligned) of the decoded pose, the tokenizer's own
floor (decoding the true tokens), orientation error (deg), betas RMSE and camera errors.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genhmr.body.skeleton_model import SkeletonModel
from genhmr.models.masked_transformer import (
    MaskedPoseTransformer,
    MaskedPoseTransformerConfig,
    PoseCondition,
    widened_state_dict,
)
from genhmr.models.sampling import mask_tokens, predict_pose
from genhmr.models.tokenizer import (
    PoseTokenizer,
    body_points,
    default_skeleton,
    rotation_angle_deg,
    tokenizer_from_payload,
)
from genhmr.motion.clip import MotionClip
from genhmr.synthetic.conditioning import (
    ConditioningBatch,
    ConditioningConfig,
    ConditioningSampler,
)
from genhmr.train.common import (
    ConfigError,
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

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "masked_transformer.toml"
VAL_SEED = 1_000_003
VAL_CHUNK = 256


@dataclass
class TransformerDataConfig:
    """Synthetic conditioning (see :class:`ConditioningConfig`) and the validation set."""

    window: int = 1
    betas_range: float = 1.0
    crop_padding: float = 0.1
    min_confidence: float = 0.3
    min_box_px: float = 16.0
    random_token_rate: float = 0.05  # unmasked tokens replaced by random codes in training
    workers: int = 0  # processes synthesising batches ahead of the trainer (0: in-process)
    val_samples: int = 1024  # fixed synthetic validation samples from the val clips

    def __post_init__(self) -> None:
        self.conditioning()  # validates the shared keys
        if not 0.0 <= self.random_token_rate < 1.0:
            raise ValueError("data.random_token_rate must be in [0, 1)")
        if self.val_samples < 0 or self.workers < 0:
            raise ValueError("data.val_samples and data.workers must not be negative")

    def conditioning(self) -> ConditioningConfig:
        return ConditioningConfig(window=self.window, betas_range=self.betas_range,
                                  crop_padding=self.crop_padding,
                                  min_confidence=self.min_confidence,
                                  min_box_px=self.min_box_px)


@dataclass
class TransformerLossConfig:
    tokens: float = 1.0  # cross-entropy on masked + replaced tokens
    orient: float = 1.0  # matrix MSE of the camera-frame global orientation
    betas: float = 0.5  # MSE of the shape coefficients
    camera: float = 1.0  # L1 of (log s, tx, ty)


@dataclass
class SamplingConfig:
    iterations: int = 8  # decoding iterations in validation

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("sampling.iterations must be at least 1")


@dataclass
class TransformerTrainingConfig:
    """Everything in ``configs/masked_transformer.toml``. ``model.num_tokens``,
    ``model.codebook_size`` and ``model.window`` are taken from the tokenizer and
    ``data.window``."""

    model: MaskedPoseTransformerConfig = field(default_factory=MaskedPoseTransformerConfig)
    loss: TransformerLossConfig = field(default_factory=TransformerLossConfig)
    data: TransformerDataConfig = field(default_factory=TransformerDataConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def sample_seed(seed: int, step: int, position: int) -> int:
    """Seed of the sample at ``position`` of the global batch of ``step``."""
    return ((seed * 1_000_003 + step) * 65_537 + position) % (2**63)


def transformer_losses(out: Any, target_tokens: Tensor, corrupted: Any, batch: ConditioningBatch,
                       weights: TransformerLossConfig) -> dict[str, Tensor]:
    """The weighted loss and its unweighted terms (see the module docstring)."""
    where = corrupted.masked | corrupted.replaced
    ce = F.cross_entropy(out.logits.float()[where], target_tokens[where])
    orient = (out.global_orient - batch.global_orient_cam).square().mean()
    betas = (out.betas - batch.betas).square().mean()
    pred_cam = torch.cat([out.camera[:, :1].clamp(min=1e-6).log(), out.camera[:, 1:]], -1)
    true_cam = torch.cat([batch.crop_camera[:, :1].clamp(min=1e-6).log(),
                          batch.crop_camera[:, 1:]], -1)
    camera = (pred_cam - true_cam).abs().mean()
    loss = (weights.tokens * ce + weights.orient * orient + weights.betas * betas
            + weights.camera * camera)
    with torch.no_grad():
        acc = (out.logits[where].argmax(-1) == target_tokens[where]).float().mean()
    return {"loss": loss, "tokens": ce.detach(), "orient": orient.detach(),
            "betas": betas.detach(), "camera": camera.detach(), "token_acc": acc}


def procrustes_align(pred: Tensor, target: Tensor) -> Tensor:
    """pred (B, J, 3) aligned to target by the best similarity transform (PA-MPJPE)."""
    mp, mt = pred.mean(1, keepdim=True), target.mean(1, keepdim=True)
    x, y = (pred - mp).double(), (target - mt).double()
    u, s, vh = torch.linalg.svd(x.transpose(1, 2) @ y)
    d = torch.sign(torch.linalg.det(vh.transpose(1, 2) @ u.transpose(1, 2)))
    diag = torch.ones_like(s)
    diag[:, -1] = d
    rot = vh.transpose(1, 2) @ torch.diag_embed(diag) @ u.transpose(1, 2)
    scale = (s * diag).sum(-1) / x.square().sum((1, 2)).clamp(min=1e-12)
    return (scale[:, None, None] * x @ rot.transpose(1, 2) + mt.double()).to(pred.dtype)


class StepBatches(torch.utils.data.Dataset):
    """Item ``step`` = that step's batch for one rank: lets a DataLoader's worker processes
    synthesise batches ahead (one CPU core makes ~300 samples/s, a GPU trains faster)."""

    def __init__(self, sampler: ConditioningSampler, clips: list[MotionClip],
                 windows: np.ndarray, batches: EpochBatches, seed: int, rank: int) -> None:
        self.sampler, self.clips, self.windows = sampler, clips, windows
        self.batches, self.seed, self.rank = batches, seed, rank

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> ConditioningBatch:
        local = self.batches.indices(step).numpy()
        start = self.rank * self.batches.local_batch
        seeds = [sample_seed(self.seed, step, start + i) for i in range(len(local))]
        return self.sampler.sample(self.clips, self.windows[local], seeds)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


class TransformerTask:
    """The transformer's plug-in for :func:`genhmr.train.common.run_training`."""

    def __init__(self, config: TransformerTrainingConfig, tokenizer: PoseTokenizer,
                 sampler: ConditioningSampler, train_clips: list[MotionClip],
                 val_clips: list[MotionClip], ctx: DistContext,
                 skeleton: SkeletonModel | None = None,
                 dataset_info: dict[str, Any] | None = None) -> None:
        self.config, self.ctx, self.sampler = config, ctx, sampler
        self.tokenizer = tokenizer.to(ctx.device).eval()
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        model_cfg = dataclasses.replace(config.model, num_tokens=tokenizer.num_tokens,
                                        codebook_size=tokenizer.codebook_size,
                                        window=config.data.window)
        torch.manual_seed(config.train.seed)  # identical initial weights on every rank
        self.model = MaskedPoseTransformer(model_cfg)
        self.skeleton = (default_skeleton() if skeleton is None else skeleton).to(ctx.device)
        self.train_clips = train_clips
        self.windows = sampler.windows(train_clips)
        self.batches = EpochBatches(len(self.windows), config.train.batch_size,
                                    config.train.seed, ctx.rank, ctx.world_size)
        self._steps = StepBatches(sampler, train_clips, self.windows, self.batches,
                                  config.train.seed, ctx.rank)
        self._loader_iter: Any = None
        self._loader_next = -1
        self.val = self._validation_set(val_clips)
        self.dataset_info = dict(dataset_info or {})

    def _validation_set(self, clips: list[MotionClip]) -> ConditioningBatch | None:
        windows = self.sampler.windows(clips)
        count = min(self.config.data.val_samples, len(windows))
        if count == 0:
            return None
        pick = np.linspace(0, len(windows) - 1, count).round().astype(np.int64)
        mine = pick[self.ctx.rank::self.ctx.world_size]
        seeds = VAL_SEED + np.arange(count)[self.ctx.rank::self.ctx.world_size]
        self.val_count = count
        return self.sampler.sample(clips, windows[mine], seeds) if len(mine) else None

    def batch(self, step: int) -> ConditioningBatch:
        """This rank's share of the global batch of ``step`` (CPU), made in this process."""
        return self._steps[step]

    def next_batch(self, step: int) -> ConditioningBatch:
        """The batch of ``step``, from the worker processes when ``data.workers`` > 0 (they
        run ahead over consecutive steps; a jump restarts them). Same data either way."""
        workers = self.config.data.workers
        if workers == 0:
            return self.batch(step)
        if self._loader_iter is None or self._loader_next != step:
            loader = torch.utils.data.DataLoader(
                self._steps, batch_size=None, sampler=range(step, self.config.train.max_steps),
                num_workers=workers, prefetch_factor=2, worker_init_fn=_one_thread)
            self._loader_iter = iter(loader)
        self._loader_next = step + 1
        return next(self._loader_iter)

    def train_step(self, model: nn.Module, step: int) -> dict[str, Tensor]:
        dev = self.ctx.device
        batch = self.next_batch(step).to(dev)
        with torch.no_grad():
            targets = self.tokenizer.encode(batch.body_pose).indices
        # corruption for the whole global batch from (seed, step), then this rank's rows
        gen = step_generator(self.config.train.seed, step)
        full = self.config.train.batch_size
        start = self.ctx.rank * self.batches.local_batch
        rows = slice(start, start + self.batches.local_batch)
        placeholder = torch.zeros(full, self.tokenizer.num_tokens, dtype=torch.long)
        corrupt = mask_tokens(placeholder, self.model.mask_id, self.model.codebook_size, gen,
                              self.config.data.random_token_rate)
        masked, replaced = corrupt.masked[rows].to(dev), corrupt.replaced[rows].to(dev)
        tokens = torch.where(replaced, corrupt.tokens[rows].to(dev), targets)
        tokens = torch.where(masked, torch.full_like(targets, self.model.mask_id), tokens)
        corrupt = dataclasses.replace(corrupt, tokens=tokens, masked=masked, replaced=replaced)
        out = model(PoseCondition.from_batch(batch), tokens)
        with torch.autocast(dev.type, enabled=False):
            return transformer_losses(out, targets, corrupt, batch, self.config.loss)

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float]:
        if getattr(self, "val_count", 0) == 0:
            return {}
        assert isinstance(model, MaskedPoseTransformer)
        dev = self.ctx.device
        names = ["acc_onepass", "acc_decoded", "mpjpe", "pa_mpjpe", "tokenizer_mpjpe",
                 "orient_deg", "betas_sq", "cam_scale_rel", "cam_txy"]
        sums = torch.zeros(len(names), dtype=torch.float64, device=dev)
        if self.val is not None:
            for start in range(0, len(self.val), VAL_CHUNK):
                vb = self.val.index(slice(start, start + VAL_CHUNK)).to(dev)
                cond = PoseCondition.from_batch(vb)
                targets = self.tokenizer.encode(vb.body_pose).indices
                full_mask = torch.full_like(targets, model.mask_id)
                onepass = model(cond, full_mask).logits.argmax(-1)
                pred = predict_pose(model, cond, self.config.sampling.iterations)
                pose = self.tokenizer.decode_indices(pred.decode.tokens)
                floor = self.tokenizer.decode_indices(targets)
                truth, _ = body_points(self.skeleton, vb.body_pose)
                joints, _ = body_points(self.skeleton, pose)
                floor_joints, _ = body_points(self.skeleton, floor)
                heads = pred.heads
                values = [
                    (onepass == targets).float().mean(-1),
                    (pred.decode.tokens == targets).float().mean(-1),
                    (joints - truth).norm(dim=-1).mean(-1),
                    (procrustes_align(joints, truth) - truth).norm(dim=-1).mean(-1),
                    (floor_joints - truth).norm(dim=-1).mean(-1),
                    rotation_angle_deg(heads.global_orient, vb.global_orient_cam),
                    (heads.betas - vb.betas).square().mean(-1),
                    (heads.camera[:, 0] / vb.crop_camera[:, 0] - 1).abs(),
                    (heads.camera[:, 1:] - vb.crop_camera[:, 1:]).norm(dim=-1)]
                sums += torch.stack([v.double().sum() for v in values])
        self.ctx.all_reduce_sum(sums)
        mean = dict(zip(names, (sums / self.val_count).tolist(), strict=True))
        return {"val/token_acc_onepass": mean["acc_onepass"],
                "val/token_acc": mean["acc_decoded"],
                "val/mpjpe_mm": 1000 * mean["mpjpe"], "val/pa_mpjpe_mm": 1000 * mean["pa_mpjpe"],
                "val/tokenizer_mpjpe_mm": 1000 * mean["tokenizer_mpjpe"],
                "val/orient_err_deg": mean["orient_deg"],
                "val/betas_rmse": mean["betas_sq"] ** 0.5,
                "val/cam_scale_rel_err": mean["cam_scale_rel"],
                "val/cam_txy_err": mean["cam_txy"]}

    def export(self, model: nn.Module) -> dict[str, Any]:
        assert isinstance(model, MaskedPoseTransformer)
        payload = model.checkpoint_payload()
        payload["tokenizer"] = self.tokenizer.checkpoint_payload()
        payload["dataset"] = self.dataset_info
        return payload


def initialise_from(model: MaskedPoseTransformer, payload: dict[str, Any]) -> None:
    """Load a trained transformer's weights into ``model``, widening its conditioning window
    (:func:`~genhmr.models.masked_transformer.widened_state_dict`). Every other size must
    match: a different width or depth is a new model, not a fine-tune."""
    start_cfg = MaskedPoseTransformerConfig(**payload["model_config"])
    mine = dataclasses.replace(model.config, window=start_cfg.window)
    if mine != start_cfg:
        raise ConfigError(f"the model config differs from the --init-from model's "
                          f"({dataclasses.asdict(start_cfg)}) beyond its window")
    model.load_state_dict(widened_state_dict(payload["model"], start_cfg.window,
                                             model.config.window))


def train_masked_transformer(config: TransformerTrainingConfig, tokenizer: PoseTokenizer,
                             train_clips: list[MotionClip], val_clips: list[MotionClip],
                             out_dir: str | Path, ctx: DistContext | None = None,
                             checkpoint: dict[str, Any] | None = None,
                             stop_at: int | None = None, sampler: ConditioningSampler | None = None,
                             ) -> tuple[MaskedPoseTransformer, TrainResult]:
    """Train (or continue, from a ``last.pt`` payload) on in-memory clips."""
    ctx = ctx or DistContext()
    if sampler is None:
        from genhmr.body.default_body import load_default_body

        sampler = ConditioningSampler(load_default_body(), config=config.data.conditioning())
    task = TransformerTask(config, tokenizer, sampler, train_clips, val_clips, ctx)
    result = run_training(task, config.train, config_to_dict(config), out_dir, ctx,
                          checkpoint=checkpoint, stop_at=stop_at, desc="transformer")
    return task.model, result


def main(argv: list[str] | None = None) -> int:
    parser = training_parser("python -m genhmr.train.masked_transformer",
                             __doc__.split("\n\n")[0], DEFAULT_CONFIG)
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="trained tokenizer (model.pt); on --resume the one stored in "
                             "last.pt is used")
    parser.add_argument("--init-from", type=Path, default=None, metavar="MODEL.pt",
                        help="start a new run from a trained transformer (and its tokenizer), "
                             "widened to data.window (a temporal model fine-tuned from the "
                             "single-frame one); ignored on --resume")
    args = parser.parse_args(argv)

    from genhmr.body.default_body import load_default_body
    from genhmr.models.tokenizer import load_tokenizer
    from genhmr.motion.clip import MotionDataset

    def build(config: TransformerTrainingConfig, checkpoint: dict | None, ctx: DistContext
              ) -> tuple[TransformerTask, str]:
        start = None
        if checkpoint is None and args.init_from is not None:
            start = torch.load(args.init_from, map_location="cpu", weights_only=True)
        if checkpoint is not None and "tokenizer" in checkpoint:
            tokenizer = tokenizer_from_payload(checkpoint["tokenizer"])
        elif start is not None:
            if "tokenizer" not in start:
                raise ConfigError(f"--init-from {args.init_from} holds no tokenizer")
            tokenizer = tokenizer_from_payload(start["tokenizer"])
        elif args.tokenizer is not None:
            tokenizer = load_tokenizer(args.tokenizer)
        else:
            raise ConfigError("--tokenizer PATH/model.pt is required for a new run")
        dataset = MotionDataset.load(args.data)
        train, val = dataset.clips("train"), dataset.clips("val")
        sampler = ConditioningSampler(load_default_body(), config=config.data.conditioning())
        info = {"path": str(args.data), "train_clips": len(train), "val_clips": len(val),
                "tokenizer": str(args.tokenizer)}
        task = TransformerTask(config, tokenizer, sampler, train, val, ctx, dataset_info=info)
        if start is not None:
            initialise_from(task.model, start)
            info["init_from"] = str(args.init_from)
        banner = (f"masked transformer: {len(task.windows)} training windows of "
                  f"{config.data.window} frame(s), {ctx.world_size} process(es) on {ctx.device}")
        return task, banner

    return run_command(args, TransformerTrainingConfig, DEFAULT_CONFIG, build,
                       desc="transformer", size_note=" + tokenizer")

if __name__ == "__main__":
    sys.exit(main())
