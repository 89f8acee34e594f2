"""Samplers by name, all built from the training noise schedule stored with the pipeline."""

from __future__ import annotations

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    UniPCMultistepScheduler,
)

from .errors import UserError

SCHEDULERS = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "unipc": UniPCMultistepScheduler,
    "lcm": LCMScheduler,  # consistency sampling, for students of `diffusion.distill --method consistency`
}
DEFAULT_SCHEDULER = "dpm++"


def make_scheduler(name: str, training_config: dict):
    """A fresh sampler (schedulers keep per-call state, so concurrent calls each get their own).

    "trailing" spacing starts sampling at the last training timestep, pure noise, which matters when
    only a few steps are taken (Lin et al., 2023, "Common Diffusion Noise Schedules...")."""
    if name not in SCHEDULERS:
        raise UserError(f"unknown scheduler '{name}'; choose one of: {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].from_config(training_config, timestep_spacing="trailing")
