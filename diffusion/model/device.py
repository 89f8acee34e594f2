"""Where to run, and with which number format."""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path

import torch

from ..common.errors import UserError


def pick_device(name: str | None = None) -> torch.device:
    """'cuda', 'mps', 'cpu', or None for the best available."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device '{name}'; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' was asked for but MPS is not available; use --device cpu")
    return device


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 instructions and is slow without them."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_autocast(device: torch.device):
    """bf16 autocast for sampling on GPUs that have it. Not on the CPU: there the casts cost more than
    they save at this model size, even with native bf16 (benchmarks/sampling.py: 0.73x)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
