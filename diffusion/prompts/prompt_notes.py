"""Plain notes on a prompt, for the web page and the sampling CLI: how the text encoder reads it, whether
it is far from everything the model was trained on, which of its words nothing explains (unknown_words.py),
and what becomes of colour words.

The model only learned the embeddings of its training captions; for a prompt far from all of them the
picture will be one of the training classes whatever the prompt says ("a cat" gives a boot or a top).
A prompt is far when either
  * its nearest training caption (`nearest_caption.py`) is less similar than `FAR_BELOW`, or
  * it reads more like an everyday thing outside the data set (`prompts/not_clothing.txt`: animals,
    vehicles, food, objects) than like any training caption, by more than `NEARER_THING_BY`.
The second rule is needed because the frozen encoder puts short everyday nouns ("a cat", "a car") about as
near the clothing captions as unusual clothing words; what tells them apart is that "a cat" is far nearer
"a dog" than any caption. Both numbers are calibrated by `benchmarks/ui_prompt_notes.py` on the
evaluation's in-domain prompts and on the out-of-domain prompts in `prompts/out_of_domain.txt`; the
results are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..data.datasets import CLASS_NAMES, kind
from ..model.text import shared_text_encoder
from . import DATA
from .grounding import Grounding, reading
from .nearest_caption import CaptionIndex, NearestCaption
from .unknown_words import unknown_words, unknown_words_note

# Calibrated together on the shipped model's index: 4.0% false alarms on in-domain prompts, 93% of the
# out-of-domain prompts warned about (the first rule alone: 3.5% and 67%).
FAR_BELOW = 0.40
NEARER_THING_BY = 0.05

# Lists of things each kind of data does not contain; datasets without one get the first rule only
# (CIFAR-10's classes are themselves animals and vehicles).

THINGS_OUTSIDE = {
    "fashion_mnist": [DATA / "not_clothing.txt"],
    "mnist": [DATA / "not_clothing.txt", DATA / "not_digits.txt"],
}

GREYSCALE_DATASETS = {"fashion_mnist", "mnist"}  # kinds (datasets.kind): MNIST from either source
# Colours the greyscale data cannot show. Black, white, grey, navy, cream, beige and the like are not
# here: the training captions use them as tone words, and the model draws them as dark or light.
HUE_WORDS = {
    "red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "violet", "turquoise", "teal",
    "magenta", "cyan", "gold", "golden", "silver", "maroon", "crimson", "scarlet", "olive", "lime", "lavender",
    "burgundy", "indigo", "mauve", "coral", "mint", "peach", "colourful", "colorful", "multicoloured",
    "multicolored", "rainbow", "neon", "pastel",
}  # fmt: skip


@dataclass
class PromptNotes:
    nearest: NearestCaption
    far: bool  # far from every training caption: the model will draw one of its classes regardless
    nearest_thing: tuple[str, float] | None  # the nearest thing outside the data set and its similarity
    colours: list[str]  # hue words in the prompt, which the greyscale model reads as a tone at most
    unknown: list[tuple[str, list[str]]]  # words nothing explains, with the encoder's pieces (unknown_words.py)
    grounding: Grounding  # what the encoder reads: the prompt with its rare garment words explained
    sentences: list[str]  # what to tell the user, in order


def colour_words(prompt: str) -> list[str]:
    words = re.findall(r"[a-z]+", prompt.lower())
    return list(dict.fromkeys(word for word in words if word in HUE_WORDS))


@lru_cache(maxsize=4)
def things_outside(dataset: str) -> tuple[list[str], torch.Tensor] | None:
    """The dataset's list of outside things with their unit sentence embeddings (encoded once)."""
    paths = THINGS_OUTSIDE.get(kind(dataset))
    if paths is None:
        return None
    lines = [line for path in paths for line in path.read_text(encoding="utf-8").splitlines()]
    things = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return things, torch.nn.functional.normalize(shared_text_encoder("cpu").encode(things).pooled, dim=-1)


def nearest_thing(dataset: str, unit_embedding: torch.Tensor) -> tuple[str, float] | None:
    outside = things_outside(dataset)
    if outside is None:
        return None
    things, embeddings = outside
    similarity, best = (unit_embedding @ embeddings.T).max(dim=0)
    return things[int(best)], round(float(similarity), 4)


def far_reason(nearest: NearestCaption, thing: tuple[str, float] | None) -> str | None:
    """Why the prompt is far from the training captions, or None when it is not."""
    if nearest.similarity < FAR_BELOW:
        return f"its nearest training caption has similarity {nearest.similarity:.2f}, below {FAR_BELOW:.2f}"
    if thing is not None and thing[1] > nearest.similarity + NEARER_THING_BY:
        name, similarity = thing
        return f"it reads more like “{name}” ({similarity:.2f}) than any training caption ({nearest.similarity:.2f})"
    return None


def notes_for(index: CaptionIndex, prompt: str, ground: bool = True) -> PromptNotes:
    """The notes on one prompt: the words explained from the lexicon (when the pipeline grounds them, as
    `ground` says), how the encoder reads it, then a warning where one is due."""
    grounding = reading(prompt, index.dataset, shared_text_encoder("cpu")) if ground else Grounding(prompt)
    unit = index.unit_embeddings([grounding.prompt])  # one encoder call for all the notes
    nearest = index.nearest_to(unit)[0]
    thing = nearest_thing(index.dataset, unit[0])
    sentences = [grounded.note() for grounded in grounding.explained]
    if grounding.explained:
        sentences.append(f"The text encoder reads the prompt as “{grounding.prompt}”.")
    sentences.append(index.describe(grounding.prompt, nearest))
    reason = far_reason(nearest, thing)
    if reason:
        classes = CLASS_NAMES[index.dataset]
        sentences.append(
            f"This prompt is far from everything the model was trained on ({reason}): it only draws "
            f"{len(classes)} kinds of things ({', '.join(classes)}), so expect one of those."
        )
    unknown = unknown_words(prompt, grounding, index.dataset, shared_text_encoder("cpu").tokens) if ground else []
    if unknown:
        sentences.append(unknown_words_note(unknown))
    colours = colour_words(prompt) if kind(index.dataset) in GREYSCALE_DATASETS else []
    if colours:
        sentences.append(
            f"The training pictures are greyscale, so colour words ({', '.join(colours)}) are read as a tone "
            "at most, never as a colour."
        )
    return PromptNotes(nearest, reason is not None, thing, colours, unknown, grounding, sentences)
