"""Pictures for the web UI: denoising previews, snapshot strips, attention heatmaps, sketch input.

Only pixels here, no Gradio and no model: every function takes tensors or PIL images and returns PIL
images, so each can be tried in a Python shell. Images are 28x28 grayscale; they are enlarged with
nearest-neighbour resampling so that each model pixel stays a crisp square.
"""

from __future__ import annotations

import math

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
import torch.nn.functional as F

from ..sampling.imageio import denoising_frame, tensor_grid

DISPLAY_WIDTH = 240  # about how wide one grid of the live preview is drawn, in screen pixels

# A perceptually ordered dark-to-bright palette (anchor colours of matplotlib's "inferno").
HEAT_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def grid_scale(count: int, size: int = 28) -> int:
    """The enlargement that makes a grid of `count` images about DISPLAY_WIDTH pixels wide."""
    columns = max(1, round(math.sqrt(count)))
    return max(1, round(DISPLAY_WIDTH / (columns * (size + 1))))


def preview_frame(x_t: torch.Tensor, x0: torch.Tensor) -> PIL.Image.Image:
    """One step of the live view, enlarged so that the whole batch is about DISPLAY_WIDTH pixels wide."""
    return denoising_frame(x_t, x0, grid_scale(len(x_t), x_t.shape[-1]))


def strip_frame(x_t: torch.Tensor, x0: torch.Tensor, scale: int = 4) -> PIL.Image.Image:
    """A row of images as one picture: noisy x_t on top, predicted x0 below (the interpolation strip)."""
    return tensor_grid(torch.cat([x_t, x0]), scale, nrow=len(x_t))


def snapshot(x_t: torch.Tensor, x0: torch.Tensor, scale: int = 4) -> PIL.Image.Image:
    """One image at one step: noisy x_t above predicted x0, for the strip of snapshots."""
    top, bottom = tensor_grid(x_t[:1], scale), tensor_grid(x0[:1], scale)
    canvas = PIL.Image.new("L", (top.width, top.height + bottom.height + scale), 255)
    canvas.paste(top, (0, 0))
    canvas.paste(bottom, (0, top.height + scale))
    return canvas


def snapshot_steps(total: int, count: int = 6) -> list[int]:
    """About `count` step indices spread evenly from the first step to the last."""
    if total <= count:
        return list(range(total))
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 through the palette."""
    position = np.clip(values, 0, 1) * (len(HEAT_ANCHORS) - 1)
    low = np.floor(position).astype(int).clip(0, len(HEAT_ANCHORS) - 2)
    weight = (position - low)[..., None]
    colours = HEAT_ANCHORS[low] * (1 - weight) + HEAT_ANCHORS[low + 1] * weight
    return colours.round().astype(np.uint8)


def merge_word_pieces(tokens: list[str], maps: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Join WordPiece pieces ("sneak", "##er") into words, adding their maps: one map per word.

    maps: (L, H, W) with L >= len(tokens). [CLS] and [SEP] stay as they are."""
    words: list[tuple[str, torch.Tensor]] = []
    for index, token in enumerate(tokens):
        if token.startswith("##") and words and words[-1][0] not in ("[CLS]", "[SEP]"):
            word, total = words[-1]
            words[-1] = (word + token[2:], total + maps[index])
        else:
            words.append((token, maps[index].clone()))
    return words


def attention_heatmaps(
    image: torch.Tensor, maps: torch.Tensor, tokens: list[str], scale: int = 8
) -> list[tuple[PIL.Image.Image, str]]:
    """For one generated image (C, H, W) in [-1, 1] and its cross-attention maps (L, H, W): one picture per
    word, the heatmap laid over the image, captioned with the word and its share of all attention.

    Words come first, then the [CLS] and [SEP] markers, which often soak up attention that no word wants."""
    size = image.shape[-1] * scale
    gray = ((image[:1].float().clamp(-1, 1) + 1) * 127.5).expand(3, -1, -1)
    gray = F.interpolate(gray[None], size=(size, size), mode="nearest")[0].permute(1, 2, 0).numpy()
    total = maps[: len(tokens)].sum().clamp_min(1e-12)
    words, markers = [], []
    for word, attention in merge_word_pieces(tokens, maps.float()):
        share = float(attention.sum() / total)
        heat = F.interpolate(attention[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-12)
        blend = 0.35 * gray + 0.65 * heat_colours(heat.numpy()).astype(np.float32)
        item = (PIL.Image.fromarray(blend.round().astype(np.uint8)), f"{word} · {share:.0%}")
        (markers if word in ("[CLS]", "[SEP]") else words).append(item)
    return words + markers


def light_on_dark(image: PIL.Image.Image | np.ndarray) -> PIL.Image.Image:
    """A drawing or an upload as a grayscale picture in the style of the data set, at its own size.

    Transparent parts count as white paper. Fashion-MNIST shows light clothes on a black background, so
    a picture with a light border (a dark drawing on white paper) is inverted."""
    if isinstance(image, np.ndarray):
        image = PIL.Image.fromarray(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        paper = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = PIL.Image.alpha_composite(paper, image)
    gray = image.convert("L")
    pixels = np.asarray(gray, dtype=np.float32)
    if pixels.size == 0:
        return gray
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return PIL.ImageOps.invert(gray) if border.mean() > 127 else gray


def sketch_to_input(image: PIL.Image.Image | np.ndarray | None, size: int = 28) -> PIL.Image.Image | None:
    """A drawing or an upload -> a size x size grayscale picture in the style of the data set."""
    if image is None:
        return None
    gray = light_on_dark(image)
    if gray.width == 0 or gray.height == 0:
        return None
    return gray.resize((size, size), PIL.Image.BOX)


def is_blank(image: PIL.Image.Image) -> bool:
    """True when a picture has (almost) no contrast: nothing drawn."""
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    return float(pixels.max() - pixels.min()) < 8
