"""The denoiser: a small diffusers `UNet2DConditionModel` built from `ModelConfig`.

Text reaches it two ways: token embeddings through cross-attention at the low resolutions (where
attention is cheap: 7x7 = 49 positions), and the sentence embedding through `class_embed_type=
"projection"`, which adds it to the timestep embedding that every ResNet block sees.
"""

from __future__ import annotations

from diffusers import UNet2DConditionModel

from ..common.config import ModelConfig
from ..common.errors import UserError
from .attention import RecordingAttnProcessor
from .text import EMBEDDING_DIM


def build_unet(config: ModelConfig, image_shape: tuple[int, int, int]) -> UNet2DConditionModel:
    channels, height, width = image_shape
    levels = len(config.block_out_channels)
    if len(config.cross_attention_levels) != levels:
        raise UserError(
            f"model.cross_attention_levels has {len(config.cross_attention_levels)} entries but "
            f"model.block_out_channels has {levels}; give one True/False per level"
        )
    if height % 2 ** (levels - 1) or height != width:
        raise UserError(f"images of {height}x{width} cannot be halved {levels - 1} times; change the levels")
    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in config.cross_attention_levels]
    up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.cross_attention_levels)]
    unet = UNet2DConditionModel(
        sample_size=height,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=EMBEDDING_DIM,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=EMBEDDING_DIM,
    )
    return prepare_unet(unet)


def prepare_unet(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """Install the attention processor that can also report cross-attention maps."""
    unet.set_attn_processor(RecordingAttnProcessor())
    return unet


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
