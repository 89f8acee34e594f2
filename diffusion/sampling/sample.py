"""Generate images from text with a trained pipeline.

    python -m diffusion.sample --prompt "a pair of trousers"
    python -m diffusion.sample --prompt "a dark sneaker" --num-images 8 --steps 20 --guidance 3 \\
        --scheduler dpm++ --seed 0 --out outputs/ --gif

Writes into --out: one PNG per image (its settings in the PNG's text metadata), a grid, optionally a
GIF of the denoising (noisy x_t left, predicted clean x0 right), and manifest.json, which lists every
file with the settings that regenerate it. Files are named by prompt, seed and a hash of the settings,
so a new run never overwrites a different image.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
import time
from pathlib import Path

from ..common import cli
from ..common.defaults import (
    DEFAULT_GUIDANCE,
    DEFAULT_GUIDANCE_INTERVAL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    sampling_defaults,
)
from ..common.errors import UserError
from ..common.folders import SHIPPED_PIPELINE, staged_file, writable_folder, write_text_atomic
from ..prompts.prompt_notes import notes_for
from .imageio import denoising_frames, save_gif, save_png, tensor_grid
from .pipeline import TextToImagePipeline
from .saved_pipeline import caption_index_of
from .schedulers import SCHEDULERS
from .settings import MAX_IMAGES, MAX_STEPS, GenerationSettings, check_guidance_interval, random_seed

SCALE = 4  # grids and GIFs are drawn 4x (nearest neighbour): 28-pixel images are tiny on a screen
GRID_COLUMNS = 8
DEFAULT_IMAGES = 4


def default_checkpoint() -> Path:
    """The shipped model: beside the package (a source checkout), else ./checkpoints/fashion-mnist."""
    return SHIPPED_PIPELINE if SHIPPED_PIPELINE.exists() else Path("checkpoints") / SHIPPED_PIPELINE.name


def slug(text: str, length: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length] or "prompt"


def regenerate_command(settings: dict) -> str:
    parts = ["python -m diffusion.sample", f"--prompt {json.dumps(settings['prompt'])}"]
    if settings.get("negative_prompt"):
        parts.append(f"--negative-prompt {json.dumps(settings['negative_prompt'])}")
    parts += [
        f"--checkpoint {settings['checkpoint']}",
        f"--seed {settings['seed']}",
        "--num-images 1",
        f"--steps {settings['num_inference_steps']}",
        f"--guidance {settings['guidance_scale']}",
        f"--scheduler {settings['scheduler']}",
    ]
    if tuple(settings.get("guidance_interval", DEFAULT_GUIDANCE_INTERVAL)) != DEFAULT_GUIDANCE_INTERVAL:
        parts.append("--guidance-interval {:g} {:g}".format(*settings["guidance_interval"]))
    return " ".join(parts)


def settings_from(args: argparse.Namespace, stored: dict | None = None) -> GenerationSettings:
    """Every value checked before the model is loaded; a missing seed becomes a fresh one, printed in
    the manifest and the PNGs so the images can be made again. Steps, guidance and sampler not given
    come from `stored` (a pipeline's own defaults), else settings.py's defaults."""
    stored = sampling_defaults(stored)
    settings = GenerationSettings(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=stored["num_inference_steps"] if args.steps is None else args.steps,
        guidance_scale=stored["guidance_scale"] if args.guidance is None else args.guidance,
        num_images_per_prompt=args.num_images,
        seed=args.seed,
        scheduler=stored["scheduler"] if args.scheduler is None else args.scheduler,
    )
    if settings.seed is None:
        settings = dataclasses.replace(settings, seed=random_seed(settings.num_images_per_prompt))
    return settings


def generate(args: argparse.Namespace) -> list[Path]:
    settings = settings_from(args)
    interval = check_guidance_interval(args.guidance_interval)
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    pipe = TextToImagePipeline.from_pretrained(checkpoint, device=args.device)
    if pipe.generation_defaults:  # a distilled student: its few-step settings where the user gave none
        settings = dataclasses.replace(settings_from(args, pipe.generation_defaults), seed=settings.seed)
    out = writable_folder(Path(args.out), "--out")  # before the work, not after it
    pipe.set_progress_bar_config(disable=False, desc="denoising", leave=False)

    x_t_steps, x0_steps = [], []

    def record_step(pipe, step, timestep, tensors):
        x_t_steps.append(tensors["x_t"].cpu())
        x0_steps.append(tensors["x0"].cpu())

    started = time.time()
    result = pipe(
        **settings.pipeline_kwargs(),
        guidance_interval=interval,
        callback_on_step_end=record_step if args.gif else None,
        output_type="pt",
    )
    seconds = time.time() - started
    if (index := caption_index_of(pipe)) is not None:  # why an unfamiliar word gave what it gave
        for sentence in notes_for(index, args.prompt, pipe.ground_words).sentences:
            print(f"note: {sentence}", file=sys.stderr)

    frames = denoising_frames(x_t_steps, x0_steps, scale=SCALE) if args.gif else None
    return write_run(out, settings, interval, checkpoint, result, frames, seconds)


def write_run(
    out: Path, settings: GenerationSettings, interval: tuple[float, float], checkpoint: Path, result, frames, seconds
) -> list[Path]:
    """The PNGs, the grid, the GIF, then the manifest entry; each file under its name only once complete.
    If one cannot be written (a full disk), the files of this run are removed again and nothing is kept."""
    common = {
        "prompt": settings.prompt,
        "negative_prompt": settings.negative_prompt,
        "num_inference_steps": settings.num_inference_steps,
        "guidance_scale": settings.guidance_scale,
        "scheduler": settings.scheduler,
        "guidance_interval": list(interval),
        "checkpoint": str(checkpoint),
    }
    tag = hashlib.sha256(json.dumps(common, sort_keys=True).encode()).hexdigest()[:6]
    base = f"{slug(settings.prompt)}_{tag}"
    entries, written = [], []
    try:
        for image, image_seed in zip(TextToImagePipeline.to_pil(result.images), result.seeds, strict=True):
            image_settings = {**common, "seed": image_seed}
            image_settings["command"] = regenerate_command(image_settings)
            path = out / f"{base}_seed{image_seed}.png"
            with staged_file(path) as staging:
                save_png(image, staging, image_settings)
            written.append(path)
            entries.append({"file": path.name, **image_settings})
        grid = out / f"{base}_seed{settings.seed}_grid.png"
        with staged_file(grid) as staging:
            columns = min(GRID_COLUMNS, settings.num_images_per_prompt)
            tensor_grid(result.images, scale=SCALE, nrow=columns).save(staging)
        written.append(grid)
        extra = {"grid": grid.name}
        if frames is not None:
            gif = out / f"{base}_seed{settings.seed}_denoising.gif"
            with staged_file(gif) as staging:
                save_gif(frames, staging)
            written.append(gif)
            extra["gif"] = gif.name
        run = {
            **common,
            "seed": settings.seed,
            "num_images_per_prompt": settings.num_images_per_prompt,
            "seconds": round(seconds, 2),
        }
        append_manifest(out / "manifest.json", {**run, **extra, "images": entries})
    except OSError as error:
        for path in written:
            path.unlink(missing_ok=True)
        raise UserError(
            f"could not write into {out} ({error.strerror or error}); nothing of this run was kept"
        ) from None
    return written


def append_manifest(path: Path, run: dict) -> None:
    """manifest.json keeps every run written into the folder, newest last."""
    runs = []
    if path.is_file():
        try:
            runs = json.loads(path.read_text()).get("runs", [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            path.rename(path.with_suffix(".json.unreadable"))  # keep it for the user, start a new one
    runs.append(run)
    write_text_atomic(path, json.dumps({"runs": runs}, indent=2) + "\n")


def parse_args(argv=None) -> argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m diffusion.sample",
        description="Generate images from a text prompt.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        '  python -m diffusion.sample --prompt "a pair of trousers"\n'
        '  python -m diffusion.sample --prompt "a dark sneaker" --num-images 8 --seed 0 --gif\n'
        '  python -m diffusion.sample --prompt "a bag" --negative-prompt "a light bag" --guidance 5\n'
        '  python -m diffusion.sample --prompt "a coat" --checkpoint runs/fashion-mnist --scheduler ddim\n',
    )
    # Numbers are read as typed and checked by GenerationSettings, so "--steps 2.5" gets the same
    # message as steps=2.5 in Python.
    parser.add_argument("--prompt", required=True, help="what to draw, e.g. 'a sneaker'")
    parser.add_argument("--negative-prompt", help="what to steer away from")
    parser.add_argument("--checkpoint", help="pipeline or training-run folder (default: the shipped model)")
    parser.add_argument(
        "--num-images", type=cli.number, default=DEFAULT_IMAGES, help=f"1 to {MAX_IMAGES} (default {DEFAULT_IMAGES})"
    )
    parser.add_argument(
        "--steps", type=cli.number, help=f"denoising steps, 1 to {MAX_STEPS} (default {DEFAULT_STEPS} or the model's)"
    )
    parser.add_argument(
        "--guidance", type=cli.number, help=f"guidance scale (default {DEFAULT_GUIDANCE:g}, or the pipeline's own)"
    )
    parser.add_argument(
        "--scheduler", help=f"one of {', '.join(SCHEDULERS)} (default {DEFAULT_SCHEDULER}, or the pipeline's own)"
    )
    parser.add_argument(
        "--guidance-interval", type=cli.number, nargs=2, metavar=("LOW", "HIGH"),
        help="guide only at steps whose noise level σ is in (LOW, HIGH] (default 0 10: every step but the first,"
        " from pure noise; 0 inf: every step)",
    )  # fmt: skip
    parser.add_argument("--seed", type=cli.number, help="image i uses seed + i (default: random, in the manifest)")
    parser.add_argument("--out", default="outputs", help="output folder (default outputs/)")
    parser.add_argument("--gif", action="store_true", help="also write a GIF of the denoising")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    def command():
        for path in generate(parse_args(argv)):
            print(path)

    cli.run(command)
