"""What the rich caption grammar costs in training speed, beside short fixed captions, in one run.

    python benchmarks/caption_bank.py --steps 30 --per-class 3000

Two costs: encoding the bank once at the start of a run (amortised over the run's time budget), and
longer captions in every step (cross-attention over more tokens). Baseline: the same training step with
short captions like the old fixed set ("a photo of a coat"). Prints a table and the fp32 matmul rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from diffusers import DDPMScheduler
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.common.config import load_config
from diffusion.data.datasets import load_dataset
from diffusion.model.unet import build_unet
from diffusion.prompts.captions import CaptionBank, CaptionGrammar, brightness_attributes, class_prompt
from diffusion.prompts.nearest_caption import CaptionIndex
from diffusion.training.loop import step_generator
from diffusion.training.train import training_loss
from diffusion.training.training_data import TrainingData, batch_indices, caption_embeddings

ROOT = Path(__file__).resolve().parent.parent


def images_per_second(config, data: TrainingData, steps: int) -> float:
    torch.manual_seed(0)
    unet = build_unet(config.model, data.dataset.image_shape)
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    batch = config.train.batch_size
    for step in range(steps + 3):
        if step == 3:  # the first steps warm up the allocator and kernels
            started = time.perf_counter()
        indices = batch_indices(len(data.dataset), batch, step, 0)
        loss = training_loss(unet, scheduler, data, indices, config, step_generator(0, step), "cpu").loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--budget-minutes", type=float, default=60.0, help="run length the encoding is spread over")
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "fashion_mnist.yaml")
    dataset = load_dataset("fashion_mnist", train=True, download=False)
    attributes = brightness_attributes(dataset.images, dataset.labels, 10)
    folder = Path(tempfile.mkdtemp())

    bank = CaptionGrammar("fashion_mnist").bank(args.per_class)
    started = time.perf_counter()
    embeddings = caption_embeddings(bank.captions, folder / "bank.safetensors")
    encode_seconds = time.perf_counter() - started
    index = CaptionIndex.from_captions(bank.captions, bank.labels, embeddings.pooled, "fashion_mnist", 10)
    rich = TrainingData(dataset, attributes, bank, embeddings, index)

    # Baseline: one short caption per cell, as the old fixed caption set had ("a photo of a dark coat").
    words = {0: "", 1: "dark", 2: "light"}
    short = [""] + [f"a photo of {class_prompt('fashion_mnist', k, words[a])}" for k in range(10) for a in range(3)]
    short_bank = CaptionBank(short, [-1] + [k for k in range(10) for _ in range(3)], 1, 10)
    short_embeddings = caption_embeddings(short, folder / "short.safetensors")
    plain = TrainingData(dataset, attributes, short_bank, short_embeddings, index)

    gflops = matmul_gflops()
    baseline = images_per_second(config, plain, args.steps)
    with_bank = images_per_second(config, rich, args.steps)
    amortised = with_bank * (1 - encode_seconds / (args.budget_minutes * 60))
    print(f"\nfp32 matmul: {gflops:.0f} GFLOP/s; torch threads: {torch.get_num_threads()}")
    print(f"bank: {len(bank) - 1} captions ({len(set(bank.captions)) - 1} distinct), encoded in {encode_seconds:.0f} s")
    print("| variant | images/s | vs baseline |\n|---|---|---|")
    print(f"| short fixed captions (baseline) | {baseline:.1f} | 1.00x |")
    print(f"| caption bank, training step only | {with_bank:.1f} | {with_bank / baseline:.2f}x |")
    print(
        f"| caption bank, encoding spread over {args.budget_minutes:g} min | {amortised:.1f} "
        f"| {amortised / baseline:.2f}x |"
    )


if __name__ == "__main__":
    main()
