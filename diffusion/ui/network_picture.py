"""The network-view picture for the page: the run folder's grid (network_view.py) enlarged to square pixels,
with its rows and columns named in the picture itself, so that a saved copy still says what it shows."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from ..sampling.imageio import enlarge
from ..training.network_view import ROWS

SCALE, LEFT, TOP, FONT_SIZE = 4, 200, 26, 15  # pixels


def labelled_network_view(path: Path, timesteps) -> PIL.Image.Image:
    """The grid at `path` (a row per ROWS entry, a column per timestep), enlarged and labelled."""
    with PIL.Image.open(path) as grid:
        image = enlarge(grid.convert("L"), SCALE)
    canvas = PIL.Image.new("L", (LEFT + image.width, TOP + image.height), 255)
    canvas.paste(image, (LEFT, TOP))
    draw, font = PIL.ImageDraw.Draw(canvas), PIL.ImageFont.load_default(size=FONT_SIZE)
    cell_w, cell_h = image.width / len(timesteps), image.height / len(ROWS)
    for column, t in enumerate(timesteps):
        draw.text((LEFT + (column + 0.5) * cell_w, TOP / 2), f"t = {t}", fill=0, font=font, anchor="mm")
    for row, name in enumerate(ROWS):
        draw.text((LEFT - 8, TOP + (row + 0.5) * cell_h), name, fill=0, font=font, anchor="rm")
    return canvas
