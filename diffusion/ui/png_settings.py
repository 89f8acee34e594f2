"""Settings read back from a PNG: a picture downloaded from this page (or written by `diffusion.sample`)
carries the settings that made it (imageio.py); dropped on the text tab, they fill its form.

The stored settings are checked like a request (a file can hold anything), and what the form cannot
take back is said in the status line: the starting picture of a sketch or a variation, the second
prompt of a blend, another model.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import PIL.Image

from ..common.errors import UserError
from ..sampling.imageio import read_png_settings
from ..sampling.settings import with_current_names
from .handlers import model_widgets, sampling_widgets
from .requests import check_request
from .state import DEFAULT_MODEL, App
from .text import as_text

# The outputs: prompt, negative, steps, guidance, images, seed, scheduler, status, model, live, and the drop
# box itself, emptied after each file so that the next one can be dropped or chosen.
UNCHANGED = 11


def settings_from_png(app: App, path):
    """The text tab's controls from the PNG at `path`; only the status line (an error) when it has none."""
    if not path:
        return (gr.skip(),) * UNCHANGED
    name = as_text(Path(path).name)
    try:
        stored = with_current_names(read_png_settings(path))
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return refused(f"**Error:** {name} is not a PNG this page can read.")
    if not stored.get("prompt"):
        return refused(
            f"**Error:** {name} holds no settings: only PNGs downloaded from this page (or written by "
            "python &#45;m diffusion&#46;sample) carry them."
        )
    try:
        checked = check_request(
            app.limits,
            stored["prompt"],
            stored.get("negative_prompt") or "",
            stored.get("num_inference_steps"),
            stored.get("guidance_scale"),
            1,
            stored.get("seed"),
            stored.get("scheduler"),
        )
    except UserError as error:
        return refused(f"**Error:** the settings in {name} cannot be used here: {as_text(str(error))}")
    s = checked.settings
    model = stored.get("model", DEFAULT_MODEL)
    model = model if model in app.offered() else DEFAULT_MODEL
    try:
        chosen = app.model(model)
    except UserError:  # "Trained here" while no run has a checkpoint yet
        model, chosen = DEFAULT_MODEL, app
    live, negative = model_widgets(app, model, s.negative_prompt or "")
    steps, guidance, scheduler = sampling_widgets(app, model, s.num_inference_steps, s.guidance_scale, s.scheduler)
    status = " ".join([f"Settings of “{as_text(s.prompt)}” read from {name}; press Generate to make it again.",
                       *notes(chosen, stored)])  # fmt: skip
    return s.prompt, negative, steps, guidance, gr.skip(), checked.seed, scheduler, status, model, live, None


def refused(message: str) -> tuple:
    return (*(gr.skip(),) * 7, message, gr.skip(), gr.skip(), None)


def notes(chosen: App, stored: dict) -> list[str]:
    """What of the PNG's making the form cannot give back, so that a different picture is no surprise."""
    said = []
    if stored.get("init_image") or "variation_of" in stored:
        said.append("It was drawn from a starting picture, which the PNG does not hold: Generate starts from noise.")
    if stored.get("prompt_b"):
        said.append(f"It is a blend towards “{as_text(stored['prompt_b'])}”: only the first prompt is read.")
    if isinstance(stored.get("compare"), dict):
        said.append("It is a comparison grid: the settings of its first picture are read.")
    made_by = str(stored.get("checkpoint") or "")
    if made_by and Path(made_by).name != chosen.checkpoint:
        said.append(
            f"It was made by the model {as_text(made_by)}, and this page draws with {as_text(chosen.checkpoint)}, "
            "so the picture may differ."
        )
    return said
