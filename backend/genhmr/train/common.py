"""Training infrastructure shared by the GenHMR trainers (the pose tokenizer, the transformer).

* **Configs**: TOML files (stdlib ``tomllib``) map onto nested dataclasses, strictly: an unknown
  section or key, or a value of the wrong type, is a :class:`ConfigError` naming the file and
  the key, never a silently ignored typo. A few keys have command-line flags (``--max-steps``,
  ``--batch-size``, ``--lr``); any key can be set with ``--set section.key=value``.
* **Checkpoints**: ``DIR/last.pt`` (model, optimizer, LR schedule, step, every rank's RNG state,
  config) is written atomically every ``checkpoint_every`` steps and at the end; ``--resume``
  continues from it and reproduces an uninterrupted run. ``DIR/model.pt`` holds only weights and
  config: what ships. Every checkpoint loads with ``torch.load(weights_only=True)``.
* **Distributed**: unchanged under ``torchrun --nproc_per_node N`` (``env://``; NCCL on CUDA,
  Gloo on CPU; DistributedDataParallel). ``batch_size`` is the *global* batch: every step draws
  the same global batch from an epoch permutation that depends only on (seed, step), and each
  rank takes its slice, so the data order does not depend on the number of ranks and resuming
  needs no sampler state. Only rank 0 writes files and shows progress.
* **Logging**: a tqdm bar on rank 0 and ``DIR/metrics.jsonl``, one JSON object per log or
  validation event (``kind``, ``step``, ``time`` in seconds of training, the values).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

T = TypeVar("T")

LAST_CHECKPOINT = "last.pt"
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"


# -- configs ---------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key and the fix."""


@dataclass
class TrainConfig:
    """Optimisation schedule and bookkeeping, the same for every trainer."""

    batch_size: int = 256  # global: split evenly over the ranks
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.0  # on weight matrices only (not biases, norms, embeddings)
    beta2: float = 0.99
    warmup_steps: int = 500  # linear warm-up from 0
    max_steps: int = 20000
    min_lr_ratio: float = 0.05  # cosine decay ends at lr * min_lr_ratio
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    seed: int = 0
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 1000
    precision: str = "fp32"  # "fp32" or "bf16" (bf16 autocast, CUDA only)

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "log_every", "val_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("train.lr must be positive; warmup_steps, grad_clip and "
                             "weight_decay must not be negative")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 < self.beta2 < 1:
            raise ValueError(f"train.beta2 must be in (0, 1), got {self.beta2}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"train.precision must be 'fp32' or 'bf16', got {self.precision!r}")


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check one TOML value against a dataclass field type (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, option, key, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: {key} cannot be {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: [{key}] must be a table, got {value!r}")
        return config_from_dict(tp, value, where, prefix=f"{key}.")
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"{where}: {key} must be {_describe(tp)}, got {value!r}")


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config",
                     prefix: str = "") -> T:
    """Build dataclass ``cls`` from nested dicts; unknown keys and wrong types are errors.

    Missing keys take the dataclass defaults. A dataclass's own ``__post_init__`` checks (value
    ranges) are reported as :class:`ConfigError` too.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        section = f"[{prefix[:-1]}]" if prefix else "the top level"
        raise ConfigError(f"{where}: unknown key(s) {', '.join(prefix + k for k in unknown)} in "
                          f"{section}; known keys: {', '.join(known)}")
    kwargs = {name: _convert(data[name], hints[name], prefix + name, where)
              for name in known if name in data}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dict of a config dataclass (what checkpoints store)."""
    return dataclasses.asdict(config)


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


def parse_override(text: str) -> tuple[str, Any]:
    """``"section.key=value"`` -> (dotted key, value); the value is read as TOML (numbers,
    booleans, quoted strings, ...), and a bare word that is not TOML is taken as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with dotted-key overrides set (validated later, on conversion)."""
    out = json.loads(json.dumps(data))  # plain nested copy
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {dotted}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def load_config(cls: type[T], path: str | Path, overrides: Mapping[str, Any] | None = None
                ) -> T:
    """Read a TOML config file into ``cls`` with optional dotted-key overrides."""
    data = apply_overrides(read_toml(path), overrides or {})
    return config_from_dict(cls, data, where=str(path))


# -- command line ----------------------------------------------------------------------------------


def training_parser(prog: str, description: str, default_config: Path
                    ) -> argparse.ArgumentParser:
    """A trainer's command line: the shared flags and ``--data`` (the motion dataset)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_training_arguments(parser, default_config)
    parser.add_argument("--data", type=Path, required=True,
                        help="motion dataset .npz (python -m genhmr.motion.build)")
    return parser


def add_training_arguments(parser: argparse.ArgumentParser, default_config: Path) -> None:
    """The flags every trainer shares."""
    parser.add_argument("--config", type=Path, default=None,
                        help=f"TOML config (default {default_config}; on --resume the config "
                             "stored in last.pt is used)")
    parser.add_argument("--out", type=Path, required=True,
                        help="run folder: last.pt, model.pt, metrics.jsonl, config.json")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/last.pt (starts fresh if there is none yet)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (global)")
    parser.add_argument("--lr", type=float, help="override train.lr")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set model.num_tokens=16")
    parser.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                        help="stop at this step (checkpointing) without changing the schedule, "
                             "for time-sliced jobs; continue later with --resume")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = dict(parse_override(item) for item in args.set)
    for flag, key in (("max_steps", "train.max_steps"), ("batch_size", "train.batch_size"),
                      ("lr", "train.lr")):
        if getattr(args, flag) is not None:
            out[key] = getattr(args, flag)
    return out


def prepare_run(args: argparse.Namespace, config_cls: type[T], default_config: Path,
                ctx: DistContext) -> tuple[T, dict[str, Any] | None]:
    """Resolve the run's config and the checkpoint to resume from (``None``: fresh start).

    Rank 0 reads the files and broadcasts them, so other nodes need no copy of ``OUT``.
    """
    result: list[Any] = [None]
    if ctx.is_main:
        try:
            result[0] = ("ok", *_prepare_on_main(args, config_cls, default_config))
        except (ConfigError, FileExistsError) as exc:
            result[0] = ("error", str(exc))
        except Exception as exc:  # e.g. a damaged last.pt: the other ranks must not hang
            result[0] = ("error", f"{type(exc).__name__}: {exc}")
    if ctx.distributed:
        dist.broadcast_object_list(result, src=0)
    if result[0][0] == "error":
        raise ConfigError(result[0][1])
    _, raw, checkpoint = result[0]
    return config_from_dict(config_cls, raw, where="config"), checkpoint


def _prepare_on_main(args: argparse.Namespace, config_cls: type, default_config: Path
                     ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    overrides = overrides_from_args(args)
    last = Path(args.out) / LAST_CHECKPOINT
    if last.exists() and args.resume:
        checkpoint = load_checkpoint(last)
        if args.config is not None:
            print(f"resuming {last}: its stored config is used, --config {args.config} is "
                  "ignored (change keys with --set)", file=sys.stderr)
        raw = apply_overrides(checkpoint["config"], overrides)
        config_from_dict(config_cls, raw, where=f"{last} config")  # fail early, with the name
        return raw, checkpoint
    if last.exists():
        raise FileExistsError(f"{last} exists: pass --resume to continue that run, or choose "
                              "another --out")
    path = args.config or default_config
    raw = apply_overrides(read_toml(path), overrides)
    config_from_dict(config_cls, raw, where=str(path))
    return raw, None


# -- distributed -----------------------------------------------------------------------------------


@dataclass
class DistContext:
    """Where this process runs: its rank among ``world_size`` and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """In-place sum over ranks (identity in a single process); returns the tensor."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def mean_over_ranks(self, values: Mapping[str, Tensor]) -> dict[str, float]:
        """Average scalar tensors over ranks with one collective, as Python floats."""
        if not values:
            return {}
        keys = sorted(values)
        stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
        stacked = self.all_reduce_sum(stacked.to(self.device)) / self.world_size
        return dict(zip(keys, stacked.tolist(), strict=True))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when available, else CPU. ``cuda`` without a GPU is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")
    return torch.device("cuda", local_rank)


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1), else run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://",
                                device_id=dev if dev.type == "cuda" else None)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


# -- data order ------------------------------------------------------------------------------------


class EpochBatches:
    """Global batches that walk an epoch permutation determined by (seed, epoch) only.

    ``indices(step)`` is a pure function of the step, so a resumed run draws exactly the batches
    an uninterrupted one would, and each rank takes a contiguous slice of the same global batch
    (DistributedSampler's job, without its state). The last incomplete batch of each epoch is
    dropped.
    """

    def __init__(self, num_items: int, global_batch: int, seed: int, rank: int = 0,
                 world_size: int = 1) -> None:
        if global_batch % world_size:
            raise ConfigError(f"train.batch_size={global_batch} must be divisible by the "
                              f"number of processes ({world_size})")
        if num_items < global_batch:
            raise ValueError(f"{num_items} training items for a batch of {global_batch}: "
                             "lower train.batch_size or use more data")
        self.num_items, self.global_batch, self.seed = num_items, global_batch, seed
        self.local_batch = global_batch // world_size
        self.rank = rank
        self.steps_per_epoch = num_items // global_batch
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def global_indices(self, step: int) -> Tensor:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.num_items, generator=gen)
            self._epoch = epoch
        return self._perm[i * self.global_batch:(i + 1) * self.global_batch]

    def indices(self, step: int) -> Tensor:
        """This rank's (local_batch,) item indices for ``step``."""
        start = self.rank * self.local_batch
        return self.global_indices(step)[start:start + self.local_batch]


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator for per-step augmentation randomness, a pure function of (seed, step)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7919 + 17)


# -- optimisation ----------------------------------------------------------------------------------


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (decaying biases, norms and embeddings hurts)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_matrix = param.ndim >= 2 and not name.endswith("embed")
        (decay if is_matrix else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2))


class WarmupCosine:
    """LR multiplier: linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total``.

    A class, not a lambda, so the scheduler's state_dict records its plain-number settings.
    """

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupCosine(cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio))


# -- checkpoints -----------------------------------------------------------------------------------


def save_checkpoint(payload: Mapping[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then rename: a crash mid-write
    never leaves a truncated checkpoint where the last good one was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            torch.save(dict(payload), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on CPU with ``weights_only=True`` (no arbitrary unpickling)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def rng_state(device: torch.device) -> dict[str, Tensor]:
    """This process's torch RNG state(s): CPU, and CUDA when training on a GPU."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(ctx: DistContext) -> list[dict[str, Tensor]]:
    """Every rank's RNG state, in rank order (a collective: call on all ranks).

    Ranks' generators diverge (e.g. the codebook's dead-code resampling draws on rank 0 only),
    so restoring one state everywhere would not reproduce an uninterrupted run.
    """
    mine = rng_state(ctx.device)
    if not ctx.distributed:
        return [mine]
    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, {k: v.cpu() for k, v in mine.items()})
    return states


# -- logging ---------------------------------------------------------------------------------------


class MetricsLog:
    """Append-only JSON lines; a no-op on ranks other than 0.

    On resume the lines logged after the checkpoint's step (by the interrupted run, past its
    last checkpoint) are dropped, so the file reads like one uninterrupted run.
    """

    def __init__(self, path: Path, enabled: bool, resume_step: int | None = None) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            path.write_text("", encoding="utf-8")
        elif path.exists():
            kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(dict(record), sort_keys=False) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- the loop --------------------------------------------------------------------------------------


class TrainTask(Protocol):
    """What a trainer plugs into :func:`run_training`."""

    model: nn.Module  # the bare model (run_training wraps it in DDP when distributed)

    def train_step(self, model: nn.Module, step: int) -> dict[str, Tensor]:
        """Forward + losses of one step on this rank's share of the global batch. ``model``
        is the (possibly DDP-wrapped) module to call; the result must hold a ``loss``."""
        ...

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Validation metrics, already reduced over ranks (called on every rank, eval mode,
        no grad; must not draw from the global RNG)."""
        ...

    def export(self, model: nn.Module) -> dict[str, Any]:
        """The shipped part of a checkpoint: weights, model config, format tag."""
        ...


@dataclass
class TrainResult:
    step: int
    finished: bool  # reached train.max_steps (model.pt written)
    metrics: dict[str, float]  # the last validation


def run_training(task: TrainTask, cfg: TrainConfig, full_config: Mapping[str, Any],
                 out_dir: str | Path, ctx: DistContext, checkpoint: Mapping[str, Any] | None = None,
                 stop_at: int | None = None, desc: str = "train",
                 on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``task.model`` to ``cfg.max_steps`` (or ``stop_at``), resumable and distributed.

    The model must already be built identically on every rank (seed first; DDP also
    broadcasts rank 0's weights). ``checkpoint`` is a ``last.pt`` payload to continue from.
    """
    out_dir = Path(out_dir)
    model = task.model.to(ctx.device)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    step, wall_offset = 0, 0.0
    last_val: dict[str, float] = {}
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        # the LR schedule follows the *current* config (e.g. --max-steps raised on resume);
        # LambdaLR would otherwise restore the old multiplier's settings over it
        scheduler.load_state_dict({**checkpoint["scheduler"], "lr_lambdas": [None]})
        scheduler.base_lrs = [cfg.lr] * len(optimizer.param_groups)
        for group in optimizer.param_groups:
            group["initial_lr"] = cfg.lr
            group["lr"] = cfg.lr * scheduler.lr_lambdas[0](scheduler.last_epoch)
        step, wall_offset = int(checkpoint["step"]), float(checkpoint["wall_time"])
        last_val = dict(checkpoint.get("metrics", {}))
        states = checkpoint["rng"]
        same_layout = len(states) == ctx.world_size
        set_rng_state(states[ctx.rank] if same_layout else states[0], ctx.device)
    wrapped: nn.Module = model
    if ctx.distributed:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    end = cfg.max_steps if stop_at is None else min(cfg.max_steps, stop_at)
    log = MetricsLog(out_dir / METRICS_FILE, ctx.is_main,
                     resume_step=step if checkpoint is not None else None)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_FILE).write_text(json.dumps(dict(full_config), indent=2) + "\n",
                                           encoding="utf-8")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if cfg.precision == "bf16" and ctx.device.type == "cuda" else nullcontext())

    def save_last() -> None:
        rng = gather_rng_states(ctx)  # collective: every rank
        if ctx.is_main:
            payload = dict(task.export(model))
            payload.update(config=dict(full_config), optimizer=optimizer.state_dict(),
                           scheduler=scheduler.state_dict(), step=step, rng=rng,
                           wall_time=wall_offset + time.perf_counter() - start,
                           metrics=last_val)
            save_checkpoint(payload, out_dir / LAST_CHECKPOINT)
        ctx.barrier()

    from tqdm import tqdm

    bar = tqdm(total=cfg.max_steps, initial=step, desc=desc, disable=not ctx.is_main,
               dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0)
    start = time.perf_counter()
    sums: dict[str, Tensor] = {}
    count, log_start = 0, time.perf_counter()
    try:
        while step < end:
            model.train()
            with autocast:
                losses = task.train_step(wrapped, step)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if cfg.grad_clip > 0:
                grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            else:
                grad_norm = torch.sqrt(sum((p.grad.detach().float().square().sum()
                                            for p in model.parameters() if p.grad is not None),
                                           torch.zeros((), device=ctx.device)))
            optimizer.step()
            scheduler.step()
            step += 1
            for key, value in {**losses, "grad_norm": grad_norm}.items():
                value = value.detach().float()
                sums[key] = sums[key] + value if key in sums else value
            count += 1
            bar.update(1)
            if on_step is not None:
                on_step(step)
            if step % cfg.log_every == 0 or step == end:
                means = ctx.mean_over_ranks({k: v / count for k, v in sums.items()})
                now = time.perf_counter()
                record = {"kind": "train", "step": step,
                          "time": round(wall_offset + now - start, 3),
                          "lr": scheduler.get_last_lr()[0],
                          "steps_per_s": round(count / max(now - log_start, 1e-9), 3), **means}
                log.write(record)
                bar.set_postfix(loss=f"{means['loss']:.4g}", refresh=False)
                sums, count, log_start = {}, 0, now
            if step % cfg.val_every == 0 or step == cfg.max_steps:
                model.eval()
                with torch.no_grad(), autocast:
                    last_val = task.validate(model)
                if last_val:
                    log.write({"kind": "val", "step": step,
                               "time": round(wall_offset + time.perf_counter() - start, 3),
                               **last_val})
                    if ctx.is_main:
                        bar.write(f"step {step}: " + ", ".join(
                            f"{k} {v:.4g}" for k, v in last_val.items()))
            if step % cfg.checkpoint_every == 0 or step == end:
                save_last()
        finished = step >= cfg.max_steps
        if finished and ctx.is_main:
            payload = dict(task.export(model))
            payload.update(config=dict(full_config), step=step, metrics=last_val)
            save_checkpoint(payload, out_dir / MODEL_FILE)
        ctx.barrier()
    finally:
        bar.close()
    return TrainResult(step=step, finished=finished, metrics=last_val)


def run_command(args: argparse.Namespace, config_cls: type[T], default_config: Path,
                build: Callable[[T, dict[str, Any] | None, DistContext], tuple[TrainTask, str]],
                desc: str, size_note: str = "") -> int:
    """The body every training command shares: distributed set-up, the config and the
    checkpoint to resume, the task (``build(config, checkpoint, ctx)`` -> task and a one-line
    banner), training, and a closing line saying where the weights are and how big they are.

    Set-up errors (config, data file, batch size) are the user's to fix: a message and exit
    code 2, not a traceback; errors during training propagate with their traceback.
    """
    from genhmr.models.checkpoint import parameter_count, state_nbytes

    ctx = setup_distributed(args.device)
    try:
        try:
            config, checkpoint = prepare_run(args, config_cls, default_config, ctx)
            task, banner = build(config, checkpoint, ctx)
        except (ConfigError, OSError, ValueError) as exc:
            if ctx.is_main:
                print(f"error: {exc}", file=sys.stderr)
            return 2
        if ctx.is_main:
            print(banner, file=sys.stderr)
        result = run_training(task, config.train, config_to_dict(config), args.out, ctx,
                              checkpoint=checkpoint, stop_at=args.stop_at, desc=desc)
    finally:
        shutdown_distributed()
    if ctx.is_main:
        where = Path(args.out) / (MODEL_FILE if result.finished else "last.pt")
        print(f"step {result.step}: {where} ({parameter_count(task.model)} parameters, "
              f"{state_nbytes(task.model) / 1e6:.2f} MB float32{size_note})", file=sys.stderr)
    return 0
