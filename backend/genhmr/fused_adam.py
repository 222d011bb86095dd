"""Adam with torch's fused CPU kernel, called without ``torch.optim``.

Why not ``torch.optim.Adam(fused=True)``: every ``torch.optim`` step and ``zero_grad`` imports
``torch._dynamo`` (its graph-break guards), ~1.3 s of CPU the first time in a process, which
refinement paid in every fresh backend process and CLI job, for a few hundred small steps.

The update is the one ``torch.optim`` makes with ``fused=True``: each group's step counters
advanced by one, then the same kernel (``torch._fused_adam_``) over the group's tensors, as
``torch.optim.adam._fused_adam`` calls it (no AMSGrad, no weight decay, no grad scaling). So
the numbers are the same bit for bit; ``tests/backend/test_fused_adam.py`` holds it to
``torch.optim.Adam(fused=True)``, which also catches a torch upgrade that changes the kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class FusedAdam:
    """Adam over groups of (tensors, learning rate), torch's default betas and eps."""

    def __init__(self, groups: Sequence[tuple[Sequence[Tensor], float]],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.groups = [(list(params), float(lr)) for params, lr in groups]
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        params = [p for group, _ in self.groups for p in group]
        # the state torch.optim.Adam makes lazily on the first step, made here
        self._exp_avg = {id(p): torch.zeros_like(p, memory_format=torch.preserve_format)
                         for p in params}
        self._exp_avg_sq = {id(p): torch.zeros_like(p, memory_format=torch.preserve_format)
                            for p in params}
        self._steps = {id(p): torch.zeros((), dtype=torch.float32, device=p.device)
                       for p in params}

    def zero_grad(self) -> None:
        """Drop every gradient (``set_to_none``, torch.optim's default)."""
        for group, _ in self.groups:
            for p in group:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every tensor that has a gradient."""
        for group, lr in self.groups:
            params = [p for p in group if p.grad is not None]
            if not params:
                continue
            steps = [self._steps[id(p)] for p in params]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, [p.grad for p in params], [self._exp_avg[id(p)] for p in params],
                [self._exp_avg_sq[id(p)] for p in params], [], steps, amsgrad=False, lr=lr,
                beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
                maximize=False, grad_scale=None, found_inf=None)
