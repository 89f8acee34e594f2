"""A web request checked: the page's fields become one `GenerationSettings` (settings.py) and a seed.

Every request is checked in the server, whatever the page's sliders allow, because anyone can call the
API directly. The page's limits are tighter than the pipeline's (`Limits`, from app.py's flags) so one
visitor cannot hold a shared CPU for minutes. A check that fails raises `UserError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from ..model.text import PromptEmbeddings
from ..sampling.settings import GenerationSettings, Limits, random_seed, whole_number
from ..sampling.settings import text as checked_text

RANDOM_SEED = -1  # the seed box value that means "a new random seed every run"
MAX_FRAMES = 9  # most blends in one interpolation


@dataclass(frozen=True)
class PageRequest:
    """One checked request: the generation settings, the seed actually used, and what only the page has
    (the second prompt of a blend, "sketch" as the starting picture)."""

    settings: GenerationSettings
    seed: int
    extra: dict = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return self.settings.prompt

    def pipeline_kwargs(self) -> dict:
        return self.settings.pipeline_kwargs() | {"seed": self.seed}

    def record(self, seed: int | None = None) -> dict:
        """The settings as stored in a PNG and in the history: one image's seed, or the run's first."""
        record = {
            k: v
            for k, v in asdict(self.settings).items()
            if k not in ("num_images_per_prompt", "limits") and v is not None
        }
        return record | {"seed": self.seed if seed is None else seed} | self.extra


def check_request(
    limits: Limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, strength=None, extra=None
) -> PageRequest:
    """Check every field; one UserError naming the first bad one. Seed -1 or empty: a fresh random seed."""
    settings = GenerationSettings(
        prompt=stripped(prompt),
        negative_prompt=stripped(negative_prompt or ""),
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        num_images_per_prompt=images,
        seed=None if seed is None or seed == RANDOM_SEED else seed,
        scheduler=scheduler,
        strength=strength,
        limits=limits,
    )
    used = settings.seed if settings.seed is not None else random_seed(settings.num_images_per_prompt)
    return PageRequest(settings, used, extra or {})


def shown_seed(value) -> int | None:
    """The seed in a "Seed of the selected image" box (text, empty before any run) as a number."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def stripped(value):
    """Text without the spaces around it (as typed into a box); anything else as it is, for the checks."""
    return value.strip() if isinstance(value, str) else value


def check_blend(limits: Limits, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler) -> PageRequest:
    """An interpolation: two prompts, `frames` blends from the first to the second, all from one noise."""
    second = checked_text(prompt_b, "second prompt", required=True)  # the same text rules as the first
    frames = whole_number(frames, "number of frames", 2, MAX_FRAMES)
    request = check_request(limits, prompt_a, "", steps, guidance_scale, 1, seed, scheduler)
    return PageRequest(request.settings, request.seed, {"prompt_b": second.strip(), "frames": frames})


def blend_weights(frames: int) -> list[float]:
    return [i / (frames - 1) for i in range(frames)]


def blend_kwargs(pipe, request: PageRequest) -> dict:
    """Pipeline arguments for an interpolation: the two prompts' embeddings blended in even steps, every
    frame drawn from the same noise (one generator per frame, all seeded alike)."""
    first = pipe.encode_prompt([request.prompt])
    second = pipe.encode_prompt([request.extra["prompt_b"]], "second prompt")
    weights = blend_weights(request.extra["frames"])
    settings = request.settings
    return dict(
        prompt_embeds=PromptEmbeddings.cat([first.lerp(second, w) for w in weights]),
        generator=[torch.Generator("cpu").manual_seed(request.seed) for _ in weights],
        num_inference_steps=settings.num_inference_steps,
        guidance_scale=settings.guidance_scale,
        scheduler=settings.scheduler,
    )
