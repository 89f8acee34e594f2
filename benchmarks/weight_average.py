"""Would a longer average of the weights draw better? Measured after the fact on a finished run.

    python benchmarks/weight_average.py [--run runs/fashion-mnist] [--windows 0,1000,2000,3000]
        [--out benchmarks/weight-average] [--class-images 50] [--free-form-images 5]

The shipped model is the EMA that training keeps. With diffusers' EMA warm-up (power 2/3) the EMA's
decay at step s is 1 - (1 + s)^(-2/3): about 0.9966 at step 5,000, so over an hour's run it averages
roughly the last 300 steps, and the configured ceiling (ema_decay 0.999) is never reached. A run that keeps
its checkpoints (`checkpoint_every: 250`) holds the raw weights every 250 steps, so longer averages can
be tried without training again: for each window W, the plain mean of the raw weights of every kept
checkpoint in the last W steps (W = 0: the last raw weights, no averaging at all).

Each variant is judged by `sampler_curve.py`'s code at the default settings (10 UniPC steps), paired with
the run's own EMA model (same prompts and seeds), and the table printed is sampler_curve's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from diffusion.common.folders import checkpoint_step
from diffusion.training.checkpoint import STATE_TENSORS, checkpoint_folders

HERE = Path(__file__).resolve().parent
UNET_WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


def averaged_unet(folders: list[Path]) -> dict[str, torch.Tensor]:
    """The mean of the raw (not EMA) UNet weights stored in these checkpoints (only those tensors are read)."""
    total: dict[str, torch.Tensor] = {}
    for folder in folders:
        with safe_open(folder / STATE_TENSORS, "pt") as state:
            stored = state.keys()  # a safe_open handle is not a dict: its names come from keys()
            for key in (k for k in stored if k.startswith("unet.")):
                name = key.removeprefix("unet.")
                total[name] = total.get(name, 0) + state.get_tensor(key).double()
    return {name: (value / len(folders)).float().contiguous() for name, value in total.items()}


def write_variant(run: Path, window: int, out: Path) -> tuple[Path, list[int]]:
    """A copy of the run's pipeline whose UNet is the mean over the last `window` steps' checkpoints."""
    folders = checkpoint_folders(run)
    chosen = [f for f in folders if checkpoint_step(f) >= checkpoint_step(folders[-1]) - window]
    target = out / "pipelines" / f"mean-{window}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run / "pipeline", target)
    reference = load_file(run / "pipeline" / UNET_WEIGHTS)
    weights = averaged_unet(chosen)
    if weights.keys() != reference.keys():
        sys.exit(f"error: the checkpoints' UNet does not match {run / 'pipeline'}; is this one run?")
    save_file(weights, target / UNET_WEIGHTS)
    return target, [checkpoint_step(f) for f in chosen]


def judge(pipeline: Path, name: str, args) -> None:
    command = [
        sys.executable,
        str(HERE / "sampler_curve.py"),
        "--checkpoint",
        str(pipeline),
        "--out",
        str(args.out),
        "--settings",
        "unipc:10",
        "--class-images",
        str(args.class_images),
        "--free-form-images",
        str(args.free_form_images),
        "--reference",
        "ema:10",
        "--name",
        name,
    ]
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("runs/fashion-mnist"))
    parser.add_argument("--windows", default="0,1000,2000,3000", help="steps back from the last checkpoint")
    parser.add_argument("--out", type=Path, default=HERE / "weight-average")
    parser.add_argument("--class-images", type=int, default=50)
    parser.add_argument("--free-form-images", type=int, default=5)
    args = parser.parse_args()
    if len(checkpoint_folders(args.run)) < 2:
        sys.exit(f"error: {args.run} keeps fewer than two checkpoints; train with checkpoint_every, keep_checkpoints")

    judge(args.run / "pipeline", "ema", args)  # the reference: the run's own EMA model
    for window in (int(w) for w in args.windows.split(",")):
        pipeline, steps = write_variant(args.run, window, args.out)
        print(f"mean-{window}: the raw weights of steps {steps[0]} to {steps[-1]} ({len(steps)} checkpoints)")
        judge(pipeline, f"mean-{window}", args)


if __name__ == "__main__":
    main()
