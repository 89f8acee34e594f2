"""The prompt note on words nothing explains: in no training caption, not in the garment lexicon, and read by
the real text encoder only in pieces."""

from __future__ import annotations

import pytest

from diffusion.model.text import shared_text_encoder
from diffusion.prompts.grounding import ground
from diffusion.prompts.nearest_caption import grammar_index
from diffusion.prompts.prompt_notes import notes_for
from diffusion.prompts.unknown_words import unknown_words


@pytest.fixture(scope="module")
def index():
    return grammar_index("fashion_mnist", per_class=20)


def unknown(prompt: str, dataset: str = "fashion_mnist") -> dict[str, list[str]]:
    tokens = shared_text_encoder("cpu").tokens
    return dict(unknown_words(prompt, ground(prompt, dataset), dataset, tokens))


def test_a_word_the_encoder_splits_is_named_with_its_pieces(index):
    found = unknown("a cork Birkenstock for the summer")
    assert list(found) == ["birkenstock"]  # "cork" is a whole word to the encoder; the rest are caption words
    pieces = found["birkenstock"]
    assert len(pieces) > 1 and "".join(p.removeprefix("##") for p in pieces) == "birkenstock"
    note = notes_for(index, "a cork Birkenstock for the summer").sentences[-1]
    assert "“birkenstock”" in note and "·".join(p.removeprefix("##") for p in pieces) in note
    assert "check the spelling" in note


def test_misspelt_words_the_rules_do_not_read_are_named():
    assert "sandles" in unknown("sandles for the beach")  # two changes in seven letters: not read as sandals


def test_a_possessive_is_named_by_its_noun():
    assert list(unknown("the cheongsam's collar")) == ["cheongsam"]
    assert list(unknown("a birkenstock\u2019s sole")) == ["birkenstock"]
    assert unknown("a coat's collar") == {}


def test_words_something_explains_are_not_named(index):
    assert unknown("a pair of trousers") == {}  # caption words
    assert unknown("a photo of espadrilles") == {}  # the lexicon explains it
    assert unknown("a pair of snekers") == {}  # the misspelling rule reads it
    assert unknown("sturdy footwear for winter") == {}  # "footwear": a head of the captions' descriptions
    assert unknown("a chunky belted sweater") == {}  # whole words with a regular ending: chunk·y, belt·ed
    notes = notes_for(index, "a photo of espadrilles")
    assert notes.unknown == [] and not any("Unknown" in s for s in notes.sentences)


def test_several_words_are_named_once_each_in_prompt_order():
    assert list(unknown("jorts, daps and more jorts")) == ["jorts", "daps"]


def test_prompts_read_as_typed_and_datasets_without_a_lexicon_get_no_such_note(index):
    assert notes_for(index, "a cork birkenstock", ground=False).unknown == []
    assert unknown("a birkenstock", dataset="cifar10") == {}
    assert unknown("a birkenstock", dataset="mnist") == {}
