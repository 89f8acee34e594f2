"""Which caption grammar a dataset's captions come from: the garment-style one (captions.py: Fashion-MNIST,
CIFAR-10) or the digits' (digit_captions.py: MNIST from either source). Both give training captions, the
image attributes their words are chosen by, and the evaluation's prompts."""

from __future__ import annotations

from .captions import CaptionGrammar
from .data import CLASS_NAMES, kind
from .digit_captions import DigitGrammar
from .errors import UserError


def grammar_for(dataset: str) -> CaptionGrammar | DigitGrammar:
    if dataset not in CLASS_NAMES:
        raise UserError(f"unknown dataset '{dataset}'; choose one of: {', '.join(CLASS_NAMES)}")
    return DigitGrammar(dataset) if kind(dataset) == DigitGrammar.dataset_kind else CaptionGrammar(dataset)
