"""The typed record of one evaluation: what `measure` fills, `report` reads and metrics.json stores."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .quality import Quality


@dataclass
class EncoderReading:
    """How the frozen text encoder alone reads a prompt: its nearest training caption."""

    caption: str
    class_name: str
    similarity: float


@dataclass
class PromptSetResult:
    """Prompt accuracy on one set of prompts, with the encoder-only ceiling beside it."""

    accuracy: float  # share of images the classifier assigns to the intended class
    per_class: dict[str, float]
    per_prompt: dict[str, float]
    most_often_drawn: dict[str, str]
    readings: dict[str, EncoderReading]
    encoder_accuracy: float  # share of prompts whose nearest training caption is of the intended class
    accuracy_where_encoder_right: float | None  # the model's accuracy on those prompts

    @property
    def prompts(self) -> int:
        return len(self.per_prompt)


@dataclass
class EvaluationSettings:
    images_per_prompt: int
    guidance_scale: float
    num_inference_steps: int
    scheduler: str
    seed: int
    device: str
    guidance_interval: tuple[float, float]  # the noise levels (low, high] that were guided


@dataclass
class FrechetResult:
    generated: float  # class-prompt images against the real test set
    real_train_floor: float  # as many real training images against the same test set
    images: int
    reference: str


@dataclass
class ToneResult:
    """Dark/light control: the same seed with "dark" and with "light", mean intensity in [0, 1]."""

    light_minus_dark: float
    right_sign_fraction: float
    real_light_minus_dark: float  # real lightest third minus darkest third, averaged over classes
    per_class: dict[str, float]
    real_per_class: dict[str, float]


@dataclass
class PairResult:
    """Control of one attribute pair (attribute_pairs.py): the same seed with the low and the high word."""

    low: str  # "thin"
    high: str  # "bold"
    measure: str  # what the numbers measure: "stroke thickness (pixels)"
    high_minus_low: float
    right_sign_fraction: float
    real_high_minus_low: float  # real highest third minus lowest third, averaged over classes
    per_class: dict[str, float]
    real_per_class: dict[str, float]


@dataclass
class DiversityResult:
    generated: float  # mean pairwise feature distance among one prompt's images
    real: float  # the same among as many real images of the class
    ratio: float
    per_class_ratio: dict[str, float]


@dataclass
class SweepPoint:
    guidance_scale: float
    accuracy: float
    frechet: float


@dataclass
class EvaluationResult:
    checkpoint: str | None
    dataset: str
    settings: EvaluationSettings
    classifier_test_accuracy: float
    classifier_test_per_class: dict[str, float]  # the judge's recall on real test images of each class
    class_prompts: PromptSetResult
    held_out: PromptSetResult
    free_form: PromptSetResult | None
    frechet: FrechetResult
    tone: ToneResult | None  # dark/light, for the datasets whose captions have tone words
    diversity: DiversityResult
    guidance_sweep: list[SweepPoint]
    seconds: float
    # Class and free-form prompts' images together against as many real test images of the asked-for
    # classes: Fréchet with its interval and floor, KID, precision and recall (quality.py).
    quality: Quality | None = None
    # The same images in the classifier's texture statistics (classifier.texture_features): fine detail
    # that fewer sampler steps lose and the class-minded features above barely see.
    texture_quality: Quality | None = None
    # The other attribute pairs the captions have words for (the digits' thin/bold and upright/slanted).
    attribute_pairs: list[PairResult] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return json_ready(dataclasses.asdict(self))


def json_ready(value):
    """JSON has no NaN (e.g. diversity of a single image): null instead of an invalid file."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
