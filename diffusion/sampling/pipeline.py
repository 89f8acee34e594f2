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
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import DDPMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from ..common.defaults import DEFAULT_STRENGTH, sampling_defaults
from ..common.errors import UserError
from ..common.folders import resolve_pipeline_folder, staged_folder
from ..data.datasets import to_model_range, to_uint8
from ..model.attention import AttentionStore
from ..model.device import inference_autocast, pick_device
from ..model.student import folds_guidance, guidance_embedding, read_generation_defaults, write_generation_defaults
from ..model.text import ENCODER_NAME, ENCODER_PACKAGE, ENCODER_SHA256, PromptEmbeddings, shared_text_encoder
from ..model.unet import prepare_unet
from ..prompts.grounding import reading
from ..prompts.nearest_caption import CaptionIndex
from .saved_pipeline import (
    check_model_index,
    check_text_encoder,
    load_scheduler,
    load_unet,
    pipeline_dataset,
    read_training_record,
)
from .schedulers import make_scheduler
from .settings import GenerationSettings, check_guidance_interval


@dataclass
class TextToImageOutput(BaseOutput):
    images: list[PIL.Image.Image]
    seeds: list[int] | None = None
    # Cross-attention per prompt token, averaged over heads, layers and steps: (N, L, H, W); with tokens.
    attention_maps: torch.Tensor | None = None
    tokens: list[str] = field(default_factory=list)


def guided_at(sampler, t, interval: tuple[float, float]) -> bool:
    """Whether the noise level σ = √((1 − ᾱ)/ᾱ) of timestep t, the step about to be taken, lies in the
    guidance interval (low, high]. Every sampler we ship steps on the training timesteps, so ᾱ is the
    training table's."""
    alpha_bar = sampler.alphas_cumprod[round(float(t))].item()
    low, high = interval
    return low < ((1 - alpha_bar) / alpha_bar) ** 0.5 <= high


def alpha_bar_of_step(sampler, t) -> torch.Tensor:
    """The signal level ᾱ of the step the sampler has just taken: from its own σ where it keeps one (its
    Karras σ fall between the training timesteps, and at high noise ᾱ changes fast), else from the
    training table at timestep t."""
    sigmas, index = getattr(sampler, "sigmas", None), getattr(sampler, "step_index", None)
    if sigmas is not None and index is not None:
        return 1 / (1 + sigmas[index - 1].double() ** 2)
    return sampler.alphas_cumprod[round(float(t))]


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
        # Explain garment words the model never saw from the WordNet lexicon (grounding.py); False reads
        # prompts exactly as typed, to measure what the explanation adds.
        self.ground_words = True

    # ----- text -----------------------------------------------------------------------------------
    @property
    def text_encoder(self):
        return shared_text_encoder("cpu")  # tiny; CPU keeps it out of GPU memory and shared

    def encode_prompt(self, prompts: list[str], what: str = "prompt") -> PromptEmbeddings:
        for prompt in prompts:
            self.text_encoder.check_prompt(prompt, what)
        return self.text_encoder.encode(self.prompts_as_read(prompts))

    def prompts_as_read(self, prompts: list[str]) -> list[str]:
        """What the text encoder reads for each prompt: rare garment words explained (grounding.py) when
        `ground_words` is on and the pipeline's data set has a lexicon; otherwise the prompts as typed."""
        dataset = pipeline_dataset(self) if self.ground_words else None
        if dataset is None:
            return list(prompts)
        return [reading(prompt, dataset, self.text_encoder).prompt for prompt in prompts]

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
        strength: float = DEFAULT_STRENGTH,
        output_type: str = "pil",
        return_attention: bool = False,
        return_dict: bool = True,
        guidance_interval: tuple[float, float] | None = None,
    ):
        """Generate images.

        prompt / prompt_embeds: what to draw (text, or embeddings, e.g. a blend of two prompts).
        negative_prompt: what to steer away from; replaces the empty prompt in guidance.
        guidance_scale: 1 = plain conditional model; higher follows the text more closely, less varied.
        seed: image i uses seed + i, so any single image can be regenerated on its own.
        scheduler: "ddpm", "ddim", "dpm++", "euler" or "unipc".
        image, strength: start from this picture noised to `strength` (0..1] instead of pure noise.
        guidance_interval: (low, high): guide only at noise levels σ in (low, high]; None: the default; (0, inf): all.
        callback_on_step_end(pipe, step, timestep, kwargs): kwargs holds "latents" (what the sampler
          carries), "x_t" (the noisy image) and "x0" (the predicted clean image); may return
          {"latents": ...} to replace them.
        Every setting is checked by `GenerationSettings` (settings.py) before any work. Steps, guidance
        and scheduler left as None take the folder's `generation_defaults`, else settings.py's defaults.
        """
        settings = GenerationSettings(
            prompt=prompt if prompt_embeds is None else None,
            negative_prompt=negative_prompt,
            num_images_per_prompt=num_images_per_prompt,
            seed=seed,
            strength=strength if image is not None else None,
            **self._named_or_default(num_inference_steps, guidance_scale, scheduler),
        )
        interval = check_guidance_interval(guidance_interval)
        folded = folds_guidance(self.unet)  # a distilled student: the scale is an input, one call per step
        if folded and settings.negative_prompt:
            raise UserError(
                "this fast pipeline has guidance built in and takes no negative prompt; "
                "leave it empty or use the full model"
            )
        if prompt_embeds is None:
            if settings.prompt is None:
                raise UserError("give a prompt: a short text such as 'a sneaker'")
            prompt_embeds = self.encode_prompt(settings.prompts)
        cond = prompt_embeds.repeat_interleave(settings.num_images_per_prompt)
        do_guidance = settings.guidance_scale != 1.0 and not folded
        if do_guidance:
            negatives = self.encode_prompt(settings.negative_prompts(len(prompt_embeds)), "negative prompt")
            cond = PromptEmbeddings.cat([negatives.repeat_interleave(settings.num_images_per_prompt), cond])
        total = len(prompt_embeds) * settings.num_images_per_prompt
        seeds, generator = self._generators(settings.seed, generator, total)

        device = self.unet.device
        sampler = make_scheduler(settings.scheduler, self.scheduler.config)
        latents, timesteps = self._initial_latents(sampler, settings, total, generator, image)
        store = AttentionStore(latents.shape[-1]) if return_attention else None
        cond = cond.to(device, self.unet.dtype)
        scale_input = self._scale_input(settings.guidance_scale, total) if folded else None
        guidance = (settings.guidance_scale, interval) if do_guidance else None
        latents = self._denoise(
            sampler, latents, timesteps, cond, guidance, store, scale_input, generator, callback_on_step_end
        )

        images = latents.clamp(-1, 1)
        result = images if output_type == "pt" else self.to_pil(images)
        attention = self._prompt_attention(store, do_guidance)
        read = self.prompts_as_read([settings.prompt])[0] if isinstance(settings.prompt, str) else None
        tokens = self.text_encoder.tokens(read) if read is not None else []  # the tokens the maps belong to
        if not return_dict:
            return (result,)
        return TextToImageOutput(images=result, seeds=seeds, attention_maps=attention, tokens=tokens)

    @staticmethod
    def _prompt_attention(store: AttentionStore | None, guided: bool) -> torch.Tensor | None:
        """The averaged cross-attention maps of the prompt's half of the batch (not the negative's)."""
        if store is None or store.total is None:
            return None
        attention = store.mean()
        return attention.chunk(2)[1] if guided else attention

    def _named_or_default(self, num_inference_steps, guidance_scale, scheduler) -> dict:
        """What the caller named, else the folder's `generation_defaults`, else settings.py's defaults."""
        stored = sampling_defaults(self.generation_defaults)
        named = {
            "num_inference_steps": (num_inference_steps, stored["num_inference_steps"]),
            "guidance_scale": (guidance_scale, stored["guidance_scale"]),
            "scheduler": (scheduler, stored["scheduler"]),
        }
        return {key: default if value is None else value for key, (value, default) in named.items()}

    def _initial_latents(self, sampler, settings: GenerationSettings, total: int, generator, image):
        """Pure noise at the first timestep; or, from a picture, the picture noised to `strength`
        with the first steps skipped (SDEdit)."""
        device = self.unet.device
        sampler.set_timesteps(settings.num_inference_steps, device=device)
        timesteps = sampler.timesteps
        size = self.unet.config.sample_size
        shape = (total, self.unet.config.in_channels, size, size)
        # Noise is drawn on the CPU so a seed gives the same images on every device.
        noise = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32).to(device)
        if image is None:
            return noise * sampler.init_noise_sigma, timesteps
        start = settings.num_inference_steps - max(1, round(settings.num_inference_steps * settings.strength))
        timesteps = timesteps[start * sampler.order :]
        if hasattr(sampler, "set_begin_index"):
            sampler.set_begin_index(start * sampler.order)
        init = self._image_to_tensor(image).to(device).expand(shape)
        return sampler.add_noise(init, noise, timesteps[:1].repeat(total)), timesteps

    def _scale_input(self, guidance_scale: float, total: int) -> torch.Tensor:
        """A distilled student's guidance scale, embedded as the UNet's `timestep_cond`."""
        scales = torch.full((total,), guidance_scale)
        embedding = guidance_embedding(scales, self.unet.config.time_cond_proj_dim)
        return embedding.to(self.unet.device, self.unet.dtype)

    def _denoise(self, sampler, latents, timesteps, cond, guidance, store, scale_input, generator, callback):
        """The sampling loop: the UNet output (guided where `guidance`, (scale, (low, high)), says so), the
        clean-image guess for callbacks, one sampler step."""
        prediction_type = self.scheduler.config.prediction_type
        # Stochastic samplers (ddpm) draw fresh noise each step; from the same seeded generators.
        step_kwargs = {"generator": generator} if "generator" in inspect.signature(sampler.step).parameters else {}
        for step, t in enumerate(self.progress_bar(timesteps)):
            x_t = sampler.scale_model_input(latents, t)  # the variance-preserving noisy image
            if guidance is not None and guided_at(sampler, t, guidance[1]):
                output = self._guided_output(x_t, t, cond, guidance[0], store, timestep_cond=scale_input)
            else:  # the prompts alone (cond holds the negatives first in a guided run, whose maps skip this step)
                kept = store if guidance is None else None
                output = self._guided_output(x_t, t, cond[-len(latents) :], None, kept, timestep_cond=scale_input)
            latents = sampler.step(output, t, latents, **step_kwargs).prev_sample
            if callback is not None:
                alpha_bar = alpha_bar_of_step(sampler, t).to(latents.device, latents.dtype)
                x0 = predict_clean_image(x_t, output, alpha_bar, prediction_type)
                last = step + 1 == len(timesteps)
                shown = latents if last else sampler.scale_model_input(latents, timesteps[step + 1])
                changed = callback(self, step, t, {"latents": latents, "x_t": shown, "x0": x0})
                latents = (changed or {}).get("latents", latents)
        return latents

    def _guided_output(self, x_t, t, cond: PromptEmbeddings, guidance_scale: float | None, store, timestep_cond=None):
        """The UNet's output for x_t; with classifier-free guidance, both halves in one batch."""
        model_input = x_t if guidance_scale is None else torch.cat([x_t, x_t])
        with inference_autocast(x_t.device):
            output = self.unet(
                model_input,
                t,
                encoder_hidden_states=cond.tokens,
                encoder_attention_mask=cond.mask,
                class_labels=cond.pooled,
                cross_attention_kwargs={"attention_store": store} if store else None,
                timestep_cond=timestep_cond,
            ).sample.float()
        if guidance_scale is None:
            return output
        uncond, conditional = output.chunk(2)
        return uncond + guidance_scale * (conditional - uncond)

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
        tensor = to_model_range(torch.from_numpy(np.array(image)))
        return tensor[None, None] if channels == 1 else tensor.permute(2, 0, 1)[None]

    @staticmethod
    def _generators(seed, generator, total):
        """One generator per image: seeded with seed + i, or the caller's own."""
        if seed is not None:
            seeds = [seed + i for i in range(total)]
            return seeds, [torch.Generator("cpu").manual_seed(s) for s in seeds]
        if isinstance(generator, list) and len(generator) != total:
            raise UserError(f"got {len(generator)} generators for {total} images; give one per image")
        return None, generator

    # ----- save and load --------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write the pipeline folder atomically: into a temporary folder, then renamed into place,
        so an interrupted save never leaves a half-written pipeline where a good one was."""
        with staged_folder(Path(save_directory)) as staging:
            super().save_pretrained(staging, safe_serialization=True)
            encoder = {"name": ENCODER_NAME, "package": ENCODER_PACKAGE, "sha256": ENCODER_SHA256}
            (staging / "text_encoder.json").write_text(json.dumps(encoder, indent=2) + "\n")
            (staging / "training_record.json").write_text(json.dumps(self.training_record, indent=2) + "\n")
            if self.caption_index is not None:
                self.caption_index.save(staging)
            write_generation_defaults(staging, self.generation_defaults)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | None = None) -> TextToImagePipeline:
        """Load a saved pipeline, or the newest one inside a training run folder. Every file is checked
        first (saved_pipeline.py); weights are read with safetensors only."""
        folder = resolve_pipeline_folder(Path(path))
        check_model_index(folder)
        scheduler = load_scheduler(folder)
        check_text_encoder(folder)
        pipe = cls(unet=prepare_unet(load_unet(folder).float().eval()), scheduler=scheduler)
        pipe.training_record = read_training_record(folder)
        pipe.generation_defaults = read_generation_defaults(folder)
        if (dataset := pipeline_dataset(pipe)) is not None:
            pipe.caption_index = CaptionIndex.load(folder, dataset)
        pipe.to(pick_device(device))
        pipe.set_progress_bar_config(disable=True)
        return pipe
