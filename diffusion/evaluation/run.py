"""One evaluation of a pipeline, in three steps: generate the images, measure them, write the report.

Every measure stands beside what real images get, and each prompt set beside the encoder-only ceiling:
the share of its prompts whose nearest training caption (by the frozen encoder) is of the right class.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..common.defaults import DEFAULT_GUIDANCE_INTERVAL, DEFAULT_SCHEDULER, DEFAULT_STEPS
from ..common.errors import UserError
from ..data.datasets import CLASS_NAMES, load_dataset
from ..prompts.nearest_caption import grammar_index
from ..sampling.saved_pipeline import caption_index_of, pipeline_dataset
from ..sampling.settings import GenerationSettings
from .attribute_pairs import TONE, pair_result, pair_sets, pairs_for
from .classifier import Classifier, default_classifier_dir, embed, texture_features
from .generate import generate_sets
from .metrics import accuracy_per_class, frechet_distance, mean_pairwise_distance
from .prompt_sets import PromptSet, class_prompt_set, free_form_set, held_out_set
from .quality import measure_quality
from .report import write_report
from .results import (
    DiversityResult,
    EncoderReading,
    EvaluationResult,
    EvaluationSettings,
    FrechetResult,
    PairResult,
    PromptSetResult,
    SweepPoint,
    ToneResult,
)

DEFAULT_SWEEP = (1.0, 2.0, 3.0, 5.0, 8.0)
MAX_IMAGES_PER_PROMPT = 10_000


def check_settings(images_per_prompt, guidance_scale, guidance_sweep, num_inference_steps, scheduler, seed):
    """Fail before any work, with the setting's name, rather than minutes later inside the pipeline. The
    rules and messages are the generation settings' own (settings.py); only the image count is ours."""
    if not isinstance(images_per_prompt, int) or not 1 <= images_per_prompt <= MAX_IMAGES_PER_PROMPT:
        raise UserError(f"images per prompt must be from 1 to {MAX_IMAGES_PER_PROMPT}, got {images_per_prompt!r}")
    for scale in (guidance_scale, *guidance_sweep):
        GenerationSettings(
            prompt=None, num_inference_steps=num_inference_steps, guidance_scale=scale, scheduler=scheduler, seed=seed
        )


def check_compatible(pipe, classifier: Classifier) -> str:
    """The classifier must judge the pipeline's kind of image; returns the dataset name."""
    info = classifier.info
    dataset = info["dataset"]
    shape = [pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size]
    if list(info["image_shape"]) != shape:
        raise UserError(
            f"the classifier is for {dataset} images {info['image_shape']}, but the pipeline makes "
            f"{shape}; pass --classifier for the pipeline's dataset"
        )
    trained_on = pipeline_dataset(pipe)
    if trained_on not in (None, dataset):
        raise UserError(
            f"the pipeline was trained on {trained_on} but the classifier on {dataset}; "
            f"pass --classifier {default_classifier_dir(trained_on)}"
        )
    return dataset


def evaluate_pipeline(
    pipe,
    classifier: Classifier,
    images_per_prompt: int = 20,
    guidance_scale: float = 3.0,
    guidance_sweep: tuple[float, ...] = DEFAULT_SWEEP,
    num_inference_steps: int = DEFAULT_STEPS,
    scheduler: str = DEFAULT_SCHEDULER,
    seed: int = 0,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    checkpoint: str | None = None,
) -> EvaluationResult:
    """Generate, measure and (with `out_dir`) write metrics.json, report.md and the PNGs there.
    `checkpoint` only names the pipeline in the report."""
    check_settings(images_per_prompt, guidance_scale, guidance_sweep, num_inference_steps, scheduler, seed)
    dataset = check_compatible(pipe, classifier)
    started = time.perf_counter()
    sets = [class_prompt_set(dataset), held_out_set(dataset)]
    sets += [s for pair in pairs_for(dataset) for s in pair_sets(dataset, pair, len(CLASS_NAMES[dataset]))]
    if (free_form := free_form_set(dataset)) is not None:
        sets.append(free_form)
    sweep = sorted(set(guidance_sweep) - {guidance_scale})
    settings = {"num_inference_steps": num_inference_steps, "scheduler": scheduler, "guidance_scale": guidance_scale}
    plain_prompts = sets[0].prompts[: len(CLASS_NAMES[dataset])]  # the sweep skips the label texts
    images, swept = generate_sets(pipe, sets, sweep, plain_prompts, images_per_prompt, seed, progress, **settings)
    interval = DEFAULT_GUIDANCE_INTERVAL  # the pipeline's, as no interval is passed
    run = EvaluationSettings(images_per_prompt, guidance_scale, num_inference_steps, scheduler, seed, str(pipe.device),
                             interval)  # fmt: skip
    result = measure(pipe, classifier, dataset, {s.name: s for s in sets}, images, swept, run, data_dir)
    result.checkpoint = checkpoint
    result.seconds = round(time.perf_counter() - started, 1)
    if out_dir is not None:
        n, classes = images_per_prompt, len(plain_prompts)  # the grid: one row per plain class prompt
        grid = images["class"][: classes * n].view(classes, n, *images["class"].shape[1:])[:, : min(n, 10)]
        write_report(result, grid, Path(out_dir))
    return result


def measure(
    pipe, classifier, dataset, sets: dict[str, PromptSet], images, swept, settings: EvaluationSettings, data_dir
) -> EvaluationResult:
    """Every metric of the generated images, each beside its real-image reference."""
    seed = settings.seed
    test = load_dataset(dataset, data_dir, train=False)
    train = load_dataset(dataset, data_dir, train=True)
    names = test.class_names
    n = len(images["class"]) // len(sets["class"])
    test_logits, test_features = embed(classifier, test.images)
    floor_index = torch.cat(stratified_sample(train.labels, n, len(names), seed))
    floor = frechet_distance(embed(classifier, train.images[floor_index])[1], test_features)
    # The pipeline's own training captions; for one that does not name its dataset, the grammar's.
    index = caption_index_of(pipe) or grammar_index(dataset)

    def judged(name: str) -> PromptSetResult:
        return prompt_set_result(classifier, sets[name], images[name], names, index, pipe.prompts_as_read)

    # The Fréchet distance and diversity use the plain class prompts only ("a sneaker"), not the label texts.
    plain = images["class"][: len(names) * n]
    plain_logits, plain_features = embed(classifier, plain)
    classes = torch.arange(len(names)).repeat_interleave(n)
    sweep = {scale: embed(classifier, batch) for scale, batch in swept.items()}
    sweep[settings.guidance_scale] = (plain_logits, plain_features)
    pairs = {p.low: pair_result(p, images[p.low], images[p.high], test, names, n) for p in pairs_for(dataset)}
    tone = pairs.pop(TONE.low, None)
    return EvaluationResult(
        checkpoint=None,
        dataset=dataset,
        settings=settings,
        classifier_test_accuracy=(test_logits.argmax(1) == test.labels).float().mean().item(),
        classifier_test_per_class=accuracy_per_class(test_logits.argmax(1), test.labels, names),
        class_prompts=judged("class"),
        held_out=judged("held_out"),
        free_form=judged("free_form") if "free_form" in sets else None,
        frechet=FrechetResult(
            frechet_distance(plain_features, test_features),
            floor,
            len(plain),
            f"{dataset} test split, {len(test)} images",
        ),
        tone=tone_result(tone) if tone is not None else None,
        diversity=diversity_result(plain_features, test_features, test.labels, names, n, seed),
        guidance_sweep=[
            SweepPoint(scale, (logits.argmax(1) == classes).float().mean().item(), frechet_distance(f, test_features))
            for scale, (logits, f) in sorted(sweep.items(), key=lambda item: item[0])
        ],
        seconds=0.0,
        quality=quality_result(classifier, sets, images, n, len(names), (test_features, test.labels), seed),
        attribute_pairs=list(pairs.values()),
        texture_quality=quality_result(
            classifier,
            sets,
            images,
            n,
            len(names),
            (texture_features(classifier, test.images), test.labels),
            seed,
            space=texture_features,
        ),
    )


def quality_result(classifier, sets: dict[str, PromptSet], images, n: int, classes: int, real, seed: int, space=None):
    """Image quality over the plain class prompts and the free-form descriptions (each image judged
    against real images of the class its prompt asked for), when there are enough real images; in the
    classifier's features, or in another feature space of it (`space`, e.g. texture_features)."""
    parts = [(images["class"][: classes * n], torch.arange(classes).repeat_interleave(n))]
    if "free_form" in sets:
        parts.append((images["free_form"], torch.tensor(sets["free_form"].labels).repeat_interleave(n)))
    generated, labels = torch.cat([p for p, _ in parts]), torch.cat([k for _, k in parts])
    try:
        features = space(classifier, generated) if space else embed(classifier, generated)[1]
        return measure_quality(features, labels, *real, seed)
    except ValueError:  # more images of a class than half the real test images of it: no floor to compare
        return None


def prompt_set_result(classifier, prompt_set: PromptSet, images, names, index, as_read=list) -> PromptSetResult:
    """How often the images show the right class; beside it the encoder-only reading of the prompts as the
    pipeline's encoder reads them (`as_read`: with rare garment words explained, where it does that)."""
    n = len(images) // len(prompt_set)
    labels = torch.tensor(prompt_set.labels).repeat_interleave(n)
    predictions = embed(classifier, images)[0].argmax(1)
    per_prompt = (predictions == labels).float().view(-1, n).mean(1).tolist()
    drawn = [names[k] for k in predictions.view(-1, n).mode(1).values.tolist()]
    readings = index.nearest(as_read(prompt_set.prompts))
    right = [r.label == k for r, k in zip(readings, prompt_set.labels, strict=True)]
    readable = [a for a, ok in zip(per_prompt, right, strict=True) if ok]
    return PromptSetResult(
        accuracy=(predictions == labels).float().mean().item(),
        per_class=accuracy_per_class(predictions, labels, names),
        per_prompt=dict(zip(prompt_set.prompts, per_prompt, strict=True)),
        most_often_drawn=dict(zip(prompt_set.prompts, drawn, strict=True)),
        readings={
            p: EncoderReading(r.caption, names[r.label], r.similarity)
            for p, r in zip(prompt_set.prompts, readings, strict=True)
        },
        encoder_accuracy=sum(right) / len(right),
        accuracy_where_encoder_right=sum(readable) / len(readable) if readable else None,
    )


def tone_result(pair: PairResult) -> ToneResult:
    """Dark/light control in the record's own terms (light minus dark mean intensity, same seeds)."""
    return ToneResult(
        light_minus_dark=pair.high_minus_low,
        right_sign_fraction=pair.right_sign_fraction,
        real_light_minus_dark=pair.real_high_minus_low,
        per_class=pair.per_class,
        real_per_class=pair.real_per_class,
    )


def diversity_result(plain_features, test_features, test_labels, names, n, seed) -> DiversityResult:
    """Spread of one prompt's images against as many real test images of that class."""
    picks = stratified_sample(test_labels, n, len(names), seed)
    generated = [mean_pairwise_distance(plain_features[c * n : (c + 1) * n]) for c in range(len(names))]
    real = [mean_pairwise_distance(test_features[index]) for index in picks]
    mean_generated, mean_real = sum(generated) / len(names), sum(real) / len(names)
    return DiversityResult(
        mean_generated,
        mean_real,
        mean_generated / mean_real,
        {name: g / r for name, g, r in zip(names, generated, real, strict=True)},
    )


def stratified_sample(labels: torch.Tensor, per_class: int, num_classes: int, seed: int) -> list[torch.Tensor]:
    """`per_class` random indices of each class (fewer where a class has fewer)."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for label in range(num_classes):
        members = (labels == label).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return picks
