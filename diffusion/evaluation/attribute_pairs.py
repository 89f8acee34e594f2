"""Attribute control, one pair of words at a time: the same class prompt with the low word and with the high
word ("a dark coat" / "a light coat", "a thin handwritten 7" / "a bold handwritten 7"), the same seeds, and
the pixel measure the caption words were chosen by. A pair is right when the high word's image measures
higher; real images give the reference: the highest third of each class minus its lowest third.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..data.datasets import kind
from ..prompts.captions import brightness_attributes
from ..prompts.digit_attributes import class_thirds, digit_attributes, slant, split_code, stroke_thickness
from ..prompts.grammars import grammar_for
from .metrics import mean_intensity
from .prompt_sets import PromptSet
from .results import PairResult


@dataclass(frozen=True)
class AttributePair:
    low: str  # the word for the low end, "dark"
    high: str  # and for the high end, "light"
    measure: str  # what is measured, for the report
    value: Callable[[torch.Tensor], torch.Tensor]  # images -> (N,) measure
    # Real images' side by the captions' own rule: 1 low, 2 high, 0 neither (images, labels, classes -> (N,)).
    side: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


TONE = AttributePair("dark", "light", "mean intensity", mean_intensity, brightness_attributes)
THICKNESS = AttributePair(
    "thin",
    "bold",
    "stroke thickness (pixels)",
    stroke_thickness,
    lambda images, labels, classes: class_thirds(stroke_thickness(images), labels, classes),
)
SLANT = AttributePair(
    "upright",
    "slanted",
    "slant (rightward shift per pixel of height)",
    slant,
    lambda images, labels, classes: split_code(digit_attributes(images, labels, classes))[1],
)


def pairs_for(dataset: str) -> list[AttributePair]:
    """The digits' thickness and slant; the tone of every other dataset."""
    return [THICKNESS, SLANT] if kind(dataset) == "mnist" else [TONE]


def pair_sets(dataset: str, pair: AttributePair, num_classes: int) -> tuple[PromptSet, PromptSet]:
    """The class prompts with the low word and with the high word: prompts that differ by one word."""
    grammar, labels = grammar_for(dataset), list(range(num_classes))
    return tuple(
        PromptSet(word, [grammar.class_prompt(k, word) for k in labels], labels) for word in (pair.low, pair.high)
    )


def pair_result(pair: AttributePair, low_images, high_images, test, names: list[str], n: int) -> PairResult:
    """High minus low measure for the same seeds, beside real images' highest minus lowest third per class."""
    gap = pair.value(high_images) - pair.value(low_images)
    side = pair.side(test.images, test.labels, len(names))
    real = pair.value(test.images)
    real_gap = {
        name: (real[(test.labels == c) & (side == 2)].mean() - real[(test.labels == c) & (side == 1)].mean()).item()
        for c, name in enumerate(names)
    }
    return PairResult(
        low=pair.low,
        high=pair.high,
        measure=pair.measure,
        high_minus_low=gap.mean().item(),
        right_sign_fraction=(gap > 0).float().mean().item(),
        real_high_minus_low=sum(real_gap.values()) / len(names),
        per_class={name: gap[c * n : (c + 1) * n].mean().item() for c, name in enumerate(names)},
        real_per_class=real_gap,
    )
