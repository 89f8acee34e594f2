"""How the frozen text encoder alone reads a prompt: the training caption nearest to it.

The UNet only ever saw the embeddings of its training captions, so it understands a new word through
where the encoder puts it among them. When the nearest training caption is of another class, no training
of the UNet makes that prompt reliably draw the intended class. The evaluation reports this as the
encoder's ceiling, and the web UI and the sampling CLI show each prompt's nearest caption, so a
surprising image has a visible reason.

A trained pipeline carries its index (`caption_index.safetensors`: a few hundred of its training
captions per class with their sentence embeddings), so a lookup is one encoder call and one small
matrix product. Pipelines without one get an index drawn from the dataset's caption grammar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..data.datasets import CLASS_NAMES
from ..model.text import shared_text_encoder
from .grammars import grammar_for

INDEX_FILE = "caption_index.safetensors"
INDEX_PER_CLASS = 300  # enough to find a close caption of each kind; small enough to ship (~2 MB)


@dataclass
class NearestCaption:
    caption: str
    label: int
    similarity: float  # cosine similarity of the sentence embeddings, 1 = the same meaning to the encoder


class CaptionIndex:
    """Training captions with their unit sentence embeddings, searchable by prompt."""

    def __init__(self, captions: list[str], labels: list[int], embeddings: torch.Tensor, dataset: str):
        self.captions, self.labels, self.dataset = captions, labels, dataset
        self.embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1)

    @classmethod
    def from_captions(cls, captions: list[str], labels: list[int], pooled: torch.Tensor, dataset: str, per_class: int):
        """Up to `per_class` captions of each class (the empty caption left out), spread over the list."""
        keep = []
        for label in sorted(set(labels) - {-1}):
            members = [i for i, k in enumerate(labels) if k == label]
            step = max(1, len(members) // per_class)
            keep += members[::step][:per_class]
        return cls([captions[i] for i in keep], [labels[i] for i in keep], pooled[keep], dataset)

    def save(self, folder: Path) -> None:
        text = "\n".join(self.captions).encode()
        save_file(
            {
                "embeddings": self.embeddings.half().contiguous(),
                "labels": torch.tensor(self.labels),
                "captions": torch.frombuffer(bytearray(text), dtype=torch.uint8),
            },
            folder / INDEX_FILE,
            metadata={"dataset": self.dataset},
        )

    @classmethod
    def load(cls, folder: Path, dataset: str) -> CaptionIndex | None:
        path = folder / INDEX_FILE
        if not path.is_file():
            return None
        tensors = load_file(path)
        captions = bytes(tensors["captions"].tolist()).decode().split("\n")
        return cls(captions, tensors["labels"].tolist(), tensors["embeddings"], dataset)

    def unit_embeddings(self, texts: list[str]) -> torch.Tensor:
        """The texts' sentence embeddings, scaled to length 1 (a dot product is then a cosine similarity)."""
        return torch.nn.functional.normalize(shared_text_encoder("cpu").encode(texts).pooled, dim=-1)

    def nearest(self, prompts: list[str]) -> list[NearestCaption]:
        return self.nearest_to(self.unit_embeddings(prompts))

    def nearest_to(self, unit_embeddings: torch.Tensor) -> list[NearestCaption]:
        similarity = unit_embeddings @ self.embeddings.T
        best, index = similarity.max(dim=1)
        return [
            NearestCaption(self.captions[i], self.labels[i], round(s, 4))
            for i, s in zip(index.tolist(), best.tolist(), strict=True)
        ]

    def describe(self, prompt: str, found: NearestCaption | None = None) -> str:
        """One sentence for people: which training caption the encoder finds nearest to `prompt`
        (`found`, where the caller has looked it up already)."""
        found = found or self.nearest([prompt])[0]
        name = CLASS_NAMES[self.dataset][found.label]
        if found.caption.lower() == prompt.strip().lower():
            return f"“{found.caption}” is one of the training captions (class {name})."
        return (
            f"The text encoder puts this prompt nearest the training caption “{found.caption}” "
            f"(class {name}, cosine similarity {found.similarity:.2f})."
        )


@lru_cache(maxsize=4)
def grammar_index(dataset: str, per_class: int = 60) -> CaptionIndex:
    """An index drawn from the caption grammar, for pipelines that do not carry their own."""
    bank = grammar_for(dataset).bank(per_class)
    pooled = shared_text_encoder("cpu").encode(bank.captions).pooled
    return CaptionIndex.from_captions(bank.captions, bank.labels, pooled, dataset, per_class)
