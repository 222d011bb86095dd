"""Shared training infrastructure (genhmr.train.common), exercised through the tokenizer trainer:
strict configs and overrides, data order, checkpoints, resume equivalence, and a real 2-process
``torchrun`` (Gloo on CPU) run whose ranks must end with identical weights and codebooks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from genhmr.motion.clip import MotionClip, MotionDataset
from genhmr.train import tokenizer as tok
from genhmr.train.common import (
    ConfigError,
    DistContext,
    EpochBatches,
    MetricsLog,
    TrainConfig,
    WarmupCosine,
    apply_overrides,
    config_from_dict,
    load_checkpoint,
    load_config,
    overrides_from_args,
    parse_override,
    read_metrics,
    save_checkpoint,
)
from genhmr.train.tokenizer import TokenizerTrainingConfig, train_tokenizer
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = tok.DEFAULT_CONFIG.with_name("tokenizer_test.toml")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_clips(count: int, frames: int, seed: int = 0) -> list[np.ndarray]:
    """(frames, 22, 3, 3) per clip: random axis-angles of at most 0.6 rad, smooth in time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        keys = rng.normal(size=(4, 22, 3))
        t = np.linspace(0, 3, frames)
        aa = np.stack([np.interp(t, np.arange(4), keys[:, j, c])
                       for j in range(22) for c in range(3)], -1).reshape(frames, 22, 3)
        angle = np.linalg.norm(aa, axis=-1, keepdims=True)
        aa *= np.minimum(1.0, 0.6 / np.maximum(angle, 1e-9))
        out.append(Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix()
                   .reshape(frames, 22, 3, 3).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory) -> Path:
    """A MotionDataset file: 4 clips, the last held out for validation."""
    clips = [MotionClip(f"clip{i}", "test", "CC0", 30.0, rot, np.zeros((len(rot), 3)))
             for i, rot in enumerate(random_clips(4, 120))]
    path = tmp_path_factory.mktemp("motion") / "motion_dataset.npz"
    MotionDataset.from_clips(clips, ["train", "train", "train", "val"]).save(path)
    return path


def tiny_config(**overrides) -> TokenizerTrainingConfig:
    base = {"train.max_steps": 40, "train.log_every": 5, "train.val_every": 20,
            "train.checkpoint_every": 10, "train.warmup_steps": 5, "train.batch_size": 32}
    return load_config(TokenizerTrainingConfig, TEST_CONFIG, {**base, **overrides})


def poses(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = MotionDataset.load(path)
    return torch.from_numpy(data.poses("train")), torch.from_numpy(data.poses("val"))


# -- configs ---------------------------------------------------------------------------------------


def test_override_parsing():
    assert parse_override("train.lr=3e-4") == ("train.lr", 3e-4)
    assert parse_override("model.kmeans_init=false") == ("model.kmeans_init", False)
    assert parse_override("train.precision=bf16") == ("train.precision", "bf16")
    assert parse_override("train.precision='fp32'") == ("train.precision", "fp32")
    assert parse_override(" model.num_tokens = 16 ") == ("model.num_tokens", 16)
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("train.lr")
    args = argparse.Namespace(set=["model.num_tokens=16"], max_steps=7, batch_size=None, lr=0.5)
    assert overrides_from_args(args) == {"model.num_tokens": 16, "train.max_steps": 7,
                                         "train.lr": 0.5}
    config = load_config(TokenizerTrainingConfig, TEST_CONFIG, overrides_from_args(args))
    assert (config.model.num_tokens, config.train.max_steps, config.train.lr) == (16, 7, 0.5)
    assert config.train.batch_size == 64  # from the file
    assert config.model.code_dim == 16
    assert apply_overrides({"a": {"b": 1}}, {"a.c": 2, "d.e": 3}) == {"a": {"b": 1, "c": 2},
                                                                       "d": {"e": 3}}


def test_bad_config_keys_and_values_are_clear_errors(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[model]\nnum_tokenz = 8\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown key\(s\) model\.num_tokenz in "
                                          r"\[model\]; known keys: num_tokens, codebook_size"):
        load_config(TokenizerTrainingConfig, path)
    path.write_text("[modle]\nnum_tokens = 8\n")
    with pytest.raises(ConfigError, match=r"unknown key.*modle.*top level"):
        load_config(TokenizerTrainingConfig, path)
    path.write_text("[model]\nnum_tokens = '8'\n")
    with pytest.raises(ConfigError, match=r"model\.num_tokens must be int, got '8'"):
        load_config(TokenizerTrainingConfig, path)
    path.write_text("[train]\nmax_steps = 0\n")
    with pytest.raises(ConfigError, match=r"train\.max_steps must be at least 1"):
        load_config(TokenizerTrainingConfig, path)
    path.write_text("[train]\nlr = 1\nprecision = 'fp16'\n")
    with pytest.raises(ConfigError, match="precision"):
        load_config(TokenizerTrainingConfig, path)
    path.write_text("[train]\nlr = 1\n")  # an int where a float is expected is fine
    assert load_config(TokenizerTrainingConfig, path).train.lr == 1.0
    path.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(TokenizerTrainingConfig, path)
    with pytest.raises(ConfigError, match="must be bool"):
        config_from_dict(TokenizerTrainingConfig, {"model": {"kmeans_init": 1}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) model\.nope"):
        load_config(TokenizerTrainingConfig, TEST_CONFIG, {"model.nope": 1})


def test_cli_reports_config_errors(tmp_path: Path, dataset_file: Path, capsys):
    code = tok.main(["--config", str(TEST_CONFIG), "--data", str(dataset_file),
                     "--out", str(tmp_path / "run"), "--set", "model.num_tokenz=4"])
    assert code == 2
    assert "unknown key(s) model.num_tokenz" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


# -- pieces ----------------------------------------------------------------------------------------


def test_epoch_batches_are_stateless_and_shard_the_global_batch():
    single = EpochBatches(100, 20, seed=3)
    ranks = [EpochBatches(100, 20, seed=3, rank=r, world_size=4) for r in range(4)]
    for step in (0, 4, 5, 13):  # 5 steps per epoch: 5 and 13 are in later epochs
        whole = single.indices(step)
        assert torch.equal(torch.cat([r.indices(step) for r in ranks]), whole)
        assert torch.equal(EpochBatches(100, 20, seed=3).indices(step), whole)
    epoch = torch.cat([single.indices(s) for s in range(5)])
    assert sorted(epoch.tolist()) == list(range(100))  # each item once per epoch
    assert not torch.equal(single.indices(5), single.indices(0))  # reshuffled
    with pytest.raises(ConfigError, match="divisible"):
        EpochBatches(100, 20, seed=0, world_size=3)


def test_warmup_cosine_schedule():
    f = WarmupCosine(warmup=10, total=110, min_ratio=0.1)
    assert f(0) == pytest.approx(1 / 11) and f(9) == pytest.approx(10 / 11)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)


def test_checkpoints_are_atomic_and_weights_only(tmp_path: Path):
    path = tmp_path / "sub" / "last.pt"
    save_checkpoint({"a": torch.arange(3), "cfg": {"x": 1.5, "s": "y"}, "l": [1, None]}, path)
    save_checkpoint({"a": torch.arange(4)}, path)  # replaces, leaves no temporary behind
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
    assert torch.equal(load_checkpoint(path)["a"], torch.arange(4))
    with pytest.raises(ValueError, match="must be at least 1"):
        TrainConfig(max_steps=0)


def test_metrics_log_drops_lines_past_the_resumed_step(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path, enabled=True)
    for step in (10, 20, 30):
        log.write({"kind": "train", "step": step})
    MetricsLog(path, enabled=True, resume_step=20).write({"kind": "train", "step": 30})
    assert [r["step"] for r in read_metrics(path)] == [10, 20, 30]
    MetricsLog(tmp_path / "other.jsonl", enabled=False).write({"step": 1})
    assert not (tmp_path / "other.jsonl").exists()


# -- resume ----------------------------------------------------------------------------------------


def test_resume_reproduces_an_uninterrupted_run(tmp_path: Path, dataset_file: Path):
    train, val = poses(dataset_file)
    config = tiny_config()
    straight, result = train_tokenizer(config, train, val, tmp_path / "straight")
    assert result.finished and result.step == 40

    _, half = train_tokenizer(config, train, val, tmp_path / "split", stop_at=20)
    assert not half.finished and half.step == 20
    assert not (tmp_path / "split" / "model.pt").exists()
    checkpoint = load_checkpoint(tmp_path / "split" / "last.pt")
    assert checkpoint["step"] == 20 and set(checkpoint) >= {
        "model", "optimizer", "scheduler", "rng", "config", "model_config", "wall_time"}
    resumed, result = train_tokenizer(config, train, val, tmp_path / "split",
                                      checkpoint=checkpoint)
    assert result.finished and result.step == 40

    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=1e-5, msg=key)
    # the codebook went through k-means init, EMA and dead-code resets: still identical
    assert torch.equal(a["vq._codebook.initted"], b["vq._codebook.initted"])
    logs = [read_metrics(tmp_path / name / "metrics.jsonl") for name in ("straight", "split")]
    assert [(r["kind"], r["step"]) for r in logs[0]] == [(r["kind"], r["step"]) for r in logs[1]]
    for x, y in zip(logs[0], logs[1], strict=True):
        if "loss" in x:
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-4)


def test_cli_refuses_to_overwrite_and_resumes(tmp_path: Path, dataset_file: Path, capsys):
    out = tmp_path / "run"
    common = ["--config", str(TEST_CONFIG), "--data", str(dataset_file), "--out", str(out),
              "--device", "cpu", "--batch-size", "32", "--set", "train.checkpoint_every=5",
              "--set", "train.val_every=10", "--set", "train.warmup_steps=2"]
    assert tok.main([*common, "--max-steps", "10", "--stop-at", "5"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 5
    assert tok.main([*common, "--max-steps", "10"]) == 2
    assert "exists: pass --resume" in capsys.readouterr().err
    # resuming uses the stored config (max_steps 10), --max-steps may extend it
    assert tok.main(["--data", str(dataset_file), "--out", str(out), "--resume",
                     "--device", "cpu", "--max-steps", "12", "--set", "train.log_every=1"]) == 0
    final = load_checkpoint(out / "model.pt")
    assert final["step"] == 12 and final["config"]["train"]["max_steps"] == 12
    assert final["config"]["train"]["batch_size"] == 32
    assert "optimizer" not in final and "rng" not in final  # model.pt: what ships
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "val"] == [10, 12]
    # the LR schedule follows the raised max_steps (the cosine ends at step 12, not 10)
    lr = {r["step"]: r["lr"] for r in records if r["kind"] == "train"}
    assert sorted(lr) == [5, 6, 7, 8, 9, 10, 11, 12]
    assert lr[10] == pytest.approx(3e-3 * WarmupCosine(2, 12, 0.05)(10))
    assert lr[10] > 3e-3 * 0.1 and lr[12] == pytest.approx(3e-3 * 0.05)


# -- torchrun --------------------------------------------------------------------------------------


DDP_SCRIPT = """
import os, sys
import torch
import genhmr.train.common as common
import genhmr.train.tokenizer as tok

original = common.run_training

def run_and_dump(task, cfg, full_config, out_dir, ctx, **kwargs):
    result = original(task, cfg, full_config, out_dir, ctx, **kwargs)
    torch.save(task.model.state_dict(), os.path.join(out_dir, f"rank{ctx.rank}.pt"))
    return result

common.run_training = run_and_dump
sys.exit(tok.main(sys.argv[1:]))
"""


def test_torchrun_two_processes_on_cpu(tmp_path: Path, dataset_file: Path):
    """2 ranks (Gloo): the run finishes, only rank 0 writes, and both ranks end with the same
    weights *and* the same codebook buffers (the library's EMA all-reduce is on)."""
    script = tmp_path / "run_ddp.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "backend")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(script), "--config", str(TEST_CONFIG), "--data", str(dataset_file),
           "--out", str(out), "--device", "cpu", "--max-steps", "12", "--batch-size", "32",
           "--set", "train.val_every=6", "--set", "train.log_every=3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr.count("train / ") == 1  # only rank 0 reports
    a, b = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    final = load_checkpoint(out / "model.pt")
    assert final["step"] == 12
    for key in ("vq._codebook.embed", "vq._codebook.cluster_size"):
        assert torch.equal(final["model"][key], a[key])
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "train"] == [3, 6, 9, 12]
    assert [r["step"] for r in records if r["kind"] == "val"] == [6, 12]
    assert len(load_checkpoint(out / "last.pt")["rng"]) == 2  # every rank's RNG state
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "last.pt", "metrics.jsonl", "model.pt", "rank0.pt", "rank1.pt"]


def test_single_process_context_defaults():
    ctx = DistContext()
    assert ctx.is_main and not ctx.distributed and ctx.device.type == "cpu"
    assert ctx.mean_over_ranks({"a": torch.tensor(2.0)}) == {"a": 2.0}
    assert config_from_dict(TrainConfig, {}).batch_size == 256
