"""The evaluation's command line: `python -m diffusion.evaluate` (see diffusion/evaluate.py for examples)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..common.cli import ArgumentParser, run, typed_command
from ..common.defaults import DEFAULT_SCHEDULER, DEFAULT_STEPS, sampling_defaults
from ..common.errors import UserError
from ..common.folders import resolve_pipeline_folder, write_text_atomic
from ..data.datasets import load_dataset
from ..sampling.pipeline import TextToImagePipeline
from ..sampling.saved_pipeline import pipeline_dataset
from ..sampling.schedulers import SCHEDULERS
from .classifier import default_classifier_dir, load_classifier, save_classifier, train_classifier
from .results import EvaluationResult, json_ready
from .run import DEFAULT_SWEEP, check_settings, evaluate_pipeline

USAGE = """How good is a pipeline? Generated images judged by a reference classifier that only saw real ones.

    python -m diffusion.evaluate --checkpoint checkpoints/fashion-mnist --images-per-prompt 20
    python -m diffusion.evaluate --checkpoint runs/fashion-mnist --fast
    python -m diffusion.evaluate train-classifier --dataset fashion_mnist

Measures, each beside the value real images get: prompt accuracy on the class prompts (and the dataset's
label texts), on prompts made of held-out nouns and on the committed free-form descriptions, each with
the share of its prompts that the frozen text encoder alone reads into the right class (its nearest
training caption); Fréchet distance in the classifier's features, dark/light control, diversity within
a prompt, and a guidance-scale sweep. Writes metrics.json, report.md and PNGs.

About 220 prompts on Fashion-MNIST: with 20 images each, 4400 images plus 200 per extra sweep scale,
a quarter of an hour on 2 CPU cores. --fast (2 images per prompt, 8 steps, scales 1 and G) takes a minute.
"""


def parse_sweep(text: str) -> tuple[float, ...]:
    if text.strip().lower() in ("", "none", "off"):
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--guidance-sweep must be numbers separated by commas, e.g. 1,2,3,5,8; got {text!r}") from None


def evaluate_command(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="python -m diffusion.evaluate",
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Also: `python -m diffusion.evaluate train-classifier --help` (re)trains the reference classifier.",
    )
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="pipeline folder, or a training run folder")
    parser.add_argument(
        "--classifier", metavar="DIR", help="classifier folder (default: the shipped one for the dataset)"
    )
    parser.add_argument(
        "--images-per-prompt", type=int, metavar="N", help="images per prompt (default 20; 2 with --fast)"
    )
    parser.add_argument("--fast", action="store_true", help="a quick smoke run: few images, few steps, short sweep")
    parser.add_argument(
        "--guidance-sweep",
        metavar="G,G,...",
        help="guidance scales to compare (default 1,2,3,5,8; 1,G with --fast); 'none' skips",
    )
    # Left out, steps, guidance and sampler are the pipeline's own (a distilled student stores its few-step ones).
    parser.add_argument(
        "--guidance", type=float, metavar="G", help="guidance scale of the main measurements (default 3)"
    )
    steps_help = f"denoising steps (default {DEFAULT_STEPS}, or the pipeline's own)"
    parser.add_argument("--steps", type=int, metavar="N", help=steps_help)
    parser.add_argument(
        "--scheduler", metavar="NAME", help=f"one of {', '.join(SCHEDULERS)} (default {DEFAULT_SCHEDULER})"
    )
    parser.add_argument("--seed", type=int, default=0, help="image i of every prompt starts from seed + i (default 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the real images are (default: installed copy)")
    parser.add_argument("--device", metavar="NAME", help="cpu, cuda, mps (default: best available)")
    parser.add_argument(
        "--out",
        default="outputs/evaluation",
        metavar="DIR",
        help="folder for metrics.json, report.md, PNGs (default outputs/evaluation)",
    )
    parser.add_argument(
        "--no-grounding",
        action="store_true",
        help="read prompts exactly as typed, without explaining rare garment words from the lexicon",
    )
    parser.add_argument(
        "--record", action="store_true", help="also store the results in the pipeline's training_record.json"
    )
    args = parser.parse_args(argv)
    images_per_prompt = args.images_per_prompt
    if images_per_prompt is None:
        images_per_prompt = 2 if args.fast else 20
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device=args.device)
    pipe.ground_words = not args.no_grounding
    stored = sampling_defaults(pipe.generation_defaults)
    steps = stored["num_inference_steps"] if args.steps is None else args.steps
    guidance = stored["guidance_scale"] if args.guidance is None else args.guidance
    scheduler = stored["scheduler"] if args.scheduler is None else args.scheduler
    default_sweep = (1.0, guidance) if args.fast else DEFAULT_SWEEP
    sweep = default_sweep if args.guidance_sweep is None else parse_sweep(args.guidance_sweep)
    check_settings(images_per_prompt, guidance, sweep, steps, scheduler, args.seed)
    dataset = pipeline_dataset(pipe) or "fashion_mnist"
    classifier = load_classifier(args.classifier or default_classifier_dir(dataset), pipe.device)
    metrics = evaluate_pipeline(
        pipe,
        classifier,
        images_per_prompt,
        guidance,
        sweep,
        steps,
        scheduler,
        args.seed,
        data_dir=args.data_dir,
        out_dir=args.out,
        checkpoint=str(args.checkpoint),
    )
    if args.record:
        record_evaluation(args.checkpoint, metrics, typed_command("diffusion.evaluate", argv))
    print(summary(metrics) + f"; report in {Path(args.out) / 'report.md'}")


def summary(result: EvaluationResult) -> str:
    free_form = f", free-form {result.free_form.accuracy:.1%}" if result.free_form else ""
    return (
        f"prompt accuracy: class prompts {result.class_prompts.accuracy:.1%}, held-out nouns "
        f"{result.held_out.accuracy:.1%}{free_form}; Fréchet distance {result.frechet.generated:.2f} "
        f"(real-image floor {result.frechet.real_train_floor:.2f})"
        + quality_summary(result.quality, result.texture_quality)
    )


def quality_summary(quality, texture=None) -> str:
    if quality is None:
        return ""
    in_texture = (
        ""
        if texture is None
        else (f", in texture statistics {texture.frechet_text(3)} (floor {texture.frechet_floor:.3f})")
    )
    return (
        f"; class and free-form images: Fréchet {quality.frechet_text()} from {quality.images} images "
        f"(floor {quality.frechet_floor:.2f}){in_texture}, KID×1000 {quality.kid:.1f}, "
        f"precision {quality.precision:.0%}, recall {quality.recall:.0%}"
    )


def record_evaluation(checkpoint: str, result: EvaluationResult, command: str) -> None:
    """Add the evaluation (and the command that made it) to the pipeline's training record."""
    path = resolve_pipeline_folder(Path(checkpoint)) / "training_record.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["evaluation"] = {"command": command, **json_ready(result.to_dict())}
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")


def train_classifier_command(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="python -m diffusion.evaluate train-classifier",
        description="Train the reference classifier on a dataset's training split and save it.",
        epilog="Example: python -m diffusion.evaluate train-classifier --dataset fashion_mnist --epochs 10",
    )
    parser.add_argument(
        "--dataset", default="fashion_mnist", metavar="NAME", help="fashion_mnist (default), mnist or cifar10"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="where the dataset is (default: installed copy, else download)"
    )
    parser.add_argument(
        "--epochs", type=int, default=10, metavar="N", help="passes over the training split (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    parser.add_argument(
        "--train-images", type=int, metavar="N", help="use only the first N training images (quick checks)"
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: checkpoints/classifier-<dataset>)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    train = load_dataset(args.dataset, args.data_dir, train=True)
    test = load_dataset(args.dataset, args.data_dir, train=False)
    if args.train_images is not None:
        if args.train_images < 1:
            raise UserError(f"--train-images must be at least 1, got {args.train_images}")
        train.images, train.labels = train.images[: args.train_images], train.labels[: args.train_images]
    classifier, info = train_classifier(train, test, epochs=args.epochs, seed=args.seed)
    folder = save_classifier(classifier, info, args.out or default_classifier_dir(args.dataset))
    print(f"test accuracy {info['test_accuracy']:.2%} after {info['train_seconds']:.0f} s; saved to {folder}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train-classifier"]:
        run(lambda: train_classifier_command(argv[1:]))
    else:
        run(lambda: evaluate_command(argv))
