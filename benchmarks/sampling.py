"""Sampling speed of the shipped pipeline: seconds to the first image and images per second.

    python benchmarks/sampling.py [--checkpoint checkpoints/fashion-mnist] [--repeats 3]

The baseline (fp32, 20 dpm++ steps, one image) is measured in the same run as each variant and every
row shows its ratio to it. Peak resident memory of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time
from unittest import mock

import torch

from diffusion import TextToImagePipeline
from diffusion import pipeline as pipeline_module


def timed(pipe, repeats: int, precision: str, **kwargs) -> float:
    autocast = (lambda device: contextlib.nullcontext()) if precision == "fp32" else pipeline_module.inference_autocast
    times = []
    with mock.patch.object(pipeline_module, "inference_autocast", autocast):
        pipe("a sneaker", num_inference_steps=2, seed=0)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            pipe("a sneaker", seed=0, **kwargs)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    variants = [
        ("fp32, dpm++ 20 steps, 1 image (baseline)", "fp32", {}),
        ("bf16 autocast, dpm++ 20 steps, 1 image", "bf16", {}),
        ("bf16 autocast, dpm++ 20 steps, 16 images", "bf16", {"num_images_per_prompt": 16}),
        ("bf16 autocast, ddpm 100 steps, 1 image", "bf16", {"scheduler": "ddpm", "num_inference_steps": 100}),
        ("bf16 autocast, dpm++ 10 steps, 1 image", "bf16", {"num_inference_steps": 10}),
        ("bf16, no guidance (scale 1), 20 steps, 1 image", "bf16", {"guidance_scale": 1.0}),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, checkpoint {args.checkpoint}")
    print("| variant | seconds | images/s | speed vs baseline |\n|---|---|---|---|")
    baseline = None
    for name, precision, kwargs in variants:
        seconds = timed(
            pipe, args.repeats, precision, num_inference_steps=kwargs.pop("num_inference_steps", 20), **kwargs
        )
        baseline = baseline or seconds
        images = kwargs.get("num_images_per_prompt", 1)
        print(f"| {name} | {seconds:.3f} | {images / seconds:.1f} | {baseline / seconds:.2f}x |")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
