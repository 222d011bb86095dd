"""What every model checkpoint of ours holds, and the checks on reading one back.

A payload is plain types and tensors, so ``torch.load(weights_only=True)`` reads it: a format
name (which model), a version (of that format), the model's config as a dict and its state
dict. The tokenizer and the masked transformer share this; the trainers add their own keys.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import nn


def model_payload(model: nn.Module, config: Any, format_name: str, version: int
                  ) -> dict[str, Any]:
    """Weights + config of ``model`` (a dataclass ``config``) on the CPU."""
    return {"format": format_name, "version": version, "model_config": asdict(config),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def check_payload(payload: dict[str, Any], format_name: str, version: int, what: str) -> None:
    """Raise ``ValueError`` unless ``payload`` is a ``what`` checkpoint this code reads."""
    if payload.get("format") != format_name:
        raise ValueError(f"not a {what} checkpoint (format {payload.get('format')!r})")
    if payload.get("version") != version:
        raise ValueError(f"{what} checkpoint version {payload.get('version')}, this code "
                         f"reads {version}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_nbytes(model: nn.Module) -> int:
    """Bytes of everything a checkpoint of the model stores (parameters and buffers)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())
