"""Calibration of the "far from the training captions" note (diffusion/prompt_notes.py).

    python benchmarks/ui_prompt_notes.py [--checkpoint checkpoints/fashion-mnist]

For every prompt of the evaluation's in-domain sets (class prompts and label texts, held-out nouns, the
free-form descriptions) and of the committed out-of-domain set (diffusion/prompts/out_of_domain.txt),
the cosine similarity of its nearest training caption in the pipeline's caption index. The note fires
below a threshold; the table shows how often it fires on each set for a range of thresholds, the
in-domain false alarms it costs, and the highest threshold that keeps them under 5% overall.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffusion.captions import class_prompt, held_out_prompts, label_text_prompts
from diffusion.data import CLASS_NAMES
from diffusion.nearest_caption import caption_index_of
from diffusion.pipeline import TextToImagePipeline
from diffusion.prompt_notes import FAR_BELOW

PROMPTS = Path(__file__).resolve().parents[1] / "diffusion" / "prompts"
DATASET = "fashion_mnist"
THRESHOLDS = [0.30, 0.32, 0.34, 0.35, 0.36, 0.38, 0.40, 0.42, 0.45, 0.50]


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]


def prompt_sets() -> dict[str, list[str]]:
    classes = [class_prompt(DATASET, k) for k in range(len(CLASS_NAMES[DATASET]))]
    return {
        "class prompts and label texts": classes + [p for p, _ in label_text_prompts(DATASET)],
        "held-out nouns": [p for p, _ in held_out_prompts(DATASET)],
        "free-form descriptions": [line.split("\t")[1] for line in lines(PROMPTS / f"free_form_{DATASET}.tsv")],
        "out of domain": lines(PROMPTS / "out_of_domain.txt"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    args = parser.parse_args()
    index = caption_index_of(TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu"))
    sets = prompt_sets()
    similarity = {name: torch.tensor([n.similarity for n in index.nearest(ps)]) for name, ps in sets.items()}
    in_domain = torch.cat([s for name, s in similarity.items() if name != "out of domain"])
    print(f"checkpoint {args.checkpoint}: index of {len(index.captions)} training captions")
    print("\n| set | prompts | similarity min / median / max |")
    print("|---|---|---|")
    for name, values in similarity.items():
        print(f"| {name} | {len(values)} | {values.min():.2f} / {values.median():.2f} / {values.max():.2f} |")
    names = list(similarity)
    print("\n| threshold | " + " | ".join(f"fires on {name}" for name in names) + " | fires on all in-domain |")
    print("|---" * (len(names) + 2) + "|")
    for threshold in sorted({*THRESHOLDS, FAR_BELOW}):
        rates = [f"{(similarity[name] < threshold).float().mean():.1%}" for name in names]
        shipped = " (shipped)" if threshold == FAR_BELOW else ""
        print(
            f"| {threshold:.2f}{shipped} | " + " | ".join(rates) + f" | {(in_domain < threshold).float().mean():.1%} |"
        )
    candidates = [t / 100 for t in range(20, 70) if (in_domain < t / 100).float().mean() < 0.05]
    best = max(candidates)
    ood = (similarity["out of domain"] < best).float().mean()
    print(f"\nhighest threshold with in-domain false alarms under 5%: {best:.2f} (fires on {ood:.1%} out of domain)")
    missed = [p for p, s in zip(sets["out of domain"], similarity["out of domain"], strict=True) if s >= FAR_BELOW]
    print(f"out-of-domain prompts the shipped threshold misses ({len(missed)}): " + "; ".join(missed))


if __name__ == "__main__":
    main()
