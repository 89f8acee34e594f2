"""What the Train tab shows of a run (training_run.RunView): the status line, the plots' tables, the times.

Plain functions of a view, no Gradio: the loss (raw and smoothed), the loss by noise level and the gradient
norm as long tables for gr.LinePlot, thinned to a few hundred points so that a long run stays quick to draw,
and the newest gradient norm of each block for gr.BarPlot.
"""

from __future__ import annotations

import math
import time

import pandas as pd

from .text import as_text, plural
from .training_run import BROKEN, FAILED, FINISHED, HALTED, PAUSED, PREPARING, SAVING, TRAINING, RunView

PLOT_POINTS = 400  # at most this many points per line

STATUS_WORDS = {
    PREPARING: "preparing the data and the caption bank",
    TRAINING: "training",
    PAUSED: "paused",
    SAVING: "saving",
    FINISHED: "finished",
    HALTED: "stopped",
    BROKEN: "diverged",
    FAILED: "failed",
}


def thinned(count: int) -> range:
    """Indices of every k-th point (and the last), at most about PLOT_POINTS of them."""
    stride = max(1, math.ceil(count / PLOT_POINTS))
    picked = list(range(0, count, stride))
    if count and picked[-1] != count - 1:
        picked.append(count - 1)
    return picked


LOSS_COLUMNS, GRADIENT_COLUMNS = ["step", "loss", "series"], ["step", "gradient norm"]
LEVEL_COLUMNS, BLOCK_COLUMNS = ["step", "loss", "noise level"], ["block", "gradient norm"]


def typed(rows: list, columns: list[str]) -> pd.DataFrame:
    """A table whose columns have their types even when it is empty: the plot reads its axes' kinds from them."""
    kinds = {"step": "int64", "loss": "float64", "gradient norm": "float64", "series": "object"}
    kinds |= {"noise level": "object", "block": "object"}
    return pd.DataFrame(rows, columns=columns).astype({name: kinds[name] for name in columns})


def loss_table(view: RunView) -> pd.DataFrame:
    """Loss against step: each step's batch loss ("loss") and its moving average ("smoothed")."""
    rows = []
    for i in thinned(len(view.steps)):
        for series, values in (("loss", view.losses), ("smoothed", view.smoothed)):
            if math.isfinite(values[i]):
                rows.append((view.steps[i], values[i], series))
    return typed(rows, LOSS_COLUMNS)


def gradient_table(view: RunView) -> pd.DataFrame:
    """The whole model's gradient norm (before clipping) against step."""
    rows = [(view.steps[i], view.grad_norms[i]) for i in thinned(len(view.steps)) if math.isfinite(view.grad_norms[i])]
    return typed(rows, GRADIENT_COLUMNS)


def level_table(view: RunView, names: list[str]) -> pd.DataFrame:
    """The loss by noise level against step: a line per timestep bin (`names`: noise_levels.level_names),
    each point the mean unweighted error of the images in that bin since the log before."""
    rows = []
    for i in thinned(len(view.level_steps)):
        for name, loss in zip(names, view.level_losses[i], strict=True):
            if math.isfinite(loss):
                rows.append((view.level_steps[i], loss, name))
    return typed(rows, LEVEL_COLUMNS)


def block_table(view: RunView) -> pd.DataFrame:
    """Each block's gradient norm (before clipping) at the newest log, in the network's order."""
    return typed([(name, norm) for name, norm in view.block_norms if math.isfinite(norm)], BLOCK_COLUMNS)


def minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def time_left(view: RunView, batch_size: int, now: float | None = None) -> float | None:
    """Seconds until the step budget (at the current speed) or the time budget ends, whichever comes first."""
    now = time.time() if now is None else now
    left = []
    if view.images_per_s > 0 and math.isfinite(view.images_per_s):
        left.append((view.max_steps - view.step) * batch_size / view.images_per_s)
    if view.deadline is not None:
        left.append(view.deadline - now)
    return min(left) if left else None


def status_line(view: RunView, batch_size: int, owner: bool) -> str:
    """Run number, state, step, loss, learning rate, speed, time left, newest checkpoint; then its message."""
    whose = "started from this browser"
    if not owner:
        whose = "started by another visitor: you watch it read-only; one run at a time per server"
    parts = [f"**Run {view.number}** ({view.recipe}, {whose}) · {STATUS_WORDS[view.status]}"]
    if view.steps:
        parts.append(f"step {view.step} of {view.max_steps}")
        parts.append(f"loss {view.smoothed[-1]:.4f} (smoothed)" if math.isfinite(view.smoothed[-1]) else "loss –")
        parts.append(f"learning rate {view.lr:.2e}")
    if math.isfinite(view.images_per_s):
        parts.append(f"{view.images_per_s:.0f} images/s")
    left = time_left(view, batch_size)
    if left is not None and view.status in (TRAINING, PAUSED):
        parts.append(f"{minutes(left)} left")
    if view.checkpoint_step is not None:
        parts.append(f"newest checkpoint: step {view.checkpoint_step}")
    line = " · ".join(parts)
    return f"{line}\n\n{view.message}" if view.message else line


def network_view_label(view: RunView, step: int, timesteps) -> str:
    """What the network-view picture shows: which image, which timesteps, which weights."""
    shown = ", ".join(str(t) for t in timesteps)
    return (
        f"What the network sees at step {step}: one training image, captioned “{as_text(view.network_view_caption)}”, "
        f"noised to t = {shown} (left to right, more noise to the right), given to the EMA weights. Rows: the "
        "noisy input x_t, the true noise, the noise the network predicts, the clean image it predicts x0."
    )


def sample_label(view: RunView, index: int, prompts: list[str]) -> str:
    """What the sample strip shows: the step it was drawn at, and its prompts left to right."""
    step = view.samples[index][0]
    return f"Samples at step {step} ({plural(len(view.samples), 'strip')} so far), left to right: " + ", ".join(
        f"“{p}”" for p in prompts
    )
