"""Training captions that say what kind of garment their noun is ("a parka, a kind of coat"): the wording a
grounded prompt gives a word no caption says, so that the model learns to read it (data.kind_phrases)."""

from __future__ import annotations

import re

import pytest

from diffusion.common.errors import UserError
from diffusion.data.datasets import CLASS_NAMES
from diffusion.prompts.captions import CaptionGrammar, class_kinds
from diffusion.prompts.digit_captions import DigitGrammar
from diffusion.prompts.grounding import ground
from diffusion.prompts.lexicon import lexicon_for
from diffusion.training.training_data import prepare_data

KIND = re.compile(r", a kind of ([\w-]+)", re.IGNORECASE)  # captions come in every case


@pytest.fixture(scope="module")
def banks():
    grammar = CaptionGrammar("fashion_mnist")
    return grammar.bank(300, seed=4), grammar.bank(300, seed=4, kind_phrases=0.4)


def test_each_class_is_explained_by_its_word_in_the_lexicon():
    kinds = class_kinds("fashion_mnist")
    assert kinds[CLASS_NAMES["fashion_mnist"].index("Sandal")] == "sandal"
    assert kinds[CLASS_NAMES["fashion_mnist"].index("Pullover")] == "sweater"
    entries = [e for e in lexicon_for("fashion_mnist").entries.values() if not e.ambiguous]
    for name, kind in zip(CLASS_NAMES["fashion_mnist"], kinds, strict=True):
        assert {e.kind for e in entries if e.classes == (name,)} == {kind}


def test_a_share_of_captions_names_their_own_class_kind_and_is_otherwise_unchanged(banks):
    plain, explained = banks
    assert not any(KIND.search(c) for c in plain.captions)
    assert plain.labels == explained.labels
    kinds = class_kinds("fashion_mnist")
    changed = 0
    for before, after, label in zip(plain.captions, explained.captions, explained.labels, strict=True):
        match = KIND.search(after)
        if match is None:
            assert after == before
            continue
        changed += 1
        assert match.group(1).lower() == kinds[label], after
        head, rest = after[: match.start()], before[match.start() :]
        closing = "," if re.match(r" \w", rest) else ""  # what the explanation adds when the sentence goes on
        explanation = f", a kind of {kinds[label]}{closing}"
        assert after.lower() == (head + explanation + rest).lower() and before == head + rest, (before, after)
    # 0.4 of the draws, less those whose noun is the kind word itself ("a sandal" is not "a kind of sandal")
    assert 0.25 < changed / len(plain.captions) < 0.42


def test_the_explanation_reads_as_a_grounded_prompt_writes_it(banks):
    """Closed by a comma when the sentence goes on, as grounding.explanation does."""
    _, explained = banks
    sentences_going_on = [c for c in explained.captions if re.search(r", a kind of [\w-]+ \w", c, re.IGNORECASE)]
    assert not sentences_going_on
    grounded = ground("a photo of espadrilles on a plain background", "fashion_mnist").prompt
    assert grounded == "a photo of espadrilles, a kind of sandal, on a plain background"
    assert any(c.endswith(", a kind of sandal, on a plain background") for c in explained.captions)


def test_datasets_without_a_lexicon_say_so():
    with pytest.raises(UserError, match="kind_phrases"):
        CaptionGrammar("cifar10").bank(30, kind_phrases=0.3)
    with pytest.raises(UserError, match="kind_phrases"):
        DigitGrammar().bank(90, kind_phrases=0.3)
    assert len(CaptionGrammar("cifar10").bank(30)) > 1  # and train as before when it is 0


def test_a_training_run_reads_the_share_from_its_config(tiny_config, tmp_path):
    tiny_config.data.kind_phrases = 0.5
    captions = prepare_data(tiny_config, tmp_path).captions.captions
    explained = [c for c in captions if KIND.search(c)]
    assert 0.3 < len(explained) / len(captions) < 0.55
