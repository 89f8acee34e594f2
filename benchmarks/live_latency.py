"""Live drawing in the web UI: from a change of the prompt to its first pictures, fast model beside default.

    python benchmarks/live_latency.py [--default checkpoints/fashion-mnist] [--fast checkpoints/fashion-mnist-fast]
        [--repeats 20] [--threads 2]

Times what the server does for one keystroke with Live on, at handler level: the keystroke's ticket
(`live_ticket`), then the live run (`live`: the request checked, the pipeline at the model's stored
settings, the pictures written for the page). Network and browser time are not included. Each run
follows a change of the prompt (the prompts alternate, so nothing is reused), at 4 images (the page's
Live) and at 1; the time is the median of --repeats runs after a warm-up. The default model answers the
same request through the same handler, at its own stored settings (20 steps with guidance). The target
is under 150 ms for the fast model's first image on 2 cores; --threads sets torch's thread count. The
machine's fp32 matmul GFLOP/s is measured in the same run, so that numbers from other machines compare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import gradio as gr
import torch
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.pipeline import TextToImagePipeline
from diffusion.settings import Limits
from diffusion.ui import App
from diffusion.ui import handlers as on
from diffusion.ui.live import LIVE_IMAGES, live_update, model_defaults
from diffusion.ui.updates import IMAGE_FIELDS

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a dark", "a dark coat", "a dark coat with", "a dark coat with a hood"]  # as if typed on
SEED = 0
TARGET_MS = 150


def keystroke(app: App, prompt: str, images: int) -> tuple[float, str]:
    """One prompt change with Live on: seconds until the pictures are ready, and the status line."""
    request = gr.Request(session_hash="benchmark")
    start = time.perf_counter()
    ticket = on.live_ticket(app, True, request)
    if images == LIVE_IMAGES:  # the page's request, through its handler
        (values,) = list(on.live(app, prompt, SEED, ticket, request))
    else:  # what that handler runs, at another image count
        update = live_update(app.fast, prompt, SEED, images, lambda: app.tickets.is_current("benchmark", ticket))
        values = update.values(IMAGE_FIELDS)
    seconds = time.perf_counter() - start
    return seconds, dict(zip(IMAGE_FIELDS, values, strict=True))["status"]


def measure(app: App, images: int, repeats: int) -> list[float]:
    keystroke(app, "warm up", images)
    times = []
    for index in range(repeats):
        seconds, status = keystroke(app, PROMPTS[index % len(PROMPTS)], images)
        assert status.startswith("Live:"), status
        times.append(seconds)
    return times


def serving(pipe: TextToImagePipeline, name: str) -> App:
    """An App whose Live model is `pipe`: the default model then answers through the same handler."""
    pipe.training_record = {}  # no caption index: the page's notes are not part of a live run
    return App.serving(pipe, Limits(), name, pipe, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", default=str(ROOT / "checkpoints" / "fashion-mnist"))
    parser.add_argument("--fast", default=str(ROOT / "checkpoints" / "fashion-mnist-fast"))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    for label, path in (("fast", args.fast), ("default", args.default)):
        pipe = TextToImagePipeline.from_pretrained(path, device="cpu")
        steps, guidance, scheduler = model_defaults(pipe)
        app = serving(pipe, Path(path).name)
        for images in (1, LIVE_IMAGES):
            times = sorted(measure(app, images, args.repeats))
            rows.append((label, Path(path).name, images, steps, guidance, scheduler, times))
        app.folders.cleanup()

    gflops = matmul_gflops()
    print(f"Live latency, handler level: {torch.get_num_threads()} torch threads, "
          f"{gflops:.0f} GFLOP/s fp32 matmul, median of {args.repeats} prompt changes\n")  # fmt: skip
    print("| model | folder | images | steps · guidance · sampler | median ms | fastest ms | slowest ms |")
    print("|---|---|---:|---|---:|---:|---:|")
    for label, name, images, steps, guidance, scheduler, times in rows:
        median = statistics.median(times) * 1000
        print(
            f"| {label} | {name} | {images} | {steps} · {guidance:g} · {scheduler} | {median:.0f} "
            f"| {times[0] * 1000:.0f} | {times[-1] * 1000:.0f} |"
        )
    fast = {row[2]: statistics.median(row[-1]) * 1000 for row in rows if row[0] == "fast"}
    print(f"\nTarget: the first live image under {TARGET_MS} ms on 2 cores. Fast model: {fast[LIVE_IMAGES]:.0f} ms "
          f"for the page's {LIVE_IMAGES} images, {fast[1]:.0f} ms for 1.")  # fmt: skip


if __name__ == "__main__":
    main()
