"""The page's repeated pieces: the settings of a run and the panel that shows a run's results.

Attribute names of `Panel` are the field names of `Update` (updates.py): a tab's outputs are its
panel's components in the order of IMAGE_FIELDS, TEXT_FIELDS or BLEND_FIELDS.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..common.defaults import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from ..sampling.schedulers import SCHEDULERS
from ..sampling.settings import Limits
from .live import model_defaults
from .requests import RANDOM_SEED
from .state import DEFAULT_MODEL, FAST_MODEL, TRAINED_MODEL
from .text import HINTS, plural

TRAINED_LABEL = "Trained here: the Train tab's run, at its newest checkpoint"
PREVIEW_TITLE = "**Live denoising:** the noisy image x_t (left) · the model's guess x0 (right)"
STRIP_TITLE = "**Live denoising:** noisy images x_t (top row) · the model's guesses x0 (bottom row)"
ATTENTION_NOTE = (
    "Cross-attention of the prompt's words over the image, averaged over all steps and layers: bright = this "
    "part of the picture looked at this word. The percentage is the word's share. [CLS] and [SEP] are the "
    "encoder's start and end markers: attention that no word wants often goes there. Click a result to switch."
)


@dataclass
class Controls:
    steps: gr.Slider
    guidance: gr.Slider
    scheduler: gr.Dropdown
    count: gr.Slider
    seed: gr.Number
    random: gr.Button


@dataclass
class Panel:
    preview: gr.Image
    status: gr.Markdown
    seed_used: gr.Textbox
    gallery: gr.Gallery
    files: gr.File | None  # made by result_details, below what a tab may put after the results row
    use_seed: gr.Button | None = None
    scrubber: gr.Slider | None = None  # after a run: every step's x_t and x0, one at a time
    snapshots: gr.Gallery | None = None
    attention: gr.Gallery | None = None
    attention_note: gr.Markdown | None = None
    run: gr.State | None = None
    history: gr.Gallery | None = None
    history_runs: gr.State | None = None
    history_kept: gr.BrowserState | None = None  # history_runs as the browser keeps it across reloads
    bundle: gr.DownloadButton | None = None  # the run's files in one zip
    send: gr.Button | None = None  # the selected result onto the sketch tab's canvas
    progress: gr.HTML | None = None  # the bar beside the run button, made by the tab
    variations: gr.Button | None = None  # the selected result drawn again, a little changed

    def outputs(self, fields: tuple[str, ...]) -> list:
        return [getattr(self, name) for name in fields]


def settings_controls(limits: Limits, count: tuple[str, int, int, int, str], prefix: str) -> Controls:
    """Steps, guidance, scheduler, a count and the seed; `count` is (label, minimum, maximum, value, hint)."""
    label, low, high, value, hint = count
    with gr.Accordion("Settings", open=False, elem_classes="settings-accordion"):  # tests find it by this
        with gr.Row():
            steps = gr.Slider(
                1,
                limits.max_steps,
                value=DEFAULT_STEPS,
                step=1,
                label="Steps",
                info=HINTS["steps"],
                elem_id=f"{prefix}steps",
            )
            guidance = gr.Slider(
                0, limits.max_guidance, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance scale", info=HINTS["guidance"]
            )
        with gr.Row():
            scheduler = gr.Dropdown(
                list(SCHEDULERS), value=DEFAULT_SCHEDULER, label="Scheduler", info=HINTS["scheduler"]
            )
            count = gr.Slider(low, high, value=value, step=1, label=label, info=hint, elem_id=f"{prefix}count")
        with gr.Row(equal_height=True):
            seed = gr.Number(
                RANDOM_SEED, precision=0, label="Seed", info=HINTS["seed"], scale=4, elem_id=f"{prefix}seed"
            )
            random = gr.Button("Random seed", scale=1, size="md", elem_id=f"{prefix}random-seed")
    return Controls(steps, guidance, scheduler, count, seed, random)


@dataclass
class ModelChoice:
    model: gr.Radio
    live: gr.Checkbox
    ticket: gr.Number  # the newest prompt change with Live on; its change starts a live run
    kept_negative: gr.State  # the negative prompt typed for the default model, kept while the fast one is chosen


def model_choice(app) -> ModelChoice:
    """The default model, the fast one, the other models or the Train tab's run, and Live (fast model only).
    Hidden, and always the default model, when there is no other."""
    choices = [(describe_model(DEFAULT_MODEL, app), DEFAULT_MODEL)]
    if app.fast is not None:
        choices.append((describe_model(FAST_MODEL, app.fast), FAST_MODEL))
    choices += [(describe_model(name, other), name) for name, other in app.others.items()]
    if app.training is not None:
        choices.append((TRAINED_LABEL, TRAINED_MODEL))
    with gr.Row(equal_height=True, visible=len(choices) > 1):
        model = gr.Radio(choices, value=DEFAULT_MODEL, label="Model", info=HINTS["model"], scale=3, elem_id="model")
        live = gr.Checkbox(value=False, label="Live", info=HINTS["live"], interactive=False, scale=1, elem_id="live")
        # A component, not a gr.State: the page sees its change even when set by an event without the queue.
        ticket = gr.Number(None, precision=0, visible="hidden", elem_id="live-ticket")
    return ModelChoice(model, live, ticket, gr.State(""))


def describe_model(kind: str, app) -> str:
    steps = model_defaults(app.pipe)[0]
    how = "draws as you type" if kind == FAST_MODEL else "watch every step"
    return f"{kind.capitalize()}: {app.checkpoint} ({plural(steps, 'step')}, {how})"


def result_panel(prefix: str, images: bool = True, button: str = "Generate") -> Panel:
    """Live preview and status on the left, the results on the right; for images also the seed of the
    selected result, the snapshots and the attention maps. No label lies over a picture: titles sit above."""
    panel = result_row(prefix, images, button)
    result_details(panel, prefix, images)
    return panel


def result_row(prefix: str, images: bool = True, button: str = "Generate") -> Panel:
    """The live preview and status beside the results: the part to see while a run is on."""
    with gr.Row():
        with gr.Column():
            gr.Markdown(PREVIEW_TITLE if images else STRIP_TITLE)
            preview = gr.Image(
                format="png", interactive=False, show_label=False, elem_id=f"{prefix}preview", elem_classes="pixelated"
            )
            scrubber = gr.Slider(
                1,
                2,
                value=1,
                step=1,
                label="Step: move through every step of the run just made",
                visible=False,
                elem_id=f"{prefix}scrubber",
            )
            status = gr.Markdown(f"Press {button} to start.", elem_id=f"{prefix}status")
        with gr.Column():
            gr.Markdown("**Results** (click one to see its attention)" if images else "**Blends:** A (w=0) to B (w=1)")
            gallery = gr.Gallery(
                format="png",
                columns=4 if images else 5,
                height="auto",
                show_label=False,
                interactive=False,
                elem_id=f"{prefix}gallery",
                elem_classes=["pixelated", "whole-gallery"],
            )
            with gr.Row(equal_height=True):
                # Text, not a number box: before any run it is empty rather than 0, a seed no run has used.
                seed_used = gr.Textbox(
                    label="Seed of the selected image" if images else "Seed used",
                    placeholder="none yet: no picture made",
                    interactive=False,
                    max_lines=1,
                    elem_id=f"{prefix}seed-used",
                )
                use_seed = gr.Button("Use this seed", elem_id=f"{prefix}use-seed") if images else None
                send = gr.Button("Send to Sketch", elem_id=f"{prefix}send-to-sketch") if images else None
                variations = gr.Button("Variations", elem_id=f"{prefix}variations") if images else None
    panel = Panel(preview, status, seed_used, gallery, None, use_seed, scrubber if images else None)
    panel.send, panel.variations = send, variations
    return panel


def progress_bar(prefix: str) -> gr.HTML:
    """The bar beside a run button: empty until a run starts (progress.py fills it)."""
    return gr.HTML("", elem_id=f"{prefix}progress", elem_classes="run-progress-box")


def result_details(panel: Panel, prefix: str, images: bool = True) -> None:
    """The downloads, and for images the snapshots and the attention maps, into `panel`."""
    panel.bundle = gr.DownloadButton("Download all files (zip)", visible=False, elem_id=f"{prefix}bundle")
    with gr.Accordion("Each file on its own", open=False):
        panel.files = gr.File(
            label="Downloads: each image as 28×28 and 8× PNG (settings inside), the grid, the denoising GIF"
            if images
            else "Downloads: each blend as a PNG (settings and weight inside), and a GIF from A to B and back",
            file_count="multiple",
            elem_id=f"{prefix}files",
        )
    if images:
        with gr.Accordion("Snapshots: image 1 at a few steps (x_t above, x0 below)", open=True):
            panel.snapshots = gr.Gallery(
                columns=6,
                height="auto",
                format="png",
                show_label=False,
                object_fit="contain",
                elem_classes=["pixelated", "whole-gallery"],
            )
        with gr.Accordion("Attention: where each word looked", open=True):
            panel.attention_note = gr.Markdown(ATTENTION_NOTE)
            panel.attention = gr.Gallery(
                columns=6,
                height="auto",
                format="png",
                show_label=False,
                elem_id=f"{prefix}attention",
                elem_classes="whole-gallery",
            )
        panel.run = gr.State(None)


def history_panel(panel: Panel) -> None:
    """This visitor's runs, newest first, kept across reloads; clicking one restores its settings."""
    with gr.Accordion("History of your runs (click one to restore its settings)", open=True):
        panel.history = gr.Gallery(
            columns=6,
            height="auto",
            format="png",
            show_label=False,
            interactive=False,
            elem_id="history",
            elem_classes=["pixelated", "whole-gallery"],
            allow_preview=False,  # a click restores the run's settings; the pictures are in Results
        )
    # The runs as the handlers see them, and a copy in the browser's local storage that a reload brings back
    # (kept apart: as an input of Generate, browser storage would become an argument of its API).
    panel.history_runs = gr.State([])
    panel.history_kept = gr.BrowserState([], storage_key="tiny-diffusion-history")


# Captions under the pictures instead of over them; galleries as tall as their pictures (no inner scrolling);
# a clicked result shown larger than its thumbnail; history runs whole (a strip of four is not cropped square).
CSS = """
.pixelated img, img.pixelated { image-rendering: pixelated; }
#status p, #sketch-status p, #blend-status p { font-variant-numeric: tabular-nums; }
.whole-gallery .grid-wrap { max-height: none !important; min-height: 0 !important; height: auto !important;
  overflow-y: visible !important; }
.whole-gallery .thumbnail-item { aspect-ratio: auto !important; height: auto !important; overflow: visible !important;
  display: flex; flex-direction: column; }
.whole-gallery .thumbnail-item img { aspect-ratio: 1 / 1; width: 100%; height: auto; }
.whole-gallery .caption-label { position: static !important; max-width: 100% !important; white-space: normal !important;
  border: none !important; text-align: center !important; }
.whole-gallery .preview { height: auto !important; min-height: 0 !important; }
.whole-gallery .preview .media-button { height: auto !important; }
.whole-gallery .preview img.with-caption { width: min(100%, 336px) !important; height: auto !important;
  aspect-ratio: 1 / 1; }
#history .grid-container { grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)) !important; }
#history .thumbnail-item img { object-fit: contain !important; }
.run-progress { position: relative; height: 1.6em; border-radius: 4px; overflow: hidden;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.run-progress-fill { position: absolute; inset: 0 auto 0 0; background: var(--color-accent-soft); }
.run-progress.stopped .run-progress-fill { background: var(--error-background-fill); }
.run-progress-text { position: relative; padding: 0 6px; font-size: var(--text-sm); line-height: 1.6em;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
.range-note { color: var(--error-text-color); font-size: var(--text-sm); margin-top: 4px; }
.range-note:empty { display: none; }
"""

# A slider's number box puts a typed number back into the slider's range when it loses focus; the page
# says so beside the box, the way the server says why it refuses a seed, instead of changing it silently.
# Capturing "change" on the document sees the typed value before the slider corrects it.
PAGE_JS = """() => {
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "number" || box.max === "" || box.min === "") return;
    const block = box.closest(".block");
    let note = block.querySelector(".range-note");
    if (!note) {
      note = Object.assign(document.createElement("div"), {className: "range-note"});
      note.setAttribute("role", "status");
      block.appendChild(note);
    }
    const typed = Number(box.value), low = Number(box.min), high = Number(box.max);
    const used = Math.min(Math.max(typed, low), high);
    note.textContent = box.value === "" || typed === used ? ""
      : `${box.value} is outside ${low} to ${high}, so ${used} is used.`;
  }, true);
}"""
