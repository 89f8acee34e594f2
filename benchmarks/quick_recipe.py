"""How soon a training run draws the right garment (the time-to-quality curve): class-prompt accuracy
(the evaluation's reference classifier) at each kept checkpoint of a run, against the minutes since Start.

    python benchmarks/quick_recipe.py --minutes 10                        # train configs/quick.yaml, judge it
    python benchmarks/quick_recipe.py --config benchmarks/recipes/quick-batch16.yaml --minutes 6
    python benchmarks/quick_recipe.py --run runs/quick --images 20        # judge a run made before
    python benchmarks/quick_recipe.py --run runs/fashion-mnist --until 0.95  # the shipped recipe's run

Each checkpoint is judged on the ten class prompts ("a sneaker") at the default sampler, steps and
guidance (settings.py), `--images` per prompt, oldest first; `--until` stops at the first checkpoint that
reaches that accuracy. The minutes come from the run's loss.csv (its elapsed_s counts from Start,
preparing the data included).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from diffusion.common.config import load_config
from diffusion.common.defaults import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.classifier import default_classifier_dir, load_classifier
from diffusion.evaluation.generate import generate
from diffusion.evaluation.metrics import prompt_accuracy
from diffusion.prompts.captions import class_prompt
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.training.checkpoint import checkpoint_folders
from diffusion.training.train import train

ROOT = Path(__file__).resolve().parents[1]


def elapsed_at(run: Path) -> dict[int, float]:
    """Seconds since Start at each logged step."""
    with open(run / "loss.csv") as file:
        return {int(row["step"]): float(row["elapsed_s"]) for row in csv.DictReader(file)}


def judge(run: Path, images: int, until: float = 1.0) -> list[tuple[int, float, float]]:
    """(step, minutes since Start, class-prompt accuracy) for the run's checkpoints, oldest first, up to
    the first that reaches `until`."""
    classifier = load_classifier(default_classifier_dir("fashion_mnist"))
    prompts = [class_prompt("fashion_mnist", label) for label in range(len(CLASS_NAMES["fashion_mnist"]))]
    labels = torch.arange(len(prompts)).repeat_interleave(images)
    times, rows = elapsed_at(run), []
    for folder in checkpoint_folders(run):
        step = int(folder.name.split("-")[1])
        pipe = TextToImagePipeline.from_pretrained(folder / "pipeline", device="cpu")
        pictures = generate(
            pipe,
            prompts,
            images,
            seed=0,
            num_inference_steps=DEFAULT_STEPS,
            guidance_scale=DEFAULT_GUIDANCE,
            scheduler=DEFAULT_SCHEDULER,
        )
        logged = [s for s in times if s <= step]
        minutes = times[max(logged)] / 60 if logged else float("nan")
        rows.append((step, minutes, prompt_accuracy(classifier, pictures, labels)))
        print(f"step {step:5d}  {minutes:5.1f} min  class prompts {rows[-1][2]:.1%}", flush=True)
        if rows[-1][2] >= until:
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a run folder to judge (default: train one first)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quick.yaml", help="the recipe to train")
    parser.add_argument("--minutes", type=float, default=10, help="the training run's time budget")
    parser.add_argument("--images", type=int, default=20, help="images per class prompt")
    parser.add_argument("--until", type=float, default=1.0, help="stop at the first checkpoint this accurate")
    args = parser.parse_args()
    run = args.run
    if run is None:
        config = load_config(args.config)
        run = ROOT / "runs" / f"{args.config.stem}-benchmark-{time.strftime('%Y%m%d-%H%M%S')}"
        config.train.output_dir, config.train.max_minutes, config.train.keep_checkpoints = str(run), args.minutes, 1000
        train(config, command="benchmarks/quick_recipe.py")
    rows = judge(run, args.images, args.until)
    for target in (0.5, 0.8, 0.95):
        reached = next((minutes for _, minutes, accuracy in rows if accuracy >= target), None)
        print(f"class prompts >= {target:.0%}: " + (f"{reached:.1f} min" if reached is not None else "not reached"))


if __name__ == "__main__":
    main()
