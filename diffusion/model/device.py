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
def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """Native bf16 instructions: without them bf16 is emulated, many times slower than fp32."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_amx() -> bool:
    """AMX tile units: the CPUs where bf16 training clearly beats fp32 at this model size
    (benchmarks/training.py: 1.7x with AMX; with avx512_bf16 alone 0.78x on one machine, 1.1x in the
    training loop on another)."""
    return "amx_bf16" in _cpu_flags()


def auto_precision(device: torch.device) -> str:
    """The mixed precision that pays on this device: bf16 on GPUs that compute it and on CPUs with AMX."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device.type == "cpu" and cpu_has_amx():
        return "bf16"
    return "no"


def inference_autocast(device: torch.device):
    """bf16 autocast for sampling on GPUs that have it. Not on the CPU: there the casts cost more than
    they save at this model size, even with native bf16 (benchmarks/sampling.py: 0.73x)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
