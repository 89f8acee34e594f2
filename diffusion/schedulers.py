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

from .errors import UserError, shown

SCHEDULERS = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "unipc": UniPCMultistepScheduler,
    "lcm": LCMScheduler,  # consistency sampling, for students of `diffusion.distill --method consistency`
}
DEFAULT_SCHEDULER = "dpm++"


def check_scheduler(name) -> str:
    """The name itself, or one UserError that lists the names there are."""
    if not isinstance(name, str) or name not in SCHEDULERS:
        raise UserError(f"unknown scheduler {shown(name)}; choose one of: {', '.join(SCHEDULERS)}")
    return name


def make_scheduler(name: str, training_config: dict):
    """A fresh sampler (schedulers keep per-call state, so concurrent calls each get their own).

    "trailing" spacing starts sampling at the last training timestep, pure noise, which matters when
    only a few steps are taken (Lin et al., 2023, "Common Diffusion Noise Schedules...")."""
    return SCHEDULERS[check_scheduler(name)].from_config(training_config, timestep_spacing="trailing")
