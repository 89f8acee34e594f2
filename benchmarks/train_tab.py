"""The cost of the Train tab's live views in training speed: one recipe, seed and step count, each phase in
a process of its own, and the images/s of each beside the machine's fp32 matmul rate.

    python benchmarks/train_tab.py --config configs/quick.yaml --steps 300
    python benchmarks/train_tab.py --config configs/tiny.yaml --steps 60 --sample-every 20   # a smoke run

- command line: the run as `python -m diffusion.train` takes it (loss.csv, loss_by_level.csv; no views);
- Train tab: the run as the page starts it (its own process, each block's gradient norm at every log, a
  network-view picture with every sample strip) from a process that has drawn with the shipped model on its
  main thread first, as a web server has (the torch state a run on a server thread would inherit), with a
  page refreshing it every 2 s as a visitor who has just arrived would (train_handlers.refresh with nothing
  seen: every table and picture built again);
- Train tab and another visitor: the same, while a second visitor draws text-to-image with the shipped
  model (4 images at the default settings, one after another): that visitor's seconds per run against the
  same runs on an idle machine, and what the drawing costs the training.

Images/s come from each run's loss.csv, from its first log row to its last, so preparing the data (the
caption bank) is not counted. Both runs draw the same sample strips (the recipe's sample_every). The
speeds are only worth comparing on a quiet machine: other work on the cores shows up as a difference.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import yaml
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.common.config import load_config
from diffusion.common.folders import SHIPPED_PIPELINE
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.settings import PIPELINE_LIMITS
from diffusion.training.train import prepare_training
from diffusion.ui import train_handlers
from diffusion.ui.state import App
from diffusion.ui.training_run import RunRequest, TrainingRuns, run_config

REFRESH_SECONDS = 2.0
VISITOR_PROMPT, VISITOR_IMAGES, IDLE_RUNS = "a dark coat", 4, 5


def logged_speed(run: Path, batch_size: int) -> tuple[float, int]:
    """(images/s between the first and the last row of loss.csv, steps between them)."""
    with open(run / "loss.csv") as file:
        rows = list(csv.DictReader(file))
    first, last = rows[0], rows[-1]
    steps = int(last["step"]) - int(first["step"])
    return steps * batch_size / (float(last["elapsed_s"]) - float(first["elapsed_s"])), steps


def command_line_run(recipe: Path, request: RunRequest, folder: Path) -> float:
    training = prepare_training(run_config(recipe, request, folder))
    for event in training.events():
        training.write_logs(event)
    return logged_speed(folder, request.batch_size)[0]


def visitor_seconds(pipe: TextToImagePipeline, seed: int) -> float:
    start = time.perf_counter()
    pipe(VISITOR_PROMPT, num_images_per_prompt=VISITOR_IMAGES, seed=seed)
    return time.perf_counter() - start


def train_tab_run(
    recipe: Path, request: RunRequest, root: Path, visitor: TextToImagePipeline | None = None
) -> tuple[float, int, list[float]]:
    """(images/s, page refreshes made, the visitor's seconds per text-to-image run) of a run started as the
    Train tab starts one, watched by a page, and drawn beside by `visitor` when given."""
    runs = TrainingRuns({"recipe": recipe}, root / "runs")
    app = App(pipe=None, limits=PIPELINE_LIMITS, checkpoint="", training=runs)
    run = runs.start(request)
    refreshes, drawn = 0, []

    def watch():
        nonlocal refreshes
        while run.thread.is_alive():
            train_handlers.refresh(app, run.key, None, None)
            refreshes += 1
            time.sleep(REFRESH_SECONDS)

    def draw():
        while run.thread.is_alive():
            drawn.append(visitor_seconds(visitor, len(drawn)))

    helpers = [threading.Thread(target=job, daemon=True) for job in ([watch, draw] if visitor else [watch])]
    for helper in helpers:
        helper.start()
    run.wait()
    for helper in helpers:
        helper.join()
    return logged_speed(run.folder, request.batch_size)[0], refreshes, drawn[:-1] or drawn  # the last ran alone


PHASES = ("command line", "Train tab", "idle visitor", "Train tab and visitor")


def in_own_process(phase: str, recipe: Path, steps: int, root: Path):
    """One phase in a process of its own: a thread that has run torch leaves its OpenMP threads behind,
    which halve the speed of torch on another thread of the same process (measured: 172 images/s on the
    main thread, then 85 on a run's thread), so phases sharing a process would measure each other. (This is
    also why the Train tab trains in a process of its own: training_worker.py.)"""
    child = [sys.executable, __file__, "--phase", phase, "--recipe", str(recipe), "--steps", str(steps)]
    output = subprocess.run([*child, "--root", str(root)], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def phase_result(phase: str, recipe: Path, steps: int, root: Path):
    config = load_config(recipe)
    t = config.train
    request = RunRequest("recipe", t.seed, t.learning_rate, t.batch_size, steps, None)
    folder = root / phase.replace(" ", "-")
    if phase == "command line":
        return command_line_run(recipe, request, folder)
    visitor = TextToImagePipeline.from_pretrained(SHIPPED_PIPELINE, device="cpu")
    if phase == "idle visitor":
        return [visitor_seconds(visitor, seed) for seed in range(IDLE_RUNS + 1)][1:]  # the first warms up
    visitor_seconds(visitor, seed=0)  # torch has run on the main thread, as in a web server
    return train_tab_run(recipe, request, folder, visitor if phase == "Train tab and visitor" else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quick.yaml")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--data-dir", help="folder with the dataset files")
    parser.add_argument("--sample-every", type=int, help="a sample strip every N steps (default: the recipe's)")
    for hidden in ("--phase", "--recipe", "--root"):  # a child process's job
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase_result(args.phase, Path(args.recipe), args.steps, Path(args.root))))
        return
    config = load_config(args.config)
    t = config.train
    if args.sample_every is not None:
        t.sample_every = args.sample_every
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 matmul {matmul_gflops():.0f} GFLOP/s; "
        f"{args.config}, batch {t.batch_size}, {args.steps} steps, a sample strip every {t.sample_every}, "
        f"a log row every {t.log_every}"
    )
    with tempfile.TemporaryDirectory(prefix="train-tab-benchmark-") as folder:
        root = Path(folder)
        values = config.to_dict()
        if args.data_dir:
            values["data"]["data_dir"] = args.data_dir
        recipe = root / "recipe.yaml"
        recipe.write_text(yaml.safe_dump(values))
        measured = {phase: in_own_process(phase, recipe, args.steps, root) for phase in PHASES}
    plain, (watched, refreshes, _), idle = measured["command line"], measured["Train tab"], measured["idle visitor"]
    shared, _, drawn = measured["Train tab and visitor"]
    print("| run | training images/s | vs command line |\n|---|---|---|")
    print(f"| command line (no views) | {plain:.1f} | 1.00x |")
    tab = f"Train tab, all views, a page refreshing every {REFRESH_SECONDS:g} s"
    print(f"| {tab} | {watched:.1f} | {watched / plain:.2f}x |")
    print(f"| the same, another visitor drawing text-to-image throughout | {shared:.1f} | {shared / plain:.2f}x |")
    print(f"({refreshes} page refreshes; live views' cost: {1 - watched / plain:.1%} of the training speed)")
    visitor_runs = f"{VISITOR_IMAGES} images of {VISITOR_PROMPT!r} at the default settings"
    print(f"\nThe other visitor, {visitor_runs}, seconds per run:")
    print("| machine | median | runs | vs idle |\n|---|---|---|---|")
    print(f"| idle | {statistics.median(idle):.2f} | {len(idle)} | 1.00x |")
    during = statistics.median(drawn)
    print(f"| while a Train tab run trains | {during:.2f} | {len(drawn)} | {during / statistics.median(idle):.2f}x |")


if __name__ == "__main__":
    main()
