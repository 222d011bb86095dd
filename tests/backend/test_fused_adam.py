"""genhmr.fused_adam: torch's fused Adam kernel without torch.optim, and what that buys.

The update must be torch.optim.Adam(fused=True)'s bit for bit (refinement's results rest on
it), and a job must not import torch._dynamo (the reason the class exists): both checked
against the real things, the second with a real CLI job in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from genhmr.fused_adam import FusedAdam

ROOT = Path(__file__).resolve().parents[2]


def _variables(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 32, 64, generator=g), torch.randn(10, 6, generator=g),
            torch.randn(10, 3, generator=g), torch.randn(10, generator=g)]


def test_the_same_updates_as_torch_optim_fused_adam_bit_for_bit():
    ours, theirs = _variables(0), _variables(0)
    for t in ours + theirs:
        t.requires_grad_(True)
    rates = [0.05, 0.01, 0.002, 0.1]
    # one tensor per group, as refinement has, and a group with two tensors
    ours_adam = FusedAdam([([ours[0]], rates[0]), ([ours[1]], rates[1]),
                           ([ours[2], ours[3]], rates[2])])
    theirs_adam = torch.optim.Adam([{"params": [theirs[0]], "lr": rates[0]},
                                    {"params": [theirs[1]], "lr": rates[1]},
                                    {"params": [theirs[2], theirs[3]], "lr": rates[2]}],
                                   fused=True)
    g = torch.Generator().manual_seed(1)
    for step in range(25):
        weights = [torch.randn(t.shape, generator=g) for t in ours]
        for variables, adam in ((ours, ours_adam), (theirs, theirs_adam)):
            adam.zero_grad()
            # a tensor without a gradient in some steps is left alone, as torch.optim does
            used = variables if step % 5 else variables[:3]
            pairs = zip(used, weights[:len(used)], strict=True)
            loss = sum(((v * w).sin() * v).sum() for v, w in pairs)
            loss.backward()
            adam.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), step
    assert all(t.grad is not None for t in ours)
    ours_adam.zero_grad()
    assert all(t.grad is None for t in ours)


def test_a_generative_job_does_not_import_torch_dynamo(media_dir: Path, tmp_path: Path):
    """~2 s of CPU in every fresh backend process and CLI job: torch.optim and the training
    library of the tokenizer's quantiser import it; the job uses neither."""
    script = (
        "import json, runpy, sys\n"
        f"sys.argv = ['genhmr', 'run', {str(media_dir / 'demo.mp4')!r}, '--out', "
        f"{str(tmp_path / 'job')!r}, '--start', '40', '--end', '52', '--quiet']\n"
        "try:\n"
        "    runpy.run_module('genhmr', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print(json.dumps({'code': code, 'modules': sorted(m for m in sys.modules\n"
        "    if m.startswith(('torch._dynamo', 'vector_quantize_pytorch', 'einx')))}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "backend")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=600)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), proc.stderr[-2000:]
    assert (tmp_path / "job" / "result.npz").is_file()
    assert report["modules"] == []
