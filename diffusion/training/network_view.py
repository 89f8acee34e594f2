"""What the network sees: one training image noised to a few timesteps, as in a training step, and what the
network makes of it. One forward pass over a batch of len(VIEW_TIMESTEPS) images.

Rows of the picture (save_network_view), one column per timestep: the noisy input x_t, the true noise ε,
the noise the network predicts, and the clean image it predicts x0. For a v-prediction model both
predictions are derived from its output v and x_t with the schedule's ᾱ_t, the same algebra the sampler uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from ..model.text import PromptEmbeddings
from ..sampling.pipeline import predict_clean_image

VIEW_TIMESTEPS = (100, 400, 700, 950)
ROWS = ("noisy input x_t", "true noise", "predicted noise", "predicted clean image x0")
# The range each row is drawn in (values beyond are clipped): images in [-1, 1]; noise, which has unit
# variance, in two standard deviations either way, the same for the true and the predicted noise.
ROW_RANGES = (1.0, 2.0, 2.0, 1.0)


def predict_noise(x_t, model_output, alpha_bar, prediction_type: str):
    """The model's guess of the noise ε in x_t = √ᾱ·x0 + √(1 − ᾱ)·ε (predict_clean_image's counterpart)."""
    alpha, sigma = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    if prediction_type == "v_prediction":  # v = √ᾱ·ε − √(1 − ᾱ)·x0, so ε = √(1 − ᾱ)·x_t + √ᾱ·v
        return sigma * x_t + alpha * model_output
    if prediction_type == "epsilon":
        return model_output
    return (x_t - alpha * model_output) / sigma  # "sample": the output is x0


@dataclass
class NetworkView:
    """Each a batch (len(timesteps), C, H, W) on the CPU, in ROWS order."""

    timesteps: tuple[int, ...]
    noisy: torch.Tensor
    noise: torch.Tensor
    predicted_noise: torch.Tensor
    predicted_clean: torch.Tensor

    def rows(self) -> list[torch.Tensor]:
        return [self.noisy, self.noise, self.predicted_noise, self.predicted_clean]


@torch.no_grad()
def look(
    unet, scheduler, clean: torch.Tensor, text: PromptEmbeddings, timesteps=VIEW_TIMESTEPS, seed: int = 0
) -> NetworkView:
    """`clean` (C, H, W, in [-1, 1]) with its caption `text` (one row), noised with the same noise (drawn
    from `seed`) to each timestep by the training schedule `scheduler`, and `unet`'s answers."""
    device, n = unet.device, len(timesteps)
    t = torch.tensor(timesteps, device=device)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    noise, clean = noise.expand(n, *clean.shape).to(device), clean.expand(n, *clean.shape).to(device)
    noisy = scheduler.add_noise(clean, noise, t)
    text = text.repeat_interleave(n).to(device, unet.dtype)
    output = unet(
        noisy.to(unet.dtype), t, encoder_hidden_states=text.tokens, encoder_attention_mask=text.mask,
        class_labels=text.pooled,
    ).sample.float()  # fmt: skip
    alpha_bar = scheduler.alphas_cumprod.to(device)[t].view(-1, 1, 1, 1).float()
    kind = scheduler.config.prediction_type
    eps, x0 = predict_noise(noisy, output, alpha_bar, kind), predict_clean_image(noisy, output, alpha_bar, kind)
    return NetworkView(tuple(timesteps), *(x.float().cpu() for x in (noisy, noise, eps, x0)))


def view_grid(view: NetworkView) -> torch.Tensor:
    """The picture (3, H, W) in [0, 1]: a row per ROWS entry, each on its ROW_RANGES scale."""
    rows = [((row / limit).clamp(-1, 1) + 1) / 2 for row, limit in zip(view.rows(), ROW_RANGES, strict=True)]
    return make_grid(torch.cat(rows), nrow=len(view.timesteps), padding=1, pad_value=1.0)


def save_network_view(view: NetworkView, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(view_grid(view), path)
