"""Training throughput of one optimizer step (forward, backward, AdamW) on random data.

    python benchmarks/training.py [--config configs/fashion_mnist.yaml] [--batch-size 64] [--steps 5]

Rows: the shipped config in fp32 (baseline), bf16 autocast (alone and with channels_last), channels_last,
torch.compile (inductor, CPU C++ code; its compile time is printed apart), the fused attention kernel
instead of the explicit one, and cross-attention also at 14x14; each with its ratio to the baseline,
measured in the same run, beside the machine's fp32 matmul rate.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from unittest import mock

import torch
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.common.config import load_config
from diffusion.model import attention as attention_module
from diffusion.model.device import auto_precision, cpu_has_amx
from diffusion.model.unet import build_unet, count_parameters


def images_per_second(
    model_config, batch: int, steps: int, bf16: bool = False, channels_last: bool = False, compiled: bool = False
) -> tuple[float, int, float]:
    unet = build_unet(model_config, (1, 28, 28))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    x, tokens = torch.randn(batch, 1, 28, 28), torch.randn(batch, 12, 384)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(unet) if compiled else unet
    mask, pooled = torch.ones(batch, 12), torch.randn(batch, 384)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    first_step_started = time.perf_counter()
    for step in range(steps + 1):
        if step == 1:  # the first step pays one-off costs (allocation; compiling, for torch.compile)
            first_step_seconds = time.perf_counter() - first_step_started
            start = time.perf_counter()
        with autocast:
            out = forward(
                x,
                torch.randint(0, 1000, (batch,)),
                encoder_hidden_states=tokens,
                encoder_attention_mask=mask,
                class_labels=pooled,
            ).sample
        out.float().square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * batch / (time.perf_counter() - start), count_parameters(unet), first_step_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/fashion_mnist.yaml")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.config)
    attention_14 = load_config(args.config).model
    attention_14.cross_attention_levels = [False, True, True]
    rows = [  # name, model config, options
        ("shipped config, fp32 (baseline)", config.model, {}),
        ("shipped config, bf16 autocast", config.model, {"bf16": True}),
        ("shipped config, bf16 autocast, channels_last", config.model, {"bf16": True, "channels_last": True}),
        ("shipped config, fp32, channels_last", config.model, {"channels_last": True}),
        ("shipped config, fp32, torch.compile", config.model, {"compiled": True}),
        ("shipped config, fp32, fused attention kernel", config.model, {"fused": True}),
        ("attention also at 14x14, fp32", attention_14, {}),
    ]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"fp32 matmul {matmul_gflops():.0f} GFLOP/s, bf16 {matmul_gflops(dtype=torch.bfloat16):.0f} GFLOP/s "
        f"({'AMX' if cpu_has_amx() else 'no AMX'}: precision auto trains in {auto_precision(torch.device('cpu'))})"
    )
    print("| variant | parameters | images/s | speed vs baseline | first step (s) |\n|---|---|---|---|---|")
    baseline = None
    for name, model_config, options in rows:
        fused = options.pop("fused", False)
        patch = mock.patch.object(attention_module, "USE_FUSED_ON_CPU", True) if fused else contextlib.nullcontext()
        with patch:
            speed, params, first = images_per_second(model_config, args.batch_size, args.steps, **options)
        baseline = baseline or speed
        print(f"| {name} | {params / 1e6:.2f}M | {speed:.1f} | {speed / baseline:.2f}x | {first:.1f} |")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
