"""Sampling speed of the shipped pipeline: seconds to the first image and images per second.

    python benchmarks/sampling.py [--checkpoint checkpoints/fashion-mnist] [--repeats 3]

The baseline (fp32, 20 dpm++ steps, one image) is measured in the same run as each variant and every
row shows its images/s as a ratio to the baseline's. Peak resident memory of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
from unittest import mock

import torch
from machine import call_seconds  # benchmarks/machine.py, beside this script

from diffusion import TextToImagePipeline
from diffusion.sampling import pipeline as pipeline_module


def timed(pipe, repeats: int, precision: str, **kwargs) -> float:
    if precision == "fp32":
        autocast = lambda device: contextlib.nullcontext()  # noqa: E731
    else:
        autocast = lambda device: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731
    with mock.patch.object(pipeline_module, "inference_autocast", autocast):
        pipe("a sneaker", num_inference_steps=2, seed=0)  # warm-up
        return statistics.median(call_seconds(lambda: pipe("a sneaker", seed=0, **kwargs), repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    variants = [
        ("fp32, dpm++ 20 steps, 1 image (baseline)", "fp32", {}),
        ("bf16 autocast, dpm++ 20 steps, 1 image", "bf16", {}),
        ("fp32, dpm++ 20 steps, 16 images", "fp32", {"num_images_per_prompt": 16}),
        ("bf16 autocast, dpm++ 20 steps, 16 images", "bf16", {"num_images_per_prompt": 16}),
        ("fp32, ddpm 100 steps, 1 image", "fp32", {"scheduler": "ddpm", "num_inference_steps": 100}),
        ("fp32, dpm++ 10 steps, 1 image", "fp32", {"num_inference_steps": 10}),
        ("fp32, no guidance (scale 1), 20 steps, 1 image", "fp32", {"guidance_scale": 1.0}),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, checkpoint {args.checkpoint}")
    print("| variant | seconds per call | images/s | images/s vs baseline |\n|---|---|---|---|")
    baseline = None
    for name, precision, kwargs in variants:
        seconds = timed(
            pipe, args.repeats, precision, num_inference_steps=kwargs.pop("num_inference_steps", 20), **kwargs
        )
        speed = kwargs.get("num_images_per_prompt", 1) / seconds
        baseline = baseline or speed
        print(f"| {name} | {seconds:.3f} | {speed:.1f} | {speed / baseline:.2f}x |")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
