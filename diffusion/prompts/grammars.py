"""Which caption grammar a dataset's captions come from: the garment-style one (captions.py: Fashion-MNIST,
CIFAR-10) or the digits' (digit_captions.py: MNIST from either source). Both give training captions, the
image attributes their words are chosen by, and the evaluation's prompts."""

from __future__ import annotations

from ..common.errors import UserError
from ..data.datasets import CLASS_NAMES, kind
from .captions import CaptionGrammar
from .digit_captions import DigitGrammar


def grammar_for(dataset: str) -> CaptionGrammar | DigitGrammar:
    if dataset not in CLASS_NAMES:
        raise UserError(f"unknown dataset '{dataset}'; choose one of: {', '.join(CLASS_NAMES)}")
    return DigitGrammar(dataset) if kind(dataset) == DigitGrammar.dataset_kind else CaptionGrammar(dataset)
