"""The garment lexicon: clothing, footwear and bag words from WordNet 3.0, each with its Fashion-MNIST
class, the kind word a grounded prompt uses and its gloss.

`scripts/build_lexicon.py` generates `prompts/lexicon_<dataset>.tsv` from Debian's `wordnet-base`; this
file only reads it, so nothing at run time needs WordNet. A lookup takes the words of a phrase and finds
their lemma, the plural too: "espadrilles" -> espadrille, "huaraches" -> huarache, "portmanteaux" ->
portmanteau (WordNet's own irregular plurals, from the file, then its regular noun endings).

A closed compound the lexicon lacks is read as the training noun it closes up ("rainboots": rain boots), else
by its last part when that is a class's kind word ("overshirt" is a kind of shirt), as English compounds
are read (the head comes last). A clipped word is read as the garment it shortens ("wellies":
wellingtons, "tennies": tennis shoes, "cami": camisole), when every garment noun it begins names one class;
a misspelt one as the garment noun a letter or two away ("snekers": sneakers, "trousres": trousers). The
words WordNet or the text encoder know that only look like that ("desktop", "turncoat", "headdress";
"pocket", "well"; "boats", "costs"), the same script writes to `lexicon_<dataset>_lookalikes.txt`, and
the rules leave them alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import DATA

LEXICON_FILES = {"fashion_mnist": DATA / "lexicon_fashion_mnist.tsv"}

# WordNet's regular noun endings (its "morphy" rules): plural ending -> singular ending.
NOUN_ENDINGS = [
    ("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"),
]  # fmt: skip
# Hyphens and spaces alike separate words (flip-flop = flip flop); an apostrophe inside a word belongs to it
# ("men's", "o’clock"), one around it is a quote or a plural's possessive ("'espadrilles'", "espadrilles'
# straps"). A singular possessive is read as its noun: "a kaftan's belt" names a kaftan, "a coat's collar" a coat.
WORD = re.compile(r"[a-z0-9]+(?:['\u2019][a-z0-9]+)*", re.IGNORECASE)
POSSESSIVE = re.compile(r"['\u2019]s$")
KIND_OF = "a kind of {kind}"  # how a garment word is explained: by grounding at prompt time, by captions in training
SHORTEST_PREFIX = 3  # of a compound read by its last part: "over|shirt", not "t|shirt" (the build script's too)
SHORTEST_CLIPPING = 4  # letters a clipped word keeps of its garment: "well|ies", "tenn|ies", "cami"
CLIPPING_ENDINGS = ("ie", "y", "")  # the endings English gives clipped words: wellie, welly, cami
SHORTEST_MISSPELLING = 5  # letters of a word read as a misspelt garment noun: "snekers", never "bot"
TWO_TYPOS_FROM = 8  # letters from which a word may be two typing errors off ("trousres"), one below that


def closing_comma(rest: str) -> str:
    """ "," after an explanation when the sentence goes on ("a kaftan, a kind of dress, with a belt"), else ""."""
    return "," if rest.strip() and not re.match(r"\s*[,.;:!?)]", rest) else ""


def words(text: str) -> tuple[str, ...]:
    return tuple(word_of(token) for token in WORD.findall(text))


def word_of(token: str) -> str:
    """A token of WORD as grounding reads it: lower case, a singular possessive's "'s" dropped."""
    return POSSESSIVE.sub("", token.lower())


@dataclass(frozen=True)
class Entry:
    lemma: str  # as WordNet writes it: "espadrille", "Wellington boot"
    classes: tuple[str, ...]  # one class, or several when its senses disagree
    kind: str  # "sandal": the class's everyday noun; empty when ambiguous
    gloss: str
    derived: bool = False  # not from WordNet: read from its form; its gloss says how ("over + shirt")

    @property
    def ambiguous(self) -> bool:
        return len(self.classes) != 1


class Lexicon:
    def __init__(
        self,
        entries: list[Entry],
        irregular: dict[tuple[str, ...], tuple[str, ...]],
        lookalikes: frozenset[str] = frozenset(),
    ):
        self.entries = {words(entry.lemma): entry for entry in entries}
        for key, entry in list(self.entries.items()):  # closed compounds: "bodysuit" for WordNet's "body suit"
            self.entries.setdefault(("".join(key),), entry)
        self.irregular = irregular  # "portmanteaux" -> "portmanteau", as word tuples
        self.longest = max(len(key) for key in self.entries)
        self.lookalikes = lookalikes  # "desktop", "pocket": words that only look like a garment
        self.heads = {e.kind: e.classes for e in entries if not e.ambiguous}  # "shirt" -> ("Shirt",)
        self.kinds = {classes: kind for kind, classes in self.heads.items()}  # ("Shirt",) -> "shirt"
        self.lemmas = {" ".join(words(e.lemma)): e.classes[0] for e in entries if not e.ambiguous}

    @classmethod
    def read(cls, path: Path) -> Lexicon:
        lookalikes_file = lookalikes_path(path)
        lines = lookalikes_file.read_text(encoding="utf-8").splitlines() if lookalikes_file.is_file() else []
        lookalikes = frozenset(line for line in lines if line and not line.startswith("#"))
        entries, irregular = [], {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            lemma, classes, kind, plurals, gloss = line.split("\t")
            entries.append(Entry(lemma, tuple(classes.split("|")), kind, gloss))
            for form in filter(None, plurals.split(",")):
                irregular[words(form)] = words(lemma)
        return cls(entries, irregular, lookalikes)

    def lookup(self, phrase: tuple[str, ...]) -> Entry | None:
        """The entry of a phrase's words as typed or as the plural of a lemma; None if WordNet has neither."""
        joined = ("".join(phrase),) if len(phrase) > 1 else None  # "gum boots" for a lexicon's "gumboot"
        for key in (phrase, self.irregular.get(phrase), *singulars(phrase), joined, *singulars(joined or ())):
            if key in self.entries:
                return self.entries[key]
        return None

    def compound(self, word: str, spaced: dict[str, tuple[str, str]]) -> Entry | None:
        """A one-word compound: one of `spaced` (a known noun written closed up, "rainboots" for "rain
        boot" -> (its class, "rain boot")), else read by its last part ("overshirt" -> a kind of shirt);
        None when its last part is no kind word or WordNet knows the word as something else."""
        for form in forms(word):
            if form in spaced:
                name, noun = spaced[form]
                return Entry(form, (name,), self.kinds[(name,)], gloss=noun, derived=True)
            if form in self.lookalikes:
                return None
            for kind, classes in self.heads.items():
                if form.endswith(kind) and len(form) - len(kind) >= SHORTEST_PREFIX:
                    return Entry(form, classes, kind, gloss=f"{form[: -len(kind)]} + {kind}", derived=True)
        return None

    def clipping(self, word: str, training_nouns: dict[str, str]) -> Entry | None:
        """A clipped garment word: its plural and its "-ie"/"-y" undone, it begins the first word of garment
        nouns ("well|ies" -> "wellington boot") that all name one class: the training captions' nouns
        (`training_nouns`, noun -> class) if any match, else the lexicon's. None when the nouns it begins
        disagree, or WordNet knows the word as something else ("pocket" -> "pocketbook", "well")."""
        if any(form in self.lookalikes for form in forms(word)):
            return None
        stems = {f[: len(f) - len(e)] for f in forms(word) for e in CLIPPING_ENDINGS if f.endswith(e)}
        stems = {stem for stem in stems if len(stem) >= SHORTEST_CLIPPING}
        return self.read_as(
            word, training_nouns, lambda noun: any(clips(stem, noun) for stem in stems), "short for {noun}", key=len
        )

    def misspelling(self, word: str, training_nouns: dict[str, str]) -> Entry | None:
        """A misspelt one-word garment noun: the word or its singular a typing error or two from nouns
        (`typing_errors`) that all name one class: the training captions' nouns if any, else the lexicon's.
        None when they disagree, or when WordNet or the encoder know the word ("boats", "costs")."""
        if len(word) < SHORTEST_MISSPELLING or any(form in self.lookalikes for form in forms(word)):
            return None
        typed, allowed = forms(word), allowed_errors(word)

        def near(noun: str) -> bool:
            return (
                noun[0] == word[0]  # cheap first: most nouns begin with another letter
                and " " not in noun
                and any(0 < typing_errors(form, noun) <= allowed for form in typed)
            )

        return self.read_as(word, training_nouns, near, "a misspelling of {noun}")

    def read_as(
        self, word: str, training_nouns: dict[str, str], matches: Callable[[str], bool], gloss: str, key=None
    ) -> Entry | None:
        """`word` read as the garment nouns `matches` accepts, when they all name one class: the training
        captions' nouns (noun -> class) if any match, else the lexicon's; the first of them by `key` is named
        in the gloss ("short for {noun}"). None when they disagree or none match."""
        for nouns in (training_nouns, self.lemmas):
            found = {noun: name for noun, name in nouns.items() if matches(noun)}
            if len(set(found.values())) > 1:
                return None
            if found:
                noun = min(found, key=key)
                name = found[noun]
                return Entry(word, (name,), self.kinds[(name,)], gloss=gloss.format(noun=noun), derived=True)
        return None


def allowed_errors(word: str) -> int:
    return 2 if len(word) >= TWO_TYPOS_FROM else 1


def typing_errors(typed: str, word: str) -> int:
    """Letters left out, added, changed or swapped with the next (the optimal string alignment distance),
    counted only up to 3; a first letter typed wrong is not a typing error but another word (and checking
    it first keeps the rule fast)."""
    if not typed or not word or typed[0] != word[0] or abs(len(typed) - len(word)) > 2:
        return 3
    before, row = None, list(range(len(word) + 1))
    for i, a in enumerate(typed, 1):
        current = [i]
        for j, b in enumerate(word, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (a != b))
            if before is not None and i > 1 and j > 1 and a == word[j - 2] and typed[i - 2] == b:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return min(row[-1], 3)


def clips(stem: str, noun: str) -> bool:
    """Whether `stem` is the first word of `noun` cut short by two letters or more ("tenn", "tennis shoe")."""
    first = noun.split()[0]
    return first.startswith(stem) and len(first) >= len(stem) + 2


def lookalikes_path(lexicon: Path) -> Path:
    """Where the build script writes a lexicon's lookalikes: beside it, "lexicon_<dataset>_lookalikes.txt"."""
    return lexicon.with_name(lexicon.stem + "_lookalikes.txt")


def forms(word: str) -> tuple[str, ...]:
    """A word and its singulars: "wellies" -> "wellies", "wellie", "welly"."""
    return (word, *(s[0] for s in singulars((word,))))


def singulars(phrase: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The phrase with its last word's regular plural endings undone: "galoshes" -> "galoshe", "galosh"."""
    if not phrase:
        return []
    *head, last = phrase
    return [
        (*head, last[: -len(plural)] + singular)
        for plural, singular in NOUN_ENDINGS
        if last.endswith(plural) and len(last) > len(plural)
    ]


@lru_cache(maxsize=4)
def lexicon_for(dataset: str) -> Lexicon | None:
    """The dataset's lexicon, read once; None for data sets without one."""
    path = LEXICON_FILES.get(dataset)
    return Lexicon.read(path) if path is not None and path.is_file() else None
