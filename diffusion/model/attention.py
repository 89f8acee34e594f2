"""Cross-attention maps: where in the image each word of the prompt was looked at.

`RecordingAttnProcessor` computes attention exactly as diffusers' `AttnProcessor2_0` does. When the
caller passes an `AttentionStore` through `cross_attention_kwargs`, it also adds the cross-attention
probabilities (averaged over heads) to the store. The store travels with one call, so concurrent
calls on the same UNet never mix their maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

# On the CPU the explicit softmax beats the fused kernel for sequences this short (see benchmarks/training.py).
USE_FUSED_ON_CPU = False


class AttentionStore:
    """Sums cross-attention maps over layers and steps, resized to one resolution."""

    def __init__(self, size: int):
        self.size = size
        self.total: torch.Tensor | None = None  # (B, L, size, size)
        self.count = 0

    def add(self, probs: torch.Tensor) -> None:
        # probs: (B, positions, L) for a square feature map
        batch, positions, length = probs.shape
        side = int(math.isqrt(positions))
        maps = probs.transpose(1, 2).reshape(batch, length, side, side).float()
        maps = F.interpolate(maps, size=(self.size, self.size), mode="bilinear", align_corners=False)
        self.total = maps if self.total is None else self.total + maps
        self.count += 1

    def mean(self) -> torch.Tensor | None:
        return None if self.total is None else self.total / self.count


class RecordingAttnProcessor:
    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        attention_store: AttentionStore | None = None,
    ) -> torch.Tensor:
        residual = hidden_states
        is_cross = encoder_hidden_states is not None
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        image_input = hidden_states.ndim == 4
        if image_input:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch, length, _ = (encoder_hidden_states if is_cross else hidden_states).shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        context = encoder_hidden_states if is_cross else hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (x.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for x in (query, key, value))

        if (is_cross and attention_store is not None) or (query.device.type == "cpu" and not USE_FUSED_ON_CPU):
            # The explicit softmax: needed for the maps, and on the CPU faster than the fused kernel.
            scores = query @ key.transpose(-1, -2) * attn.scale
            if attention_mask is not None:
                scores = scores + attention_mask
            probs = scores.softmax(-1)
            if is_cross and attention_store is not None:
                attention_store.add(probs.mean(1))
            hidden_states = probs.to(value.dtype) @ value
        else:
            hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if image_input:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor
