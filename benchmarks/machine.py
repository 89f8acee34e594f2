"""The machine's fp32 matmul rate, printed beside every benchmark so runs on different machines compare
(and its bf16 rate where that matters: about 6x fp32 with AMX tile units, slower than fp32 where emulated)."""

from __future__ import annotations

import time

import torch


def matmul_gflops(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    a = torch.randn(size, size, dtype=dtype)
    a @ a  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return repeats * 2 * size**3 / (time.perf_counter() - started) / 1e9
