"""Prompt -> images: the denoising loop, classifier-free guidance, save and load.

This is the only file that knows the sampling loop. A saved pipeline is a diffusers-style folder:

    model_index.json        which classes make up the pipeline
    unet/                   config.json + diffusion_pytorch_model.safetensors
    scheduler/              scheduler_config.json (the training noise schedule)
    text_encoder.json       which frozen text encoder, and its sha256
    caption_index.safetensors  some training captions with their embeddings (nearest_caption.py)
    training_record.json    config, data, steps, wall time, metrics of the run that made it
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import DDPMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from safetensors import SafetensorError
from safetensors.torch import load_file

from .attention import AttentionStore
from .data import to_uint8
from .device import inference_autocast, pick_device
from .errors import UserError
from .model import prepare_unet
from .nearest_caption import CaptionIndex
from .schedulers import DEFAULT_SCHEDULER, make_scheduler
from .student import folds_guidance, guidance_embedding, read_generation_defaults, write_generation_defaults
from .text import ENCODER_NAME, ENCODER_PACKAGE, ENCODER_SHA256, PromptEmbeddings, shared_text_encoder

MAX_STEPS = 1000
MAX_IMAGES = 64
MAX_GUIDANCE = 30.0
DEFAULT_GUIDANCE = 3.0
UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass
class TextToImageOutput(BaseOutput):
    images: list[PIL.Image.Image]
    seeds: list[int] | None = None
    # Cross-attention per prompt token, averaged over heads, layers and steps: (N, L, H, W); with tokens.
    attention_maps: torch.Tensor | None = None
    tokens: list[str] = field(default_factory=list)


def validate_settings(num_inference_steps, guidance_scale, num_images_per_prompt, strength=None) -> None:
    """Raise one UserError that names the setting and its allowed range."""

    def is_number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if not isinstance(num_inference_steps, int) or not 1 <= num_inference_steps <= MAX_STEPS:
        raise UserError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {num_inference_steps!r}")
    if not is_number(guidance_scale) or not 0 <= guidance_scale <= MAX_GUIDANCE:
        raise UserError(f"guidance scale must be a number from 0 to {MAX_GUIDANCE:g}, got {guidance_scale!r}")
    if not isinstance(num_images_per_prompt, int) or not 1 <= num_images_per_prompt <= MAX_IMAGES:
        raise UserError(f"number of images must be from 1 to {MAX_IMAGES}, got {num_images_per_prompt!r}")
    if strength is not None and (not is_number(strength) or not 0 < strength <= 1):
        raise UserError(f"strength must be a number above 0 and at most 1, got {strength!r}")


def predict_clean_image(x_t, model_output, alpha_bar, prediction_type: str):
    """The model's current guess of the final image x0, from the noisy x_t (variance-preserving form)."""
    alpha, sigma = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    if prediction_type == "v_prediction":
        return alpha * x_t - sigma * model_output
    if prediction_type == "epsilon":
        return (x_t - sigma * model_output) / alpha
    return model_output  # "sample"


class TextToImagePipeline(DiffusionPipeline):
    """Text-to-image with a small UNet and a frozen MiniLM text encoder.

    >>> pipe = TextToImagePipeline.from_pretrained("checkpoints/fashion-mnist")
    >>> pipe("a sneaker", num_images_per_prompt=4, seed=0).images
    """

    def __init__(self, unet: UNet2DConditionModel, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.training_record: dict = {}
        self.caption_index = None  # a nearest_caption.CaptionIndex of its training captions, when known
        # Steps, guidance and sampler for a caller who names none (a distilled student stores its own).
        self.generation_defaults: dict = {}

    # ----- text -----------------------------------------------------------------------------------
    @property
    def text_encoder(self):
        return shared_text_encoder("cpu")  # tiny; CPU keeps it out of GPU memory and shared

    def encode_prompt(self, prompts: list[str], what: str = "prompt") -> PromptEmbeddings:
        for prompt in prompts:
            self.text_encoder.check_prompt(prompt, what)
        return self.text_encoder.encode(prompts)

    # ----- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        scheduler: str | None = None,
        callback_on_step_end=None,
        prompt_embeds: PromptEmbeddings | None = None,
        image: PIL.Image.Image | torch.Tensor | None = None,
        strength: float = 0.7,
        output_type: str = "pil",
        return_attention: bool = False,
        return_dict: bool = True,
    ):
        """Generate images.

        prompt / prompt_embeds: what to draw (text, or embeddings, e.g. a blend of two prompts).
        negative_prompt: what to steer away from; replaces the empty prompt in guidance.
        guidance_scale: 1 = plain conditional model; higher follows the text more closely, less varied.
        seed: image i uses seed + i, so any single image can be regenerated on its own.
        scheduler: "ddpm", "ddim", "dpm++", "euler" or "unipc".
        image, strength: start from this picture noised to `strength` (0..1] instead of pure noise.
        callback_on_step_end(pipe, step, timestep, kwargs): kwargs holds "latents" (what the sampler
          carries), "x_t" (the noisy image) and "x0" (the predicted clean image); may return
          {"latents": ...} to replace them.
        Steps, guidance and scheduler left as None take the folder's `generation_defaults`, else 20, 3
        and "dpm++".
        """
        defaults = {"num_inference_steps": 20, "guidance_scale": DEFAULT_GUIDANCE,
                    "scheduler": DEFAULT_SCHEDULER, **self.generation_defaults}  # fmt: skip
        num_inference_steps = defaults["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        guidance_scale = defaults["guidance_scale"] if guidance_scale is None else guidance_scale
        scheduler = defaults["scheduler"] if scheduler is None else scheduler
        validate_settings(
            num_inference_steps,
            guidance_scale,
            num_images_per_prompt,
            strength if image is not None else None,
        )
        if prompt_embeds is None:
            prompts = self._prompt_list(prompt)
            prompt_embeds = self.encode_prompt(prompts)
        prompts_count = len(prompt_embeds)
        total = prompts_count * num_images_per_prompt
        cond = prompt_embeds.repeat_interleave(num_images_per_prompt)
        folded = folds_guidance(self.unet)  # a distilled student: the scale is an input, one call per step
        if folded and negative_prompt:
            raise UserError("this fast pipeline has guidance built in and takes no negative prompt; "
                            "leave it empty or use the full model")  # fmt: skip
        do_guidance = guidance_scale != 1.0 and not folded
        if do_guidance:
            negatives = self._negative_list(negative_prompt, prompts_count)
            uncond = self.encode_prompt(negatives, "negative prompt").repeat_interleave(num_images_per_prompt)
            cond = PromptEmbeddings.cat([uncond, cond])

        device = self.unet.device
        seeds, generator = self._generators(seed, generator, total)
        sampler = make_scheduler(scheduler, self.scheduler.config)
        sampler.set_timesteps(num_inference_steps, device=device)
        timesteps = sampler.timesteps
        shape = (
            total,
            self.unet.config.in_channels,
            self.unet.config.sample_size,
            self.unet.config.sample_size,
        )
        noise = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32).to(device)
        if image is None:
            latents = noise * sampler.init_noise_sigma
        else:
            start = num_inference_steps - max(1, round(num_inference_steps * strength))
            timesteps = timesteps[start * sampler.order :]
            if hasattr(sampler, "set_begin_index"):
                sampler.set_begin_index(start * sampler.order)
            init = self._image_to_tensor(image).to(device).expand(shape)
            latents = sampler.add_noise(init, noise, timesteps[:1].repeat(total))

        store = AttentionStore(shape[-1]) if return_attention else None
        cond = cond.to(device, self.unet.dtype)
        alphas_cumprod = sampler.alphas_cumprod.to(device)
        prediction_type = self.scheduler.config.prediction_type
        # Stochastic samplers (ddpm) draw fresh noise each step; from the same seeded generators.
        step_kwargs = {"generator": generator} if "generator" in inspect.signature(sampler.step).parameters else {}
        scale_input = None
        if folded:
            scales = torch.full((total,), float(guidance_scale))
            scale_input = guidance_embedding(scales, self.unet.config.time_cond_proj_dim).to(device, self.unet.dtype)
        x0 = latents
        for step, t in enumerate(self.progress_bar(timesteps)):
            x_t = sampler.scale_model_input(latents, t)  # the variance-preserving noisy image
            model_input = torch.cat([x_t, x_t]) if do_guidance else x_t
            with inference_autocast(device):
                output = self.unet(
                    model_input, t, encoder_hidden_states=cond.tokens, encoder_attention_mask=cond.mask,
                    class_labels=cond.pooled, timestep_cond=scale_input,
                    cross_attention_kwargs={"attention_store": store} if store else None,
                ).sample.float()  # fmt: skip
            if do_guidance:
                uncond_out, cond_out = output.chunk(2)
                output = uncond_out + guidance_scale * (cond_out - uncond_out)
            x0 = predict_clean_image(x_t, output, alphas_cumprod[int(round(float(t)))], prediction_type)
            latents = sampler.step(output, t, latents, **step_kwargs).prev_sample
            if callback_on_step_end is not None:
                shown = (
                    sampler.scale_model_input(latents, timesteps[step + 1]) if step + 1 < len(timesteps) else latents
                )
                changed = callback_on_step_end(self, step, t, {"latents": latents, "x_t": shown, "x0": x0})
                latents = (changed or {}).get("latents", latents)

        images = latents.clamp(-1, 1)
        result = images if output_type == "pt" else self.to_pil(images)
        attention = None
        if store is not None and store.total is not None:
            attention = store.mean()
            if do_guidance:
                attention = attention.chunk(2)[1]  # the prompt's half, not the negative's
        tokens = self.text_encoder.tokens(prompt) if isinstance(prompt, str) else []
        if not return_dict:
            return (result,)
        return TextToImageOutput(images=result, seeds=seeds, attention_maps=attention, tokens=tokens)

    @staticmethod
    def to_pil(images: torch.Tensor) -> list[PIL.Image.Image]:
        pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
        return [PIL.Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]

    def _image_to_tensor(self, image) -> torch.Tensor:
        size, channels = self.unet.config.sample_size, self.unet.config.in_channels
        if isinstance(image, torch.Tensor):
            tensor = image.float()
            return tensor.unsqueeze(0) if tensor.ndim == 3 else tensor
        if isinstance(image, np.ndarray):
            image = PIL.Image.fromarray(image)
        if not isinstance(image, PIL.Image.Image):
            raise UserError(f"image must be a PIL image, an array or a tensor, got {type(image).__name__}")
        image = image.convert("L" if channels == 1 else "RGB").resize((size, size), PIL.Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1
        tensor = torch.from_numpy(array)
        return tensor[None, None] if channels == 1 else tensor.permute(2, 0, 1)[None]

    @staticmethod
    def _prompt_list(prompt) -> list[str]:
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not prompts or not isinstance(prompts, list):
            raise UserError("give a prompt: a short text such as 'a sneaker'")
        for p in prompts:
            if not isinstance(p, str):
                raise UserError(f"prompt must be text, got {type(p).__name__}")
            if not p.strip():
                raise UserError("the prompt is empty; type what to draw, e.g. 'a sneaker'")
        return prompts

    @staticmethod
    def _negative_list(negative_prompt, count: int) -> list[str]:
        if negative_prompt is None:
            return [""] * count
        negatives = [negative_prompt] * count if isinstance(negative_prompt, str) else list(negative_prompt)
        if len(negatives) != count:
            raise UserError(f"got {len(negatives)} negative prompts for {count} prompts; give one per prompt")
        return negatives

    @staticmethod
    def _generators(seed, generator, total):
        if seed is not None:
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63 - total:
                raise UserError(f"seed must be a whole number from 0 to 2**63, got {seed!r}")
            seeds = [seed + i for i in range(total)]
            return seeds, [torch.Generator("cpu").manual_seed(s) for s in seeds]
        if isinstance(generator, list) and len(generator) != total:
            raise UserError(f"got {len(generator)} generators for {total} images; give one per image")
        return None, generator

    # ----- save and load --------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write the pipeline folder atomically: into a temporary folder, then renamed into place,
        so an interrupted save never leaves a half-written pipeline where a good one was."""
        target = Path(save_directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            super().save_pretrained(staging, safe_serialization=True)
            encoder = {"name": ENCODER_NAME, "package": ENCODER_PACKAGE, "sha256": ENCODER_SHA256}
            (staging / "text_encoder.json").write_text(json.dumps(encoder, indent=2) + "\n")
            (staging / "training_record.json").write_text(json.dumps(self.training_record, indent=2) + "\n")
            if self.caption_index is not None:
                self.caption_index.save(staging)
            write_generation_defaults(staging, self.generation_defaults)
            replace_folder(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | None = None, **kwargs) -> TextToImagePipeline:
        """Load a saved pipeline, or the newest one inside a training run folder. Safetensors only."""
        folder = resolve_pipeline_folder(Path(path))
        unet_folder = folder / "unet"
        try:
            unet_config = json.loads((unet_folder / "config.json").read_text())
            scheduler = DDPMScheduler.from_config(
                json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
            )
            encoder = json.loads((folder / "text_encoder.json").read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{folder} is not a complete pipeline ({error}); export it again") from None
        if encoder.get("sha256") != ENCODER_SHA256:
            raise UserError(f"{folder} was trained with text encoder {encoder.get('name')} (sha256 "
                            f"{encoder.get('sha256')}), not the installed {ENCODER_NAME}; retrain it")  # fmt: skip
        try:
            state = load_file(unet_folder / UNET_WEIGHTS)
        except (OSError, SafetensorError) as error:
            raise UserError(f"{unet_folder / UNET_WEIGHTS} is corrupt or truncated ({error}); "
                            "re-export or re-download the pipeline") from None  # fmt: skip
        unet = UNet2DConditionModel.from_config(unet_config)
        missing, unexpected = unet.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UserError(f"{unet_folder} does not match its config ({len(missing)} missing, "
                            f"{len(unexpected)} unexpected weights); re-export the pipeline")  # fmt: skip
        pipe = cls(unet=prepare_unet(unet.float().eval()), scheduler=scheduler)
        record = folder / "training_record.json"
        pipe.training_record = json.loads(record.read_text()) if record.is_file() else {}
        pipe.generation_defaults = read_generation_defaults(folder)
        if (dataset := pipeline_dataset(pipe)) is not None:
            pipe.caption_index = CaptionIndex.load(folder, dataset)
        pipe.to(pick_device(device))
        pipe.set_progress_bar_config(disable=True)
        return pipe


def pipeline_dataset(pipe) -> str | None:
    """The dataset named in the pipeline's training record, if it has one: it says which captions, and
    so which words, the model was trained on."""
    record = getattr(pipe, "training_record", None) or {}
    for data in (record.get("data"), (record.get("config") or {}).get("data")):
        if isinstance(data, dict) and isinstance(data.get("dataset"), str):
            return data["dataset"]
    return None


def resolve_pipeline_folder(path: Path) -> Path:
    """A pipeline folder itself; a run folder's final `pipeline/`; or its newest checkpoint's."""
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist; train one with `python -m diffusion.train` or "
                        "pass --checkpoint with a pipeline or run folder")  # fmt: skip
    if (path / "model_index.json").is_file():
        return path
    if (path / "pipeline" / "model_index.json").is_file():
        return path / "pipeline"
    checkpoints = sorted((path / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    for checkpoint in reversed(checkpoints):
        if (checkpoint / "pipeline" / "model_index.json").is_file():
            return checkpoint / "pipeline"
    raise UserError(f"{path} is not a pipeline (no model_index.json) nor a training run folder with one; "
                    "pass a folder written by `python -m diffusion.train`")  # fmt: skip


def replace_folder(source: Path, target: Path) -> None:
    """Move `source` to `target`, replacing an existing `target` with as short a gap as a rename allows."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
