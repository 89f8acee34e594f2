"""Training throughput of one optimizer step (forward, backward, AdamW) on random data.

    python benchmarks/training.py [--config configs/fashion_mnist.yaml] [--batch-size 64] [--steps 5]

Rows: the shipped config in fp32 (baseline), bf16 autocast, the fused attention kernel instead of the
explicit one, and cross-attention also at 14x14; each with its ratio to the baseline, measured in the
same run.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from unittest import mock

import torch

from diffusion import attention as attention_module
from diffusion.config import load_config
from diffusion.model import build_unet, count_parameters


def images_per_second(model_config, batch: int, steps: int, bf16: bool) -> float:
    unet = build_unet(model_config, (1, 28, 28))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    x, tokens = torch.randn(batch, 1, 28, 28), torch.randn(batch, 12, 384)
    mask, pooled = torch.ones(batch, 12), torch.randn(batch, 384)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    for step in range(steps + 1):
        if step == 1:  # the first step pays one-off allocation costs
            start = time.perf_counter()
        with autocast:
            out = unet(
                x,
                torch.randint(0, 1000, (batch,)),
                encoder_hidden_states=tokens,
                encoder_attention_mask=mask,
                class_labels=pooled,
            ).sample
        out.float().square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * batch / (time.perf_counter() - start), count_parameters(unet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/fashion_mnist.yaml")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.config)
    attention_14 = load_config(args.config).model
    attention_14.cross_attention_levels = [False, True, True]
    rows = [
        ("shipped config, fp32 (baseline)", config.model, False, False),
        ("shipped config, bf16 autocast", config.model, True, False),
        ("shipped config, fp32, fused attention kernel", config.model, False, True),
        ("attention also at 14x14, fp32", attention_14, False, False),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    print("| variant | parameters | images/s | speed vs baseline |\n|---|---|---|---|")
    baseline = None
    for name, model_config, bf16, fused in rows:
        patch = mock.patch.object(attention_module, "USE_FUSED_ON_CPU", True) if fused else contextlib.nullcontext()
        with patch:
            speed, params = images_per_second(model_config, args.batch_size, args.steps, bf16)
        baseline = baseline or speed
        print(f"| {name} | {params / 1e6:.2f}M | {speed:.1f} | {speed / baseline:.2f}x |")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
