"""What puts a picture on the sketch tab's canvas: a file, a result sent from a tab ("Send to Sketch"),
and a cleared canvas back to black. Bound to the one `App` in layout.py, like handlers.py."""

from __future__ import annotations

import gradio as gr
import PIL.Image

from ..sampling.imageio import tensor_grid
from .canvas import black_canvas, on_canvas
from .requests import shown_seed
from .state import App
from .text import as_text


def upload_picture(app: App, path):
    """ "Upload a picture": the file onto the canvas, light on dark; a file that is no picture is said so
    in the tab's status line and the canvas stays as it was."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        with PIL.Image.open(path) as picture:
            picture.load()
            value = on_canvas(picture)
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        name = as_text(str(path).rsplit("/", 1)[-1])
        return gr.skip(), f"**Error:** {name} is not a picture this page can read (PNG, JPEG, WebP, GIF, BMP)."
    return value, "Picture on the canvas (light on dark, as the model reads it): draw over it or press Generate."


def clear_canvas(app: App):
    """The editor's own Clear leaves a white, empty area; the canvas starts black again instead."""
    return black_canvas()


def send_to_sketch(app: App, run: dict | None, seed, prompt):
    """ "Send to Sketch": the selected result (the first when none is) onto the canvas, with its prompt,
    and the sketch tab opened, to be redrawn from it at the chosen strength."""
    if not run or run.get("images") is None:  # Live pictures are not kept: Generate first
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    seeds, seed = run["seeds"], shown_seed(seed)
    index = seeds.index(seed) if seed in seeds else 0
    picture = tensor_grid(run["images"][index : index + 1], scale=1, padding=0)
    status = f"Image with seed {seeds[index]} on the canvas: change it or press Generate from sketch."
    return on_canvas(picture), prompt, status, gr.Tabs(selected="sketch")
