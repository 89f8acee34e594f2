"""The Compare tab: one prompt and one seed across the values of one or two settings, drawn as one grid
with the settings written on it (compare.py plans it, compare_run.py draws it)."""

from __future__ import annotations

import gradio as gr

from ..common.defaults import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from ..sampling.schedulers import SCHEDULERS
from .compare import AXES, MAX_VALUES, NO_AXIS
from .panels import PREVIEW_TITLE, Panel, progress_bar
from .text import HINTS

VALUES_HINT = (
    f"Separated by commas, at most {MAX_VALUES}: numbers for guidance and steps, names for samplers "
    f"({', '.join(SCHEDULERS)})."
)


def compare_tab(app) -> tuple[Panel, list, gr.Button, gr.Button, list]:
    """The tab's controls and its panel; returns (panel, inputs of the run, Compare, Stop, its triggers)."""
    gr.Markdown(
        "See what one setting does: the same prompt and seed drawn at each value you list (AUTOMATIC1111's X/Y "
        "plot). The whole grid may take as much work as the largest request the page allows."
    )
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(label="Prompt", value="a dark coat", max_lines=2, scale=4, elem_id="compare-prompt")
        with gr.Column(scale=1, min_width=160):
            go = gr.Button("Compare", variant="primary", elem_id="compare-generate")
            stop = gr.Button("Stop", variant="stop", elem_id="compare-stop", interactive=False)
            bar = progress_bar("compare-")
    with gr.Row():
        x = gr.Dropdown(list(AXES), value="Guidance scale", label="X: the columns vary", elem_id="compare-x")
        x_values = gr.Textbox("1, 3, 5, 7.5", label="X values", info=VALUES_HINT, elem_id="compare-x-values")
        y = gr.Dropdown([NO_AXIS, *AXES], value=NO_AXIS, label="Y: the rows vary", elem_id="compare-y")
        y_values = gr.Textbox("", label="Y values", placeholder="e.g. 5, 10, 20", elem_id="compare-y-values")
    with gr.Accordion("Settings", open=False, elem_classes="settings-accordion"):
        gr.Markdown("Every picture of the grid shares these; an axis replaces its own setting.")
        with gr.Row():
            steps = gr.Slider(
                1, app.limits.max_steps, value=DEFAULT_STEPS, step=1, label="Steps", elem_id="compare-steps"
            )
            guidance = gr.Slider(0, app.limits.max_guidance, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance scale")
            scheduler = gr.Dropdown(list(SCHEDULERS), value=DEFAULT_SCHEDULER, label="Scheduler")
            seed = gr.Number(0, precision=0, label="Seed", info=HINTS["seed"], elem_id="compare-seed")
        negative = gr.Textbox(label="Negative prompt", placeholder="(none)", max_lines=2)
    with gr.Row():
        with gr.Column():
            gr.Markdown(PREVIEW_TITLE)
            preview = gr.Image(
                format="png", interactive=False, show_label=False, elem_id="compare-preview", elem_classes="pixelated"
            )
            status = gr.Markdown("Press Compare to start.", elem_id="compare-status")
        with gr.Column(scale=2):
            gr.Markdown("**The grid** (its PNG keeps the settings too)")
            grid = gr.Image(format="png", interactive=False, show_label=False, elem_id="compare-gallery")
            files = gr.File(
                label="Downloads: the grid and each picture as PNG (settings inside)",
                file_count="multiple",
                elem_id="compare-files",
            )
    panel = Panel(preview, status, None, grid, files)
    panel.progress = bar
    inputs = [prompt, negative, x, x_values, y, y_values, steps, guidance, scheduler, seed]
    return panel, inputs, go, stop, [go.click, prompt.submit]
