"""Captions for handwritten digits, the way people ask for them: "7", "seven", "the digit seven", "a bold
slanted 7", "draw the number seven with thin strokes".

Each caption names the digit (numeral or word, sometimes after a head word), may say how thick and how
slanted it is written (words the image's own pixels make true, digit_attributes.py) and a neutral word
("handwritten"), inside a template ("a picture of ...", "write ..."). The words are in digit_words.py;
the held-out ones never reach a training caption.

The grammar has the interface of the garment grammar (captions.CaptionGrammar): `caption`, `bank`,
`attributes`, `class_prompt`, `held_out_prompts`, so training and evaluation take either.
"""

from __future__ import annotations

import random

import torch

from ..common.errors import UserError
from . import digit_words as words
from .captions import CaptionBank, article
from .digit_attributes import BOLD, NONE, SLANTED, THIN, UPRIGHT, VALUES, digit_attributes

BEFORE = {THIN: words.THIN_WORDS, BOLD: words.BOLD_WORDS}, {UPRIGHT: words.UPRIGHT_WORDS, SLANTED: words.SLANTED_WORDS}
AFTER = (
    {THIN: words.THIN_PHRASES, BOLD: words.BOLD_PHRASES},
    {UPRIGHT: words.UPRIGHT_PHRASES, SLANTED: words.SLANTED_PHRASES},
)
# The attribute words of the evaluation's pairs, as (measure, value): "thin" -> (0, THIN).
PAIR_WORDS = {"thin": (0, THIN), "bold": (0, BOLD), "upright": (1, UPRIGHT), "slanted": (1, SLANTED)}


def held_out_words() -> set[str]:
    """Every word that only held-out phrasings use: none of them is in a training caption."""
    texts = [
        *words.HELD_OUT_HEADS, *words.HELD_OUT_THIN, *words.HELD_OUT_BOLD, *words.HELD_OUT_UPRIGHT,
        *words.HELD_OUT_SLANTED, *words.HELD_OUT_NEUTRAL,
        *(t.replace("{x}", "").replace("{bare}", "") for t in words.HELD_OUT_TEMPLATES),
    ]  # fmt: skip
    common = {"a", "an", "the", "of", "down"}  # also in training captions, and no help to the model alone
    return {word for text in texts for word in text.lower().split()} - common


class DigitGrammar:
    """Random captions for a digit of class `label` with attribute code `attribute` (thickness * 3 + slant)."""

    dataset_kind = "mnist"
    factors = (VALUES, VALUES)  # thickness and slant: each mentioned or not on its own

    def __init__(self, dataset: str = "mnist"):
        self.dataset = dataset
        self.num_classes = len(words.NUMBER_WORDS)

    def name(self, label: int, rng: random.Random) -> str:
        return str(label) if rng.random() < 0.5 else words.NUMBER_WORDS[label]

    def phrase(self, label: int, attribute: int, rng: random.Random) -> tuple[str, str]:
        """The phrase naming the digit, with its article and without: ("a bold digit 7", "bold digit 7")."""
        head = rng.choice(words.HEADS) if rng.random() < 0.5 else ""
        before, after = [], []
        for measure, value in enumerate(divmod(attribute, VALUES)):  # (thickness, slant)
            if value == NONE:
                continue
            if rng.random() < 0.75 or after:  # at most one phrase after the name reads naturally
                before.append(rng.choice(BEFORE[measure][value]))
            else:
                after.append(rng.choice(AFTER[measure][value]))
        if not head and rng.random() < 0.35:
            before.append(rng.choice(words.NEUTRAL_WORDS))
        if not after and rng.random() < 0.15:
            after.append(rng.choice(words.NEUTRAL_PHRASES))
        bare = " ".join([*before, head, self.name(label, rng), *after]).replace("  ", " ").strip()
        roll = rng.random()
        if roll < 0.45:
            return f"{article(bare)} {bare}", bare
        if roll < 0.75:
            return f"the {bare}", bare
        return bare, bare

    def caption(self, label: int, attribute: int, rng: random.Random) -> str:
        x, bare = self.phrase(label, attribute, rng)
        text = rng.choice(words.TEMPLATES).format(x=x, bare=bare)
        return text[0].upper() + text[1:] if rng.random() < 0.15 else text

    def bank(self, per_class: int, seed: int = 0, kind_phrases: float = 0.0, descriptions: float = 0.0) -> CaptionBank:
        """`per_class` captions of each class, spread evenly over its attribute codes, reproducible from `seed`."""
        if kind_phrases > 0:
            raise UserError(f"data.kind_phrases needs a garment lexicon, and {self.dataset} has none; set it to 0")
        if descriptions > 0:
            raise UserError(f"data.descriptions needs description heads for {self.dataset}; set it to 0")
        rng = random.Random(seed)
        codes = VALUES * VALUES
        per_cell = max(1, per_class // codes)
        captions, labels = [""], [-1]
        for label in range(self.num_classes):
            for attribute in range(codes):
                captions += [self.caption(label, attribute, rng) for _ in range(per_cell)]
                labels += [label] * per_cell
        return CaptionBank(captions, labels, per_cell, self.num_classes, self.factors)

    def attributes(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return digit_attributes(images, labels, self.num_classes)

    def class_prompt(self, label: int, attribute: str = "") -> str:
        """ "a handwritten 7", or with an attribute word "a bold handwritten 7"."""
        phrase = f"{attribute} handwritten {label}".strip()
        return f"{article(phrase)} {phrase}"

    def label_text_prompts(self) -> list[tuple[str, int]]:
        """Every way of asking that training captions use, per digit: "7", "seven", "the digit seven", ..."""
        return [
            (form.format(digit=label, word=word), label)
            for form in words.ASKING
            for label, word in enumerate(words.NUMBER_WORDS)
        ]

    def held_out_prompts(self) -> list[tuple[str, int]]:
        """One prompt per held-out phrasing and digit: "the figure seven", "scribble a 7", ..."""
        return [
            (form.format(digit=label, word=word, a_digit=f"{article(str(label))} {label}"), label)
            for form in words.HELD_OUT_PHRASINGS
            for label, word in enumerate(words.NUMBER_WORDS)
        ]
