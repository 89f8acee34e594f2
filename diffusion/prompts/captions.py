"""Captions: a grammar that describes each training image the way people talk about clothes.

A caption is a template ("a photo of {x}", "show me {x}", ...) filled with a garment phrase: a noun of
the image's class (one of many), and sometimes a tone word chosen from the image's own brightness, a
descriptive word or two plausible for the class, and a phrase after the noun ("with a hood"). The words
live in `caption_words.py`; this file assembles them.

The grammar can say hundreds of thousands of things, too many to encode every one up front, so a run
draws a bank of captions (`CaptionBank`: so many per class and tone, seeded) whose embeddings are
computed once and cached on disk; each training image then gets a random caption from its cell.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import torch

from ..common.errors import UserError
from ..data.datasets import CLASS_NAMES
from . import caption_words as words
from .lexicon import KIND_OF, closing_comma, lexicon_for

ATTRIBUTE_NONE, ATTRIBUTE_DARK, ATTRIBUTE_LIGHT = 0, 1, 2
TONES = (ATTRIBUTE_NONE, ATTRIBUTE_DARK, ATTRIBUTE_LIGHT)

# {x}: the garment phrase with its article ("a dark coat", "a pair of jeans"); {bare}: without one.
TEMPLATES = [
    "{bare}", "{x}", "a photo of {x}", "a picture of {x}", "an image of {x}", "a product photo of {x}",
    "a drawing of {x}", "a sketch of {x}", "{x} on a plain background", "a close-up of {x}",
    "a greyscale photo of {x}", "a catalogue image of {x}", "a small picture of {x}", "this is {x}",
    "here is {x}", "show me {x}", "draw {x}", "generate {x}", "I am looking for {x}", "a shop photo of {x}",
    "an online listing for {x}", "{bare} for sale", "a fashion photo of {x}", "{x}, front view",
    "a low-resolution photo of {x}", "my favourite {bare}",
]  # fmt: skip

PAIRED_CLASSES = {"fashion_mnist": {words.TROUSERS, *words.SHOES}}  # "a pair of ..." reads right for these


@dataclass
class Vocabulary:
    """The words of one dataset: nouns per class and modifiers with the classes they suit."""

    nouns: list[list[str]]
    held_out_nouns: list[list[str]]
    adjectives: dict[str, set[int]] = field(default_factory=dict)
    phrases: dict[str, set[int]] = field(default_factory=dict)
    held_out_modifiers: set[str] = field(default_factory=set)
    dark: list[str] = field(default_factory=lambda: ["dark"])
    light: list[str] = field(default_factory=lambda: ["light"])
    held_out_dark: list[str] = field(default_factory=list)
    held_out_light: list[str] = field(default_factory=list)
    description_heads: dict[str, set[int]] = field(default_factory=dict)  # "something", "footwear"
    carried: set[int] = field(default_factory=set)  # "something to carry", not "to wear"


VOCABULARIES = {
    "fashion_mnist": Vocabulary(
        words.FASHION_NOUNS, words.FASHION_HELD_OUT_NOUNS, words.FASHION_ADJECTIVES, words.FASHION_PHRASES,
        words.FASHION_HELD_OUT_MODIFIERS, words.DARK_WORDS, words.LIGHT_WORDS, words.HELD_OUT_DARK_WORDS,
        words.HELD_OUT_LIGHT_WORDS, words.FASHION_DESCRIPTION_HEADS, words.FASHION_CARRIED,
    ),
    "cifar10": Vocabulary(
        words.CIFAR_NOUNS, words.CIFAR_HELD_OUT_NOUNS, words.CIFAR_ADJECTIVES,
        held_out_modifiers=words.CIFAR_HELD_OUT_MODIFIERS,
    ),
}  # fmt: skip


def plural(noun: str) -> str:
    """Regular English plural of the last word: "dress" -> "dresses", "bootie" -> "booties"."""
    if noun.endswith("*"):
        return noun[:-1]
    if re.search(r"(s|sh|ch|x|z)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def is_plural(noun: str) -> bool:
    return noun.endswith("*")


def article(phrase: str) -> str:
    """ "a" or "an" by the sound of the first word."""
    first = phrase.split()[0].lower()
    if first.startswith(("uni", "one", "use")):
        return "a"
    return "an" if first[0] in "aeiou8" or first in ("11", "18") else "a"


def with_article(phrase: str, plural_phrase: bool, paired: bool, rng: random.Random | None = None) -> str:
    """ "a coat", "an ankle boot"; plurals bare ("jeans") or as "a pair of jeans" where that reads right."""
    if not plural_phrase:
        return f"{article(phrase)} {phrase}"
    if paired and (rng is None or rng.random() < 0.5):
        return f"a pair of {phrase}"
    return phrase


def class_prompt(dataset: str, label: int, attribute: str = "") -> str:
    """The plain prompt for a class, e.g. "a sneaker", "a pair of trousers" or "a dark coat"."""
    noun = VOCABULARIES[dataset].nouns[label][0]
    phrase = f"{attribute} {noun.rstrip('*')}".strip()
    return with_article(phrase, is_plural(noun), label in PAIRED_CLASSES.get(dataset, set()))


def label_text_prompts(dataset: str) -> list[tuple[str, int]]:
    """The dataset's own label texts as users type them: "T-shirt/top", "Trouser", "Ankle boot"."""
    return [(name, label) for label, name in enumerate(CLASS_NAMES[dataset])]


def held_out_prompts(dataset: str) -> list[tuple[str, int]]:
    """(prompt, label) pairs, one per held-out noun: "a photo of a cardigan", "a photo of jeggings"."""
    paired = PAIRED_CLASSES.get(dataset, set())
    return [
        (f"a photo of {with_article(noun.rstrip('*'), is_plural(noun), label in paired)}", label)
        for label, nouns in enumerate(VOCABULARIES[dataset].held_out_nouns)
        for noun in nouns
    ]


def class_kinds(dataset: str) -> list[str]:
    """Each class's everyday word in the dataset's lexicon ("sandal", "sweater"): what "a kind of ..." names."""
    lexicon = lexicon_for(dataset)
    if lexicon is None:
        raise UserError(f"data.kind_phrases needs a garment lexicon, and {dataset} has none; set it to 0")
    kinds = {entry.classes[0]: entry.kind for entry in lexicon.entries.values() if not entry.ambiguous}
    return [kinds[name] for name in CLASS_NAMES[dataset]]


def and_list(items: list[str]) -> str:
    """ "warm", "warm and hooded", "dark, warm and hooded"."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def typed_case(text: str, rng: random.Random) -> str:
    """People type in every case; the encoder is uncased, but captions show it."""
    case = rng.random()
    if case < 0.15:
        return text[0].upper() + text[1:]
    if case < 0.20:
        return text.title()
    return text


def _suiting(modifiers: dict[str, set[int]], label: int, held_out: set[str]) -> list[str]:
    """The training modifiers that suit class `label`."""
    return [word for word, classes in modifiers.items() if label in classes and word not in held_out]


class CaptionGrammar:
    """Random captions for an image of class `label` with tone `attribute`, from the training words."""

    def __init__(self, dataset: str):
        vocabulary = VOCABULARIES[dataset]
        held_out = vocabulary.held_out_modifiers
        self.dataset = dataset
        self.paired = PAIRED_CLASSES.get(dataset, set())
        # The label text ("T-shirt/top") is one more noun of its class.
        self.nouns = [[*nouns, name] for nouns, name in zip(vocabulary.nouns, CLASS_NAMES[dataset], strict=True)]
        self.adjectives = [_suiting(vocabulary.adjectives, k, held_out) for k in range(len(self.nouns))]
        self.phrases = [_suiting(vocabulary.phrases, k, held_out) for k in range(len(self.nouns))]
        self.tone_words = {ATTRIBUTE_DARK: vocabulary.dark, ATTRIBUTE_LIGHT: vocabulary.light}
        self.description_heads = [_suiting(vocabulary.description_heads, k, set()) for k in range(len(self.nouns))]
        self.carried = vocabulary.carried
        # A description names no garment, so its modifiers must say something of the class: "casual" or
        # "for women" suit every class and are left out of descriptions.
        telling = {w: c for w, c in {**vocabulary.adjectives, **vocabulary.phrases}.items() if len(c) < len(self.nouns)}
        self.telling_adjectives = [[w for w in words_ if w in telling] for words_ in self.adjectives]
        self.telling_phrases = [[w for w in words_ if w in telling] for words_ in self.phrases]

    def garment(self, label: int, attribute: int, rng: random.Random, kind: str = "") -> tuple[str, bool]:
        """The phrase naming the garment, e.g. "dark slim-fit jeans with pockets", and whether it is plural;
        with `kind`, the noun is explained as a grounded prompt explains one: "jeans, a kind of trousers,"."""
        noun = rng.choice(self.nouns[label])
        plural_form = is_plural(noun) or (rng.random() < 0.2 and noun not in CLASS_NAMES[self.dataset])
        parts = [plural(noun) if plural_form else noun]
        if kind and noun != kind:
            parts[0] += ", " + KIND_OF.format(kind=kind)
        adjectives = self.adjectives[label]
        if adjectives and rng.random() < 0.45:
            parts[:0] = rng.sample(adjectives, k=min(len(adjectives), 2 if rng.random() < 0.25 else 1))
        tone = rng.choice(self.tone_words[attribute]) if attribute != ATTRIBUTE_NONE else None
        after = rng.choice(self.phrases[label]) if self.phrases[label] and rng.random() < 0.3 else None
        if tone and not after and rng.random() < 0.15:
            after, tone = f"in {tone}", None  # "a coat in navy"
        if tone:
            parts.insert(0, tone)
        if after:
            parts.append(after)
        return " ".join(parts), plural_form

    def caption(self, label: int, attribute: int, rng: random.Random, kind: str = "") -> str:
        phrase, plural_form = self.garment(label, attribute, rng, kind)
        x = with_article(phrase, plural_form, label in self.paired, rng)
        template = rng.choice(TEMPLATES)
        if not x.startswith("a"):  # a bare plural: "these are jeans"
            template = template.replace("this is", "these are").replace("here is", "here are")
        text = template.format(x=x, bare=phrase)
        head, explained, rest = text.partition(", " + KIND_OF.format(kind=kind)) if kind else (text, "", "")
        if explained:  # closed by a comma when the sentence goes on, as grounding.explanation writes it
            text = head + explained + closing_comma(rest) + rest
        return typed_case(text, rng)

    def description(self, label: int, attribute: int, rng: random.Random) -> str:
        """A caption that describes the garment without naming it, from the class's training modifiers and a
        head that suits the class: "something dark and warm with a hood", "a photo of casual footwear with
        laces". At least one modifier always says something about the class."""
        head = rng.choice(self.description_heads[label])
        adjectives, phrases = self.telling_adjectives[label], self.telling_phrases[label]
        before = []
        if adjectives and rng.random() < 0.75:
            before = rng.sample(adjectives, k=min(len(adjectives), 2 if rng.random() < 0.3 else 1))
        after = rng.choice(phrases) if phrases and (not before or rng.random() < 0.5) else ""
        if attribute != ATTRIBUTE_NONE:
            before.insert(0, rng.choice(self.tone_words[attribute]))
        bare_head = head.rstrip("*")
        if bare_head == "something":  # the words follow it: "something warm and hooded to wear"
            purpose = "to carry" if label in self.carried else "to wear" if rng.random() < 0.25 else ""
            phrase = " ".join(filter(None, ["something", and_list(before), purpose, after]))
        else:
            phrase = " ".join(filter(None, [*before, bare_head, after]))
        x = phrase if head.endswith("*") else f"{article(phrase)} {phrase}"
        templates = [t for t in TEMPLATES if bare_head != "something" or t != "my favourite {bare}"]
        return typed_case(rng.choice(templates).format(x=x, bare=phrase), rng)

    def bank(self, per_class: int, seed: int = 0, kind_phrases: float = 0.0, descriptions: float = 0.0) -> CaptionBank:
        """`per_class` captions for each class, a third for each tone, reproducible from `seed`. A share
        `kind_phrases` of them say what kind of garment their noun is (", a kind of coat", the class's word
        in the lexicon), the way a grounded prompt explains a word the captions never say; a share
        `descriptions` describe the garment without naming it ("something warm with a hood"). The other
        captions are the same as without either (each choice has its own random stream)."""
        if descriptions > 0 and not all(self.description_heads):
            raise UserError(f"data.descriptions needs description heads for {self.dataset}; set it to 0")
        rng, kind_rng, description_rng = random.Random(seed), random.Random(seed + 1), random.Random(seed + 2)
        kinds = class_kinds(self.dataset) if kind_phrases > 0 else [""] * len(self.nouns)
        per_cell = max(1, per_class // len(TONES))
        captions, labels, described = [""], [-1], [False]
        for label in range(len(self.nouns)):
            for attribute in TONES:
                for _ in range(per_cell):
                    kind = kinds[label] if kind_phrases > 0 and kind_rng.random() < kind_phrases else ""
                    caption = self.caption(label, attribute, rng, kind)  # drawn even if replaced: same stream
                    described.append(descriptions > 0 and description_rng.random() < descriptions)
                    captions.append(self.description(label, attribute, description_rng) if described[-1] else caption)
                labels += [label] * per_cell
        return CaptionBank(captions, labels, per_cell, len(self.nouns), described=described)

    # The interface the digits' grammar (digit_captions.py) shares, for training and the evaluation.
    def attributes(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return brightness_attributes(images, labels, len(self.nouns))

    def class_prompt(self, label: int, attribute: str = "") -> str:
        return class_prompt(self.dataset, label, attribute)

    def label_text_prompts(self) -> list[tuple[str, int]]:
        return label_text_prompts(self.dataset)

    def held_out_prompts(self) -> list[tuple[str, int]]:
        return held_out_prompts(self.dataset)


@dataclass
class CaptionBank:
    """Captions drawn from the grammar, laid out by cell: caption 0 is the empty one (label -1), then
    `per_cell` captions for each (class, attribute code) in order. `sample()` picks one per training image.

    An attribute code combines one value per measure, `factors` giving how many values each has (the tone's
    3 here; the digits' thickness and slant, 3 each), the last measure varying fastest; value 0 is "no word"."""

    captions: list[str]
    labels: list[int]
    per_cell: int
    num_classes: int
    factors: tuple[int, ...] = (len(TONES),)
    described: list[bool] = field(default_factory=list)  # which captions name no garment (empty: none)

    def __len__(self) -> int:
        return len(self.captions)

    def named_labels(self) -> list[int]:
        """The labels, with -1 (as for the empty caption) for the captions that name no garment."""
        return [-1 if self.described and self.described[i] else label for i, label in enumerate(self.labels)]

    def sample(
        self,
        labels: torch.Tensor,
        attributes: torch.Tensor,
        attribute_probability: float,
        dropout: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One caption index per image: a random caption of its class; each of its attribute words kept
        with probability `attribute_probability` (so plain captions still cover the whole class); the empty
        caption with probability `dropout` (for classifier-free guidance)."""
        measures = len(self.factors)
        uniform = torch.rand(len(labels), measures + 2, generator=generator)
        kept, place = torch.zeros_like(attributes), 1
        for measure in reversed(range(measures)):
            value = attributes // place % self.factors[measure]
            kept += torch.where(uniform[:, measure] < attribute_probability, value, ATTRIBUTE_NONE) * place
            place *= self.factors[measure]
        cell = labels * place + kept
        index = 1 + cell * self.per_cell + (uniform[:, measures] * self.per_cell).long()
        return torch.where(uniform[:, measures + 1] < dropout, 0, index)


def brightness_attributes(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """ATTRIBUTE_DARK for the darkest third of each class (by mean intensity), ATTRIBUTE_LIGHT for the
    lightest third, ATTRIBUTE_NONE between. Per class, because a dark sandal is lighter than a dark coat."""
    mean = images.float().flatten(1).mean(1)
    attributes = torch.full_like(labels, ATTRIBUTE_NONE)
    for label in range(num_classes):
        members = labels == label
        if not members.any():
            continue
        low, high = torch.quantile(mean[members], torch.tensor([1 / 3, 2 / 3]))
        attributes[members & (mean <= low)] = ATTRIBUTE_DARK
        attributes[members & (mean >= high)] = ATTRIBUTE_LIGHT
    return attributes
