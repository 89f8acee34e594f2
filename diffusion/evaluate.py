"""How good is a pipeline? Generated images judged by a reference classifier that only saw real ones.

    python -m diffusion.evaluate --checkpoint checkpoints/fashion-mnist
    python -m diffusion.evaluate --checkpoint runs/fashion-mnist --fast
    python -m diffusion.evaluate train-classifier --dataset fashion_mnist

Measures, each beside the value real images get: prompt accuracy on plain class prompts and on held-out
paraphrases, Fréchet distance in the classifier's features, dark/light attribute control, diversity
within a prompt, and a guidance-scale sweep. For each held-out prompt also what the frozen text encoder
alone makes of it (its nearest training caption), which bounds what any UNet can do with that prompt.
Writes metrics.json, report.md and PNGs.

A full run generates 50 images for each of 50 prompts (class, held-out, dark and light), plus 500 per
extra sweep scale: 4500 images with the default sweep, minutes on a GPU, far longer on a CPU. --fast
(2 images per prompt, 8 steps, scales 1 and G) runs in well under a minute.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .captions import brightness_attributes, class_prompt, held_out_prompts
from .classifier import Classifier, default_classifier_dir, embed, load_classifier, save_classifier, train_classifier
from .data import load_dataset, to_model_range, to_uint8
from .errors import UserError
from .metrics import accuracy_per_class, frechet_distance, mean_intensity, mean_pairwise_distance, prompt_accuracy
from .nearest_caption import caption_index
from .pipeline import pipeline_dataset
from .report import write_report

__all__ = ["evaluate_pipeline", "frechet_distance", "main", "prompt_accuracy", "train_classifier"]

DEFAULT_SWEEP = (1.0, 2.0, 3.0, 5.0, 8.0)
MAX_IMAGES_PER_PROMPT = 10_000


def generate(pipe, prompts: list[str], images_per_prompt: int, seed: int, bar=None, batch_size: int = 64, **kwargs):
    """Images for every prompt, in prompt order; image i of every prompt starts from the noise of seed + i
    (exactly what `pipe(prompt, seed=seed)` gives), so prompts that differ by one word share their noise.
    Returned quantised to uint8 and back, as a user would see them, on the CPU in [-1, 1]."""
    # Several prompts per call when each has few images; one prompt in several calls when it has many.
    prompts_per_call = max(1, batch_size // images_per_prompt)
    images = []
    for first in range(0, len(prompts), prompts_per_call):
        group = prompts[first : first + prompts_per_call]
        for start in range(0, images_per_prompt, batch_size):
            count = min(batch_size, images_per_prompt - start)
            generators = [torch.Generator("cpu").manual_seed(seed + start + i) for _ in group for i in range(count)]
            output = pipe(group, num_images_per_prompt=count, generator=generators, output_type="pt", **kwargs)
            images.append(to_model_range(to_uint8(output.images.cpu())))
            if bar is not None:
                bar.update(len(generators))
    return torch.cat(images)


def stratified_sample(labels: torch.Tensor, per_class: int, num_classes: int, seed: int) -> list[torch.Tensor]:
    """`per_class` random indices of each class (fewer where a class has fewer)."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for label in range(num_classes):
        members = (labels == label).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return picks


def check_settings(images_per_prompt, guidance_scale, guidance_sweep, num_inference_steps, scheduler, seed):
    """Fail before any work, with the setting's name, rather than minutes later inside the pipeline."""
    from .pipeline import validate_settings
    from .schedulers import SCHEDULERS

    if not isinstance(images_per_prompt, int) or not 1 <= images_per_prompt <= MAX_IMAGES_PER_PROMPT:
        raise UserError(f"images per prompt must be from 1 to {MAX_IMAGES_PER_PROMPT}, got {images_per_prompt!r}")
    for scale in (guidance_scale, *guidance_sweep):
        validate_settings(num_inference_steps, scale, 1)
    if scheduler not in SCHEDULERS:
        raise UserError(f"unknown scheduler '{scheduler}'; choose one of: {', '.join(SCHEDULERS)}")
    if not isinstance(seed, int) or not 0 <= seed < 2**62:
        raise UserError(f"seed must be a whole number from 0 to 2**62, got {seed!r}")


def check_compatible(pipe, classifier: Classifier) -> str:
    """The classifier must judge the pipeline's kind of image; returns the dataset name."""
    info = classifier.info
    dataset = info["dataset"]
    shape = [pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size]
    if list(info["image_shape"]) != shape:
        raise UserError(f"the classifier is for {dataset} images {info['image_shape']}, but the pipeline makes "
                        f"{shape}; pass --classifier for the pipeline's dataset")  # fmt: skip
    trained_on = pipeline_dataset(pipe)
    if trained_on not in (None, dataset):
        raise UserError(f"the pipeline was trained on {trained_on} but the classifier on {dataset}; "
                        f"pass --classifier {default_classifier_dir(trained_on)}")  # fmt: skip
    return dataset


def evaluate_pipeline(
    pipe,
    classifier: Classifier,
    images_per_prompt: int = 50,
    guidance_scale: float = 3.0,
    guidance_sweep: tuple[float, ...] = DEFAULT_SWEEP,
    num_inference_steps: int = 20,
    scheduler: str = "dpm++",
    seed: int = 0,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    checkpoint: str | None = None,
) -> dict:
    """All metrics as a JSON-ready dict; with `out_dir`, also metrics.json, report.md and the PNGs there.
    `checkpoint` only names the pipeline in the report."""
    check_settings(images_per_prompt, guidance_scale, guidance_sweep, num_inference_steps, scheduler, seed)
    dataset = check_compatible(pipe, classifier)
    started = time.perf_counter()
    n = images_per_prompt
    test = load_dataset(dataset, data_dir, train=False)
    train = load_dataset(dataset, data_dir, train=True)
    names = test.class_names
    num_classes = len(names)
    classes = torch.arange(num_classes).repeat_interleave(n)

    # References from real images: the classifier's own accuracy, the Fréchet floor, real diversity.
    test_logits, test_features = embed(classifier, test.images)
    floor_index = torch.cat(stratified_sample(train.labels, n, num_classes, seed))
    floor = frechet_distance(embed(classifier, train.images[floor_index])[1], test_features)

    # Everything to generate, counted up front so one progress bar covers the whole run.
    plain_prompts = [class_prompt(dataset, label) for label in range(num_classes)]
    held_out = held_out_prompts(dataset)
    dark = [class_prompt(dataset, label, "dark") for label in range(num_classes)]
    light = [class_prompt(dataset, label, "light") for label in range(num_classes)]
    sweep = sorted(set(guidance_sweep) - {guidance_scale})
    total = n * (num_classes * (3 + len(sweep)) + len(held_out))
    bar = tqdm(total=total, desc="generating", unit="image", disable=not progress)
    settings = {"num_inference_steps": num_inference_steps, "scheduler": scheduler}

    def make(prompts, scale):
        return generate(pipe, prompts, n, seed, bar, guidance_scale=scale, **settings)

    plain = make(plain_prompts, guidance_scale)
    plain_logits, plain_features = embed(classifier, plain)
    plain_predictions = plain_logits.argmax(1)
    held_out_labels = torch.tensor([label for _, label in held_out]).repeat_interleave(n)
    held_out_texts = [prompt for prompt, _ in held_out]
    held_out_predictions = embed(classifier, make(held_out_texts, guidance_scale))[0].argmax(1)
    held_out_accuracy = (held_out_predictions == held_out_labels).float().view(-1, n).mean(1).tolist()
    most_often_drawn = [names[label] for label in held_out_predictions.view(-1, n).mode(1).values.tolist()]
    dark_intensity = mean_intensity(make(dark, guidance_scale))
    light_intensity = mean_intensity(make(light, guidance_scale))
    sweep_results = {guidance_scale: (plain_predictions, plain_features)}
    for scale in sweep:
        logits, features = embed(classifier, make(plain_prompts, scale))
        sweep_results[scale] = (logits.argmax(1), features)
    bar.close()

    # Diversity: spread of one prompt's images against as many real test images of that class.
    real_picks = stratified_sample(test.labels, n, num_classes, seed)
    generated_spread = [mean_pairwise_distance(plain_features[c * n : (c + 1) * n]) for c in range(num_classes)]
    real_spread = [mean_pairwise_distance(test_features[index]) for index in real_picks]
    # Attribute control: real images' light third minus dark third, per class, as the yardstick.
    real_attributes = brightness_attributes(test.images, test.labels, num_classes)
    real_intensity = mean_intensity(test.images)
    real_gap = [
        (real_intensity[(test.labels == c) & (real_attributes == 2)].mean()
         - real_intensity[(test.labels == c) & (real_attributes == 1)].mean()).item()
        for c in range(num_classes)
    ]  # fmt: skip
    gap = light_intensity - dark_intensity

    metrics = {
        "checkpoint": checkpoint,
        "dataset": dataset,
        "settings": {
            "images_per_prompt": n,
            "guidance_scale": guidance_scale,
            "num_inference_steps": num_inference_steps,
            "scheduler": scheduler,
            "seed": seed,
            "device": str(pipe.device),
        },
        "classifier": {
            "architecture": classifier.info.get("architecture"),
            "test_accuracy": (test_logits.argmax(1) == test.labels).float().mean().item(),
        },
        "class_prompts": {
            "accuracy": (plain_predictions == classes).float().mean().item(),
            "per_class": accuracy_per_class(plain_predictions, classes, names),
            "prompts": dict(zip(names, plain_prompts, strict=True)),
        },
        "held_out_prompts": {
            "accuracy": (held_out_predictions == held_out_labels).float().mean().item(),
            "per_class": accuracy_per_class(held_out_predictions, held_out_labels, names),
            "per_prompt": dict(zip(held_out_texts, held_out_accuracy, strict=True)),
            "most_often_drawn": dict(zip(held_out_texts, most_often_drawn, strict=True)),
            **encoder_ceiling(dataset, held_out, held_out_accuracy, names),
        },
        "frechet": {
            "generated": frechet_distance(plain_features, test_features),
            "real_train_floor": floor,
            "images": len(plain),
            "reference": f"{dataset} test split, {len(test)} images",
        },
        "attribute": {
            "light_minus_dark": gap.mean().item(),
            "right_sign_fraction": (gap > 0).float().mean().item(),
            "real_light_minus_dark": sum(real_gap) / num_classes,
            "per_class": {
                name: {"light_minus_dark": gap[c * n : (c + 1) * n].mean().item(), "real": real_gap[c]}
                for c, name in enumerate(names)
            },
        },
        "diversity": {
            "generated": _mean(generated_spread),
            "real": _mean(real_spread),
            "ratio": _mean(generated_spread) / _mean(real_spread),
            "per_class_ratio": {name: g / r for name, g, r in zip(names, generated_spread, real_spread, strict=True)},
        },
        "guidance_sweep": [
            {
                "guidance_scale": scale,
                "accuracy": (predictions == classes).float().mean().item(),
                "frechet": frechet_distance(features, test_features),
            }
            for scale, (predictions, features) in sorted(sweep_results.items())
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }
    metrics = _json_ready(metrics)
    if out_dir is not None:
        grid = plain.view(num_classes, n, *plain.shape[1:])[:, : min(n, 10)]
        write_report(metrics, grid, Path(out_dir))
    return metrics


def encoder_ceiling(dataset: str, held_out: list[tuple[str, int]], accuracy: list[float], names) -> dict:
    """What the frozen text encoder alone makes of each held-out prompt (its nearest training caption),
    the share it places in the right class, and the model's accuracy on that share: the part of the
    held-out gap that is the encoder's, not the UNet's."""
    nearest = caption_index(dataset).nearest([prompt for prompt, _ in held_out])
    right = [found.label == label for found, (_, label) in zip(nearest, held_out, strict=True)]
    readable = [a for a, ok in zip(accuracy, right, strict=True) if ok]
    return {
        "encoder_nearest_caption": {
            prompt: {"caption": found.caption, "class": names[found.label], "similarity": found.similarity}
            for found, (prompt, _) in zip(nearest, held_out, strict=True)
        },
        "encoder_right_fraction": sum(right) / len(right),
        "accuracy_where_encoder_right": _mean(readable) if readable else None,
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _json_ready(value):
    # JSON has no NaN (e.g. diversity of a single image): write null instead of an invalid file.
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----- command line ---------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """Bad arguments are user errors too: one line, exit code 2, like every other mistake."""

    def error(self, message):
        raise UserError(f"{message} (see --help)")


def parse_sweep(text: str) -> tuple[float, ...]:
    if text.strip().lower() in ("", "none", "off"):
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--guidance-sweep must be numbers separated by commas, e.g. 1,2,3,5,8; got {text!r}") from None


def evaluate_command(argv: list[str]) -> None:
    parser = Parser(
        prog="python -m diffusion.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Also: `python -m diffusion.evaluate train-classifier --help` (re)trains the reference classifier.",
    )
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="pipeline folder, or a training run folder")
    parser.add_argument(
        "--classifier", metavar="DIR", help="classifier folder (default: the shipped one for the dataset)"
    )
    parser.add_argument(
        "--images-per-prompt", type=int, metavar="N", help="images per prompt (default 50; 2 with --fast)"
    )
    parser.add_argument("--fast", action="store_true", help="a quick smoke run: few images, few steps, short sweep")
    parser.add_argument(
        "--guidance-sweep",
        metavar="G,G,...",
        help="guidance scales to compare (default 1,2,3,5,8; 1,G with --fast); 'none' skips",
    )
    parser.add_argument(
        "--guidance", type=float, default=3.0, metavar="G", help="guidance scale of the main measurements (default 3)"
    )
    parser.add_argument("--steps", type=int, metavar="N", help="denoising steps (default 20; 8 with --fast)")
    parser.add_argument(
        "--scheduler", default="dpm++", metavar="NAME", help="ddpm, ddim, dpm++ (default), euler or unipc"
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
        "--record", action="store_true", help="also store the results in the pipeline's training_record.json"
    )
    args = parser.parse_args(argv)
    images_per_prompt = args.images_per_prompt
    if images_per_prompt is None:
        images_per_prompt = 2 if args.fast else 50
    steps = args.steps
    if steps is None:
        steps = 8 if args.fast else 20
    default_sweep = (1.0, args.guidance) if args.fast else DEFAULT_SWEEP
    sweep = default_sweep if args.guidance_sweep is None else parse_sweep(args.guidance_sweep)
    check_settings(images_per_prompt, args.guidance, sweep, steps, args.scheduler, args.seed)

    from .pipeline import TextToImagePipeline

    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device=args.device)
    dataset = pipeline_dataset(pipe) or "fashion_mnist"
    classifier = load_classifier(args.classifier or default_classifier_dir(dataset), pipe.device)
    metrics = evaluate_pipeline(
        pipe, classifier, images_per_prompt, args.guidance, sweep, steps, args.scheduler, args.seed,
        data_dir=args.data_dir, out_dir=args.out, checkpoint=str(args.checkpoint),
    )  # fmt: skip
    if args.record:
        record_evaluation(args.checkpoint, metrics, "python -m diffusion.evaluate " + " ".join(argv))
    print(
        f"prompt accuracy {metrics['class_prompts']['accuracy']:.1%} (held-out prompts "
        f"{metrics['held_out_prompts']['accuracy']:.1%}); Fréchet distance {metrics['frechet']['generated']:.2f} "
        f"(real-image floor {metrics['frechet']['real_train_floor']:.2f}); report in {Path(args.out) / 'report.md'}"
    )


def record_evaluation(checkpoint: str, metrics: dict, command: str) -> None:
    """Add the evaluation (and the command that made it) to the pipeline's training record."""
    import json

    from .pipeline import resolve_pipeline_folder

    path = resolve_pipeline_folder(Path(checkpoint)) / "training_record.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["evaluation"] = {"command": command, **_json_ready(metrics)}
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(record, indent=2) + "\n")
    staging.replace(path)


def train_classifier_command(argv: list[str]) -> None:
    parser = Parser(
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
    try:
        if argv[:1] == ["train-classifier"]:
            train_classifier_command(argv[1:])
        else:
            evaluate_command(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
