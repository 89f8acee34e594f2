"""Captions that describe a garment without naming it (data.descriptions): "something warm with a hood"."""

from __future__ import annotations

import re

import pytest

from diffusion.common.errors import UserError
from diffusion.prompts import caption_words as words
from diffusion.prompts.captions import CaptionGrammar, plural
from diffusion.prompts.digit_captions import DigitGrammar
from diffusion.training.training_data import prepare_data

GRAMMAR = CaptionGrammar("fashion_mnist")
HEADS = re.compile(r"\b(something|item|garment|piece of clothing|clothing|footwear|accessory)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def banks():
    return GRAMMAR.bank(600, seed=3), GRAMMAR.bank(600, seed=3, descriptions=0.2)


def names_a_garment(caption: str) -> bool:
    """Whether any class's noun (or its plural) stands in the caption as words of its own."""
    text = f" {caption.lower().replace(',', ' ')} "
    nouns = {form.lower() for nouns in GRAMMAR.nouns for n in nouns for form in (n.rstrip("*"), plural(n))}
    return any(f" {noun} " in text for noun in nouns)


def test_a_share_of_captions_describes_the_garment_and_the_rest_are_unchanged(banks):
    plain, described = banks
    assert plain.labels == described.labels
    changed = [(a, b) for a, b in zip(plain.captions, described.captions, strict=True) if a != b]
    assert described.described == [a != b for a, b in zip(plain.captions, described.captions, strict=True)]
    assert not any(plain.described)
    assert 0.15 < len(changed) / len(plain.captions) < 0.25
    for before, after in changed:
        assert names_a_garment(before) and not names_a_garment(after), (before, after)
        assert HEADS.search(after), after


def test_each_description_suits_its_class_and_tells_something_of_it(banks):
    _, described = banks
    telling = {w: c for w, c in {**words.FASHION_ADJECTIVES, **words.FASHION_PHRASES}.items() if len(c) < 10}
    seen_classes = set()
    for caption, label in zip(described.captions, described.labels, strict=True):
        if label < 0 or names_a_garment(caption):
            continue
        seen_classes.add(label)
        head = HEADS.search(caption).group(1).lower()  # the leftmost: "piece of clothing", not "clothing"
        suiting = {h.rstrip("*") for h, classes in words.FASHION_DESCRIPTION_HEADS.items() if label in classes}
        assert head in suiting, (caption, label)
        found, text = [], caption.lower()
        for word in sorted(telling, key=len, reverse=True):  # "with long sleeves" before "long"
            pattern = rf"(^|\W){re.escape(word)}(?=\W|$)"
            if re.search(pattern, text):
                found.append(word)
                text = re.sub(pattern, r"\1", text)
        assert found and all(label in telling[w] for w in found), (caption, label, found)
        assert "  " not in caption and not caption.lower().startswith("my favourite something")
    assert seen_classes == set(range(10))


def test_footwear_is_never_a_coat_and_clothing_never_a_bag(banks):
    _, described = banks
    for caption, label in zip(described.captions, described.labels, strict=True):
        if re.search(r"\bfootwear\b", caption, re.IGNORECASE):
            assert label in words.SHOES, caption
        if re.search(r"\b(clothing|garment)\b", caption, re.IGNORECASE):
            assert label in words.CLOTHES, caption


def test_grammars_without_description_heads_say_so():
    with pytest.raises(UserError, match="data.descriptions"):
        CaptionGrammar("cifar10").bank(30, descriptions=0.1)
    with pytest.raises(UserError, match="data.descriptions"):
        DigitGrammar().bank(90, descriptions=0.1)


def test_a_training_run_reads_the_share_and_its_caption_index_holds_named_garments_only(tiny_config, tmp_path):
    """The index gives the prompt notes and the evaluation's encoder-alone reading: a description ("something
    warm") would read as any of several classes."""
    tiny_config.data.descriptions = 0.5
    data = prepare_data(tiny_config, tmp_path)
    captions = data.captions.captions
    described = [c for c in captions if c and not names_a_garment(c)]
    assert 0.3 < len(described) / len(captions) < 0.7
    assert described == [c for c, d in zip(captions, data.captions.described, strict=True) if d]
    assert len(data.caption_index.captions) >= 10 and all(names_a_garment(c) for c in data.caption_index.captions)
