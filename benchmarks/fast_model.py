"""The distilled student beside its teacher and the teacher's textbook sampler, DDPM with 1000 steps.

    python benchmarks/fast_model.py [--student checkpoints/fashion-mnist-fast] [--teacher checkpoints/fashion-mnist]
        [--repeats 3] [--quality student=DIR teacher=DIR ddpm=DIR]

Each row makes 16 images of one prompt in one call; the time is the median of --repeats calls after a
warm-up. Every variant runs in a process of its own, so its peak memory (resident set, text encoder
included) is its own. DDPM-1000 is timed at 100 steps and multiplied by 10: the same step, 1000 times
instead of 100. The machine's fp32 matmul GFLOP/s is measured in the same run, so that numbers from
other machines can be compared. --quality names evaluation folders (metrics.json of
`python -m diffusion.evaluate`) whose class-prompt, free-form and Fréchet numbers join the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import torch
from machine import call_seconds, matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.common.defaults import GUIDE_EVERY_STEP

IMAGES = 16
PROMPT = "a sneaker"
DDPM_TIMED_STEPS = 100
VARIANTS = {
    # name: (which pipeline, call settings, factor from the timed run to the reported one)
    "student": ("student", {}, 1),
    "teacher": ("teacher", {}, 1),
    "teacher50": ("teacher", {"scheduler": "dpm++", "num_inference_steps": 50}, 1),
    # The textbook baseline: DDPM guided at every step (not only in the default's noise interval).
    "ddpm": (
        "teacher",
        {"scheduler": "ddpm", "num_inference_steps": DDPM_TIMED_STEPS, "guidance_interval": GUIDE_EVERY_STEP},
        1000 // DDPM_TIMED_STEPS,
    ),  # fmt: skip
}
LABELS = {
    "student": "student, its defaults",
    "teacher": "teacher, its defaults",
    "teacher50": "teacher, 50 dpm++ steps (the quality reference)",
    "ddpm": "teacher, DDPM 1000 steps, every step guided (timed at 100, x10)",
}


def run_variant(name: str, paths: dict, repeats: int) -> dict:
    """Time one variant in this process; returns a JSON-ready row."""
    from diffusion import TextToImagePipeline
    from diffusion.common.defaults import sampling_defaults

    which, kwargs, factor = VARIANTS[name]
    pipe = TextToImagePipeline.from_pretrained(paths[which], device="cpu")
    calls = []  # the batch of each UNet call: 2 x 16 where guided, 16 where not (and for the student)
    hook = pipe.unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    pipe(PROMPT, num_images_per_prompt=IMAGES, seed=0, **kwargs)  # warm-up, and the count of UNet calls
    hook.remove()
    times = call_seconds(lambda: pipe(PROMPT, num_images_per_prompt=IMAGES, seed=0, **kwargs), repeats)
    settings = sampling_defaults(pipe.generation_defaults) | kwargs
    return {
        "seconds": statistics.median(times) * factor,
        "unet_calls": len(calls) * factor,
        "batches": {str(size): count * factor for size, count in sorted(Counter(calls).items(), reverse=True)},
        "settings": settings,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def quality(folder: str | None) -> dict:
    if folder is None:
        return {}
    metrics = json.loads((Path(folder) / "metrics.json").read_text())
    free_form = metrics.get("free_form") or {}
    measured = metrics.get("quality") or {}
    return {
        "class": metrics["class_prompts"]["accuracy"],
        "free_form": free_form.get("accuracy"),
        "frechet": measured.get("frechet"),  # class and free-form images (1,200 at 10 per prompt)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", default="checkpoints/fashion-mnist-fast")
    parser.add_argument("--teacher", default="checkpoints/fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", nargs="*", default=[], metavar="NAME=DIR", help="student=, teacher=, ...")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    paths = {"student": args.student, "teacher": args.teacher}
    if args.variant:
        print(json.dumps(run_variant(args.variant, paths, args.repeats)))
        return

    folders = dict(item.split("=", 1) for item in args.quality)
    gflops = matmul_gflops(size=1024, repeats=20)
    rows = {}
    for name in VARIANTS:
        models = ["--student", args.student, "--teacher", args.teacher]
        child = [sys.executable, __file__, "--variant", name, *models, "--repeats", str(args.repeats)]
        output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        rows[name] = json.loads(output.strip().splitlines()[-1])
    gflops_after = matmul_gflops(size=1024, repeats=20)
    baseline = rows["ddpm"]["seconds"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul {gflops:.0f} GFLOP/s "
        f"before and {gflops_after:.0f} after the timings; {IMAGES} images of {PROMPT!r} per call"
    )
    print(
        "| variant | settings | UNet calls (calls × batch) | seconds | images/s | vs DDPM-1000 | peak MiB "
        "| class prompts | free-form | Fréchet (class and free-form images) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        q = quality(folders.get(name))
        s = row["settings"]
        settings = f"{s['scheduler']} {s['num_inference_steps']}, w {s['guidance_scale']:g}"
        batches = " + ".join(f"{count}×{size}" for size, count in row["batches"].items())
        print(
            f"| {LABELS[name]} | {settings} | {row['unet_calls']} ({batches}) | {row['seconds']:.2f} "
            f"| {IMAGES / row['seconds']:.1f} | {baseline / row['seconds']:.0f}x | {row['peak_mib']:.0f} "
            f"| {fmt(q.get('class'))} | {fmt(q.get('free_form'))} | {fmt(q.get('frechet'), pct=False)} |"
        )


def fmt(value, pct: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if pct else f"{value:.2f}"


if __name__ == "__main__":
    main()
