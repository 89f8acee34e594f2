"""What the Train tab's buttons and its timer do, over the App's run slot (training_run.TrainingRuns).

The browser that starts a run keeps the run's key (a gr.BrowserState, so a reopened tab still holds it);
pause, resume and stop need it. Every page, the starter's or not, refreshes from the run's view every few
seconds, and only when the run changed since that page last looked (its `seen` version), so an idle page
costs nothing and the plots do not flicker.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import PIL.Image

from ..common.config import load_config
from ..common.errors import UserError
from ..sampling.imageio import enlarge
from ..training.network_view import VIEW_TIMESTEPS
from ..training.noise_levels import level_names
from .files import picture
from .network_picture import labelled_network_view
from .state import App
from .text import as_text
from .train_views import (
    block_table,
    gradient_table,
    level_table,
    loss_table,
    network_view_label,
    sample_label,
    status_line,
)
from .training_run import PAUSED, TRAINING, RunRequest, busy_message

# The outputs of refresh(), in this order.
PLOTS = ("status", "loss", "levels", "gradient", "blocks")
PICTURES = ("sample", "sample_note", "network_view", "network_note")  # what scrub() changes too
REFRESHED = (*PLOTS, *PICTURES, "scrubber", "start", "pause", "resume", "stop")


def recipe_settings(app: App, recipe: str) -> tuple:
    """A recipe's own seed, learning rate, batch size, steps and minutes (0: no time budget), for the fields."""
    if recipe not in app.training.recipes:
        return (gr.skip(),) * 5
    t = load_config(app.training.recipes[recipe]).train
    return t.seed, t.learning_rate, t.batch_size, t.max_steps, t.max_minutes or 0


def start(app: App, recipe, seed, learning_rate, batch_size, max_steps, minutes, key):
    """Start a run: its key into this browser, a note; or the reason it cannot start, the key unchanged."""
    try:
        numbers = (seed, learning_rate, batch_size, max_steps, minutes)
        if any(not isinstance(value, (int, float)) for value in numbers):
            raise UserError("fill in every number: seed, learning rate, batch size, steps and minutes")
        request = RunRequest(
            recipe, int(seed), float(learning_rate), int(batch_size), int(max_steps), float(minutes) or None
        )
        run = app.training.start(request)
    except UserError as error:
        text = as_text(str(error))
        return gr.skip(), f"**Cannot start:** {text[:1].upper() + text[1:]}."
    return run.key, f"Run {run.number} started; it goes on when this tab is closed, and this browser can stop it."


def control(app: App, action: str, key):
    """Pause, resume or stop the run, for the browser that started it; a note for anyone else."""
    run = app.training.owned(key)
    current = app.training.current
    if run is None:
        if current is None:
            return "Nothing is training: press Start."
        return f"Only the browser that started run {current.number} can {action} it ({busy_message(current)})."
    getattr(run, action)()
    return f"Run {run.number}: {action} asked."


def refresh(app: App, key, seen, shown_sample):
    """The run as it is now, when it changed since this page last looked (`seen`); the newest sample strip
    follows the run only while the visitor is not looking at an older one (`shown_sample`)."""
    run = app.training.current
    if run is None:
        return (*idle_page(), None)
    view, owner = run.view(), app.training.owned(key) is run
    now, count = [view.number, view.version, owner], len(view.samples)
    if seen is not None and seen[:3] == now:
        return (*(gr.skip(),) * len(REFRESHED), gr.skip())
    # seen[3]: how many strips there were at the last look; the slider at the last of them follows on.
    newest = seen is None or seen[0] != view.number or not shown_sample or shown_sample >= seen[3]
    pictures, scrubber = (gr.skip(),) * len(PICTURES), gr.skip()
    if count == 0:
        pictures, scrubber = (None, "No samples yet.", None, ""), gr.update(visible=False)
    elif newest:
        pictures = strip_pictures(app, run, count - 1, view)
        scrubber = gr.update(minimum=1, maximum=max(count, 2), value=count, visible=count > 1)
    blocks = block_table(view)
    return (
        status_line(view, run.config.train.batch_size, owner),
        loss_table(view),
        level_table(view, level_names(run.config.train.num_train_timesteps)),
        gradient_table(view),
        gr.BarPlot(blocks, sort=list(blocks["block"])),  # in the network's order, input to output
        *pictures,
        scrubber,
        gr.Button(interactive=view.ended),
        gr.Button(interactive=owner and view.status == TRAINING),
        gr.Button(interactive=owner and view.status == PAUSED),
        gr.Button(interactive=owner and not view.ended),
        [*now, count],
    )


def idle_page() -> tuple:
    off = gr.Button(interactive=False)
    idle = "No run yet on this server: choose a recipe and press Start."
    return (
        idle,
        None,
        None,
        None,
        None,
        None,
        "",
        None,
        "",
        gr.update(visible=False),
        gr.Button(interactive=True),
        off,
        off,
        off,
    )


def prompts(run) -> list[str]:
    return list(run.config.sample.prompts)


STRIP_WIDTH = 1000  # pixels the sample strip is enlarged to, about


def strip_picture(app: App, run, index: int, view) -> str:
    """Sample strip `index` of the run, enlarged (square pixels) for the page; made once, then reused."""
    step, path = view.samples[index]
    shown = Path(app.folders.root) / "train" / f"run{run.number}-step{step:06d}.png"
    if not shown.is_file():
        shown.parent.mkdir(exist_ok=True)
        with PIL.Image.open(path) as strip:
            picture(shown.parent, enlarge(strip.convert("L"), max(1, STRIP_WIDTH // strip.width)), shown.stem)
    return str(shown)


def network_view_picture(app: App, run, step: int, view) -> str | None:
    """What the network saw at `step` (drawn with that step's strip), labelled for the page; None if not drawn."""
    path = view.network_views.get(step)
    if path is None:
        return None
    shown = Path(app.folders.root) / "train" / f"run{run.number}-view-step{step:06d}.png"
    if not shown.is_file():
        shown.parent.mkdir(exist_ok=True)
        picture(shown.parent, labelled_network_view(path, VIEW_TIMESTEPS), shown.stem)
    return str(shown)


def strip_pictures(app: App, run, index: int, view) -> tuple:
    """The PICTURES outputs for sample strip `index`: the strip and the network view of its step, labelled."""
    step = view.samples[index][0]
    seen = network_view_picture(app, run, step, view)
    return (
        strip_picture(app, run, index, view),
        sample_label(view, index, prompts(run)),
        seen,
        network_view_label(view, step, VIEW_TIMESTEPS) if seen else "",
    )


def scrub(app: App, position):
    """The step slider moved: that sample strip (1 = the first), the network view of its step, their labels."""
    run = app.training.current
    if run is None or not isinstance(position, (int, float)):
        return (gr.skip(),) * len(PICTURES)
    view = run.view()
    index = int(position) - 1
    if not 0 <= index < len(view.samples):
        return (gr.skip(),) * len(PICTURES)
    return strip_pictures(app, run, index, view)
