"""The caption grammar: many nouns and modifiers per class, tone words true to the pixels, an honest
held-out protocol, a free-form set without training nouns, and the cached bank of caption embeddings."""

from __future__ import annotations

import random
import re

import pytest
import torch

from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.prompt_sets import free_form_set
from diffusion.prompts import caption_words
from diffusion.prompts.captions import (
    ATTRIBUTE_DARK,
    ATTRIBUTE_LIGHT,
    ATTRIBUTE_NONE,
    TEMPLATES,
    TONES,
    VOCABULARIES,
    CaptionGrammar,
    brightness_attributes,
    class_prompt,
    held_out_prompts,
    label_text_prompts,
    plural,
)
from diffusion.training.training_data import caption_embeddings

FUNCTION_WORDS = {"a", "an", "the", "with", "for", "of", "in", "pair", "no"}
FASHION = CLASS_NAMES["fashion_mnist"]


def content_words(text: str) -> set[str]:
    """Words of a caption, split at spaces, hyphens and slashes, lower case, without function words."""
    return set(re.split(r"[\s\-/,.]+", text.lower().rstrip("*"))) - FUNCTION_WORDS - {""}


def contains_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", text.lower()) is not None


@pytest.fixture(scope="module")
def fashion_captions() -> list[tuple[str, int, int]]:
    """(caption, label, tone) drawn from the grammar, many per class and tone."""
    grammar, rng = CaptionGrammar("fashion_mnist"), random.Random(0)
    return [(grammar.caption(k, tone, rng), k, tone) for _ in range(600) for k in range(10) for tone in TONES]


def held_out_words(dataset: str) -> list[str]:
    vocabulary = VOCABULARIES[dataset]
    nouns = [noun for nouns in vocabulary.held_out_nouns for noun in nouns]
    return nouns + sorted(vocabulary.held_out_modifiers) + vocabulary.held_out_dark + vocabulary.held_out_light


@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10"])
def test_no_training_caption_contains_a_held_out_word(dataset):
    grammar, rng = CaptionGrammar(dataset), random.Random(1)
    captions = [grammar.caption(k, tone, rng) for _ in range(400) for k in range(10) for tone in TONES]
    captions += grammar.bank(60, seed=3).captions
    seen = set().union(*(content_words(c) for c in captions))
    for word in held_out_words(dataset):
        assert not content_words(word) & seen, word
    # And the grammar's own word lists never offer one.
    offered = [w for lists in (grammar.adjectives, grammar.phrases) for words in lists for w in words]
    assert not set(offered) & VOCABULARIES[dataset].held_out_modifiers


def test_a_fifth_of_each_class_nouns_and_modifiers_is_held_out():
    vocabulary = VOCABULARIES["fashion_mnist"]
    modifiers = {**vocabulary.adjectives, **vocabulary.phrases}
    for label in range(10):
        train_nouns, held_nouns = len(vocabulary.nouns[label]) + 1, len(vocabulary.held_out_nouns[label])
        assert held_nouns / (train_nouns + held_nouns) >= 0.2 - 1e-9, FASHION[label]
        suits = [word for word, classes in modifiers.items() if label in classes]
        held = [word for word in suits if word in vocabulary.held_out_modifiers]
        assert len(held) / len(suits) >= 0.2, FASHION[label]
    tones = len(vocabulary.held_out_dark) / (len(vocabulary.dark) + len(vocabulary.held_out_dark))
    assert tones >= 0.2


def test_every_class_has_many_nouns_singular_and_plural_and_its_label_text(fashion_captions):
    grammar = CaptionGrammar("fashion_mnist")
    assert len(TEMPLATES) >= 20
    for label, nouns in enumerate(grammar.nouns):
        assert len(set(nouns)) >= 25 and FASHION[label] in nouns
        captions = [c for c, k, _ in fashion_captions if k == label]
        used = {n for n in nouns if any(contains_phrase(c, n.rstrip("*")) for c in captions)}
        assert len(used) >= 25, (FASHION[label], sorted(set(nouns) - used))
        singular = [n for n in nouns if not n.endswith("*") and n != FASHION[label]]
        assert any(contains_phrase(c, plural(n)) for c in captions for n in singular), FASHION[label]
    # The label texts appear as users type them, bare too: "Trouser", "T-shirt/top".
    all_captions = {c for c, _, _ in fashion_captions}
    assert {"Trouser", "T-shirt/top"} & all_captions or any(c.startswith("Ankle boot") for c in all_captions)


def template_pattern(template: str) -> re.Pattern:
    """A template as a pattern its captions match in any case ("this is" turns plural for bare plurals)."""
    pattern = re.escape(template).replace(r"\{x\}", ".+").replace(r"\{bare\}", ".+")
    pattern = pattern.replace(r"this\ is", r"(this\ is|these\ are)").replace(r"here\ is", r"here\ (is|are)")
    return re.compile(pattern, re.IGNORECASE)


def test_captions_use_every_template_and_both_cases(fashion_captions):
    lower = sum(c == c.lower() for c, _, _ in fashion_captions)
    assert 0.5 < lower / len(fashion_captions) < 0.95
    # Every template but the bare phrase, which every caption would match.
    for template in [t for t in TEMPLATES if t != "{bare}"]:
        pattern = template_pattern(template)
        assert any(pattern.fullmatch(c) for c, _, _ in fashion_captions), template


def test_a_modifier_only_describes_classes_it_suits(fashion_captions):
    vocabulary = VOCABULARIES["fashion_mnist"]
    for caption, label, _ in fashion_captions[:3000]:
        for phrase, classes in vocabulary.phrases.items():
            if contains_phrase(caption, phrase):
                assert label in classes, (caption, phrase)
    assert any(contains_phrase(c, "with laces") for c, k, _ in fashion_captions if k == caption_words.SNEAKER)
    assert not any(contains_phrase(c, "with laces") for c, k, _ in fashion_captions if k == caption_words.DRESS)


def test_tone_words_agree_with_the_image_brightness(fashion_captions):
    dark, light = VOCABULARIES["fashion_mnist"].dark, VOCABULARIES["fashion_mnist"].light
    for caption, _, tone in fashion_captions:
        has_dark = any(contains_phrase(caption, w) for w in dark)
        has_light = any(contains_phrase(caption, w) for w in light)
        expected = {ATTRIBUTE_NONE: (False, False), ATTRIBUTE_DARK: (True, False), ATTRIBUTE_LIGHT: (False, True)}
        assert (has_dark, has_light) == expected[tone], caption


def test_the_bank_gives_each_image_a_caption_of_its_class_and_tone():
    bank = CaptionGrammar("fashion_mnist").bank(30, seed=0)
    labels = torch.arange(10).repeat(40)
    attributes = torch.tensor([ATTRIBUTE_DARK, ATTRIBUTE_LIGHT, ATTRIBUTE_NONE, ATTRIBUTE_DARK]).repeat(100)
    ids = bank.sample(labels, attributes, attribute_probability=1.0, dropout=0.0)
    dark, light = VOCABULARIES["fashion_mnist"].dark, VOCABULARIES["fashion_mnist"].light
    for label, attribute, index in zip(labels.tolist(), attributes.tolist(), ids.tolist(), strict=True):
        caption = bank.captions[index]
        assert bank.labels[index] == label
        assert any(contains_phrase(caption, w) for w in dark) == (attribute == ATTRIBUTE_DARK), caption
        assert any(contains_phrase(caption, w) for w in light) == (attribute == ATTRIBUTE_LIGHT), caption


def test_caption_dropout_gives_the_empty_caption_at_the_configured_rate():
    bank = CaptionGrammar("fashion_mnist").bank(30, seed=0)
    labels = torch.zeros(4000, dtype=torch.long)
    ids = bank.sample(labels, labels, 0.5, dropout=0.1, generator=torch.Generator().manual_seed(0))
    assert bank.captions[0] == "" and bank.labels[0] == -1
    assert 0.08 < (ids == 0).float().mean().item() < 0.12
    plain = bank.sample(labels, torch.full_like(labels, ATTRIBUTE_DARK), 0.0, 0.0)
    assert not any(contains_phrase(bank.captions[i], "dark") for i in plain.tolist())


def test_the_grammar_says_hundreds_of_thousands_of_things():
    grammar, rng = CaptionGrammar("fashion_mnist"), random.Random(2)
    draws = 7000 * 10 * len(TONES)
    captions = {grammar.caption(k, tone, rng) for _ in range(7000) for k in range(10) for tone in TONES}
    # 210,000 draws, almost all different: the grammar can say far more (about a million by this rate).
    assert len(captions) > 0.85 * draws


@pytest.mark.parametrize(
    ("dataset", "label", "attribute", "expected"),
    [
        ("fashion_mnist", 9, "", "an ankle boot"),
        ("fashion_mnist", 7, "light", "a light sneaker"),
        ("fashion_mnist", 1, "", "a pair of trousers"),
        ("fashion_mnist", 1, "dark", "a pair of dark trousers"),
        ("cifar10", 0, "", "an airplane"),
    ],
)
def test_class_prompts_are_grammatical(dataset, label, attribute, expected):
    assert class_prompt(dataset, label, attribute) == expected


def test_held_out_and_label_prompts():
    prompts = dict(held_out_prompts("fashion_mnist"))
    assert prompts["a photo of a cardigan"] == 2 and prompts["a photo of a pair of jeggings"] == 1
    assert prompts["a photo of an overshirt"] == 6
    assert label_text_prompts("fashion_mnist")[9] == ("Ankle boot", 9)
    assert len(prompts) >= 60


def test_free_form_set_has_no_training_noun_of_its_class():
    free_form = free_form_set("fashion_mnist")
    grammar = CaptionGrammar("fashion_mnist")
    assert len(free_form) >= 100
    assert all(free_form.labels.count(k) >= 10 for k in range(10))
    for prompt, label in zip(free_form.prompts, free_form.labels, strict=True):
        for noun in grammar.nouns[label]:
            for form in {noun.rstrip("*"), plural(noun)}:
                assert not contains_phrase(prompt, form), (prompt, form)


def test_brightness_attribute_follows_mean_intensity_within_each_class():
    images = torch.stack([torch.full((1, 4, 4), v, dtype=torch.uint8) for v in (10, 100, 200, 20, 120, 250)])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attributes = brightness_attributes(images, labels, num_classes=2).tolist()
    assert attributes == [ATTRIBUTE_DARK, ATTRIBUTE_NONE, ATTRIBUTE_LIGHT] * 2


def test_the_embedding_cache_is_reused_and_rebuilt_when_the_captions_change(tmp_path):
    cache = tmp_path / "caption_embeddings.safetensors"
    captions = ["", "a dark coat", "a pair of jeans with pockets"]
    first = caption_embeddings(captions, cache)
    written = cache.stat().st_mtime_ns
    again = caption_embeddings(captions, cache)
    assert cache.stat().st_mtime_ns == written  # read back, not encoded and written again
    assert torch.equal(again.pooled, first.pooled) and torch.equal(again.tokens, first.tokens)
    assert first.tokens.dtype == torch.float16  # the bank is big: tokens are kept in half precision

    changed = caption_embeddings(["", "a light coat", "a pair of jeans with pockets"], cache)
    assert cache.stat().st_mtime_ns != written
    assert not torch.allclose(changed.pooled[1], first.pooled[1])
    assert torch.allclose(changed.pooled[2], first.pooled[2], atol=1e-5)  # same caption, same embedding
    assert not list(tmp_path.glob("*.tmp"))  # written under a temporary name, then renamed
