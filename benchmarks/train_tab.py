"""The cost of the Train tab's live views in training speed: one recipe, seed and step count, run twice in
this process, and the images/s of each beside the machine's fp32 matmul rate.

    python benchmarks/train_tab.py --config configs/quick.yaml --steps 300
    python benchmarks/train_tab.py --config configs/tiny.yaml --steps 60 --sample-every 20   # a smoke run

- command line: the run as `python -m diffusion.train` takes it (loss.csv, loss_by_level.csv; no views);
- Train tab: the run as the page starts it (its own thread, each block's gradient norm at every log, a
  network-view picture with every sample strip), with a page refreshing it every 2 s as a visitor who has
  just arrived would (train_handlers.refresh with nothing seen: every table and picture built again).

Images/s come from each run's loss.csv, from its first log row to its last, so preparing the data (the
caption bank) is not counted. Both runs draw the same sample strips (the recipe's sample_every). The
speeds are only worth comparing on a quiet machine: other work on the cores shows up as a difference.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import threading
import time
from pathlib import Path

import torch
import yaml
from machine import matmul_gflops  # benchmarks/machine.py, beside this script

from diffusion.common.config import load_config
from diffusion.sampling.settings import PIPELINE_LIMITS
from diffusion.training.train import prepare_training
from diffusion.ui import train_handlers
from diffusion.ui.state import App
from diffusion.ui.training_run import RunRequest, TrainingRuns, run_config

REFRESH_SECONDS = 2.0


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


def train_tab_run(recipe: Path, request: RunRequest, root: Path) -> tuple[float, int]:
    """(images/s, page refreshes made) of a run started as the Train tab starts one, watched by a page."""
    runs = TrainingRuns({"recipe": recipe}, root / "runs")
    app = App(pipe=None, limits=PIPELINE_LIMITS, checkpoint="", training=runs)
    run = runs.start(request)
    refreshes = 0

    def watch():
        nonlocal refreshes
        while run.thread.is_alive():
            train_handlers.refresh(app, run.key, None, None)
            refreshes += 1
            time.sleep(REFRESH_SECONDS)

    page = threading.Thread(target=watch, daemon=True)
    page.start()
    run.wait()
    page.join()
    return logged_speed(run.folder, request.batch_size)[0], refreshes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quick.yaml")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--data-dir", help="folder with the dataset files")
    parser.add_argument("--sample-every", type=int, help="a sample strip every N steps (default: the recipe's)")
    args = parser.parse_args()
    config = load_config(args.config)
    t = config.train
    if args.sample_every is not None:
        t.sample_every = args.sample_every
    request = RunRequest("recipe", t.seed, t.learning_rate, t.batch_size, args.steps, None)
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
        plain = command_line_run(recipe, request, root / "command-line")
        watched, refreshes = train_tab_run(recipe, request, root)
    print("| run | images/s | vs command line |\n|---|---|---|")
    print(f"| command line (no views) | {plain:.1f} | 1.00x |")
    tab = f"Train tab, all views, a page refreshing every {REFRESH_SECONDS:g} s"
    print(f"| {tab} | {watched:.1f} | {watched / plain:.2f}x |")
    print(f"({refreshes} page refreshes; live views' cost: {1 - watched / plain:.1%} of the training speed)")


if __name__ == "__main__":
    main()
