"""A few-step student: the teacher's UNet plus one input, the guidance scale.

Guided distillation (Meng et al., 2023) folds classifier-free guidance into the network: instead of two
UNet calls per step (with and without the prompt), the student takes the scale w as an input and makes
the guided prediction in one call. The scale enters as diffusers' `timestep_cond`: a sinusoidal
embedding of w, projected by the UNet's `time_embedding.cond_proj` and added to the timestep
embedding (the input latent-consistency models use for the same purpose). The projection starts at
zero, so before any training the student is exactly the teacher's conditional model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from ..common.errors import UserError
from .unet import prepare_unet

GUIDANCE_EMBEDDING_DIM = 32
# A pipeline folder may store the settings it samples best with, used when a caller names none.
DEFAULTS_FILE = "generation_defaults.json"
DEFAULT_KEYS = ("num_inference_steps", "guidance_scale", "scheduler")


def folds_guidance(unet) -> bool:
    """Whether this UNet takes the guidance scale as an input (a distilled student)."""
    return getattr(unet.config, "time_cond_proj_dim", None) is not None


def guidance_embedding(scales: torch.Tensor, dim: int = GUIDANCE_EMBEDDING_DIM) -> torch.Tensor:
    """Sinusoidal embedding of the guidance scales, (B,) -> (B, dim); the formula of diffusers'
    `LatentConsistencyModelPipeline.get_guidance_scale_embedding`."""
    w = scales.float() * 1000.0
    half = dim // 2
    frequencies = torch.exp(
        torch.arange(half, dtype=torch.float32, device=w.device) * -(math.log(10000.0) / (half - 1))
    )
    angles = w[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def make_student(teacher: UNet2DConditionModel, dim: int = GUIDANCE_EMBEDDING_DIM) -> UNet2DConditionModel:
    """A copy of the teacher's weights in a UNet that also reads the guidance scale."""
    student = UNet2DConditionModel.from_config({**teacher.config, "time_cond_proj_dim": dim})
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert missing == ["time_embedding.cond_proj.weight"] and not unexpected, (missing, unexpected)
    torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    return prepare_unet(student.to(teacher.device).float())


def read_generation_defaults(folder: Path) -> dict:
    """The folder's stored defaults ({} when it has none); an unknown key is an error that names it."""
    path = Path(folder) / DEFAULTS_FILE
    if not path.is_file():
        return {}
    try:
        defaults = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is unreadable ({error}); export the pipeline again") from None
    unknown = sorted(set(defaults) - set(DEFAULT_KEYS)) if isinstance(defaults, dict) else ["(not a mapping)"]
    if unknown:
        raise UserError(f"{path} has unknown key '{unknown[0]}'; known: {', '.join(DEFAULT_KEYS)}")
    return defaults


def write_generation_defaults(folder: Path, defaults: dict) -> None:
    if defaults:
        (Path(folder) / DEFAULTS_FILE).write_text(json.dumps(defaults, indent=2) + "\n")
