"""What the sketch tab's canvas buttons do: a picture from a file onto the canvas, and a cleared canvas
back to black. Bound to the one `App` in layout.py, like handlers.py."""

from __future__ import annotations

import gradio as gr
import PIL.Image

from .canvas import black_canvas, on_canvas
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
