"""Garments described without their name: does the model draw what the words describe?

    python benchmarks/descriptions.py --checkpoint checkpoints/fashion-mnist --checkpoint runs/other/pipeline

People who do not know a garment's name describe it ("something warm and knitted to put on over a
shirt", "open footwear with straps for the beach"). `descriptions.tsv` holds 50 such prompts, 5 a class,
written apart from the evaluation's free-form set and from the caption grammar. For each checkpoint it
prints the share of pictures the evaluation's reference classifier puts in the class described (all
prompts, and the prompts whose nearest training caption is of that class), and the encoder-alone reading
(the class of the nearest training caption, nearest_caption.py), at the pipeline's default settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffusion import TextToImagePipeline
from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier
from diffusion.evaluation.generate import generate
from diffusion.evaluation.prompt_sets import read_prompt_set

DATASET = "fashion_mnist"
PROMPTS = Path(__file__).with_name("descriptions.tsv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", help="pipeline folder (repeat to compare)")
    parser.add_argument("--images", type=int, default=10, help="pictures of each prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", action="store_true", help="also each prompt's share, checkpoint by checkpoint")
    args = parser.parse_args()
    checkpoints = args.checkpoint or ["checkpoints/fashion-mnist"]

    described = read_prompt_set(PROMPTS, DATASET, "described")
    prompts, labels = described.prompts, described.labels
    wanted = torch.tensor(labels)
    classifier = load_classifier(default_classifier_dir(DATASET), "cpu")
    print(f"{len(prompts)} described garments, {args.images} pictures each, seed {args.seed}\n")
    print("| checkpoint | pictures of the class described | where the encoder reads it right | encoder alone |")
    print("|---|---|---|---|")
    shares = {}
    for checkpoint in checkpoints:
        pipe = TextToImagePipeline.from_pretrained(checkpoint, device="cpu")
        read = torch.tensor([r.label for r in pipe.caption_index.nearest(prompts)])
        logits, _ = embed(classifier, generate(pipe, prompts, args.images, seed=args.seed))
        hits = (logits.argmax(1) == wanted.repeat_interleave(args.images)).float().view(len(prompts), -1).mean(1)
        right = read == wanted
        shares[checkpoint] = hits
        print(
            f"| {checkpoint} | {hits.mean():.1%} | {hits[right].mean():.1%} ({int(right.sum())} prompts) "
            f"| {right.float().mean():.1%} |"
        )
    if args.show:
        for i, prompt in enumerate(prompts):
            cells = " ".join(f"{shares[c][i]:.1f}" for c in checkpoints)
            print(f"{cells}  {CLASS_NAMES[DATASET][labels[i]]}: {prompt}")


if __name__ == "__main__":
    main()
