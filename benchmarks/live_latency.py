"""Live drawing in the web UI: from a change of the prompt to its first pictures, fast model beside default.

    python benchmarks/live_latency.py [--default checkpoints/fashion-mnist] [--fast checkpoints/fashion-mnist-fast]
        [--repeats 20] [--threads 2]

Times what the server does for one keystroke with Live on, at handler level: the keystroke's ticket
(`live_ticket`), then the live run (`live`: the request checked, the pipeline at the model's stored
settings, the pictures written for the page). Network and browser time are not included. Each run
follows a change of the prompt (the prompts alternate, so nothing is reused). The handler draws one
picture first and then the other three beside it; the time to each is reported, medians of --repeats
runs after a warm-up. The default model answers the same request through the same handler, at its own
settings (5 steps with guidance). The target is under 150 ms for the fast model's first picture on 2
cores; --threads sets torch's thread count. The machine's fp32 matmul GFLOP/s is measured in the same
run, so that numbers from other machines compare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import gradio as gr
import torch
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.settings import Limits
from diffusion.ui import App
from diffusion.ui import handlers as on
from diffusion.ui.live import LIVE_IMAGES, model_defaults
from diffusion.ui.updates import IMAGE_FIELDS

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a dark", "a dark coat", "a dark coat with", "a dark coat with a hood"]  # as if typed on
SEED = 0
TARGET_MS = 150


def keystroke(app: App, prompt: str) -> tuple[float, float, str]:
    """One prompt change with Live on, through the page's handler: seconds until its first picture and
    until all of them, and the final status line."""
    request = gr.Request(session_hash="benchmark")
    start = time.perf_counter()
    ticket = on.live_ticket(app, True, request)
    times, updates = [], []
    for update in on.live(app, prompt, SEED, ticket, request):
        times.append(time.perf_counter() - start)
        updates.append(update)
    return times[0], times[-1], dict(zip(IMAGE_FIELDS, updates[-1], strict=True))["status"]


def measure(app: App, repeats: int) -> tuple[list[float], list[float]]:
    keystroke(app, "warm up")
    first, last = [], []
    for index in range(repeats):
        to_first, to_last, status = keystroke(app, PROMPTS[index % len(PROMPTS)])
        assert status.startswith(f"Live: {LIVE_IMAGES} images"), status
        first.append(to_first)
        last.append(to_last)
    return sorted(first), sorted(last)


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
        app = serving(pipe, Path(path).name)
        rows.append((label, Path(path).name, *model_defaults(pipe), *measure(app, args.repeats)))
        app.folders.cleanup()

    gflops = matmul_gflops()
    print(
        f"Live latency, through the page's handler: {torch.get_num_threads()} torch threads, "
        f"{gflops:.0f} GFLOP/s fp32 matmul, {args.repeats} prompt changes per model\n"
    )
    print(
        f"| model | folder | steps · guidance · sampler | first picture, median ms | fastest | slowest "
        f"| all {LIVE_IMAGES} pictures, median ms |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for label, name, steps, guidance, scheduler, first, last in rows:
        print(
            f"| {label} | {name} | {steps} · {guidance:g} · {scheduler} | {statistics.median(first) * 1000:.0f} "
            f"| {first[0] * 1000:.0f} | {first[-1] * 1000:.0f} | {statistics.median(last) * 1000:.0f} |"
        )
    fast_first = statistics.median(rows[0][-2]) * 1000
    print(f"\nTarget: the first live picture under {TARGET_MS} ms on 2 cores. Fast model: {fast_first:.0f} ms.")


if __name__ == "__main__":
    main()
