"""The default sampler's speed against DDPM-1000, the two timed in turn in one process.

    python benchmarks/default_speed.py [--teacher checkpoints/fashion-mnist] [--rounds 5]

fast_model.py times each variant in a process of its own (for its peak memory), one after another, so a
machine whose pace drifts over minutes moves the ratio between them (91x to 111x in three runs of the
same model). Here each round times the default call (the best of 3) and then DDPM's 100 guided steps
(x10 for 1000) in the same process, minutes apart at most, and the ratio is taken per round: the drift
mostly cancels. The median round and the range are printed with the machine's matmul rate.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from fast_model import DDPM_TIMED_STEPS, IMAGES, PROMPT, VARIANTS  # benchmarks/fast_model.py, beside this script
from machine import call_seconds, matmul_gflops

from diffusion import TextToImagePipeline


def seconds(pipe, repeats: int, **settings) -> float:
    return min(call_seconds(lambda: pipe(PROMPT, num_images_per_prompt=IMAGES, seed=0, **settings), repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="checkpoints/fashion-mnist")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pipe = TextToImagePipeline.from_pretrained(args.teacher, device="cpu")
    _, ddpm_settings, factor = VARIANTS["ddpm"]
    pipe(PROMPT, num_images_per_prompt=IMAGES, seed=0)  # warm-up
    gflops = matmul_gflops(size=1024, repeats=20)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {IMAGES} images of {PROMPT!r} per call")
    print(f"| round | default (s) | DDPM-1000 (s, {DDPM_TIMED_STEPS} timed x{factor}) | DDPM-1000 ÷ default |")
    print("|---|---|---|---|")
    ratios = []
    for round_number in range(1, args.rounds + 1):
        default = seconds(pipe, 3)
        ddpm = seconds(pipe, 1, **ddpm_settings) * factor
        ratios.append(ddpm / default)
        print(f"| {round_number} | {default:.2f} | {ddpm:.1f} | {ratios[-1]:.0f}x |", flush=True)
    print(
        f"median {statistics.median(ratios):.0f}x (range {min(ratios):.0f}x to {max(ratios):.0f}x); fp32 matmul "
        f"{gflops:.0f} GFLOP/s before and {matmul_gflops(size=1024, repeats=20):.0f} after"
    )


if __name__ == "__main__":
    main()
