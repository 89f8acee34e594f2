"""Words nothing explains: in no training caption, not in the garment lexicon, and not in the text encoder's
vocabulary, which therefore reads them in pieces ("birkenstock" as `bi ##rke ##nst ##ock`, "sandles" as
`sand ##les`). The picture then follows whatever those pieces suggest, so the prompt note names the word
and its pieces: the user sees why "a cork birkenstock" became a dress, and can respell the word or describe
the garment in everyday words.

A word the encoder has whole, or whole with a regular ending ("chunky": `chunk ##y`, "belted": `belt ##ed`),
is one it reads, and is not named.
"""

from __future__ import annotations

from functools import lru_cache

from .captions import VOCABULARIES
from .grounding import Grounding, grounds, training_vocabulary
from .lexicon import WORD, word_of, words

# Regular English endings: a known word with one of them is read through the word ("chunk ##y").
REGULAR_ENDINGS = frozenset({"s", "es", "d", "ed", "y", "er", "ers", "ing", "ly", "less", "ness", "ful"})


def unknown_words(prompt: str, grounding: Grounding, dataset: str, tokens) -> list[tuple[str, list[str]]]:
    """The prompt's words that nothing explains, each with the encoder's pieces, in prompt order. `tokens`:
    the text encoder's tokenizer (text -> its pieces with [CLS] and [SEP]). Empty for data sets without a
    garment lexicon (digits and CIFAR-10 are read by the encoder alone)."""
    if not grounds(dataset):
        return []
    known = caption_words(dataset)
    explained = {word for grounded in grounding.explained for word in words(grounded.typed)}
    found = {}
    for match in WORD.finditer(prompt):
        word = word_of(match.group())
        if not word.isalpha() or word in known or word in explained or word in found:
            continue
        pieces = tokens(word)[1:-1]
        if len(pieces) > 1 and not regular_form(pieces):
            found[word] = pieces
    return list(found.items())


@lru_cache(maxsize=4)
def caption_words(dataset: str) -> frozenset[str]:
    """Every word the training captions use: the grammar's, and the heads of its descriptions ("footwear")."""
    heads = VOCABULARIES[dataset].description_heads
    return training_vocabulary(dataset).words | {word for head in heads for word in words(head.rstrip("*"))}


def regular_form(pieces: list[str]) -> bool:
    """Whether the pieces are one word and a regular ending: ["chunk", "##y"]."""
    return len(pieces) == 2 and pieces[1].removeprefix("##") in REGULAR_ENDINGS


def unknown_words_note(found: list[tuple[str, list[str]]]) -> str:
    """ "Unknown to the model and the garment lexicon: “birkenstock” (bi·rke·nst·ock). The text encoder reads
    it only in those pieces, ..." """
    named = ", ".join(f"“{word}” ({'·'.join(p.removeprefix('##') for p in pieces)})" for word, pieces in found)
    these = "it" if len(found) == 1 else "them"
    return (
        f"Unknown to the model and the garment lexicon: {named}. The text encoder reads {these} only in those "
        "pieces, so the picture follows what the pieces suggest; check the spelling, or describe the "
        "garment in everyday words."
    )
