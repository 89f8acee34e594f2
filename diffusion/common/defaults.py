"""The generation defaults, in one place and in the diffusers vocabulary: what a pipeline, the CLIs, the
web page and a training run's progress grids use when the caller names no value."""

from __future__ import annotations

import math

# Chosen from benchmarks/sampler_curve.py (benchmarks/RESULTS.md): at 10 steps every sampler we ship draws
# within 2% of the others (paired, 1,050 images), 5 steps lose texture that the classifier's conv features
# and an outside judge see, and 10 guided steps are still over 100x faster than DDPM's 1,000.
DEFAULT_STEPS = 10
DEFAULT_SCHEDULER = "unipc"
DEFAULT_GUIDANCE = 3.0
# Classifier-free guidance only at the steps whose noise level σ = √((1 − ᾱ)/ᾱ) is in (low, high]
# (Kynkäänniemi et al. 2024, "Applying guidance in a limited interval improves sample and distribution
# quality"). Above σ = 10 the image is under a tenth of the input: guided there, every picture of a prompt
# starts from that prompt's one most typical garment and loses fine texture; unguided there (at the default
# 10 steps, only the first step, from pure noise) the pictures come closer to 50 steps' and to the real
# ones, and they still draw the class asked for (benchmarks/RESULTS.md, "Guidance in a limited interval").
# Guiding less at high noise cost class accuracy. An unguided step also costs one UNet batch, not two.
DEFAULT_GUIDANCE_INTERVAL = (0.0, 10.0)
GUIDE_EVERY_STEP = (0.0, math.inf)  # the textbook interval, as every run was guided before
DEFAULT_STRENGTH = 0.7


def sampling_defaults(stored: dict | None) -> dict:
    """Steps, guidance and sampler for a pipeline when the caller names none: the pipeline's own
    `generation_defaults` (a distilled student stores its own), else the defaults above."""
    defaults = {"num_inference_steps": DEFAULT_STEPS, "guidance_scale": DEFAULT_GUIDANCE}
    return {**defaults, "scheduler": DEFAULT_SCHEDULER, **(stored or {})}
