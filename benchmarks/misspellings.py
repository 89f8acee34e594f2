"""Misspelt garment words: does grounding's misspelling rule help the text encoder read them?

    python benchmarks/misspellings.py --checkpoint checkpoints/fashion-mnist

Every one-word garment noun of five letters or more (the training captions' and the WordNet lexicon's,
those of one class) gets seeded typing errors that keep its first letter: a letter left out, one added,
one changed, two neighbours swapped; words of TWO_TYPOS_FROM letters or more also get two at once. For
"a photo of a <misspelt word>", prints how often the rule reads it (and as which class), and the
encoder-only reading (the class of the nearest training caption, nearest_caption.py) as typed and
grounded: the ceiling of what the UNet can draw from it. A misspelling that is itself a word the encoder or
WordNet knows ("boats" for "boots") is left out: the rule leaves real words alone by design. With `--draw N`,
the pipeline also draws `--images` pictures of N of them (every k-th), as typed and grounded, at its default
settings, and the evaluation's reference classifier says how many show the class meant.
"""

from __future__ import annotations

import argparse
import random
import string
from pathlib import Path

import torch

from diffusion import TextToImagePipeline
from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier
from diffusion.evaluation.generate import generate
from diffusion.prompts.grounding import ground, training_vocabulary
from diffusion.prompts.lexicon import SHORTEST_MISSPELLING, TWO_TYPOS_FROM, forms, lexicon_for
from diffusion.prompts.nearest_caption import CaptionIndex

DATASET = "fashion_mnist"


def typing_error(word: str, rng: random.Random) -> str:
    """One random typing error after the first letter."""
    i = rng.randrange(1, len(word))
    kind = rng.choice(["leave out", "add", "change", "swap"])
    if kind == "leave out":
        return word[:i] + word[i + 1 :]
    if kind == "add":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i:]
    if kind == "change":
        return word[:i] + rng.choice(string.ascii_lowercase.replace(word[i], "")) + word[i + 1 :]
    i = min(i, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :] if i >= 1 else word


def garment_words() -> dict[str, str]:
    """One-word garment nouns of one class, SHORTEST_MISSPELLING letters or more -> class name."""
    lexicon = lexicon_for(DATASET)
    nouns = {**lexicon.lemmas, **training_vocabulary(DATASET).classes}
    return {noun: name for noun, name in nouns.items() if " " not in noun and len(noun) >= SHORTEST_MISSPELLING}


def misspellings(nouns: dict[str, str], per_word: int, seed: int) -> list[tuple[str, str, str]]:
    """(misspelt word, the word meant, its class) for `nouns` (garment_words), real words left out."""
    rng, lexicon, known = random.Random(seed), lexicon_for(DATASET), training_vocabulary(DATASET).words
    rows = []
    for word, name in sorted(nouns.items()):
        for _ in range(per_word):
            typed = typing_error(word, rng)
            if len(word) >= TWO_TYPOS_FROM and rng.random() < 0.5:
                typed = typing_error(typed, rng)
            real = typed in known or typed in lexicon.lookalikes or lexicon.lookup((typed,)) is not None
            if not real and not any(form in nouns for form in forms(typed)):
                rows.append((typed, word, name))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist", help="pipeline whose captions to use")
    parser.add_argument("--per-word", type=int, default=3, help="misspellings of each word")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many misspellings the rule misreads")
    parser.add_argument("--draw", type=int, default=0, help="draw pictures of this many of them (0: none)")
    parser.add_argument("--images", type=int, default=5, help="pictures of each drawn prompt")
    args = parser.parse_args()

    index = CaptionIndex.load(Path(args.checkpoint), DATASET)
    nouns = garment_words()
    rows = misspellings(nouns, args.per_word, args.seed)
    labels = [CLASS_NAMES[DATASET].index(name) for _, _, name in rows]
    typed = [f"a photo of a {word}" for word, _, _ in rows]
    groundings = [ground(prompt, DATASET) for prompt in typed]
    read = [g.explained[0].entry.classes[0] if g.explained else None for g in groundings]
    fired = [name for name in read if name is not None]
    right = sum(name == meant for name, (_, _, meant) in zip(read, rows, strict=True))
    as_typed = [r.label for r in index.nearest(typed)]
    grounded = [r.label for r in index.nearest([g.prompt for g in groundings])]

    def accuracy(readings: list[int], where: list[bool]) -> str:
        hits = [r == k for r, k, w in zip(readings, labels, where, strict=True) if w]
        return f"{sum(hits) / max(1, len(hits)):.1%}"

    every, read_ones = [True] * len(rows), [name is not None for name in read]
    print(f"{len(rows)} misspellings of {len(nouns)} garment words; captions of {args.checkpoint}")
    print(f"read by the rule: {len(fired)} ({len(fired) / len(rows):.1%}); in the class meant: {right} of {len(fired)}")
    print("| misspellings | count | encoder alone, as typed | grounded |")
    print("|---|---|---|---|")
    print(f"| all | {len(rows)} | {accuracy(as_typed, every)} | {accuracy(grounded, every)} |")
    print(f"| read by the rule | {len(fired)} | {accuracy(as_typed, read_ones)} | {accuracy(grounded, read_ones)} |")
    wrong = [(row, name) for row, name in zip(rows, read, strict=True) if name is not None and name != row[2]]
    for (word, meant, _), name in wrong[: args.show]:
        print(f"    {word} (for {meant}) read as {name}")
    if args.draw:
        draw(args, typed, labels)


def draw(args: argparse.Namespace, prompts: list[str], labels: list[int]) -> None:
    """The share of pictures the reference classifier puts in the class meant, as typed and grounded."""
    every = max(1, len(prompts) // args.draw)
    prompts, labels = prompts[::every][: args.draw], labels[::every][: args.draw]
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    classifier = load_classifier(default_classifier_dir(DATASET), "cpu")
    wanted = torch.tensor(labels).repeat_interleave(args.images)
    cells = []
    for grounded in (False, True):
        pipe.ground_words = grounded
        logits, _ = embed(classifier, generate(pipe, prompts, args.images, seed=0))
        cells.append(f"{(logits.argmax(1) == wanted).float().mean().item():.1%}")
    print(f"\n| pictures of {len(prompts)} misspelt prompts, {args.images} each | as typed | grounded |")
    print("|---|---|---|")
    print(f"| the class meant, by the reference classifier | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
