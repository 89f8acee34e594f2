"""What a few-step student learns from one noisy image: the maths of the two distillation methods.

Both work on the teacher's variance-preserving schedule, z_t = alpha_t x + sigma_t eps, with
v-prediction; t = -1 stands for the clean image (alpha 1, sigma 0), where the last sampling step lands.

* Progressive distillation (Salimans & Ho, 2022): one student DDIM step from t to t'' must land where two
  teacher DDIM steps (t -> t' -> t'') land. The student predicts the clean image x; the x that makes one
  DDIM step reach the teacher's z_t'' is solved for in closed form and is the target.
* Consistency distillation (Song et al., 2023; latent-consistency models, Luo et al., 2023): the student
  maps any point of the teacher's sampling path to the path's end. It is trained so that its answer at t
  equals its own slowly-moving (EMA) answer one teacher DDIM step later, at t - k; it is sampled by
  diffusers' `LCMScheduler`, whose boundary scalings c_skip and c_out are reused here.

The teacher is guided: with classifier-free guidance v = v_empty + w (v_prompt - v_empty), the output the
student learns to make in one call from w (student.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.student import guidance_embedding
from ..model.text import PromptEmbeddings

SIGMA_DATA = 0.5  # LCMScheduler's constants for c_skip and c_out
TIMESTEP_SCALING = 10.0


@dataclass
class Batch:
    """One step's inputs: noisy images z at timesteps t, their captions, the empty caption, the scales w."""

    z: torch.Tensor
    t: torch.Tensor  # (B,) long
    text: PromptEmbeddings
    empty: PromptEmbeddings  # the empty caption, one row per image, for the teacher's unguided half
    w: torch.Tensor  # (B,) guidance scales


def alpha_sigma(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_t and sigma_t shaped to broadcast over images; t = -1 gives (1, 0)."""
    alpha_bar = torch.where(t >= 0, alphas_cumprod[t.clamp(min=0)], torch.ones_like(t, dtype=alphas_cumprod.dtype))
    return alpha_bar.sqrt()[:, None, None, None], (1 - alpha_bar).sqrt()[:, None, None, None]


def clean_and_noise(z, v, alpha, sigma, clip: bool):
    """x and eps from a v-prediction; x clipped to the data range as DDIMScheduler does with clip_sample."""
    x = alpha * z - sigma * v
    return (x.clamp(-1, 1) if clip else x), sigma * z + alpha * v


def ddim_step(z, v, t, t_next, alphas_cumprod, clip: bool = True) -> torch.Tensor:
    """Deterministic DDIM (eta 0) from t to t_next, per image; as `DDIMScheduler.step` for one timestep."""
    x, eps = clean_and_noise(z, v, *alpha_sigma(alphas_cumprod, t), clip)
    alpha_next, sigma_next = alpha_sigma(alphas_cumprod, t_next)
    return alpha_next * x + sigma_next * eps


def unet_v(unet, z, t, text: PromptEmbeddings, w=None) -> torch.Tensor:
    """One UNet call; `w` goes in as the guidance input of a student."""
    cond = None if w is None else guidance_embedding(w, unet.config.time_cond_proj_dim).to(z.device, z.dtype)
    return unet(
        z,
        t,
        encoder_hidden_states=text.tokens,
        encoder_attention_mask=text.mask,
        class_labels=text.pooled,
        timestep_cond=cond,
    ).sample.float()


def guided_v(teacher, z, t, batch: Batch) -> torch.Tensor:
    """The teacher's guided output: two halves in one batch for a plain teacher, one call for a student."""
    if teacher.config.time_cond_proj_dim is not None:
        return unet_v(teacher, z, t, batch.text, batch.w)
    both = PromptEmbeddings.cat([batch.empty, batch.text])
    empty, prompt = unet_v(teacher, torch.cat([z, z]), torch.cat([t, t]), both).chunk(2)
    w = batch.w[:, None, None, None]
    return empty + w * (prompt - empty)


def truncated_snr_weight(alpha, sigma) -> torch.Tensor:
    """max(SNR, 1): the weighting of Salimans & Ho for an x-space loss."""
    return (alpha**2 / sigma.clamp(min=1e-8) ** 2).clamp(min=1.0, max=1e4)


def progressive_loss(student, teacher, batch: Batch, t_mid, t_next, alphas_cumprod) -> torch.Tensor:
    """Student step t -> t_next against two teacher steps t -> t_mid -> t_next (module docstring)."""
    z, t = batch.z, batch.t
    with torch.no_grad():
        z_mid = ddim_step(z, guided_v(teacher, z, t, batch), t, t_mid, alphas_cumprod)
        z_next = ddim_step(z_mid, guided_v(teacher, z_mid, t_mid, batch), t_mid, t_next, alphas_cumprod)
        alpha, sigma = alpha_sigma(alphas_cumprod, t)
        alpha_next, sigma_next = alpha_sigma(alphas_cumprod, t_next)
        ratio = sigma_next / sigma
        target = (z_next - ratio * z) / (alpha_next - ratio * alpha)
    x, _ = clean_and_noise(z, unet_v(student, z, t, batch.text, batch.w), alpha, sigma, clip=False)
    per_image = ((x - target) ** 2).mean(dim=(1, 2, 3))
    return (truncated_snr_weight(alpha, sigma).flatten() * per_image).mean()


def boundary_scalings(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """c_skip and c_out of `LCMScheduler.get_scalings_for_boundary_condition_discrete`, per image."""
    scaled = t.float() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2).sqrt()
    return c_skip[:, None, None, None], c_out[:, None, None, None]


def consistency_output(unet, z, t, batch: Batch, alphas_cumprod) -> torch.Tensor:
    """The consistency function f(z, t): the end of the sampling path through z, as LCMScheduler makes it."""
    x, _ = clean_and_noise(z, unet_v(unet, z, t, batch.text, batch.w), *alpha_sigma(alphas_cumprod, t), clip=False)
    c_skip, c_out = boundary_scalings(t)
    return c_skip * z + c_out * x


def consistency_loss(student, target, teacher, batch: Batch, t_prev, alphas_cumprod) -> torch.Tensor:
    """f_student(z_t, t) against f_target(z_{t-k}, t-k), where z_{t-k} is one guided teacher DDIM step on."""
    z, t = batch.z, batch.t
    with torch.no_grad():
        z_prev = ddim_step(z, guided_v(teacher, z, t, batch), t, t_prev, alphas_cumprod)
        goal = consistency_output(target, z_prev, t_prev.clamp(min=0), batch, alphas_cumprod)
    return F.mse_loss(consistency_output(student, z, t, batch, alphas_cumprod), goal)
