"""The machine's fp32 matmul rate, printed beside every benchmark so runs on different machines compare
(and its bf16 rate where that matters: about 6x fp32 with AMX tile units, slower than fp32 where emulated),
and the timing loops the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def matmul_gflops(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    a = torch.randn(size, size, dtype=dtype)
    a @ a  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return repeats * 2 * size**3 / (time.perf_counter() - started) / 1e9


def call_seconds(call: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls, one after another (warm up first where the first call is slower)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def prompt_milliseconds(call: Callable[[str], object], prompts: list[str]) -> list[float]:
    """Milliseconds of `call(prompt)` for each prompt, one at a time as the web page asks, after a warm-up
    call (encoder, lexicon and lists loaded)."""
    call(prompts[0])
    return [call_seconds(lambda prompt=prompt: call(prompt), 1)[0] * 1000 for prompt in prompts]
