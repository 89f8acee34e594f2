"""The files a web run makes: downloads that carry their settings, and the pictures the page shows.

Each run writes into a fresh folder of its own, so no two visitors ever share a file. Every picture the
page shows is written here once, under a name of its own, and handed to Gradio as a path: Gradio then
copies it into its cache atomically. (Handing Gradio PIL images instead makes it re-encode and rewrite
its cached file, named by content, each time the same picture is sent again; a browser still reading
that file then got a response longer than its Content-Length, and h11 raised LocalProtocolError.)
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import PIL.Image

from ..common.folders import staged_file
from ..sampling.imageio import denoising_frames, enlarge, image_grid, save_gif, save_png
from .requests import PageRequest, blend_weights
from .streaming import StepFrame

DOWNLOAD_SCALE = 8  # the enlarged PNG beside each 28x28 original: each pixel an 8x8 square


class RunFolders:
    """One folder per run under one temporary root; the oldest are deleted beyond `keep`."""

    def __init__(self, root: Path | None = None, keep: int = 64):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="tiny-diffusion-ui-"))
        self.keep = keep
        self._lock = threading.Lock()
        self._made: list[Path] = []

    def new(self) -> Path:
        with self._lock:
            folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            self._made.append(folder)
            while len(self._made) > self.keep:
                shutil.rmtree(self._made.pop(0), ignore_errors=True)
            return folder

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def slug(text: str, length: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:length].strip("-") or "image"


def picture(folder: Path, image: PIL.Image.Image, name: str) -> str:
    """Write a picture for the page as PNG and return its path, which is what the page is given. Written
    under a temporary name and renamed, so a reader never sees half a file."""
    path = folder / f"{name}.png"
    with staged_file(path) as staging:
        image.save(staging, format="PNG")
    return str(path)


def save_results(
    folder: Path, images: list, request: PageRequest, seeds: list[int], frames: list[StepFrame], checkpoint: str
) -> list[str]:
    """Per image the 28x28 PNG and an 8x enlargement, both with their settings; the run's grid; a GIF of
    the denoising. Names start with the seed, so a cut-off name still shows it. Returns the paths."""
    paths = []
    name = slug(request.prompt)
    for index, (image, seed) in enumerate(zip(images, seeds, strict=True)):
        settings = request.record(seed) | {"checkpoint": checkpoint, "index": index}
        save_png(image, folder / f"seed{seed}-{name}.png", settings)
        save_png(
            enlarge(image, DOWNLOAD_SCALE),
            folder / f"seed{seed}-{name}-{DOWNLOAD_SCALE}x.png",
            settings | {"scale": DOWNLOAD_SCALE},
        )
        paths += [str(folder / f"seed{seed}-{name}.png"), str(folder / f"seed{seed}-{name}-{DOWNLOAD_SCALE}x.png")]
    seed_range = f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}"
    grid = folder / f"{seed_range}-{name}-grid.png"
    save_png(image_grid(images, scale=4, nrow=min(8, len(images))), grid, request.record() | {"checkpoint": checkpoint})
    paths.append(str(grid))
    if frames:
        gif = folder / f"{seed_range}-{name}-denoising.gif"
        x_t, x0 = [f.x_t for f in frames], [f.x0 for f in frames]
        save_gif(denoising_frames(x_t, x0, scale=4), gif, duration_ms=max(40, min(150, 2000 // len(frames))))
        paths.append(str(gif))
    return paths


def bundle(paths: list[str]) -> str:
    """All of a run's files in one zip beside them (named like its grid or GIF, with .zip), so a visitor
    takes the run in one download. PNGs are compressed already: stored as they are."""
    first = Path(paths[-1])
    target = first.with_name(first.stem.removesuffix("-denoising").removesuffix("-grid") + "-files.zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.write(path, arcname=Path(path).name)
    return str(target)


def save_blend(folder: Path, images: list, request: PageRequest, checkpoint: str) -> list[str]:
    """PNG per blend (its weight among the settings) and a GIF that goes A -> B -> A; returns the paths."""
    name = f"seed{request.seed}-{slug(request.prompt, 24)}-to-{slug(request.extra['prompt_b'], 24)}"
    paths = []
    for index, (image, weight) in enumerate(zip(images, blend_weights(len(images)), strict=True)):
        path = folder / f"{name}-{index + 1:02d}.png"
        save_png(image, path, request.record() | {"blend": weight, "checkpoint": checkpoint})
        paths.append(str(path))
    strip = [enlarge(image, 4) for image in images]
    gif = folder / f"{name}.gif"
    save_gif(strip + strip[-2:0:-1], gif, duration_ms=300)
    return paths + [str(gif)]


# The page fetches the pictures from their folders (app.py serves them in place); a few hundred small runs
# (about 15 kB each) keep the pictures a visitor is looking at while others type.
LIVE_FOLDERS_KEPT = 256


def live_folders(root: Path) -> RunFolders:
    """Live runs rotate in a folder of their own, so typing never pushes the Generate runs' files out."""
    folder = Path(root) / "live"
    folder.mkdir(parents=True, exist_ok=True)
    return RunFolders(folder, keep=LIVE_FOLDERS_KEPT)
