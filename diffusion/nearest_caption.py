"""How the frozen text encoder alone reads a prompt: the training caption nearest to it.

The UNet only ever saw the embeddings of the training captions, so it understands a new word through
where the encoder puts it among them. When the nearest training caption is of another class ("a photo
of a tunic" lands nearest a pair of trousers), no training of the UNet makes that prompt reliably draw
the intended class. The evaluation reports this as the encoder's ceiling on held-out prompts, and the
web UI shows each prompt's nearest caption, so a surprising image has a visible reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from .captions import CaptionTable
from .data import CLASS_NAMES
from .text import shared_text_encoder


@dataclass
class NearestCaption:
    caption: str
    label: int
    similarity: float  # cosine similarity of the sentence embeddings, 1 = the same meaning to the encoder


class CaptionIndex:
    """Every training caption of a dataset with its sentence embedding, searchable by prompt."""

    def __init__(self, dataset: str, encoder=None):
        self.encoder = encoder or shared_text_encoder("cpu")
        table = CaptionTable(dataset)
        self.captions, self.labels = table.captions[1:], table.labels[1:]  # not the empty caption
        self.embeddings = self._unit(self.captions)

    def _unit(self, texts: list[str]) -> torch.Tensor:
        return torch.nn.functional.normalize(self.encoder.encode(texts).pooled, dim=-1)

    def nearest(self, prompts: list[str]) -> list[NearestCaption]:
        similarity = self._unit(prompts) @ self.embeddings.T
        best, index = similarity.max(dim=1)
        return [
            NearestCaption(self.captions[i], self.labels[i], round(s, 4))
            for i, s in zip(index.tolist(), best.tolist(), strict=True)
        ]


@lru_cache(maxsize=4)
def caption_index(dataset: str) -> CaptionIndex:
    """One index per dataset and process: encoding the captions takes about a second."""
    return CaptionIndex(dataset)


def describe_reading(dataset: str, prompt: str) -> str:
    """One sentence for the web UI: which training caption the encoder finds nearest to `prompt`."""
    found = caption_index(dataset).nearest([prompt])[0]
    name = CLASS_NAMES[dataset][found.label]
    if found.caption == prompt.strip():
        return f"“{found.caption}” is one of the training captions (class {name})."
    return (
        f"The text encoder puts this prompt nearest the training caption “{found.caption}” "
        f"(class {name}, cosine similarity {found.similarity:.2f})."
    )
