"""Grounding: a garment word the model never saw is explained to the text encoder the way a person would
explain it. "a photo of espadrilles" is read as "a photo of espadrilles, a kind of sandal".

The frozen MiniLM splits rare words into misleading pieces (`card ##igan`, `well ##ies`), so its sentence
embedding follows "card" and "well"; the lexicon (lexicon.py, from WordNet) knows what the word is. A
phrase of the prompt is explained when
  * the lexicon knows it and gives it one class (ambiguous words are left as they are),
  * at least one of its words is in no training caption (what the captions say, the encoder already
    places among them), and
  * it is not a modifier of a garment noun right after it ("a tweed jacket": tweed is trousers to WordNet;
    "a kaftan dress" needs no help).
A one-word compound neither WordNet nor the captions know is read as the training noun it closes up
("rainboots", "a kind of boot") or by its last part when that is a class's kind word ("a flannel overshirt"
-> "a flannel overshirt, a kind of shirt"); `Lexicon.compound`. A clipped one is read as the garment it
shortens ("wellies", "a kind of boot", short for wellington boot); `Lexicon.clipping`.
Everything else is untouched: a prompt with nothing to explain is passed on as the very same string, so
its embeddings are exactly those of the prompt as typed. `benchmarks/lexicon.py` measures which wording
the encoder reads best (results in benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from ..model.text import MAX_PROMPT_TOKENS
from .captions import TEMPLATES, VOCABULARIES, CaptionGrammar, plural
from .lexicon import KIND_OF, WORD, Entry, Lexicon, closing_comma, lexicon_for, singulars, word_of, words

# How the explanation reads; "kind" was measured best (benchmarks/lexicon.py).
STYLES = {
    "kind": KIND_OF,
    "gloss": "{gloss}",
    "kind_gloss": KIND_OF + ": {gloss}",
}
DEFAULT_STYLE = "kind"
CLOSING_QUOTES = ("'", '"', "\u2019", "\u201d")  # an explanation goes after them: "'espadrilles', a kind of sandal"


@dataclass
class Grounded:
    typed: str  # the phrase as the user typed it: "Espadrilles"
    entry: Entry

    def note(self) -> str:
        if self.entry.derived:
            return f"{self.entry.lemma}: a kind of {self.entry.kind}, read as {self.entry.gloss}"
        return f"{self.entry.lemma}: a kind of {self.entry.kind}, from WordNet ({self.entry.gloss})"


@dataclass
class Grounding:
    prompt: str  # what the encoder reads
    explained: list[Grounded] = field(default_factory=list)


@dataclass(frozen=True)
class Vocabulary:
    """What the training captions of a data set say: their words, and their garment nouns as word tuples."""

    words: frozenset[str]
    nouns: frozenset[tuple[str, ...]]
    classes: dict[str, str]  # "rain boot" -> "Ankle boot": every garment noun, singular

    def is_noun(self, phrase: tuple[str, ...]) -> bool:
        return phrase in self.nouns or any(s in self.nouns for s in singulars(phrase))

    @cached_property
    def closed(self) -> dict[str, tuple[str, str]]:
        """Nouns of two or more words written closed up: "rainboot" -> ("Ankle boot", "rain boot")."""
        return {noun.replace(" ", ""): (name, noun) for noun, name in self.classes.items() if " " in noun}


@lru_cache(maxsize=4)
def training_vocabulary(dataset: str) -> Vocabulary:
    grammar = CaptionGrammar(dataset)
    nouns = {n.rstrip("*") for names in grammar.nouns for n in names} | {plural(n) for ns in grammar.nouns for n in ns}
    modifiers = [m for ms in (*grammar.adjectives, *grammar.phrases) for m in ms]
    vocabulary = VOCABULARIES[dataset]
    texts = [*nouns, *modifiers, *vocabulary.dark, *vocabulary.light, *TEMPLATES]
    known = frozenset(word for text in texts for word in words(text.replace("{x}", " ").replace("{bare}", " ")))
    classes = {" ".join(words(n.rstrip("*"))): names[-1] for names in grammar.nouns for n in names}
    return Vocabulary(known, frozenset(words(n) for n in nouns), classes)


def prepare_grounding(dataset: str) -> None:
    """Read the lexicon and the training vocabulary now, so that the first prompt does not wait for them."""
    if dataset in VOCABULARIES:
        lexicon_for(dataset), training_vocabulary(dataset)


def grounds(dataset: str) -> bool:
    """Whether a data set's prompts are grounded: it has training captions in words and a garment lexicon."""
    return dataset in VOCABULARIES and lexicon_for(dataset) is not None


def ground(prompt: str, dataset: str, style: str = DEFAULT_STYLE) -> Grounding:
    """The prompt with its unseen garment words explained, for the data set's model."""
    if not grounds(dataset):
        return Grounding(prompt)
    lexicon = lexicon_for(dataset)
    vocabulary = training_vocabulary(dataset)
    spans = [(word_of(m.group()), m.start(), m.end()) for m in WORD.finditer(prompt)]
    typed = [word for word, _, _ in spans]
    # Words joined to the one before by a hyphen: "kaftan-style" is a modifier, "t-shrits" one word
    hyphened = {k for k in range(1, len(spans)) if prompt[spans[k - 1][2] : spans[k][1]] == "-"}
    insertions, explained = [], []
    i = 0
    while i < len(typed):
        found = phrase_at(typed, i, lexicon, vocabulary)
        if found is None:
            i += 1
            continue
        length, entry = found
        phrase = tuple(typed[i : i + length])
        after = i + length
        next_to = after < len(spans) and not prompt[spans[after - 1][2] : spans[after][1]].strip(" -")
        modifier = next_to and phrase_at(typed, after, lexicon, vocabulary) is not None
        # An explanation never splits a hyphenated word, and a rule that reads a word by its form ("t-shrits":
        # no misspelt "shirts") sees only whole words
        inside = after in hyphened or (entry is not None and entry.derived and i in hyphened)
        if (
            entry is not None
            and not entry.ambiguous
            and not (modifier or inside)
            and not set(phrase) <= vocabulary.words
        ):
            end = spans[i + length - 1][2]
            explained.append(Grounded(prompt[spans[i][1] : end], entry))
            end += prompt.startswith(CLOSING_QUOTES, end)  # after a closing quote or a plural's possessive
            insertions.append((end, explanation(entry, style, prompt[end:])))
        i += length
    for end, text in reversed(insertions):
        prompt = prompt[:end] + text + prompt[end:]
    return Grounding(prompt, explained)


def reading(prompt: str, dataset: str, encoder) -> Grounding:
    """The grounding the pipeline uses: as `ground`, but the prompt as typed when the explanation would
    take it past the encoder's token limit (it is never cut)."""
    grounded = ground(prompt, dataset)
    if grounded.explained and len(encoder.tokens(grounded.prompt)) > MAX_PROMPT_TOKENS:
        return Grounding(prompt)
    return grounded


def phrase_at(typed: list[str], i: int, lexicon: Lexicon, vocabulary: Vocabulary) -> tuple[int, Entry | None] | None:
    """The longest garment phrase starting at word i: (its length, its lexicon entry or None for a training
    noun the lexicon need not explain); None when no garment phrase starts there."""
    for length in range(min(lexicon.longest, len(typed) - i), 0, -1):
        phrase = tuple(typed[i : i + length])
        if vocabulary.is_noun(phrase):
            return length, None
        if (entry := lexicon.lookup(phrase)) is not None:
            return length, entry
    if typed[i] not in vocabulary.words:
        word = typed[i]
        entry = (
            lexicon.compound(word, vocabulary.closed)
            or lexicon.clipping(word, vocabulary.classes)
            or lexicon.misspelling(word, vocabulary.classes)
        )
        if entry is not None:
            return 1, entry
    return None


def explanation(entry: Entry, style: str, rest: str) -> str:
    """ ", a kind of sandal", closed by a comma when the sentence goes on ("a kaftan, a kind of dress, with ...")."""
    return ", " + STYLES[style].format(kind=entry.kind, gloss=entry.gloss) + closing_comma(rest)
