"""The page, top to bottom: a header, four tabs that make pictures (text, sketch, interpolation and the
comparison grid of compare_tab.py), the Train tab (train_tab.py) where the server offers training, and a
tab that explains them.

Every button is wired here to a handler of handlers.py, bound to the one `App`. A run is three events:
at the click (no queue) Generate is disabled, Stop enabled and armed; then the run itself, through the
shared queue; then, however it ended, Generate back on and Stop off.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..sampling.saved_pipeline import pipeline_dataset
from . import handlers as on
from . import sketch_handlers as on_sketch
from .canvas import CANVAS, black_canvas
from .compare_tab import compare_tab
from .panels import (
    ModelChoice,
    Panel,
    history_panel,
    model_choice,
    progress_bar,
    result_details,
    result_panel,
    result_row,
    settings_controls,
)
from .png_settings import settings_from_png
from .requests import MAX_FRAMES
from .state import App, bind
from .text import (
    DOC_PATH,
    HINTS,
    HOW_IT_WORKS,
    INTERPOLATION_EXAMPLES,
    data_description,
    drawable_kinds,
    example_prompts,
    walkthrough,
)
from .train_tab import train_tab
from .updates import BLEND_FIELDS, COMPARE_FIELDS, IMAGE_FIELDS, TEXT_FIELDS

QUIET = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}


def build_ui(app: App, docs: Path) -> gr.Blocks:
    dataset = app.index.dataset if app.index else None
    with gr.Blocks(title="Tiny text-to-image diffusion", analytics_enabled=False, delete_cache=(3600, 7200)) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(
                f"# Watch text turn into an image\nA small diffusion model trained on {data_description(dataset)}. "
                f"Model: `{app.checkpoint}`{describe_record(app.pipe.training_record)}.\n\n"
                + drawable_kinds(pipeline_dataset(app.pipe)),
                elem_id="header",
            )
            how_button = gr.Button("How it works", size="sm", scale=0, min_width=140, elem_id="how-button")
        with gr.Tabs() as tabs:
            with gr.Tab("Text to image", id="text"):
                text = text_tab(app)
            with gr.Tab("Sketch to image", id="sketch"):
                sketch = sketch_tab(app)
            with gr.Tab("Interpolate", id="blend"):
                blend_tab(app)
            with gr.Tab("Compare settings", id="compare"):
                panel, inputs, go, stop, triggers = compare_tab(app)
                wire_run(app, "compare", triggers, go, stop, bind(on.compare, app), inputs, panel, COMPARE_FIELDS)
            if app.training is not None:
                with gr.Tab("Train", id="train"):
                    train_tab(app)
            with gr.Tab("How it works", id="how"):
                gr.Markdown(HOW_IT_WORKS)
                gr.Markdown(walkthrough(docs) or f"({DOC_PATH} is not installed here.)", elem_classes="pixelated")
        how_button.click(lambda: gr.Tabs(selected="how"), outputs=tabs, **QUIET)
        wire_send_to_sketch(app, tabs, text, sketch)
        wire_kept_history(app, demo, text[0])
        demo.unload(bind(on.forget_session, app))
    return demo


def wire_kept_history(app: App, demo: gr.Blocks, panel: Panel) -> None:
    """The history into the browser's storage after every change, and back from it when a page loads."""
    panel.history_runs.change(lambda runs: runs, inputs=panel.history_runs, outputs=panel.history_kept, **QUIET)
    outputs = [panel.history, panel.history_runs]
    demo.load(bind(on.reload_history, app), inputs=panel.history_kept, outputs=outputs, **QUIET)


def text_tab(app: App) -> tuple[Panel, gr.Textbox]:
    examples = example_prompts(app.index.dataset if app.index else None)
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            label="Prompt",
            placeholder="a sneaker",
            info=HINTS["prompt"],
            scale=4,
            elem_id="prompt",
            max_lines=2,
            value=examples[0],
        )
        with gr.Column(scale=1, min_width=160):
            go = gr.Button("Generate", variant="primary", elem_id="generate")
            stop = gr.Button("Stop", variant="stop", elem_id="stop", interactive=False)
            bar = progress_bar("")
    negative = gr.Textbox(
        label="Negative prompt", placeholder="(none)", info=HINTS["negative"], max_lines=2, elem_id="negative"
    )
    # The live preview right under the prompt, so a run is seen where it was started (on a laptop screen
    # without scrolling, Settings open or not); the choices that are made once go below it.
    panel = result_row("")
    panel.progress = bar
    choice = model_choice(app)
    shown = gr.Examples([[p] for p in examples], inputs=[prompt], label="Example prompts (click to use)")
    png = gr.File(
        label="Settings from a PNG: drop a picture downloaded from this page here, or click to choose one",
        file_types=[".png"],
        type="filepath",
        height=110,
        elem_id="png-settings",
    )
    controls = settings_controls(app.limits, ("Images", 1, app.limits.max_images, 4, HINTS["images"]), "")
    result_details(panel, "")
    history_panel(panel)
    inputs = [prompt, negative, controls.steps, controls.guidance, controls.count, controls.seed, controls.scheduler]
    wire_run(
        app,
        "generate",
        [go.click, prompt.submit, negative.submit],
        go,
        stop,
        bind(on.generate, app),
        [*inputs, panel.history_runs, choice.model],
        panel,
        TEXT_FIELDS,
    )
    wire_variations(app, "generate", go, stop, panel, TEXT_FIELDS)
    wire_seed(app, controls, panel)
    wire_scrubber(app, panel)
    restored = [*inputs, panel.status, choice.model, choice.live]
    panel.history.select(bind(on.restore, app), inputs=panel.history_runs, outputs=restored, **QUIET)
    png.upload(bind(settings_from_png, app), inputs=png, outputs=[*restored, png], **QUIET)
    wire_model_choice(app, negative, controls, choice, shown.dataset)
    wire_live(app, prompt, negative, controls, panel, choice)
    return panel, prompt


def sketch_tab(app: App) -> tuple[gr.ImageEditor, gr.Textbox, Panel]:
    with gr.Row():
        with gr.Column():
            sketch = gr.ImageEditor(
                value=black_canvas(),
                type="pil",
                image_mode="RGBA",
                sources=["upload", "clipboard"],  # dropping and pasting onto the canvas work too
                canvas_size=(CANVAS, CANVAS),
                fixed_canvas=True,
                brush=gr.Brush(colors=["#ffffff", "#b0b0b0", "#606060", "#000000"], default_color="#ffffff"),
                label="Draw light on dark",
                height=420,
                elem_id="sketch",
            )
            # The editor opens a file chooser only once its canvas is cleared; this button always does.
            upload = gr.UploadButton(
                "Upload a picture (a light background is inverted)",
                file_types=["image"],
                type="filepath",
                size="sm",
                elem_id="sketch-upload",
            )
        with gr.Column():
            prompt = gr.Textbox(
                label="Prompt", value="a bag", info=HINTS["prompt"], max_lines=2, elem_id="sketch-prompt"
            )
            negative = gr.Textbox(label="Negative prompt", placeholder="(none)", max_lines=2)
            strength = gr.Slider(0.05, 1, value=0.7, step=0.05, label="Strength", info=HINTS["strength"])
            with gr.Row():
                go = gr.Button("Generate from sketch", variant="primary", elem_id="sketch-generate")
                stop = gr.Button("Stop", variant="stop", elem_id="sketch-stop", interactive=False)
            bar = progress_bar("sketch-")
    c = settings_controls(app.limits, ("Images", 1, app.limits.max_images, 4, HINTS["images"]), "sketch-")
    panel = result_panel("sketch-")
    panel.progress = bar
    wire_run(
        app,
        "sketch",
        [go.click, prompt.submit, negative.submit],
        go,
        stop,
        bind(on.from_sketch, app),
        [sketch, prompt, negative, strength, c.steps, c.guidance, c.count, c.seed, c.scheduler],
        panel,
        IMAGE_FIELDS,
    )
    wire_variations(app, "sketch", go, stop, panel, IMAGE_FIELDS)
    wire_seed(app, c, panel)
    wire_scrubber(app, panel)
    upload.upload(bind(on_sketch.upload_picture, app), inputs=upload, outputs=[sketch, panel.status], **QUIET)
    sketch.clear(bind(on_sketch.clear_canvas, app), outputs=sketch, **QUIET)
    return sketch, prompt, panel


def blend_tab(app: App) -> None:
    with gr.Row(equal_height=True):
        prompt_a = gr.Textbox(label="Prompt A (left)", value="a sneaker", max_lines=2, elem_id="prompt-a")
        prompt_b = gr.Textbox(label="Prompt B (right)", value="an ankle boot", max_lines=2, elem_id="prompt-b")
        with gr.Column(min_width=160):
            go = gr.Button("Blend", variant="primary", elem_id="blend-generate")
            stop = gr.Button("Stop", variant="stop", elem_id="blend-stop", interactive=False)
            bar = progress_bar("blend-")
    gr.Examples(INTERPOLATION_EXAMPLES, inputs=[prompt_a, prompt_b], label="Example pairs")
    c = settings_controls(app.limits, ("Frames", 2, MAX_FRAMES, 5, HINTS["frames"]), "blend-")
    panel = result_panel("blend-", images=False, button="Blend")
    panel.progress = bar
    wire_run(
        app,
        "interpolate",
        [go.click, prompt_a.submit, prompt_b.submit],
        go,
        stop,
        bind(on.interpolate, app),
        [prompt_a, prompt_b, c.count, c.steps, c.guidance, c.seed, c.scheduler],
        panel,
        BLEND_FIELDS,
    )
    wire_seed(app, c, panel)


def wire_run(app: App, tab: str, triggers, go, stop, handler, inputs, panel: Panel, fields, api_name: str = "") -> None:
    """Click: Generate off, Stop on and armed, the status and the bar "queued" and the preview in view; the
    run through the shared queue; then the buttons back. `handler` is bound to the App already; `api_name`:
    for a second kind of run of a tab."""
    at_click = [go, stop, panel.status, panel.progress]
    started = gr.on(triggers, bind(on.start, app, tab), outputs=at_click, js=show(panel), **QUIET)
    run = started.then(
        handler,
        inputs=inputs,
        outputs=panel.outputs(fields),
        api_name=api_name or tab,
        show_progress="hidden",  # the status line says queued, then each step; no guessed waiting time
        concurrency_id="pipeline",  # one queue for all three tabs: --concurrency runs at once in total
    )
    run.then(bind(on.finish, app, tab), outputs=[go, stop], **QUIET)
    if not api_name:  # the tab's Stop, wired once
        stop.click(bind(on.stop, app, tab), outputs=stop, **QUIET)


def wire_variations(app: App, tab: str, go, stop, panel: Panel, fields) -> None:
    """ "Variations": a run of the tab like Generate (same buttons, Stop and results), from the selected result."""
    handler = bind(on.variations, app, tab)
    inputs = [panel.run, panel.seed_used]
    wire_run(app, tab, [panel.variations.click], go, stop, handler, inputs, panel, fields, f"{tab}_variations")


def show(panel: Panel) -> str:
    """At the click, in the browser: the live preview scrolled into view when it is not (on a phone it is
    far below the button)."""
    preview = f"document.querySelector('#{panel.preview.elem_id}')"
    return f"() => {{ {preview}?.scrollIntoView({{block: 'nearest'}}); return []; }}"


def wire_model_choice(app: App, negative, controls, choice: ModelChoice, examples: gr.Dataset) -> None:
    """Another model: its settings and its example prompts."""
    if app.fast is None and not app.others:
        return
    model_outputs = [controls.steps, controls.guidance, controls.scheduler, choice.live, negative, choice.kept_negative]
    model_inputs = [choice.model, negative, choice.kept_negative]
    outputs = [*model_outputs, examples]
    choice.model.input(bind(on.choose_model, app), inputs=model_inputs, outputs=outputs, **QUIET)


def wire_live(app: App, prompt, negative, controls, panel: Panel, choice: ModelChoice) -> None:
    """With Live on, a change of the prompt takes a ticket at once (no queue); a new ticket starts a run of
    the fast model in the shared queue. "always_last": while this visitor's run is on, only the newest change
    waits for it, and the run itself stops when it is no longer the newest."""
    if app.fast is None:
        return
    switched = [choice.live, controls.seed]
    choice.live.input(bind(on.toggle_live, app), inputs=switched, outputs=[controls.seed, choice.ticket], **QUIET)
    prompt.change(bind(on.live_ticket, app), inputs=choice.live, outputs=choice.ticket, **QUIET)
    choice.ticket.change(
        bind(on.live, app),
        inputs=[prompt, controls.seed, choice.ticket],
        outputs=panel.outputs(IMAGE_FIELDS),
        api_name="live",
        trigger_mode="always_last",
        show_progress="hidden",  # no spinner flashing over the pictures at every keystroke
        concurrency_id="pipeline",
    )


def wire_scrubber(app: App, panel: Panel) -> None:
    """After a run, the step slider shows any step of it in the preview."""
    panel.scrubber.input(bind(on.scrub, app), inputs=[panel.run, panel.scrubber], outputs=panel.preview, **QUIET)


def wire_send_to_sketch(app: App, tabs: gr.Tabs, text: tuple, sketch: tuple) -> None:
    """ "Send to Sketch" on either tab: the selected result, with its tab's prompt, onto the canvas."""
    canvas, sketch_prompt, sketch_panel = sketch
    outputs = [canvas, sketch_prompt, sketch_panel.status, tabs]
    for panel, prompt in (text, (sketch_panel, sketch_prompt)):
        inputs = [panel.run, panel.seed_used, prompt]
        panel.send.click(bind(on_sketch.send_to_sketch, app), inputs=inputs, outputs=outputs, **QUIET)


def wire_seed(app: App, controls, panel: Panel) -> None:
    """ "Random seed" sets -1 (random on every run); "Use this seed" takes the selected result's seed; a click
    on a result shows its attention and its seed."""
    controls.random.click(bind(on.forget_seed, app), outputs=controls.seed, **QUIET)
    if panel.use_seed is not None:
        panel.use_seed.click(bind(on.use_seed, app), inputs=panel.seed_used, outputs=controls.seed, **QUIET)
        panel.gallery.select(
            bind(on.show_attention, app),
            inputs=panel.run,
            outputs=[panel.attention, panel.attention_note, panel.seed_used],
            **QUIET,
        )


def describe_record(record: dict) -> str:
    """A few words on how the model was trained, from its training record."""
    steps = record.get("steps") if isinstance(record, dict) else None
    if not isinstance(steps, int):
        return ""
    seconds = record.get("wall_time_s")
    minutes = f" in {seconds / 60:.0f} min" if isinstance(seconds, (int, float)) else ""
    return f", trained {steps:,} step{'s' * (steps != 1)}{minutes}"
