"""What a training or distillation step draws its batch from: the images in memory, a bank of captions
encoded once, and the helpers that pick a step's images and captions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..common.config import Config
from ..common.folders import staged_file
from ..data.datasets import ImageDataset, load_dataset
from ..model.text import ENCODER_SHA256, PromptEmbeddings, shared_text_encoder
from ..prompts.captions import CaptionBank
from ..prompts.grammars import grammar_for
from ..prompts.nearest_caption import INDEX_PER_CLASS, CaptionIndex

CAPTION_CACHE = "caption_embeddings.safetensors"  # in the run folder: a resumed run reads it back


@dataclass
class TrainingData:
    """The dataset in memory with its attributes (tone, or a digit's thickness and slant), a bank of
    captions and their embeddings."""

    dataset: ImageDataset
    attributes: torch.Tensor
    captions: CaptionBank
    embeddings: PromptEmbeddings  # one row per caption in `captions`; tokens kept in fp16 to halve memory
    caption_index: CaptionIndex  # some of the captions, shipped with the pipeline for nearest-caption notes


def caption_embeddings(captions: list[str], cache_file: Path) -> PromptEmbeddings:
    """Encode the captions once; reuse the file while the captions and the encoder stay the same (a
    changed grammar, bank size or seed gives other captions, so a new file)."""
    key = _cache_key(captions)
    if cache_file.is_file():
        cached = load_file(cache_file)
        if cached.get("key") is not None and bytes(cached["key"].tolist()).decode() == key:
            return PromptEmbeddings(cached["tokens"], cached["mask"], cached["pooled"])
    # Encode in order of length, so each batch pads little; then back to the captions' order.
    order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
    encoder = shared_text_encoder("cpu")
    parts = [
        encoder.encode([captions[i] for i in order[start : start + 512]])
        for start in tqdm(range(0, len(captions), 512), desc="encoding captions", unit="batch", leave=False)
    ]
    embeddings = PromptEmbeddings.cat(parts)[torch.argsort(torch.tensor(order))]
    embeddings.tokens = embeddings.tokens.half()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "tokens": embeddings.tokens,
        "mask": embeddings.mask,
        "pooled": embeddings.pooled,
        "key": torch.tensor(list(key.encode()), dtype=torch.uint8),
    }
    with staged_file(cache_file) as staging:  # never a half-written cache under the real name
        save_file({k: v.contiguous() for k, v in tensors.items()}, staging)
    return embeddings


def _cache_key(captions: list[str]) -> str:
    return hashlib.sha256(("\n".join(captions) + ENCODER_SHA256).encode()).hexdigest()


def prepare_data(config: Config, run_dir: Path) -> TrainingData:
    d = config.data
    dataset = load_dataset(d.dataset, d.data_dir, train=True, download=d.download)
    grammar = grammar_for(d.dataset)
    attributes = grammar.attributes(dataset.images, dataset.labels)
    captions = grammar.bank(
        d.captions_per_class, seed=config.train.seed, kind_phrases=d.kind_phrases, descriptions=d.descriptions
    )
    embeddings = caption_embeddings(captions.captions, run_dir / CAPTION_CACHE)
    # The nearest-caption index (the prompt notes, the evaluation's encoder-alone reading) holds captions
    # that name their garment: a description ("something warm") reads as any of several classes.
    named = captions.named_labels()
    index = CaptionIndex.from_captions(captions.captions, named, embeddings.pooled, d.dataset, INDEX_PER_CLASS)
    return TrainingData(dataset, attributes, captions, embeddings, index)


def batch_indices(num_items: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The step's whole batch (each process trains on its share of it, see loop.process_share):
    epoch-wise shuffling without replacement, derived from the step number alone, so every image is used
    once per epoch whatever the number of processes."""
    per_epoch = num_items // batch_size
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed + epoch))
    return order[position * batch_size : (position + 1) * batch_size]


def batch_text(embeddings: PromptEmbeddings, caption_ids, config: Config, rng) -> PromptEmbeddings:
    """The batch's caption embeddings in fp32, cut to its longest caption, with the optional token dropout
    and sentence-embedding noise (see DataConfig)."""
    text = embeddings[caption_ids]
    if config.data.token_dropout > 0:
        hide = torch.rand(len(caption_ids), generator=rng) < config.data.token_dropout
        empty = embeddings[torch.zeros_like(caption_ids)]  # caption 0 is the empty caption
        text.tokens = torch.where(hide[:, None, None], empty.tokens, text.tokens)
        text.mask = torch.where(hide[:, None], empty.mask, text.mask)
    if config.data.pooled_noise > 0:
        text.pooled = text.pooled + config.data.pooled_noise * torch.randn(text.pooled.shape, generator=rng)
    length = int(text.mask.sum(1).max())  # the bank is padded to its longest caption; this batch needs less
    return PromptEmbeddings(text.tokens[:, :length].float(), text.mask[:, :length], text.pooled)


def draw_captions(data: TrainingData, indices, config: Config, rng) -> torch.Tensor:
    """One caption per image of the batch (indices into `data.captions`), drawn as the config says."""
    d = config.data
    labels, attributes = data.dataset.labels[indices], data.attributes[indices]
    return data.captions.sample(labels, attributes, d.attribute_probability, d.caption_dropout, rng)
