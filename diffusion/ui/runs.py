"""One run of a tab as a stream of page updates: cleared results, a live preview per denoising step,
then the results (gallery, downloads, snapshots, attention, history) or a "Stopped" status.

Nothing here checks input (requests.py) or knows the layout (layout.py); handlers.py puts them together.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..sampling.imageio import enlarge
from . import progress
from .files import DOWNLOAD_SCALE, bundle, picture, save_blend, save_results
from .history import add_run, gallery_items
from .render import attention_heatmaps, preview_frame, snapshot, snapshot_steps, strip_frame
from .requests import PageRequest, blend_kwargs, blend_weights
from .state import App
from .streaming import stream_pipeline
from .text import plural
from .updates import Update, cleared, download_all, scrubber_over


class Timer:
    """Seconds since the run began: one clock for the status line and the progress bar."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def stream_steps(
    app: App,
    request: PageRequest,
    kwargs: dict,
    total: int,
    stop: threading.Event,
    folder: Path,
    frame=preview_frame,
    timer: Timer | None = None,
):
    """Clear the old results, then show each step and the progress bar. Returns (frames, output, the last
    preview's path); output is None when the run was stopped, and then the status says so."""
    timer = timer or Timer()
    yield cleared(f"Starting: {plural(total, 'step')}…", request.seed, progress.running(0, total, timer.seconds, 0))
    frames, output, shown = [], None, None
    if not stop.is_set():
        sampling = time.perf_counter()
        for item in stream_pipeline(app.pipe, kwargs, total, stop):
            if isinstance(item, list):
                frames.extend(item)
                last = item[-1]
                shown = picture(folder, frame(last.x_t, last.x0), f"preview-{last.step:04d}")
                bar = progress.running(last.step + 1, total, timer.seconds, last.at - sampling)
                yield Update(preview=shown, status=last.describe(), progress=bar)
            else:
                output = item
    if output is None:
        yield Update(
            status=f"Stopped after {len(frames)} of {plural(total, 'step')}; nothing was saved.",
            progress=progress.stopped(len(frames), total, timer.seconds),
        )
    return frames, output, shown


def images_run(
    app: App, request: PageRequest, kwargs: dict, total: int, stop, history: list | None = None, made: str = ""
):
    """Text or sketch to images. `history`: the session's past runs, for the text tab; None elsewhere.
    `made`: what the status says was made, when not just "N images"."""
    timer, folder = Timer(), app.folders.new()
    kwargs = kwargs | {"return_attention": True}
    frames, output, preview = yield from stream_steps(app, request, kwargs, total, stop, folder, timer=timer)
    if output is None:
        return
    seeds = output.seeds
    paths = save_results(folder, output.images, request, seeds, frames, app.checkpoint)
    enlarged = [path for path in paths if path.endswith(f"-{DOWNLOAD_SCALE}x.png")]
    snaps = [
        (
            picture(folder, snapshot(frames[i].x_t, frames[i].x0), f"snapshot-{i}"),
            f"step {frames[i].step + 1} · σ {frames[i].sigma:.2f}",
        )
        for i in snapshot_steps(len(frames))
    ]
    run = {
        "steps": [picture(folder, preview_frame(f.x_t, f.x0), f"step-{f.step + 1:04d}") for f in frames],
        "maps": output.attention_maps,
        "tokens": output.tokens,
        "images": frames[-1].x_t.clamp(-1, 1),
        "seeds": seeds,
        "folder": str(folder),
        "settings": request.record(),  # for Variations: the same prompt and settings
    }
    count = len(seeds)
    seed_text = f"seed {seeds[0]}" if count == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    made = made or f"{count} image{'s' * (count > 1)}"
    elapsed = timer.seconds  # one time for the status and the bar
    status = [f"Done in {elapsed:.1f} s: {made}, {seed_text}.", *app.notes(request.prompt)]
    update = Update(
        preview=preview,  # the same file as the last step's: sent again for API callers, never rewritten
        scrubber=scrubber_over(len(frames)),
        seed_used=seeds[0],
        gallery=[(path, f"seed {seed}") for path, seed in zip(enlarged, seeds, strict=True)],
        files=paths,
        bundle=download_all(bundle(paths), len(paths)),
        snapshots=snaps,
        attention=heatmaps(run, 0),
        run=run,
        status="\n\n".join(status),
        progress=progress.finished(total, elapsed),
    )
    if history is not None:
        grid = next(path for path in paths if path.endswith("-grid.png"))
        runs = add_run(history, request.record(), count, grid)
        update.history, update.history_runs = gallery_items(runs), runs
    yield update


def heatmaps(run: dict | None, index: int) -> list[tuple[str, str]] | None:
    """Image `index`'s attention maps, one picture per word, written into the run's folder."""
    if not run or run.get("maps") is None or not run.get("tokens"):
        return None
    pictures = attention_heatmaps(run["images"][index], run["maps"][index], run["tokens"])
    folder = Path(run["folder"])
    return [(picture(folder, image, f"attention-{index}-{k}"), caption) for k, (image, caption) in enumerate(pictures)]


def blend_run(app: App, request: PageRequest, stop):
    """Interpolation: live steps of the whole strip, then the strip with its blend weights."""
    timer, folder = Timer(), app.folders.new()
    kwargs = blend_kwargs(app.pipe, request)
    steps = request.settings.num_inference_steps
    frames, output, preview = yield from stream_steps(
        app, request, kwargs, steps, stop, folder, frame=strip_frame, timer=timer
    )
    if output is None:
        return
    paths = save_blend(folder, output.images, request, app.checkpoint)
    weights = blend_weights(len(output.images))
    gallery = [
        (picture(folder, enlarge(image, 8), f"blend-{i}"), f"w = {w:.2f}")
        for i, (image, w) in enumerate(zip(output.images, weights, strict=True))
    ]
    elapsed = timer.seconds
    yield Update(
        preview=preview,
        seed_used=request.seed,
        gallery=gallery,
        files=paths,
        bundle=download_all(bundle(paths), len(paths)),
        status=f"Done in {elapsed:.1f} s: {len(gallery)} blends from the same noise (seed {request.seed}).",
        progress=progress.finished(steps, elapsed),
    )
