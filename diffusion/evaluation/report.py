"""Writing an evaluation down: metrics.json, report.md, the sample grid and the guidance-sweep chart.

The chart is drawn with PIL (already a dependency) rather than matplotlib: two small line charts do
not justify a plotting library.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import save_image

from .results import EvaluationResult, PairResult, PromptSetResult, SweepPoint, ToneResult

GRID = "samples.png"
SWEEP_PLOT = "guidance_sweep.png"
ENCODER_NOTE = (
    '"encoder" is how the frozen text encoder alone reads each prompt: the training caption with the most '
    "similar sentence embedding, and its class. The share of prompts it places in the right class is a "
    "ceiling for the model: where the nearest caption is of another class, the model seldom draws the right one."
)
SET_TITLES = {
    "class_prompts": "Class prompts and the dataset's label texts",
    "held_out": "Held-out words (nouns or phrasings no training caption contains)",
    "free_form": "Free-form descriptions (no training noun of their class)",
}


def write_report(result: EvaluationResult, grid: torch.Tensor, out_dir: Path) -> None:
    """`grid` is (rows, columns, C, H, W) in [-1, 1]: one row of samples per class prompt."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    rows, columns = grid.shape[:2]
    save_image(grid.flatten(0, 1), out_dir / GRID, nrow=columns, normalize=True, value_range=(-1, 1), pad_value=1)
    sweep = result.guidance_sweep
    if len(sweep) > 1:
        chart = sweep_chart(sweep, result.classifier_test_accuracy, result.frechet.real_train_floor)
        chart.save(out_dir / SWEEP_PLOT)
    (out_dir / "report.md").write_text(markdown(result, has_plot=len(sweep) > 1))


def _pct(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"


def _num(value, digits: int = 2) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def prompt_sets(result: EvaluationResult) -> dict[str, PromptSetResult]:
    sets = {"class_prompts": result.class_prompts, "held_out": result.held_out, "free_form": result.free_form}
    return {name: value for name, value in sets.items() if value is not None}


def quality_lines(q, texture=None) -> list[str]:
    """The class and free-form images' quality, each figure with its 95% interval or its real-image floor;
    then the Fréchet distance in the texture statistics, where measured."""
    if q is None:
        return []
    return [
        f"| Fréchet distance, class and free-form prompts, {q.images} images against as many real ones of the "
        f"asked-for classes [95% interval] | {frechet_cells(q)} (two real sets of that size) |",
        f"| KID × 1000, same images | {_num(q.kid)} | {_num(q.kid_floor)} (two real sets) |",
        f"| precision (fidelity) / recall (coverage), same images | {_pct(q.precision)} / {_pct(q.recall)} | |",
        *texture_lines(texture),
    ]


def texture_lines(t) -> list[str]:
    if t is None:
        return []
    return [
        f"| Fréchet distance in texture statistics (each conv layer's per-channel mean and spread: fine "
        f"detail), same images [95% interval] | {frechet_cells(t, 3)} (two real sets) |"
    ]


def frechet_cells(q, digits: int = 2) -> str:
    """ "estimate [low, high] | floor [low, high]": a quality's Fréchet distance and its floor, as two cells."""
    (low, high), (floor_low, floor_high) = q.frechet_interval, q.frechet_floor_interval
    return (
        f"{_num(q.frechet, digits)} [{_num(low, digits)}, {_num(high, digits)}] | {_num(q.frechet_floor, digits)} "
        f"[{_num(floor_low, digits)}, {_num(floor_high, digits)}]"
    )


def tone_lines(tone: ToneResult | None) -> list[str]:
    if tone is None:
        return []
    return [
        f"| light minus dark mean intensity | {_num(tone.light_minus_dark, 3)} | "
        f"{_num(tone.real_light_minus_dark, 3)} (lightest minus darkest third) |",
        f"| dark/light pairs with the light one brighter | {_pct(tone.right_sign_fraction)} | |",
    ]


def pair_lines(pairs: list[PairResult]) -> list[str]:
    """Each attribute pair as the tone is shown: the mean gap beside real images', and the share right."""
    lines = []
    for p in pairs:
        lines += [
            f"| {p.high} minus {p.low}: {p.measure} | {_num(p.high_minus_low, 3)} | "
            f"{_num(p.real_high_minus_low, 3)} ({p.high} third minus {p.low} third of each class) |",
            f"| {p.low}/{p.high} pairs with the {p.high} one higher | {_pct(p.right_sign_fraction)} | |",
        ]
    return lines


def tone_as_pair(tone: ToneResult) -> PairResult:
    return PairResult("dark", "light", "mean intensity", tone.light_minus_dark, tone.right_sign_fraction,
                      tone.real_light_minus_dark, tone.per_class, tone.real_per_class)  # fmt: skip


def markdown(r: EvaluationResult, has_plot: bool) -> str:
    s, fr, tone, dv = r.settings, r.frechet, r.tone, r.diversity
    pairs = ([tone_as_pair(tone)] if tone else []) + list(r.attribute_pairs)
    lines = [
        f"# Evaluation of {r.checkpoint or 'a pipeline'} on {r.dataset}",
        "",
        f"{s.images_per_prompt} images per prompt, guidance scale {s.guidance_scale:g} at noise levels "
        f"({s.guidance_interval[0]:g}, {s.guidance_interval[1]:g}], "
        f"{s.num_inference_steps} {s.scheduler} steps, seed {s.seed}, on {s.device}; {r.seconds:.0f} s. "
        f"Judged by the reference classifier (trained on real images only; "
        f"{_pct(r.classifier_test_accuracy)} on the real test set).",
        "",
        "| measure | generated | encoder alone / real images |",
        "|---|---|---|",
    ]
    for name, result in prompt_sets(r).items():
        lines.append(
            f"| prompt accuracy, {SET_TITLES[name].split(' (')[0].lower()} ({result.prompts} prompts) | "
            f"{_pct(result.accuracy)} | {_pct(result.encoder_accuracy)} read right by the encoder alone |"
        )
    lines += [
        f"| Fréchet distance to the test set, from {fr.images} images | {_num(fr.generated)} | "
        f"{_num(fr.real_train_floor)} (training images, same count) |",
        *quality_lines(r.quality, r.texture_quality),
        *tone_lines(tone),
        *pair_lines(r.attribute_pairs),
        f"| diversity: mean pairwise feature distance | {_num(dv.generated)} | {_num(dv.real)} "
        f"(ratio {_num(dv.ratio)}) |",
        "",
        "## Per class",
        "",
        '"real test images": the reference classifier\'s own recall on the real test images of the class. Generated '
        "images are judged as strictly: where real images of a class often pass for another, so do drawn ones.",
        "",
        "| class | real test images | class prompts | held-out | free-form | "
        + "".join(f"{p.high} − {p.low} (real) | " for p in pairs)
        + "diversity ratio |",
        "|---|---|---|---|---|" + "---|" * len(pairs) + "---|",
    ]
    free_form = r.free_form.per_class if r.free_form else {}
    for name in r.class_prompts.per_class:
        accuracies = (r.classifier_test_per_class, r.class_prompts.per_class, r.held_out.per_class, free_form)
        cells = [_pct(values.get(name)) for values in accuracies]
        cells += [f"{_num(p.per_class[name], 3)} ({_num(p.real_per_class[name], 3)})" for p in pairs]
        cells += [_num(dv.per_class_ratio[name])]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    for name, result in prompt_sets(r).items():
        lines += ["", f"## {SET_TITLES[name]}", "", ENCODER_NOTE, ""]
        lines += ["| prompt | accuracy | drawn most often | encoder: nearest training caption (class, cosine) |"]
        lines += ["|---|---|---|---|"]
        for prompt, value in result.per_prompt.items():
            near = result.readings.get(prompt)
            reading = f"{near.caption} ({near.class_name}, {near.similarity:.2f})" if near else ""
            lines.append(f"| {prompt} | {_pct(value)} | {result.most_often_drawn[prompt]} | {reading} |")
    lines += ["", "## Guidance scale", "", "| guidance scale | accuracy | Fréchet distance |", "|---|---|---|"]
    lines += [f"| {p.guidance_scale:g} | {_pct(p.accuracy)} | {_num(p.frechet)} |" for p in r.guidance_sweep]
    if has_plot:
        lines += ["", f"![accuracy and Fréchet distance against guidance scale]({SWEEP_PLOT})"]
    lines += ["", "## Samples", "", "One row per class prompt, in class order.", "", f"![samples]({GRID})"]
    return "\n".join(lines) + "\n"


def sweep_chart(sweep: list[SweepPoint], accuracy_reference: float, frechet_floor: float) -> Image.Image:
    """Accuracy and Fréchet distance against guidance scale, side by side; dashed: the real-image values."""
    scales = [p.guidance_scale for p in sweep]
    panels = [
        # Plain ASCII titles: PIL's built-in font has no accented letters.
        line_chart(scales, [p.accuracy for p in sweep], "prompt accuracy", (0.0, 1.0), accuracy_reference),
        line_chart(scales, [p.frechet for p in sweep], "Frechet distance", None, frechet_floor),
    ]
    chart = Image.new("RGB", (sum(p.width for p in panels), panels[0].height), "white")
    for i, panel in enumerate(panels):
        chart.paste(panel, (i * panel.width, 0))
    return chart


def line_chart(xs, ys, title, y_range, reference, size=(360, 260)) -> Image.Image:
    width, height = size
    left, right, top, bottom = 52, 16, 28, 36
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    low, high = y_range or (0.0, max([*ys, reference]) * 1.1 or 1.0)
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def point(x, y):
        px = left + (x - x_low) / (x_high - x_low) * (width - left - right)
        py = height - bottom - (y - low) / (high - low) * (height - top - bottom)
        return px, py

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for i in range(5):  # y ticks
        value = low + (high - low) * i / 4
        _, py = point(x_low, value)
        draw.line([left - 4, py, left, py], fill="black")
        draw.text((4, py - 6), f"{value:.2f}" if high <= 10 else f"{value:.0f}", fill="black", font=font)
    for x in xs:  # x ticks at the measured scales
        px, _ = point(x, low)
        draw.line([px, height - bottom, px, height - bottom + 4], fill="black")
        draw.text((px - 6, height - bottom + 6), f"{x:g}", fill="black", font=font)
    draw.text((left, 8), title, fill="black", font=font)
    draw.text((width - right - 110, 8), "dashed: real images", fill=(120, 120, 120), font=font)
    draw.text((width // 2 - 40, height - 14), "guidance scale", fill="black", font=font)
    _, ref_y = point(x_low, reference)
    for x0 in range(left, width - right, 8):  # dashed reference line: real images
        draw.line([x0, ref_y, min(x0 + 4, width - right), ref_y], fill=(120, 120, 120))
    points = [point(x, y) for x, y in zip(xs, ys, strict=True)]
    draw.line(points, fill=(31, 119, 180), width=2)
    for px, py in points:
        draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=(31, 119, 180))
    return image
