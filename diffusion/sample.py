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
import hashlib
import json
import random
import re
import sys
import time
from pathlib import Path

from .errors import UserError
from .imageio import denoising_frames, save_gif, save_png, tensor_grid
from .nearest_caption import caption_index_of
from .pipeline import DEFAULT_GUIDANCE, MAX_IMAGES, MAX_STEPS, TextToImagePipeline, validate_settings
from .prompt_notes import notes_for
from .schedulers import DEFAULT_SCHEDULER, SCHEDULERS

SHIPPED_PIPELINE = Path(__file__).resolve().parent.parent / "checkpoints" / "fashion-mnist"


def default_checkpoint() -> Path:
    """The shipped model: beside the package (a source checkout), else ./checkpoints/fashion-mnist."""
    return SHIPPED_PIPELINE if SHIPPED_PIPELINE.exists() else Path("checkpoints/fashion-mnist")


def slug(text: str, length: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length] or "prompt"


def regenerate_command(settings: dict) -> str:
    parts = ["python -m diffusion.sample", f"--prompt {json.dumps(settings['prompt'])}"]
    if settings.get("negative_prompt"):
        parts.append(f"--negative-prompt {json.dumps(settings['negative_prompt'])}")
    parts += [
        f"--checkpoint {settings['checkpoint']}", f"--seed {settings['seed']}", "--num-images 1",
        f"--steps {settings['steps']}", f"--guidance {settings['guidance']}", f"--scheduler {settings['scheduler']}",
    ]  # fmt: skip
    return " ".join(parts)


def generate(args: argparse.Namespace) -> list[Path]:
    validate_settings(args.steps, args.guidance, args.num_images)
    if args.scheduler not in SCHEDULERS:
        raise UserError(f"unknown scheduler '{args.scheduler}'; choose one of: {', '.join(SCHEDULERS)}")
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    pipe = TextToImagePipeline.from_pretrained(checkpoint, device=args.device)
    pipe.set_progress_bar_config(disable=False, desc="denoising", leave=False)
    seed = args.seed if args.seed is not None else random.randrange(2**31)

    x_t_steps, x0_steps = [], []

    def record_step(pipe, step, timestep, tensors):
        x_t_steps.append(tensors["x_t"].cpu())
        x0_steps.append(tensors["x0"].cpu())

    started = time.time()
    result = pipe(
        args.prompt, negative_prompt=args.negative_prompt, num_inference_steps=args.steps,
        guidance_scale=args.guidance, num_images_per_prompt=args.num_images, seed=seed,
        scheduler=args.scheduler, callback_on_step_end=record_step if args.gif else None, output_type="pt",
    )  # fmt: skip
    seconds = time.time() - started
    if (index := caption_index_of(pipe)) is not None:  # why an unfamiliar word gave what it gave
        for sentence in notes_for(index, args.prompt).sentences:
            print(f"note: {sentence}", file=sys.stderr)

    common = {
        "prompt": args.prompt, "negative_prompt": args.negative_prompt, "steps": args.steps,
        "guidance": args.guidance, "scheduler": args.scheduler, "checkpoint": str(checkpoint),
    }  # fmt: skip
    tag = hashlib.sha256(json.dumps(common, sort_keys=True).encode()).hexdigest()[:6]
    base = f"{slug(args.prompt)}_{tag}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries, written = [], []
    for image, image_seed in zip(pipe.to_pil(result.images), result.seeds, strict=True):
        settings = {**common, "seed": image_seed}
        settings["command"] = regenerate_command(settings)
        path = out / f"{base}_seed{image_seed}.png"
        save_png(image, path, settings)
        entries.append({"file": path.name, **settings})
        written.append(path)
    grid = out / f"{base}_seed{seed}_grid.png"
    tensor_grid(result.images, scale=4, nrow=min(8, args.num_images)).save(grid)  # 4x: 28-pixel images are tiny
    written.append(grid)
    extra = {"grid": grid.name}
    if args.gif:
        gif = out / f"{base}_seed{seed}_denoising.gif"
        save_gif(denoising_frames(x_t_steps, x0_steps, scale=4), gif)
        written.append(gif)
        extra["gif"] = gif.name
    append_manifest(out / "manifest.json", {**common, "seed": seed, "num_images": args.num_images,
                                             "seconds": round(seconds, 2), **extra, "images": entries})  # fmt: skip
    return written


def append_manifest(path: Path, run: dict) -> None:
    """manifest.json keeps every run written into the folder, newest last."""
    runs = []
    if path.is_file():
        try:
            runs = json.loads(path.read_text()).get("runs", [])
        except (json.JSONDecodeError, AttributeError):
            path.rename(path.with_suffix(".json.unreadable"))  # keep it for the user, start a new one
    runs.append(run)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    tmp.replace(path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m diffusion.sample",
        description="Generate images from a text prompt.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        '  python -m diffusion.sample --prompt "a pair of trousers"\n'
        '  python -m diffusion.sample --prompt "a dark sneaker" --num-images 8 --seed 0 --gif\n'
        '  python -m diffusion.sample --prompt "a bag" --negative-prompt "a light bag" --guidance 5\n'
        '  python -m diffusion.sample --prompt "a coat" --checkpoint runs/fashion-mnist --scheduler ddim\n',
    )
    parser.add_argument("--prompt", required=True, help="what to draw, e.g. 'a sneaker'")
    parser.add_argument("--negative-prompt", help="what to steer away from")
    parser.add_argument("--checkpoint", help="pipeline or training-run folder (default: the shipped model)")
    parser.add_argument("--num-images", type=int, default=4, help=f"1 to {MAX_IMAGES} (default 4)")
    parser.add_argument("--steps", type=int, default=20, help=f"denoising steps, 1 to {MAX_STEPS} (default 20)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="guidance scale (default 3)")
    parser.add_argument("--scheduler", default=DEFAULT_SCHEDULER, help=f"one of {', '.join(SCHEDULERS)}")
    parser.add_argument("--seed", type=int, help="image i uses seed + i (default: random, printed)")
    parser.add_argument("--out", default="outputs", help="output folder (default outputs/)")
    parser.add_argument("--gif", action="store_true", help="also write a GIF of the denoising")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        written = generate(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        sys.exit(130)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
