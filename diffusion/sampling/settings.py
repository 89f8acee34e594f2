"""Every input of one generation, checked once, with one rule and one message per field.

The pipeline, the sampling CLI, the evaluation and the web UI all build a `GenerationSettings`, so a
limit and the words that explain it live here and nowhere else. A bad field raises one `UserError`
that names it, its allowed range and what was given. `Limits` carries how much a caller allows: the
pipeline allows the most; the web UI passes tighter limits so one visitor cannot hold a shared CPU.

    settings = GenerationSettings(prompt="a bag", num_inference_steps=20, num_images_per_prompt=4, seed=0)
    pipe(**settings.pipeline_kwargs())
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field

from ..common.defaults import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_INTERVAL, DEFAULT_SCHEDULER, DEFAULT_STEPS
from ..common.errors import UserError, shown
from ..model.text import MAX_PROMPT_CHARS
from .schedulers import check_scheduler

MAX_STEPS = 1000
MAX_IMAGES = 64
MAX_GUIDANCE = 30.0
# Image i uses seed + i, and every image's seed must fit the same range, so that any single image can
# be made again on its own. 2**32 - 1 is also what the web page's number box holds exactly.
MAX_SEED = 2**32 - 1
LINE_BREAKS = "\t\n\r"  # whitespace the tokenizer reads as a space; other control characters are refused


# ----- one rule per kind of field -------------------------------------------------------------------------------


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole_number(value, name: str, low: int, high: int) -> int:
    if not is_number(value) or not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise UserError(f"{name} must be a whole number from {low} to {high}, got {shown(value)}")
    return int(value)


def number(value, name: str, low: float, high: float) -> float:
    if not is_number(value) or not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"{name} must be a number from {low:g} to {high:g}, got {shown(value)}")
    return float(value)


def check_strength(value) -> float:
    if not is_number(value) or not math.isfinite(value) or not 0 < value <= 1:
        raise UserError(
            f"strength must be above 0 and at most 1 (at 0 the picture would not change at all), got {shown(value)}"
        )
    return float(value)


def check_guidance_interval(value) -> tuple[float, float]:
    """(low, high): the noise levels σ, low < σ <= high, at which guidance applies; high may be math.inf.
    None: the default interval."""
    if value is None:
        return DEFAULT_GUIDANCE_INTERVAL
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(is_number(v) and not math.isnan(v) for v in value)
        or not 0 <= value[0] < value[1]
    ):
        raise UserError(
            "guidance interval must be two noise levels (low, high) with 0 <= low < high, e.g. (0, 10); "
            f"(0, math.inf) guides every step; got {shown(value)}"
        )
    return float(value[0]), float(value[1])


def check_seed(value, images: int) -> int:
    high = MAX_SEED - images + 1
    room = "" if images == 1 else f" for {images} images (image i uses seed + i)"
    if not is_number(value) or not math.isfinite(value) or value != int(value) or not 0 <= value <= high:
        raise UserError(f"seed must be a whole number from 0 to {high}{room}, got {shown(value)}")
    return int(value)


def prompt_texts(value, name: str, required: bool) -> str | tuple[str, ...] | None:
    """One text or a non-empty list of texts; None where the field may be left out."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise UserError(f"the {name} list is empty; give at least one {name}")
        return tuple(text(item, name, required) for item in value)
    return text(value, name, required)


def text(value, name: str, required: bool) -> str:
    if not isinstance(value, str):
        raise UserError(f"{name} must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise UserError(f"the {name} is empty; type what to draw, e.g. 'a sneaker'")
    if len(value) > MAX_PROMPT_CHARS:
        raise UserError(f"the {name} is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}, shorten it")
    for char in value:
        if "\ud800" <= char <= "\udfff":  # how Python keeps bytes that were not UTF-8 (surrogateescape)
            raise UserError(f"the {name} is not valid UTF-8 text; type it again")
        if unicodedata.category(char) == "Cc" and char not in LINE_BREAKS:
            raise UserError(f"the {name} contains the control character U+{ord(char):04X}; remove it")
    return value


@dataclass(frozen=True)
class Limits:
    """The most one request may ask for; each at most the pipeline's own maximum."""

    max_steps: int = MAX_STEPS
    max_images: int = MAX_IMAGES
    max_guidance: float = MAX_GUIDANCE

    def __post_init__(self):
        whole_number(self.max_steps, "the steps limit", 1, MAX_STEPS)
        whole_number(self.max_images, "the images limit", 1, MAX_IMAGES)
        number(self.max_guidance, "the guidance limit", 0, MAX_GUIDANCE)


PIPELINE_LIMITS = Limits()


@dataclass(frozen=True)
class GenerationSettings:
    """One checked request. Whole numbers given as floats (2.0, from a web form) become ints.

    prompt: a text, several texts (one batch), or None when the caller passes prompt embeddings instead.
    negative_prompt: None or "" for none; one text for all prompts, or one per prompt.
    seed: None for fresh noise; otherwise image i uses seed + i.
    strength: None unless starting from a picture; then in (0, 1].
    """

    prompt: str | tuple[str, ...] | None
    negative_prompt: str | tuple[str, ...] | None = None
    num_inference_steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    num_images_per_prompt: int = 1
    seed: int | None = None
    scheduler: str = DEFAULT_SCHEDULER
    strength: float | None = None
    limits: Limits = field(default=PIPELINE_LIMITS, repr=False, compare=False)

    def __post_init__(self):
        limits = self.limits
        checked = {
            "prompt": prompt_texts(self.prompt, "prompt", required=True),
            "negative_prompt": prompt_texts(self.negative_prompt, "negative prompt", required=False),
            "num_inference_steps": whole_number(self.num_inference_steps, "steps", 1, limits.max_steps),
            "guidance_scale": number(self.guidance_scale, "guidance scale", 0, limits.max_guidance),
            "num_images_per_prompt": whole_number(self.num_images_per_prompt, "number of images", 1, limits.max_images),
            "scheduler": check_scheduler(self.scheduler),
            "strength": None if self.strength is None else check_strength(self.strength),
        }
        checked["seed"] = None if self.seed is None else check_seed(self.seed, checked["num_images_per_prompt"])
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: set once, here
        if isinstance(self.prompt, tuple) and isinstance(self.negative_prompt, tuple):
            self.negative_prompts(len(self.prompt))  # the counts must match

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt or ())

    def negative_prompts(self, count: int) -> list[str]:
        """One negative prompt per prompt; "" (the unconditional prompt) where none was given."""
        if self.negative_prompt is None:
            return [""] * count
        if isinstance(self.negative_prompt, str):
            return [self.negative_prompt] * count
        if (given := len(self.negative_prompt)) != count:
            raise UserError(f"got {given} negative prompts for {count} prompts; give one per prompt")
        return list(self.negative_prompt)

    def pipeline_kwargs(self) -> dict:
        """The settings as `TextToImagePipeline.__call__` takes them (the same names; lists for its texts)."""
        kwargs = {name: getattr(self, name) for name in SETTING_NAMES}
        kwargs["prompt"] = self.prompt if isinstance(self.prompt, str) or self.prompt is None else list(self.prompt)
        kwargs["negative_prompt"] = self.negative_prompt or None
        if isinstance(kwargs["negative_prompt"], tuple):
            kwargs["negative_prompt"] = list(kwargs["negative_prompt"])
        if self.strength is None:
            del kwargs["strength"]
        return kwargs


# The settings' names: diffusers' own, as the pipeline, PNGs, manifests and the page's history write them.
SETTING_NAMES = tuple(name for name in GenerationSettings.__dataclass_fields__ if name != "limits")
# What older PNGs and manifests called three of them (the sampling CLI wrote "steps" and "guidance").
OLD_NAMES = {"steps": "num_inference_steps", "guidance": "guidance_scale", "num_images": "num_images_per_prompt"}


def with_current_names(stored: dict) -> dict:
    """Stored settings under today's names; where a file has both, today's name wins."""
    renamed = {OLD_NAMES[name]: value for name, value in stored.items() if name in OLD_NAMES}
    return renamed | {name: value for name, value in stored.items() if name not in OLD_NAMES}


def random_seed(images: int = 1) -> int:
    """A fresh seed that leaves room for seed + i of every image."""
    return random.SystemRandom().randrange(MAX_SEED - images + 2)
