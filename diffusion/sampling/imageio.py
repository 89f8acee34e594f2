"""Writing what the sampler makes: PNGs that carry their settings, and GIFs of the denoising.

A PNG saved here holds the settings that made it (prompt, seed, steps, ...) as JSON in a PNG text
chunk named "parameters", so any image can be regenerated from the file alone:

    >>> save_png(image, "sneaker.png", {"prompt": "a sneaker", "seed": 0, "num_inference_steps": 20})
    >>> read_png_settings("sneaker.png")["seed"]
    0
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import PIL.PngImagePlugin
import torch
from torchvision.utils import make_grid

from ..data.datasets import to_uint8

SETTINGS_KEY = "parameters"
LAST_FRAME_HOLD = 12  # the final frame of a GIF stays this many frame durations, so the result is seen


def save_png(image: PIL.Image.Image, path: str | os.PathLike, settings: dict) -> None:
    """Save `image` as PNG with `settings` as JSON in the text chunk "parameters"."""
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text(SETTINGS_KEY, json.dumps(settings, default=str))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)


def read_png_settings(path: str | os.PathLike) -> dict:
    """The settings stored by `save_png`; {} for a PNG without them."""
    with PIL.Image.open(path) as image:
        image.load()
        text = getattr(image, "text", {}) or image.info
        raw = text.get(SETTINGS_KEY)
    if not raw:
        return {}
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return settings if isinstance(settings, dict) else {}


def save_gif(frames: list[PIL.Image.Image], path: str | os.PathLike, duration_ms: int = 80) -> None:
    """An endlessly looping GIF; the last frame is held longer so the finished image can be seen."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * LAST_FRAME_HOLD]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [frame.convert("L") if frame.mode in ("L", "1") else frame.convert("RGB") for frame in frames]
    first.save(path, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0, optimize=False)


def tensor_grid(images: torch.Tensor, scale: int = 4, nrow: int | None = None, padding: int = 1) -> PIL.Image.Image:
    """A batch (N, C, H, W) in [-1, 1] as one picture: a grid, each pixel blown up `scale` times (nearest)."""
    images = images.detach().float().cpu()
    if nrow is None:
        nrow = max(1, int(len(images) ** 0.5 + 0.5))
    grid = make_grid(to_uint8(images), nrow=nrow, padding=padding, pad_value=255)  # (C, H, W), C = 3
    picture = PIL.Image.fromarray(grid.permute(1, 2, 0).numpy())
    if images.shape[1] == 1:
        picture = picture.convert("L")
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), PIL.Image.NEAREST)
    return picture


def side_by_side(left: PIL.Image.Image, right: PIL.Image.Image, gap: int = 4) -> PIL.Image.Image:
    """Two pictures next to each other on a white background."""
    mode = "L" if left.mode == right.mode == "L" else "RGB"
    canvas = PIL.Image.new(mode, (left.width + gap + right.width, max(left.height, right.height)), 255)
    canvas.paste(left.convert(mode), (0, 0))
    canvas.paste(right.convert(mode), (left.width + gap, 0))
    return canvas


def denoising_frame(x_t: torch.Tensor, x0: torch.Tensor, scale: int = 4) -> PIL.Image.Image:
    """One step of the denoising as one picture: the noisy images x_t (left) beside the model's guess of
    the clean images x0 (right). The GIFs of the sampling CLI and the web page's live view both use it."""
    return side_by_side(tensor_grid(x_t, scale), tensor_grid(x0, scale), gap=2 * scale)


def denoising_frames(
    x_t_list: list[torch.Tensor], x0_list: list[torch.Tensor], scale: int = 4
) -> list[PIL.Image.Image]:
    """One frame per step, each drawn by `denoising_frame`."""
    if len(x_t_list) != len(x0_list):
        raise ValueError(f"got {len(x_t_list)} x_t tensors and {len(x0_list)} x0 tensors; give one of each per step")
    return [denoising_frame(x_t, x0, scale) for x_t, x0 in zip(x_t_list, x0_list, strict=True)]


def enlarge(image: PIL.Image.Image, scale: int = 8) -> PIL.Image.Image:
    """Each pixel as a `scale` x `scale` square (nearest neighbour), so a 28-pixel image is seen, not a speck."""
    return image.resize((image.width * scale, image.height * scale), PIL.Image.NEAREST)


def image_grid(images: list[PIL.Image.Image], scale: int = 4, nrow: int | None = None) -> PIL.Image.Image:
    """Greyscale PIL images as one grid picture, drawn like `tensor_grid`."""
    batch = torch.stack([torch.from_numpy(np.array(image.convert("L")))[None] for image in images])
    return tensor_grid(batch.float() / 127.5 - 1, scale, nrow)


def labelled_grid(
    images: list[PIL.Image.Image], columns: list[str], rows: list[str], title: list[str], scale: int = 4
) -> PIL.Image.Image:
    """Greyscale images in a grid (`image_grid`, len(columns) to a row) with a label over each column, one
    before each row (none when `rows` are all empty) and `title` lines on top, so the picture itself says
    which settings made each cell."""
    grid = image_grid(images, scale, nrow=len(columns)).convert("RGB")
    font = PIL.ImageFont.load_default(size=13)
    line = 18
    measure = PIL.ImageDraw.Draw(grid)
    left = max((measure.textlength(row, font=font) for row in rows), default=0)
    left = int(left) + 12 if left else 0
    width = max(left + grid.width, 360)
    wrapped = [part for text in title for part in textwrap.wrap(text, max(20, width // 7)) or [""]]
    top = line * (len(wrapped) + 1) + 8
    canvas = PIL.Image.new("RGB", (width, top + grid.height), "white")
    canvas.paste(grid, (left, top))
    draw = PIL.ImageDraw.Draw(canvas)
    for index, text in enumerate(wrapped):
        draw.text((4, 4 + index * line), text, fill="black", font=font)
    cell = (images[0].width + 1) * scale  # each picture and the 1-pixel gap before it, enlarged
    for index, text in enumerate(columns):
        centre = left + scale + index * cell + images[0].width * scale / 2
        draw.text((centre, top - 4), text, fill="black", font=font, anchor="md")
    for index, text in enumerate(rows):
        centre = top + scale + index * ((images[0].height + 1) * scale) + images[0].height * scale / 2
        draw.text((left - 6, centre), text, fill="black", font=font, anchor="rm")
    return canvas
