"""Following a training loop on the command line: loss.csv, loss_by_level.csv, and the progress bar with the
run's messages.
Each is a watcher, a callable given every LoopEvent (follow); the loop does not know who watches."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from pathlib import Path

from tqdm.auto import tqdm

from ..common.folders import write_text_atomic
from .loop import FALL, INTERRUPTED, LOG, STEP, STOP, TIME_UP, LoopEvent


def follow(events: Iterable[LoopEvent], *watchers: Callable[[LoopEvent], None]) -> None:
    """Hand each event to every watcher, in order."""
    for event in events:
        for watch in watchers:
            watch(event)


class LossLog:
    """loss.csv: a row per LOG event, written by the main process only (`enabled`). Each row is appended and
    the file closed again at once, so the log survives any interruption. `label_columns` name the events'
    labels written after the step (distillation's stage)."""

    def __init__(self, path: Path, label_columns: tuple[str, ...] = (), enabled: bool = True):
        self.path, self.label_columns, self.enabled = path, tuple(label_columns), enabled

    def start(self, step: int) -> float:
        """A new log for a run at step 0 (or one without a log), else the log kept up to `step`: a run killed
        between checkpoints logged steps that the resumed run takes again, and each step belongs in the log
        once. Returns the last kept loss (NaN if none), from which the smoothed loss continues."""
        if not self.enabled:
            return math.nan
        lines = self.path.read_text().splitlines(keepends=True) if step > 0 and self.path.exists() else []
        if not lines:
            self._append(self.columns(), mode="w")
            return math.nan
        kept = [line for line in lines[1:] if line.endswith("\n") and logged_step(line) <= step]
        write_text_atomic(self.path, "".join(lines[:1] + kept))
        header = lines[0].rstrip().split(",")
        if "loss" not in header or not kept:
            return math.nan
        return float(kept[-1].split(",")[header.index("loss")])

    def columns(self) -> list[str]:
        return ["step", *self.label_columns, "loss", "lr", "images_per_s", "elapsed_s"]

    def row(self, event: LoopEvent) -> list | None:
        """The row for `event`, or None if it gets none."""
        if event.kind != LOG:
            return None
        labels = [event.labels[name] for name in self.label_columns]
        loss, lr, speed, elapsed = event.smoothed_loss, event.lr, event.images_per_s, event.elapsed_s
        return [event.step, *labels, f"{loss:.5f}", f"{lr:.3e}", f"{speed:.1f}", f"{elapsed:.1f}"]

    def __call__(self, event: LoopEvent) -> None:
        if self.enabled and (row := self.row(event)) is not None:
            self._append(row)

    def _append(self, row: list, mode: str = "a") -> None:
        with open(self.path, mode, newline="") as file:
            csv.writer(file).writerow(row)


class LevelLog(LossLog):
    """loss_by_level.csv: at each LOG event, the mean unweighted error in each noise-level bin since the last
    (noise_levels.py); a file of its own, so that loss.csv keeps its columns for its readers."""

    def __init__(self, path: Path, level_names: list[str], enabled: bool = True):
        super().__init__(path, enabled=enabled)
        self.level_names = list(level_names)

    def columns(self) -> list[str]:
        return ["step", *self.level_names]

    def row(self, event: LoopEvent) -> list | None:
        if event.kind != LOG or len(event.loss_by_level) != len(self.level_names):
            return None
        return [event.step, *(f"{loss:.5f}" for loss in event.loss_by_level)]


def logged_step(line: str) -> float:
    """The step of a loss.csv row; infinity for a line that is not a complete row."""
    first = line.split(",")[0]
    return int(first) if first.isdigit() and "," in line else math.inf


class Console:
    """The progress bar (loss, learning rate and images/s at each LOG event) and the loop's stops in words,
    on the main process only (`enabled`)."""

    def __init__(self, description: str, total: int, initial: int, enabled: bool = True):
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=initial, desc=description, unit="step", disable=not enabled)

    def say(self, message: str) -> None:
        if self.enabled:
            self.bar.write(message)  # above the bar, which stays whole

    def describe(self, description: str) -> None:
        self.bar.set_description(description)

    def __call__(self, event: LoopEvent) -> None:
        if event.kind == STEP:
            self.bar.update(1)
        elif event.kind == LOG:
            loss, lr, speed = f"{event.smoothed_loss:.4f}", f"{event.lr:.2e}", f"{event.images_per_s:.0f}"
            self.bar.set_postfix(loss=loss, lr=lr, img_s=speed)
        elif event.kind == FALL:
            first, last = event.lr_fall
            self.bar.total = last
            self.bar.refresh()
            self.say(f"from step {first} the learning rate falls to zero by step {last}, where the time budget ends")
        elif event.kind == STOP and event.reason == INTERRUPTED:
            self.bar.close()
            self.say(f"\ninterrupted at step {event.step}; saving a checkpoint first")
        elif event.kind == STOP and event.reason == TIME_UP:
            self.say(f"\ntime budget reached at step {event.step}")

    def close(self) -> None:
        self.bar.close()
