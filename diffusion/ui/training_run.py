"""A training run started from the web page: one per server (the run lock), trained in a process of its own.

The process (training_worker.py) runs the one training loop (train.prepare_training, loop.py) exactly as the
command line does and writes the same run folder (loss.csv, samples, checkpoints, pipeline/), plus what only the page
shows: each block's gradient norm and the pictures of what the network sees (network_view/). It outlives the page
that started it: every visitor's page polls `view()` and shows what it finds. Only the browser holding the
run's key (handed to it at Start) may pause, resume or stop it; everyone else watches. A thread here follows
the process's news into the run's view. Pausing holds the loop between two steps; stopping asks the loop to
stop, which saves a checkpoint; a process that dies without a word is reported as failed.
Nothing here knows Gradio or makes pictures.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest.mock import patch

from ..common.config import Config, load_config
from ..common.errors import UserError
from ..common.folders import resolve_pipeline_folder
from ..common.openmp import train_tab_environment
from ..training.loop import (
    CHECKPOINT,
    DIVERGED,
    DONE,
    INTERRUPTED,
    LOG,
    SAMPLE,
    STEP,
    STOP,
    STOPPED,
    TIME_UP,
    LoopEvent,
)
from .training_worker import EVENT, EXPORTING, FINAL, GOING, HELD, PAUSE, PREPARED, RESUME, train_in_process
from .training_worker import STOP as STOP_ORDER

# What a run is doing; the last four are ends.
PREPARING, TRAINING, PAUSED, SAVING = "preparing", "training", "paused", "saving"
FINISHED, HALTED, BROKEN, FAILED = "finished", "stopped", "diverged", "failed"
ENDED = (FINISHED, HALTED, BROKEN, FAILED)
MAX_MINUTES, MAX_BATCH = 120.0, 512  # one visitor may not hold the server's cores for ever


@dataclass(frozen=True)
class RunRequest:
    """What a visitor asked for: a recipe by name, and the settings the page lets them change."""

    recipe: str
    seed: int
    learning_rate: float
    batch_size: int
    max_steps: int
    max_minutes: float | None  # None: no time budget


@dataclass
class RunView:
    """A copy of a run's state for one page refresh; `version` changes whenever anything else does."""

    number: int
    recipe: str
    folder: Path
    status: str
    message: str
    version: int
    max_steps: int
    deadline: float | None
    steps: list[int] = field(default_factory=list)  # one entry per step: its loss, smoothed loss, grad norm
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    lr: float = math.nan
    images_per_s: float = math.nan
    samples: list[tuple[int, Path]] = field(default_factory=list)  # (step, the sample strip's file)
    checkpoint_step: int | None = None  # the newest checkpoint's step
    level_steps: list[int] = field(default_factory=list)  # one entry per LOG event: its loss by noise level
    level_losses: list[tuple[float, ...]] = field(default_factory=list)
    block_norms: tuple[tuple[str, float], ...] = ()  # the newest LOG event's gradient norm of each block
    network_views: dict[int, Path] = field(default_factory=dict)  # step: what the network sees, drawn with its strip
    network_view_caption: str = ""

    @property
    def step(self) -> int:
        return self.steps[-1] if self.steps else 0

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def run_config(recipe: Path, request: RunRequest, folder: Path) -> Config:
    """The recipe's config with the visitor's settings, checked as the command line checks its flags."""
    config = load_config(recipe)
    t = config.train
    if not 1 <= request.batch_size <= MAX_BATCH:
        raise UserError(f"batch size must be 1 to {MAX_BATCH}, got {request.batch_size}")
    if not (request.learning_rate > 0 and math.isfinite(request.learning_rate)):
        raise UserError(f"learning rate must be above 0, got {request.learning_rate}")
    if request.max_steps < 1:
        raise UserError(f"steps must be at least 1, got {request.max_steps}")
    if request.max_minutes is not None and not 0 < request.max_minutes <= MAX_MINUTES:
        raise UserError(f"minutes must be above 0 and at most {MAX_MINUTES:g}, got {request.max_minutes:g}")
    t.seed, t.learning_rate, t.batch_size = request.seed, request.learning_rate, request.batch_size
    t.max_steps, t.max_minutes, t.output_dir = request.max_steps, request.max_minutes, str(folder)
    t.checkpoint_every = min(t.checkpoint_every or request.max_steps, request.max_steps)
    return config


class TrainingRun:
    """One run, training in a process of its own (training_worker.py) and followed here on a thread that keeps
    its view. `view()` for the pages; `pause`, `resume`, `stop` for the key's holder."""

    def __init__(self, number: int, recipe: str, config: Config, key: str):
        self.number, self.recipe, self.config, self.key = number, recipe, config, key
        self.folder = Path(config.train.output_dir)
        self._lock = threading.Lock()
        self._view = RunView(number, recipe, self.folder, PREPARING, "", 0, config.train.max_steps, None)
        self._paused = self._stop_asked = False
        processes = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or torch state copied
        self._news, self._orders = processes.Queue(), processes.Queue()
        command = f"web page, Train tab, recipe {recipe}"
        self.process = processes.Process(
            target=train_in_process, args=(config, command, self._news, self._orders), name=f"training-run-{number}"
        )
        self.process.daemon = True  # a server that exits stops it (SIGTERM: the loop saves a checkpoint)
        self.thread = threading.Thread(target=self._follow, name=f"training-run-{number}", daemon=True)

    def start(self) -> None:
        with patch.dict(os.environ, train_tab_environment()):  # read by the new process's OpenMP as it loads
            self.process.start()
        self.thread.start()

    def view(self) -> RunView:
        with self._lock:
            v = self._view
            lists = dict(
                steps=v.steps, losses=v.losses, smoothed=v.smoothed, grad_norms=v.grad_norms, samples=v.samples
            )
            lists |= dict(level_steps=v.level_steps, level_losses=v.level_losses)
            copied = {name: list(values) for name, values in lists.items()}
            return replace(v, **copied, network_views=dict(v.network_views))

    def pause(self) -> None:
        """Hold the run after the step in flight; the status says "paused" once it holds (the HELD news), so a
        page that reads "paused" never sees one more step come in."""
        with self._lock:
            if self._view.status == TRAINING and not self._paused:
                self._paused = True
                self._orders.put(PAUSE)

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                self._paused = False
                self._set(status=TRAINING)
                self._orders.put(RESUME)

    def stop(self) -> None:
        """Stop after the step in flight; the loop saves a checkpoint. A paused run is woken for it."""
        with self._lock:
            if self._view.ended or self._stop_asked:
                return
            self._stop_asked, self._paused = True, False
            self._set(status=SAVING, message="Stopping: the step in flight finishes, then a checkpoint is saved.")
            self._orders.put(STOP_ORDER)

    def pipeline_folder(self) -> Path:
        """The run's newest pipeline (its final one, or its newest checkpoint's), as `diffusion.sample` finds it."""
        return resolve_pipeline_folder(self.folder)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (its process, and this side's view of it); whether it has."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _set(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self._view, name, value)
        self._view.version += 1

    def _follow(self) -> None:
        """Keep the view up to date with the process's news until its FINAL news, or until it dies without one."""
        while True:
            try:
                kind, value = self._news.get(timeout=1.0)
            except queue.Empty:
                if self.process.is_alive():
                    continue
                try:  # its last news may still be on its way out of the pipe
                    kind, value = self._news.get(timeout=1.0)
                except queue.Empty:
                    self._died()
                    return
            if kind == FINAL:
                self._ended(*value)
                self.process.join()
                return
            self._hear(kind, value)

    def _hear(self, kind: str, value) -> None:
        if kind == EVENT:
            self._record(value)
            return
        with self._lock:
            if kind == PREPARED:
                deadline, caption = value
                self._set(status=SAVING if self._stop_asked else TRAINING, deadline=deadline)
                self._set(network_view_caption=caption)
            elif kind == HELD and self._paused:  # not when resumed or stopped since
                self._set(status=PAUSED)
            elif kind == GOING:
                self._set(deadline=value)
            elif kind == EXPORTING:
                self._set(status=SAVING)

    def _record(self, event: LoopEvent) -> None:
        with self._lock:
            v = self._view
            if event.kind == STEP:
                v.steps.append(event.step)
                v.losses.append(event.batch_loss)
                v.smoothed.append(event.smoothed_loss)
                v.grad_norms.append(event.grad_norm)
                v.lr = event.lr
            elif event.kind == LOG:  # images/s over the steps since the last log row, as loss.csv has it
                v.images_per_s = event.images_per_s
                if event.loss_by_level:
                    v.level_steps.append(event.step)
                    v.level_losses.append(event.loss_by_level)
                v.block_norms = event.block_grad_norms or v.block_norms
            elif event.kind == SAMPLE:
                v.samples.append((event.step, event.path))
                if event.network_view is not None:
                    v.network_views[event.step] = event.network_view
            elif event.kind == CHECKPOINT:
                v.checkpoint_step = event.step
            elif event.kind == STOP and event.reason == STOPPED:
                v.message = f"Stopped at step {event.step}; saving a checkpoint and the final pipeline."
            self._set()

    def _ended(self, why: str, message: str) -> None:
        status = {DIVERGED: BROKEN, STOPPED: HALTED, INTERRUPTED: HALTED, DONE: FINISHED, TIME_UP: FINISHED}
        with self._lock:
            self._set(status=status.get(why, FAILED), message=message)

    def _died(self) -> None:
        """The process ended without a word (killed, out of memory): say so; its checkpoints stay in the folder."""
        code = self.process.exitcode
        with self._lock:
            self._set(
                status=FAILED,
                message=f"the training process ended unexpectedly (exit code {code}); the server's log may say why. "
                f"Its checkpoints are kept in {self.folder}",
            )


class TrainingRuns:
    """The server's run slot: at most one run trains at a time; the newest run stays on view after it ends."""

    def __init__(self, recipes: dict[str, Path], root: Path):
        self.recipes, self.root = dict(recipes), Path(root)
        self._lock = threading.Lock()
        self._count = 0
        self.current: TrainingRun | None = None

    def start(self, request: RunRequest) -> TrainingRun:
        """Start a run, or say why not (a run is training, a setting is wrong). Its key is `run.key`."""
        if request.recipe not in self.recipes:
            raise UserError(f"unknown recipe {request.recipe!r}; choose one of {', '.join(self.recipes)}")
        with self._lock:
            if self.current is not None and not self.current.view().ended:
                raise UserError(busy_message(self.current))
            number = self._count + 1
            folder = self.root / f"{time.strftime('%Y%m%d-%H%M%S')}-{request.recipe}-run{number}"
            config = run_config(self.recipes[request.recipe], request, folder)
            self._count, self.current = number, TrainingRun(number, request.recipe, config, secrets.token_hex(16))
            self.current.start()
            return self.current

    def owned(self, key: str | None) -> TrainingRun | None:
        """The current run if `key` is its key (the browser that started it), else None."""
        run = self.current
        return run if run is not None and key and secrets.compare_digest(run.key, key) else None


def busy_message(run: TrainingRun) -> str:
    return (
        f"run {run.number} ({run.recipe}) is training on this server; one run at a time, so that it has the "
        "cores to itself. You can watch it here; its starter can stop it, or start one when it has ended"
    )
