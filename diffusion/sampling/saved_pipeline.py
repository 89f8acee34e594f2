"""Reading a saved pipeline folder, checking every file before anything is built from it.

A folder someone hands you may be truncated, damaged, from another program or another version: each
problem becomes one UserError that names the file (and the key) and says what to do. Weights are read
with safetensors only; nothing is unpickled.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from diffusers import DDPMScheduler, UNet2DConditionModel
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..common.errors import UserError
from ..model.text import ENCODER_NAME, ENCODER_SHA256
from ..prompts.nearest_caption import CaptionIndex, grammar_index

UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"
COMPONENTS = {"unet": UNet2DConditionModel, "scheduler": DDPMScheduler}
REEXPORT = "export the pipeline again"


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; the pipeline folder is incomplete, {REEXPORT}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not readable JSON ({error}); {REEXPORT}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} must hold a JSON object, got {type(value).__name__}; {REEXPORT}")
    return value


def check_model_index(folder: Path) -> None:
    """model_index.json must name exactly this pipeline's parts, with their diffusers classes."""
    index = read_json(folder / "model_index.json")
    parts = {key: value for key, value in index.items() if not key.startswith("_")}
    for key, value in parts.items():
        expected = COMPONENTS.get(key)
        if expected is None:
            raise UserError(f"{folder / 'model_index.json'} has unknown part '{key}'; known: {', '.join(COMPONENTS)}")
        if value != ["diffusers", expected.__name__]:
            raise UserError(f"{folder / 'model_index.json'}: '{key}' must be {expected.__name__}, got {value!r}")
    if missing := sorted(set(COMPONENTS) - set(parts)):
        raise UserError(f"{folder / 'model_index.json'} lacks '{missing[0]}'; {REEXPORT}")


def checked_config(path: Path, cls) -> dict:
    """A component's config; a key its class does not take is an error that names it (diffusers itself
    would only warn, and a misspelt key would silently fall back to the default)."""
    config = read_json(path)
    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    for key in config:
        if not key.startswith("_") and key not in known:
            raise UserError(f"{path} has unknown key '{key}' for {cls.__name__}; remove it or {REEXPORT}")
    return config


def build(cls, config: dict, path: Path):
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise UserError(f"{path} does not describe a valid {cls.__name__} ({error}); {REEXPORT}") from None


def load_scheduler(folder: Path) -> DDPMScheduler:
    path = folder / "scheduler" / "scheduler_config.json"
    return build(DDPMScheduler, checked_config(path, DDPMScheduler), path)


def load_unet(folder: Path) -> UNet2DConditionModel:
    config_path = folder / "unet" / "config.json"
    unet = build(UNet2DConditionModel, checked_config(config_path, UNet2DConditionModel), config_path)
    weights = folder / "unet" / UNET_WEIGHTS
    try:
        state = load_file(weights)
    except FileNotFoundError:
        raise UserError(f"{weights} is missing; {REEXPORT}") from None
    except (OSError, SafetensorError) as error:
        raise UserError(f"{weights} is corrupt or truncated ({error}); re-export or re-download the pipeline") from None
    try:
        missing, unexpected = unet.load_state_dict(state, strict=False)
    except RuntimeError:  # a tensor of the wrong shape
        missing, unexpected = ["(shapes differ)"], []
    if missing or unexpected:
        raise UserError(
            f"{weights} does not match {config_path} ({len(missing)} missing, {len(unexpected)} unexpected "
            f"weights); {REEXPORT}"
        )
    return unet


def check_text_encoder(folder: Path) -> None:
    encoder = read_json(folder / "text_encoder.json")
    if encoder.get("sha256") != ENCODER_SHA256:
        raise UserError(
            f"{folder} was trained with text encoder {encoder.get('name')} (sha256 {encoder.get('sha256')}), "
            f"not the installed {ENCODER_NAME}; retrain it"
        )


def read_training_record(folder: Path) -> dict:
    path = folder / "training_record.json"
    return read_json(path) if path.is_file() else {}


def pipeline_dataset(pipe) -> str | None:
    """The dataset named in the pipeline's training record, if it has one: it says which captions, and
    so which words, the model was trained on."""
    record = getattr(pipe, "training_record", None) or {}
    for data in (record.get("data"), (record.get("config") or {}).get("data")):
        if isinstance(data, dict) and isinstance(data.get("dataset"), str):
            return data["dataset"]
    return None


def caption_index_of(pipe) -> CaptionIndex | None:
    """The pipeline's own index; else one from its dataset's grammar; None when its dataset is unknown."""
    if getattr(pipe, "caption_index", None) is not None:
        return pipe.caption_index
    dataset = pipeline_dataset(pipe)
    return grammar_index(dataset) if dataset is not None else None
