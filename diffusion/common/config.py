"""Typed configuration loaded from `configs/*.yaml`.

Every field has a default, so a YAML file only names what it changes. Unknown keys and values of the
wrong type are errors that name the key, because a typo silently falling back to a default is the
most expensive kind of bug in a training run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .defaults import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from .errors import UserError


@dataclass
class DataConfig:
    dataset: str = "fashion_mnist"  # fashion_mnist | mnist | mnist_5k (offline digits) | cifar10
    data_dir: str | None = None  # looked at first; then the Debian package; then a download
    download: bool = True  # allow torchvision to download when no local copy exists
    caption_dropout: float = 0.1  # probability of the empty caption, for classifier-free guidance
    attribute_probability: float = 0.7  # how often a dark/light image gets a tone word in its caption
    # Captions drawn from the grammar per class (a third per tone) and encoded once, cached in the run
    # folder: the grammar can say hundreds of thousands of things, too many to encode them all.
    captions_per_class: int = 3000
    # The share of captions that say what kind of garment their noun is ("a parka, a kind of coat"): the
    # wording a grounded prompt uses for a word no caption says (prompts/grounding.py), so the model learns
    # to read it. 0 keeps the captions exactly as before.
    kind_phrases: float = 0.0
    # The share of captions that describe the garment without naming it ("something warm with a hood",
    # "casual footwear with laces"), so that descriptions without a garment noun steer the picture too.
    descriptions: float = 0.0
    # Text augmentation, so that words never seen in training still steer the image through MiniLM's
    # sentence embedding: sometimes hide the token embeddings (the model must then read the sentence
    # embedding alone), and jitter the sentence embedding (nearby meanings give nearby images).
    token_dropout: float = 0.0  # probability of replacing a caption's tokens by the empty caption's
    pooled_noise: float = 0.0  # std of Gaussian noise added to the sentence embedding (unit-size components)


@dataclass
class ModelConfig:
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = 1
    # diffusers' UNet2DConditionModel reads this as the number of heads (its name is kept for
    # compatibility), so each head has block_out_channels / attention_head_dim channels.
    attention_head_dim: int = 8
    # Which resolution levels get cross-attention to the text (True = yes), highest resolution first.
    cross_attention_levels: list[bool] = field(default_factory=lambda: [False, True, True])
    norm_num_groups: int = 8


@dataclass
class TrainConfig:
    output_dir: str = "runs/fashion-mnist"
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 20000
    max_minutes: float | None = None  # stop cleanly at this time budget and export
    # warmup_stable_decay (training/lr_schedule.py), or a diffusers schedule: constant_with_warmup, cosine, linear, ...
    lr_schedule: str = "cosine"
    lr_decay_share: float = 0.2  # warmup_stable_decay: the share of the run (of its time budget) spent falling
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    # auto | no | bf16 | fp16. auto: bf16 on GPUs and on CPUs with AMX, where it trains 1.7x faster; fp32
    # elsewhere, where bf16 is slower (benchmarks/training.py)
    mixed_precision: str = "auto"
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"  # epsilon | v_prediction
    snr_gamma: float | None = 5.0  # min-SNR loss weighting; None = plain MSE
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    sample_every: int = 1000
    log_every: int = 50
    seed: int = 0
    device: str | None = None  # None = pick automatically (cuda, mps, cpu)
    # Fine-tuning: start from a trained pipeline's weights (a folder of the same model shape) instead of a
    # fresh UNet; the optimizer, schedule and step count start anew. A --resume checkpoint comes first.
    init_from: str | None = None


@dataclass
class SampleConfig:
    prompts: list[str] = field(
        default_factory=lambda: ["a t-shirt", "a pair of trousers", "a sneaker", "a bag", "an ankle boot"]
    )
    # Progress grids are drawn the way a user draws by default (settings.py).
    num_inference_steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    scheduler: str = DEFAULT_SCHEDULER
    images_per_prompt: int = 8


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_type(value, annotation, key: str):
    """Return `value` converted to `annotation`, or raise a UserError naming `key`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, key)
            except UserError as error:
                errors.append(error)
        raise errors[0]
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{key}' must be a list, got {value!r}")
        (item_type,) = typing.get_args(annotation)
        return [_check_type(item, item_type, f"{key}[{i}]") for i, item in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML reads "2e-3" as a string; accept it as the number it plainly is
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, annotation) or (annotation is int and isinstance(value, bool)):
        raise UserError(f"config key '{key}' must be {annotation.__name__}, got {value!r}")
    return value


def _build(cls, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise UserError(f"config section '{prefix.rstrip('.')}' must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_type(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def config_from_dict(values: dict) -> Config:
    return _build(Config, values or {}, "")


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found; see configs/ for examples")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"config file {path} is not valid YAML: {error}") from None
    return config_from_dict(values)


def override(config: Config, dotted_key: str, value) -> None:
    """Set e.g. 'train.max_steps' from a CLI flag, with the same type checks as the YAML file."""
    section_name, name = dotted_key.split(".")
    section = getattr(config, section_name)
    hint = typing.get_type_hints(type(section))[name]
    setattr(section, name, _check_type(value, hint, dotted_key))
