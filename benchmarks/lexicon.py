"""Does grounding rare garment words in the WordNet lexicon help the text encoder read them?

    python benchmarks/lexicon.py --checkpoint checkpoints/fashion-mnist

The encoder-only reading of a prompt is the class of its nearest training caption in the pipeline's
caption index (nearest_caption.py): the ceiling of what the UNet can draw from it. For the evaluation's
class prompts, held-out nouns and free-form descriptions (all exactly as committed), prints that accuracy
with the prompts as typed and with each grounding wording (grounding.STYLES), how many prompts each set
has grounded, and how many held-out nouns the lexicon covers (and how many of those it puts in their class);
then the time of the prompt note with and without grounding.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from machine import prompt_milliseconds  # benchmarks/machine.py, beside this script

from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.prompt_sets import PromptSet, class_prompt_set, free_form_set, held_out_set
from diffusion.prompts.captions import VOCABULARIES
from diffusion.prompts.grounding import STYLES, ground
from diffusion.prompts.lexicon import lexicon_for, words
from diffusion.prompts.nearest_caption import CaptionIndex
from diffusion.prompts.prompt_notes import notes_for, things_outside

DATASET = "fashion_mnist"


def encoder_accuracy(index: CaptionIndex, prompts: list[str], labels: list[int]) -> float:
    readings = index.nearest(prompts)
    return sum(r.label == k for r, k in zip(readings, labels, strict=True)) / len(labels)


def coverage() -> tuple[int, int, int]:
    """(held-out nouns, those the lexicon gives one class, those whose class is the noun's own)."""
    lexicon, names = lexicon_for(DATASET), CLASS_NAMES[DATASET]
    nouns = [(noun.rstrip("*"), label) for label, ns in enumerate(VOCABULARIES[DATASET].held_out_nouns) for noun in ns]
    entries = [(lexicon.lookup(words(noun)), label) for noun, label in nouns]
    covered = [(entry, label) for entry, label in entries if entry is not None and not entry.ambiguous]
    return len(nouns), len(covered), sum(entry.classes[0] == names[label] for entry, label in covered)


def median_milliseconds(call, prompts: list[str]) -> float:
    return statistics.median(prompt_milliseconds(call, prompts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    parser.add_argument("--show", action="store_true", help="also print every grounded prompt")
    args = parser.parse_args()
    index = CaptionIndex.load(Path(args.checkpoint), DATASET)
    sets: list[PromptSet] = [class_prompt_set(DATASET), held_out_set(DATASET), free_form_set(DATASET)]
    print(f"index: {len(index.captions)} training captions of {args.checkpoint}")
    print("| prompt set | prompts | grounded | as typed | " + " | ".join(STYLES) + " |")
    print("|---|---|---|---|" + "---|" * len(STYLES))
    for prompt_set in sets:
        grounded = {style: [ground(p, DATASET, style).prompt for p in prompt_set.prompts] for style in STYLES}
        changed = sum(g != p for g, p in zip(grounded["kind"], prompt_set.prompts, strict=True))
        typed = encoder_accuracy(index, prompt_set.prompts, prompt_set.labels)
        cells = [f"{encoder_accuracy(index, grounded[s], prompt_set.labels):.1%}" for s in STYLES]
        print(f"| {prompt_set.name} | {len(prompt_set)} | {changed} | {typed:.1%} | " + " | ".join(cells) + " |")
        if args.show:
            for before, after in zip(prompt_set.prompts, grounded["kind"], strict=True):
                if before != after:
                    print(f"    {after}")
    total, covered, right = coverage()
    print(f"\nheld-out nouns in the lexicon with one class: {covered} of {total}; in their own class: {right}")
    things_outside(DATASET)
    prompts = sets[1].prompts
    plain, grounded = (median_milliseconds(lambda p, g=g: notes_for(index, p, g), prompts) for g in (False, True))
    alone = median_milliseconds(lambda p: ground(p, DATASET), prompts)
    print(
        f"prompt note, median over the held-out prompts: {plain:.1f} ms as typed, {grounded:.1f} ms grounded "
        f"(the grounding alone {alone:.2f} ms)"
    )


if __name__ == "__main__":
    main()
