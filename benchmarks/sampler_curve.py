"""Quality against speed for every sampler and step count: the curve the default settings are chosen from.

    python benchmarks/sampler_curve.py [--checkpoint checkpoints/fashion-mnist] [--out benchmarks/curve]
        [--samplers dpm++,unipc,...] [--steps 3,4,5,6,8,10,15,20,50] [--class-images 50] [--free-form-images 5]
        [--settings dpm++:50,unipc:10,...]   (exact rows in this order, instead of samplers x steps)
    python benchmarks/sampler_curve.py --checkpoint checkpoints/fashion-mnist-fast --name student --settings ddim:4
        (another checkpoint's rows beside the teacher's, compared with its reference row, paired)
    python benchmarks/sampler_curve.py --guidance-interval 0 inf --name "unipc, every step guided" --settings unipc:10
        (rows with guidance at other noise levels than the default's, named)
    python benchmarks/sampler_curve.py --retime   (time every stored row again, on a quiet machine)

The picture needs matplotlib: pip install -e ".[bench]".

Per (sampler, steps): 50 images of each plain class prompt and 5 of each free-form description (1,050 in
all, the same noise seed + i in every row, so rows differ only by the sampler), judged in the reference
classifier's features against as many real test images of the same classes: Fréchet distance with its
bootstrap 95% interval, the real-vs-real floor at that size, KID, precision and recall, prompt accuracy;
the Fréchet distance again in the classifier's texture statistics (fine detail its pooled features ignore); each
row's Fréchet over the reference row's (--reference, default dpm++:50), paired, in both feature spaces;
then the seconds for 16 images of one prompt, beside the machine's fp32 matmul GFLOP/s. Rows are
appended to OUT/rows.jsonl as they finish, so an interrupted run continues where it stopped; the table
(OUT/table.md) and the picture (OUT/curve.png) are redrawn from all rows at the end. The quality columns
do not depend on what else runs; the seconds do, so `--retime` times all rows again when nothing else runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from machine import call_seconds, matmul_gflops  # benchmarks/machine.py, beside this script
from safetensors.torch import load_file, save_file

from diffusion import TextToImagePipeline
from diffusion.common.defaults import DEFAULT_GUIDANCE_INTERVAL, GUIDE_EVERY_STEP
from diffusion.data.datasets import load_dataset
from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier, texture_features
from diffusion.evaluation.generate import generate
from diffusion.evaluation.prompt_sets import PromptSet, class_prompt_set, free_form_set
from diffusion.evaluation.quality import matched_real_sets, measure_quality, paired_ratio_interval
from diffusion.sampling.saved_pipeline import pipeline_dataset
from diffusion.sampling.schedulers import SCHEDULERS

GUIDANCE = 3.0
TIMED_IMAGES = 16


def images_of(pipe, sets: list[tuple[PromptSet, int]], **settings) -> torch.Tensor:
    return torch.cat([generate(pipe, s.prompts, n, 0, **settings) for s, n in sets])


def seconds_for_16(pipe, **settings) -> float:
    """The best of two timings of 16 images of one prompt (the first call also warms up)."""
    return min(call_seconds(lambda: pipe("a sneaker", num_images_per_prompt=TIMED_IMAGES, seed=0, **settings), 2))


def features_file(out: Path, sampler: str, steps: int) -> Path:
    return out / "features" / f"{sampler.replace(' ', '_')}-{steps}.safetensors"


def row(pipe, classifier, sets, labels, real, sampler: str, steps: int, out: Path, name: str = "", **extra) -> dict:
    """One row; `name`: the row's name in the table when it is not the sampler's (another checkpoint's or
    another guidance interval's); `extra`: further pipeline settings (guidance_interval)."""
    settings = {"scheduler": sampler, "num_inference_steps": steps, "guidance_scale": GUIDANCE, **extra}
    interval = settings.get("guidance_interval", DEFAULT_GUIDANCE_INTERVAL)
    images = images_of(pipe, sets, **settings)
    (logits, features), texture = embed(classifier, images), texture_features(classifier, images)
    features_file(out, name or sampler, steps).parent.mkdir(exist_ok=True)
    kept = {"features": features.contiguous(), "texture": texture.contiguous()}  # for paired comparisons
    save_file(kept, features_file(out, name or sampler, steps))
    right = logits.argmax(1) == labels
    class_count = len(sets[0][0]) * sets[0][1]
    quality = measure_quality(features, labels, *real["features"])
    in_texture = measure_quality(texture, labels, *real["texture"], rounds=50)
    return {
        "sampler": name or sampler,
        "steps": steps,
        "class_accuracy": right[:class_count].float().mean().item(),
        "free_form_accuracy": right[class_count:].float().mean().item(),
        **quality.as_dict(),
        "texture_frechet": in_texture.frechet,
        "texture_frechet_interval": in_texture.frechet_interval,
        "texture_frechet_floor": in_texture.frechet_floor,
        "seconds_16": seconds_for_16(pipe, **settings),
        "gflops": matmul_gflops(),
        "guidance_interval": list(interval),  # rows stored before the interval existed guided every step
    }


def stored_rows(out: Path) -> list[dict]:
    """The finished rows in OUT/rows.jsonl; a row measured twice: the newest. The features are not committed
    (benchmarks/*/features/ is ignored), so a row without them on disk keeps the ratios it was stored with."""
    rows_file = out / "rows.jsonl"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    rows = [r for r in rows if "texture_frechet" in r]
    return list({(r["sampler"], r["steps"]): r for r in rows}.values())


def compare(rows: list[dict], out: Path, reference: str, real: torch.Tensor, labels: torch.Tensor) -> None:
    """Each row's Fréchet distance over the reference row's, paired (same prompts and seeds), with its
    95% interval, into the rows as "ratio"."""
    name, steps = reference.rsplit(":", 1)
    if not features_file(out, name, int(steps)).exists():
        return
    base = load_file(features_file(out, name, int(steps)))
    reference_index, _ = matched_real_sets(labels, real["features"][1], 0)
    for r in rows:
        if features_file(out, r["sampler"], r["steps"]).exists():
            kept = load_file(features_file(out, r["sampler"], r["steps"]))
            for space, key in (("features", "ratio"), ("texture", "texture_ratio")):
                reference_features = real[space][0][reference_index]
                r[key] = paired_ratio_interval(kept[space], base[space], reference_features, 200, seed=0)


def table(rows: list[dict], reference: str = "") -> str:
    lines = [
        f"| sampler | steps | Fréchet [95%] | ÷ {reference} [95%, paired] | floor | texture Fréchet [95%] (floor) "
        f"| ÷ {reference}, texture | KID×1000 (floor) | precision | recall | class | free-form | s / 16 images "
        "| GFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["sampler"], r["steps"])):
        low, high = r["frechet_interval"]
        ratio = "{:.2f} [{:.2f}, {:.2f}]".format(*r["ratio"]) if "ratio" in r else ""
        texture_ratio = "{:.2f} [{:.2f}, {:.2f}]".format(*r["texture_ratio"]) if "texture_ratio" in r else ""
        texture_low, texture_high = r["texture_frechet_interval"]
        lines.append(
            f"| {r['sampler']} | {r['steps']} | {r['frechet']:.2f} [{low:.2f}, {high:.2f}] | {ratio} "
            f"| {r['frechet_floor']:.2f} | {r['texture_frechet']:.3f} [{texture_low:.3f}, {texture_high:.3f}] "
            f"({r['texture_frechet_floor']:.3f}) | {texture_ratio} "
            f"| {r['kid']:.2f} ({r['kid_floor']:.2f}) | {r['precision']:.2f} | {r['recall']:.2f} "
            f"| {r['class_accuracy']:.1%} | {r['free_form_accuracy']:.1%} | {r['seconds_16']:.2f} | {r['gflops']:.0f} |"
        )
    return "\n".join(lines)


def draw(rows: list[dict], path: Path) -> None:
    """Two panels, quality against seconds, one line per sampler: in the classifier's features (what is
    drawn) and in its texture statistics (how finely)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 2, figsize=(12, 5))
    for axes, key, title in ((panels[0], "frechet", "classifier features"), (panels[1], "texture_frechet", "texture")):
        for sampler in sorted({r["sampler"] for r in rows}):
            points = sorted((r for r in rows if r["sampler"] == sampler), key=lambda r: r["steps"])
            x, y = [r["seconds_16"] for r in points], [r[key] for r in points]
            errors = [[r[key] - r[f"{key}_interval"][0] for r in points],
                      [r[f"{key}_interval"][1] - r[key] for r in points]]  # fmt: skip
            axes.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=sampler)
            for r in points:
                axes.annotate(str(r["steps"]), (r["seconds_16"], r[key]), fontsize=7, xytext=(3, 3),
                              textcoords="offset points")  # fmt: skip
        floor = sum(r[f"{key}_floor"] for r in rows) / len(rows)
        axes.axhline(floor, color="grey", linestyle=":", label=f"real vs real ({floor:.3g})")
        axes.set_xscale("log")
        axes.set_xlabel(f"seconds for {TIMED_IMAGES} images (log; numbers: steps)")
        axes.set_ylabel(f"Fréchet distance, {rows[0]['images']} images (95% interval)")
        axes.set_title(f"Quality against time, in {title}")
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    parser.add_argument("--out", default="benchmarks/curve")
    parser.add_argument("--samplers", default="dpm++,unipc,ddim,euler")
    parser.add_argument("--steps", default="3,4,5,6,8,10,15,20,50")
    parser.add_argument("--class-images", type=int, default=50)
    parser.add_argument("--free-form-images", type=int, default=5)
    parser.add_argument("--settings", help="sampler:steps pairs, in the order to run them")
    parser.add_argument("--retime", action="store_true", help="only time the stored rows again")
    parser.add_argument("--reference", default="dpm++:50", help="the row every other is compared with, paired")
    parser.add_argument("--name", default="", help="these rows' name in the table, for another checkpoint's rows")
    parser.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="guide only where LOW < σ <= HIGH (inf: no upper limit); name these rows")  # fmt: skip
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_file = out / "rows.jsonl"
    rows = stored_rows(out)
    done = {(r["sampler"], r["steps"]) for r in rows}

    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    dataset = pipeline_dataset(pipe) or "fashion_mnist"
    classifier = load_classifier(default_classifier_dir(dataset), "cpu")
    classes = len(load_dataset(dataset, None, train=False).class_names)
    plain = class_prompt_set(dataset)
    plain = PromptSet("class", plain.prompts[:classes], plain.labels[:classes])  # without the label texts
    sets = [(plain, args.class_images), (free_form_set(dataset), args.free_form_images)]
    labels = torch.cat([torch.tensor(s.labels).repeat_interleave(n) for s, n in sets])
    test = load_dataset(dataset, None, train=False)
    real = {
        "features": (embed(classifier, test.images)[1], test.labels),
        "texture": (texture_features(classifier, test.images), test.labels),
    }

    if args.retime:
        for r in rows:
            if r.get("checkpoint", args.checkpoint) != args.checkpoint:  # timed with that checkpoint (--name)
                continue
            if r.get("scheduler", r["sampler"]) not in SCHEDULERS:  # a variant tried and not offered: as measured
                continue
            settings = {"scheduler": r.get("scheduler", r["sampler"]), "num_inference_steps": r["steps"],
                        "guidance_scale": GUIDANCE}  # fmt: skip
            settings["guidance_interval"] = tuple(r.get("guidance_interval", GUIDE_EVERY_STEP))
            r |= {"seconds_16": seconds_for_16(pipe, **settings), "gflops": matmul_gflops()}
        rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.settings:
        wanted = [(sampler, int(steps)) for sampler, steps in (p.rsplit(":", 1) for p in args.settings.split(","))]
    else:
        wanted = [(name, int(steps)) for name in args.samplers.split(",") for steps in args.steps.split(",")]
    for sampler, steps in wanted:
        if (args.name or sampler, steps) in done or args.retime:
            continue
        try:
            extra = {"guidance_interval": tuple(args.guidance_interval)} if args.guidance_interval else {}
            rows.append(row(pipe, classifier, sets, labels, real, sampler, steps, out, args.name, **extra))
            if args.name:  # what --retime needs to tell it from the teacher's rows and to time it again
                rows[-1] |= {"scheduler": sampler, "checkpoint": args.checkpoint, **extra}
        except Exception as error:  # a sampler that fails at this step count is a result too: say so, go on
            print(f"| {sampler} | {steps} | failed: {type(error).__name__}: {error} |", flush=True)
            continue
        done.add((args.name or sampler, steps))
        with rows_file.open("a") as file:
            file.write(json.dumps(rows[-1]) + "\n")
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    # Rows that another run of the script (another checkpoint's, --name) stored meanwhile are kept.
    mine = {(r["sampler"], r["steps"]) for r in rows}
    rows += [r for r in stored_rows(out) if (r["sampler"], r["steps"]) not in mine]
    compare(rows, out, args.reference, real, labels)
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "table.md").write_text(table(rows, args.reference) + "\n")
    draw(rows, out / "curve.png")
    print(table(rows, args.reference))


if __name__ == "__main__":
    main()
