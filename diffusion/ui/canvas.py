"""The sketch tab's canvas: a black square to draw light on, and a picture put onto it.

Values are what `gr.ImageEditor` takes (a dict of background, layers and composite), made of PIL images;
nothing here imports Gradio. A picture is put on the canvas as the model will read it (light on dark,
see render.light_on_dark), so what the visitor draws over it and what the model gets agree.
"""

from __future__ import annotations

import PIL.Image
import PIL.ImageOps

from .render import light_on_dark

CANVAS = 280  # pixels a side: ten screen pixels per model pixel


def black_canvas() -> dict:
    """An empty canvas: black, the data set's background."""
    black = PIL.Image.new("RGB", (CANVAS, CANVAS), "black")
    return {"background": black, "layers": [], "composite": black}


def on_canvas(picture: PIL.Image.Image) -> dict:
    """A picture as the canvas's background: made light on dark, fitted whole into the square (black
    around it), enlarged with square pixels when it is small (a 28x28 download stays crisp)."""
    gray = light_on_dark(picture)
    small = max(gray.size) < CANVAS
    fitted = PIL.ImageOps.pad(
        gray, (CANVAS, CANVAS), method=PIL.Image.NEAREST if small else PIL.Image.LANCZOS, color=0
    ).convert("RGB")
    return {"background": fitted, "layers": [], "composite": fitted}
