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

from ..common.errors import UserError, shown

# name: (diffusers class, options over the training schedule). The variants change how many past steps a
# multistep solver uses (its order). Karras et al.'s σ spacing is left out: over our cosine schedule,
# whose last σ is about 20,000, it puts nearly every step above σ = 100 (10 steps: timesteps 998, 998, 998,
# 998, 997, 995, 983, 894, 259, 0) and DPM-Solver++ then fails on the repeated timesteps; capped at
# σ = 10 to 80 (UniPC's sigma_max) it trades the classifier-feature distance for texture, and UniPC's
# "bh1" variant diverges (benchmarks/RESULTS.md, "Guidance in a limited interval").
SAMPLERS = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpm++": (DPMSolverMultistepScheduler, {}),  # 2nd order
    "dpm++3m": (DPMSolverMultistepScheduler, {"solver_order": 3}),
    "euler": (EulerDiscreteScheduler, {}),
    "unipc": (UniPCMultistepScheduler, {}),  # 2nd order
    "unipc3": (UniPCMultistepScheduler, {"solver_order": 3}),
    "lcm": (LCMScheduler, {}),  # consistency sampling, for students of `diffusion.distill --method consistency`
}
SCHEDULERS = list(SAMPLERS)


def check_scheduler(name) -> str:
    """The name itself, or one UserError that lists the names there are."""
    if not isinstance(name, str) or name not in SCHEDULERS:
        raise UserError(f"unknown scheduler {shown(name)}; choose one of: {', '.join(SCHEDULERS)}")
    return name


def make_scheduler(name: str, training_config: dict):
    """A fresh sampler (schedulers keep per-call state, so concurrent calls each get their own).

    "trailing" spacing starts sampling at the last training timestep, pure noise, which matters when
    only a few steps are taken (Lin et al., 2023, "Common Diffusion Noise Schedules...")."""
    kind, options = SAMPLERS[check_scheduler(name)]
    return kind.from_config(training_config, timestep_spacing="trailing", **options)
