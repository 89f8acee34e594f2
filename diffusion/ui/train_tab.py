"""The Train tab: start a training run on the server and watch it learn (train_handlers.py does the work).

A recipe and its settings, Start / Pause / Resume / Stop, then the views that a timer refreshes every few
seconds: the status line (step, loss, learning rate, images/s, time left), the loss (whole and by noise
level) and the gradient norm (whole and by block), the sample strip with a slider back through every strip
drawn so far, and what the network sees at that strip's step.
"""

from __future__ import annotations

import gradio as gr

from . import train_handlers as on
from .state import App, bind
from .train_views import BLOCK_COLUMNS, GRADIENT_COLUMNS, typed

QUIET = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
REFRESH_SECONDS = 2.0

INTRO = (
    "Train a model on this server and watch it learn: each step shows the network a batch of pictures with "
    "noise added, measures how wrong its guess of that noise is (the **loss**), and nudges every weight "
    "against the **gradient**. The run goes on when you close the page; one run at a time per server. "
    "When it has saved a checkpoint, choose *Trained here* in the Text to image tab to draw with it."
)


def train_tab(app: App) -> None:
    gr.Markdown(INTRO)
    names = list(app.training.recipes)
    seed, learning_rate, batch_size, steps, minutes = on.recipe_settings(app, names[0])
    with gr.Row(equal_height=True):
        recipe = gr.Dropdown(names, value=names[0], label="Recipe", elem_id="train-recipe", scale=2)
        fields = [
            gr.Number(seed, precision=0, label="Seed", elem_id="train-seed"),
            gr.Number(learning_rate, label="Learning rate", elem_id="train-lr"),
            gr.Number(batch_size, precision=0, label="Batch size", elem_id="train-batch"),
            gr.Number(steps, precision=0, label="Steps", elem_id="train-steps"),
            gr.Number(minutes, label="Minutes (0: no time limit)", elem_id="train-minutes"),
        ]
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        pause = gr.Button("Pause", elem_id="train-pause", interactive=False)
        resume = gr.Button("Resume", elem_id="train-resume", interactive=False)
        stop = gr.Button("Stop and save", variant="stop", elem_id="train-stop", interactive=False)
    note = gr.Markdown("", elem_id="train-note")
    status = gr.Markdown("", elem_id="train-status")
    loss, levels, gradient, blocks = plots()
    sample_note = gr.Markdown("", elem_id="train-sample-note")
    sample = gr.Image(
        format="png",
        interactive=False,
        show_label=False,
        elem_id="train-sample",
        elem_classes="pixelated",
    )
    scrubber = gr.Slider(
        1, 2, value=1, step=1, label="Sample strip: move back through the run", visible=False, elem_id="train-scrubber"
    )
    network_note = gr.Markdown("", elem_id="train-network-note")
    network_view = gr.Image(
        format="png", interactive=False, show_label=False, elem_id="train-network-view", elem_classes="pixelated"
    )
    key, seen = gr.BrowserState(None, storage_key="tiny-diffusion-train-key"), gr.State(None)

    recipe.input(bind(on.recipe_settings, app), inputs=recipe, outputs=fields, **QUIET)
    start.click(bind(on.start, app), inputs=[recipe, *fields, key], outputs=[key, note], **QUIET)
    for button, action in ((pause, "pause"), (resume, "resume"), (stop, "stop")):
        button.click(bind(on.control, app, action), inputs=key, outputs=note, **QUIET)
    pictures = [sample, sample_note, network_view, network_note]
    refreshed = [status, loss, levels, gradient, blocks, *pictures, scrubber, start, pause, resume, stop, seen]
    refresh = bind(on.refresh, app)
    timer = gr.Timer(REFRESH_SECONDS)
    timer.tick(refresh, inputs=[key, seen, scrubber], outputs=refreshed, **QUIET)
    scrubber.input(bind(on.scrub, app), inputs=scrubber, outputs=pictures, **QUIET)


def plots() -> tuple[gr.LinePlot, gr.LinePlot, gr.LinePlot, gr.BarPlot]:
    """The loss (whole and by noise level) and the gradient norm (whole and by block), two to a row."""
    with gr.Row():
        # Starting empty: a typed table draws its axes right (None would not), but the colour of a series
        # comes from the first value holding it, so the loss plot starts from None with its colours named.
        loss = gr.LinePlot(
            None,
            x="step",
            y="loss",
            color="series",
            color_map={"loss": "#9db4d8", "smoothed": "#e8590c"},
            title="Loss against step",
            height=260,
            elem_id="train-loss",
        )
        levels = gr.LinePlot(
            None,
            x="step",
            y="loss",
            color="noise level",
            title="Loss by noise level (unweighted error; t 0-99 is nearly clean, t 900-999 nearly pure noise)",
            height=260,
            elem_id="train-levels",
        )
    with gr.Row():
        gradient = gr.LinePlot(
            typed([], GRADIENT_COLUMNS),
            x="step",
            y="gradient norm",
            title="Gradient norm (before clipping)",
            height=260,
            elem_id="train-gradient",
        )
        blocks = gr.BarPlot(
            typed([], BLOCK_COLUMNS),
            x="block",
            y="gradient norm",
            title="Gradient norm by block, newest log (input on the left, output on the right)",
            x_label_angle=-40,
            height=260,
            elem_id="train-blocks",
        )
    return loss, levels, gradient, blocks
