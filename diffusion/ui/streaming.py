"""Running the pipeline for the web UI: input checks, step-by-step streaming, and the files it offers.

The UI code (app.py) turns what these functions give into page updates; nothing here imports Gradio.
Every request is checked here, in the server, whatever the page's sliders allow, because anyone can
call the API directly. A check that fails raises `UserError` with a message meant for the page.

`stream_pipeline` runs the pipeline in a worker thread and hands back one `StepFrame` per denoising
step as it happens, then the finished output. Closing the iterator (the Stop button, a closed tab)
stops the worker at its next step, so an abandoned run never keeps the CPU busy.
"""

from __future__ import annotations

import math
import queue
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .errors import UserError
from .imageio import denoising_frames, save_gif, save_png
from .pipeline import MAX_GUIDANCE, MAX_IMAGES, MAX_STEPS, TextToImageOutput
from .schedulers import SCHEDULERS
from .text import MAX_PROMPT_CHARS, PromptEmbeddings
from .ui_render import enlarge

MAX_SEED = 2**32 - 1
RANDOM_SEED = -1  # the seed box value that means "pick a new one"


@dataclass(frozen=True)
class Limits:
    """What one web request may ask for; tighter than the pipeline's own limits so one visitor cannot
    hold a shared CPU for minutes."""

    max_steps: int = 100
    max_images: int = 16
    max_frames: int = 9

    def __post_init__(self):
        if not 1 <= self.max_steps <= MAX_STEPS:
            raise UserError(f"--max-steps must be from 1 to {MAX_STEPS}, got {self.max_steps}")
        if not 1 <= self.max_images <= MAX_IMAGES:
            raise UserError(f"--max-images must be from 1 to {MAX_IMAGES}, got {self.max_images}")
        if not 2 <= self.max_frames <= MAX_IMAGES:
            raise UserError(f"--max-frames must be from 2 to {MAX_IMAGES}, got {self.max_frames}")


@dataclass
class Settings:
    """One checked request: everything needed to make (and later remake) its images."""

    prompt: str
    negative_prompt: str
    steps: int
    guidance_scale: float
    images: int
    seed: int
    scheduler: str
    strength: float | None = None
    extra: dict = field(default_factory=dict)

    def pipeline_kwargs(self) -> dict:
        kwargs = dict(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt or None,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            num_images_per_prompt=self.images,
            seed=self.seed,
            scheduler=self.scheduler,
        )
        if self.strength is not None:
            kwargs["strength"] = self.strength
        return kwargs

    def record(self, seed: int | None = None) -> dict:
        """The settings as stored in a PNG: one image's seed instead of the request's first seed."""
        record = {k: v for k, v in asdict(self).items() if k not in ("extra", "images") and v is not None}
        if seed is not None:
            record["seed"] = seed
        return {**record, **self.extra}


def whole_number(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    if value != int(value) or not low <= value <= high:
        raise UserError(f"{name} must be a whole number from {low} to {high}, got {value:g}")
    return int(value)


def number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    if not low <= value <= high:
        raise UserError(f"{name} must be a number from {low:g} to {high:g}, got {value:g}")
    return float(value)


def text(value, name: str, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UserError(f"{name} must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise UserError(f"the {name} is empty; type what to draw, e.g. 'a sneaker'")
    if len(value) > MAX_PROMPT_CHARS:
        raise UserError(f"the {name} is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}, shorten it")
    return value


def pick_seed(seed) -> int:
    """The seed box: a whole number from 0 to MAX_SEED, or -1 / empty for a fresh random one."""
    if seed is None or seed == RANDOM_SEED:
        return random_seed()
    return whole_number(seed, "seed", 0, MAX_SEED)


def random_seed() -> int:
    return random.SystemRandom().randrange(MAX_SEED + 1)


def check_settings(
    limits: Limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, strength=None
) -> Settings:
    """Check every field of a request against the limits; one UserError naming the first bad field."""
    if scheduler not in SCHEDULERS:
        raise UserError(f"unknown scheduler {scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
    return Settings(
        prompt=text(prompt, "prompt"),
        negative_prompt=text(negative_prompt, "negative prompt", required=False),
        steps=whole_number(steps, "steps", 1, limits.max_steps),
        guidance_scale=number(guidance_scale, "guidance scale", 0, MAX_GUIDANCE),
        images=whole_number(images, "number of images", 1, limits.max_images),
        seed=pick_seed(seed),
        scheduler=scheduler,
        strength=None if strength is None else check_strength(strength),
    )


def check_blend(limits: Limits, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler) -> Settings:
    """An interpolation request: `images` is the number of frames, `extra` holds the second prompt."""
    settings = check_settings(limits, prompt_a, "", steps, guidance_scale, 1, seed, scheduler)
    settings.images = whole_number(frames, "number of frames", 2, limits.max_frames)
    settings.extra = {"prompt_b": text(prompt_b, "second prompt")}
    return settings


def blend_weights(frames: int) -> list[float]:
    return [i / (frames - 1) for i in range(frames)]


def blend_kwargs(pipe, settings: Settings) -> dict:
    """Pipeline arguments for an interpolation: the two prompts' embeddings blended in even steps, every
    frame drawn from the same noise (one generator per frame, all seeded alike)."""
    first = pipe.encode_prompt([settings.prompt])
    second = pipe.encode_prompt([settings.extra["prompt_b"]], "second prompt")
    weights = blend_weights(settings.images)
    return dict(
        prompt_embeds=PromptEmbeddings.cat([first.lerp(second, w) for w in weights]),
        generator=[torch.Generator("cpu").manual_seed(settings.seed) for _ in weights],
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance_scale,
        scheduler=settings.scheduler,
    )


def check_strength(strength) -> float:
    value = number(strength, "strength", 0, 1)
    if value <= 0:
        raise UserError("strength must be above 0: at 0 the sketch would not be changed at all")
    return value


# ----- streaming ------------------------------------------------------------------------------------


@dataclass
class StepFrame:
    """What the sampler showed after one step."""

    step: int  # 0-based
    total: int
    timestep: int
    sigma: float  # noise level of x_t: sqrt(1 - alpha_bar)
    x_t: torch.Tensor  # (N, C, H, W) noisy images after this step
    x0: torch.Tensor  # (N, C, H, W) the model's guess of the clean images at this step

    def describe(self) -> str:
        return (
            f"Step {self.step + 1} of {self.total} · timestep {self.timestep} · "
            f"noise level σ = {self.sigma:.2f} (signal {math.sqrt(max(0.0, 1 - self.sigma**2)):.2f})"
        )


class Stopped(Exception):
    """Raised inside the pipeline's step callback to end a run early."""


class StopSignals:
    """The Stop buttons: one `threading.Event` per (session, tab) while a run is waiting or running.

    `arm` is called the moment Generate is clicked (before the request waits in the queue), `take` when
    the run starts, `release` when it ends; `stop` sets the event, so a run stops whether it is already
    sampling or still waiting for its turn. Keys hold the session, so nobody can stop another's run."""

    def __init__(self):
        self._events: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.setdefault(key, threading.Event())

    def take(self, key: tuple[str, str]) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def stop(self, key: tuple[str, str]) -> bool:
        with self._lock:
            event = self._events.get(key)
        if event is not None:
            event.set()
        return event is not None

    def release(self, key: tuple[str, str], event: threading.Event) -> None:
        with self._lock:
            if self._events.get(key) is event:
                del self._events[key]

    def discard(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.pop(key, None)

    def forget_session(self, session: str) -> None:
        with self._lock:
            for key in [key for key in self._events if key[0] == session]:
                del self._events[key]


def stream_pipeline(
    pipe, kwargs: dict, steps: int, stop: threading.Event | None = None
) -> Iterator[list[StepFrame] | TextToImageOutput]:
    """Run `pipe(**kwargs)` in a worker thread; yield lists of new StepFrames as they come, then the output.

    Frames that arrive while the consumer is busy are handed over together, so a slow page never makes
    the sampler wait. When `stop` is set, the worker ends at its next step and the iterator simply ends
    without an output. Closing the iterator (a closed tab) stops the worker too, and waits for it."""
    updates: queue.Queue = queue.Queue()
    stop = stop or threading.Event()
    closed = threading.Event()
    alphas_cumprod = pipe.scheduler.alphas_cumprod

    def on_step(_pipe, step, timestep, tensors):
        if stop.is_set() or closed.is_set():
            raise Stopped
        t = int(round(float(timestep)))
        sigma = float((1 - alphas_cumprod[min(max(t, 0), len(alphas_cumprod) - 1)]).sqrt())
        frame = StepFrame(step, steps, t, sigma, tensors["x_t"].detach().cpu(), tensors["x0"].detach().cpu())
        updates.put(frame)

    def work():
        try:
            updates.put(pipe(**kwargs, callback_on_step_end=on_step))
        except BaseException as error:  # handed to the consumer, which re-raises it there
            updates.put(error)

    worker = threading.Thread(target=work, name="ui-sampling", daemon=True)
    worker.start()
    try:
        while True:
            items = [updates.get()]
            while not updates.empty():
                items.append(updates.get_nowait())
            frames = [item for item in items if isinstance(item, StepFrame)]
            if frames and not stop.is_set():
                yield frames
            for item in items:
                if isinstance(item, Stopped):
                    return
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, TextToImageOutput):
                    yield item
                    return
    finally:
        closed.set()
        worker.join(timeout=30)


# ----- files --------------------------------------------------------------------------------------


class RunFolders:
    """Each run writes its files into a fresh folder of its own, so no two visitors ever share a file.

    Gradio copies returned files into its own cache, so a run's folder is deleted when the next run
    of the same server starts more than `keep` runs later."""

    def __init__(self, root: Path | None = None, keep: int = 64):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="tiny-diffusion-ui-"))
        self.keep = keep
        self._lock = threading.Lock()
        self._made: list[Path] = []

    def new(self) -> Path:
        with self._lock:
            folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            self._made.append(folder)
            while len(self._made) > self.keep:
                shutil.rmtree(self._made.pop(0), ignore_errors=True)
            return folder

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def slug(text: str, length: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:length].strip("-") or "image"


def save_results(
    folder: Path,
    images: list,
    settings: Settings,
    seeds: list[int] | None,
    frames: list[StepFrame],
    checkpoint: str,
) -> list[str]:
    """PNG per image (its settings inside) and a GIF of the whole denoising; returns the paths."""
    paths = []
    name = slug(settings.prompt)
    for index, image in enumerate(images):
        seed = seeds[index] if seeds else None
        path = folder / f"{name}-{index + 1:02d}-seed{seed}.png"
        save_png(image, path, {**settings.record(seed), "checkpoint": checkpoint, "index": index})
        paths.append(str(path))
    if frames:
        gif = folder / f"{name}-denoising.gif"
        x_t, x0 = [f.x_t for f in frames], [f.x0 for f in frames]
        save_gif(denoising_frames(x_t, x0, scale=4), gif, duration_ms=max(40, min(150, 2000 // len(frames))))
        paths.append(str(gif))
    return paths


def save_blend(folder: Path, images: list, settings: Settings, checkpoint: str) -> list[str]:
    """PNG per blend (its weight among the settings) and a GIF that goes A -> B -> A; returns the paths."""
    name = f"{slug(settings.prompt, 24)}-to-{slug(settings.extra['prompt_b'], 24)}"
    paths = []
    for index, (image, weight) in enumerate(zip(images, blend_weights(len(images)), strict=True)):
        path = folder / f"{name}-{index + 1:02d}.png"
        save_png(image, path, {**settings.record(), "blend": weight, "checkpoint": checkpoint})
        paths.append(str(path))
    strip = [enlarge(image, 4) for image in images]
    gif = folder / f"{name}.gif"
    save_gif(strip + strip[-2:0:-1], gif, duration_ms=300)
    return paths + [str(gif)]


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.start:.1f} s"
