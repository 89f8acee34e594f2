"""How fast the nearest-training-caption note answers, beside the text encoder call it cannot avoid.

    python benchmarks/nearest_caption.py --checkpoint checkpoints/fashion-mnist

The note encodes the prompt (the baseline: one MiniLM call) and compares it with the pipeline's caption
index (a few thousand sentence vectors). Times over the committed free-form prompts, one at a time as
the web UI asks; prints the table and the machine's fp32 matmul rate.
"""

from __future__ import annotations

import argparse
import statistics

from machine import matmul_gflops, prompt_milliseconds  # benchmarks/machine.py, beside this script

from diffusion.evaluation.prompt_sets import free_form_set
from diffusion.model.text import shared_text_encoder
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.saved_pipeline import caption_index_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    args = parser.parse_args()
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    index = caption_index_of(pipe)
    encoder = shared_text_encoder("cpu")
    prompts = free_form_set("fashion_mnist").prompts
    baseline = prompt_milliseconds(lambda p: encoder.encode([p]), prompts)
    note = prompt_milliseconds(index.describe, prompts)
    print(
        f"\nfp32 matmul: {matmul_gflops():.0f} GFLOP/s; index: {len(index.captions)} captions; {len(prompts)} prompts"
    )
    print("| call | median ms | p95 ms | vs baseline |\n|---|---|---|---|")
    for name, times in (("encode the prompt (baseline)", baseline), ("nearest-caption note", note)):
        median, p95 = statistics.median(times), sorted(times)[int(0.95 * len(times))]
        print(f"| {name} | {median:.1f} | {p95:.1f} | {median / statistics.median(baseline):.2f}x |")


if __name__ == "__main__":
    main()
