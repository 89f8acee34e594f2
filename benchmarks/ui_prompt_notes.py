"""Calibration of the "far from the training captions" note (diffusion/prompts/prompt_notes.py).

    python benchmarks/ui_prompt_notes.py [--checkpoint checkpoints/fashion-mnist]

For every prompt of the evaluation's in-domain sets (class prompts and label texts, held-out nouns, the
free-form descriptions) and of the committed out-of-domain set (diffusion/prompts/out_of_domain.txt),
the cosine similarity of its nearest training caption in the pipeline's caption index, and of its
nearest everyday thing outside the data set (diffusion/prompts/not_clothing.txt). The note fires when the
first is below FAR_BELOW, or the second beats the first by more than NEARER_THING_BY. The tables show
how often each rule fires on each set for a range of values, and the prompts the shipped rule misses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffusion.data.datasets import CLASS_NAMES
from diffusion.prompts.captions import class_prompt, held_out_prompts, label_text_prompts
from diffusion.prompts.prompt_notes import FAR_BELOW, NEARER_THING_BY, things_outside
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.saved_pipeline import caption_index_of

PROMPTS = Path(__file__).resolve().parents[1] / "diffusion" / "prompts"
DATASET = "fashion_mnist"
THRESHOLDS = [0.30, 0.35, 0.38, 0.40, 0.42, 0.45, 0.50]
MARGINS = [-0.05, 0.0, 0.05, 0.10, 0.20]


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


def rate(fires: torch.Tensor) -> str:
    return f"{fires.float().mean():.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    args = parser.parse_args()
    index = caption_index_of(TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu"))
    things, thing_embeddings = things_outside(DATASET)
    sets = prompt_sets()
    caption, thing = {}, {}
    for name, prompts in sets.items():
        unit = index.unit_embeddings(prompts)
        caption[name] = (unit @ index.embeddings.T).max(dim=1).values
        thing[name] = (unit @ thing_embeddings.T).max(dim=1).values
    names = list(sets)
    in_domain = [name for name in names if name != "out of domain"]
    print(
        f"checkpoint {args.checkpoint}: index of {len(index.captions)} training captions, {len(things)} outside things"
    )
    print("\n| set | prompts | nearest caption min / median / max | nearest thing minus nearest caption, median |")
    print("|---|---|---|---|")
    for name in names:
        values, lead = caption[name], (thing[name] - caption[name]).median()
        spread = f"{values.min():.2f} / {values.median():.2f} / {values.max():.2f}"
        print(f"| {name} | {len(values)} | {spread} | {lead:+.2f} |")

    def table(title: str, rows: list[tuple[str, dict[str, torch.Tensor]]]) -> None:
        print(f"\n{title}\n\n| rule | " + " | ".join(f"fires on {name}" for name in names) + " | all in-domain |")
        print("|---" * (len(names) + 2) + "|")
        for label, fires in rows:
            everything = torch.cat([fires[name] for name in in_domain])
            print(f"| {label} | " + " | ".join(rate(fires[name]) for name in names) + f" | {rate(everything)} |")

    def fires(threshold: float, margin: float) -> dict[str, torch.Tensor]:
        return {n: (caption[n] < threshold) | (thing[n] > caption[n] + margin) for n in names}

    alone = [(f"below {t:.2f}", fires(t, margin=2.0)) for t in sorted({*THRESHOLDS, FAR_BELOW})]  # 2: never fires
    table("Nearest caption below a threshold, alone:", alone)
    both = [(f"margin {m:+.2f}" + (" (shipped)" * (m == NEARER_THING_BY)), fires(FAR_BELOW, m)) for m in MARGINS]
    table(f"Below {FAR_BELOW:.2f}, or nearer an outside thing than any caption by more than a margin:", both)
    shipped = fires(FAR_BELOW, NEARER_THING_BY)
    for name in names:
        wrong = [p for p, f in zip(sets[name], shipped[name], strict=True) if bool(f) != (name == "out of domain")]
        verb = "misses" if name == "out of domain" else "fires on"
        print(f"\nthe shipped rule {verb} these {name} ({len(wrong)}): " + "; ".join(wrong))


if __name__ == "__main__":
    main()
