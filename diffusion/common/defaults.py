"""The generation defaults, in one place and in the diffusers vocabulary: what a pipeline, the CLIs, the
web page and a training run's progress grids use when the caller names no value."""

from __future__ import annotations

# Chosen from benchmarks/sampler_curve.py (benchmarks/RESULTS.md): at 10 steps every sampler we ship draws
# within 2% of the others (paired, 1,050 images), 5 steps lose texture that the classifier's conv features
# and an outside judge see, and 10 guided steps are still over 100x faster than DDPM's 1,000.
DEFAULT_STEPS = 10
DEFAULT_SCHEDULER = "unipc"
DEFAULT_GUIDANCE = 3.0
DEFAULT_STRENGTH = 0.7


def sampling_defaults(stored: dict | None) -> dict:
    """Steps, guidance and sampler for a pipeline when the caller names none: the pipeline's own
    `generation_defaults` (a distilled student stores its own), else the defaults above."""
    defaults = {"num_inference_steps": DEFAULT_STEPS, "guidance_scale": DEFAULT_GUIDANCE}
    return {**defaults, "scheduler": DEFAULT_SCHEDULER, **(stored or {})}
