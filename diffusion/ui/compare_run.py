"""A comparison grid's run as a stream of page updates: each cell of the plan (compare.py) drawn in turn,
with the live preview and one progress bar over all cells, then the labelled grid and each cell's PNG."""

from __future__ import annotations

import time

from ..sampling.imageio import labelled_grid, save_png
from . import progress
from .compare import AXES, NO_AXIS, Plan, label
from .files import picture, slug
from .render import preview_frame
from .runs import Timer
from .state import App
from .streaming import stream_pipeline
from .text import as_text, plural
from .updates import Update, cleared


def compare_run(app: App, grid: Plan, stop):
    timer, folder = Timer(), app.folders.new()
    first = grid.cells[0][0]
    cells = [(cell, column, row) for row, line in zip(grid.rows, grid.cells, strict=True)
             for cell, column in zip(line, grid.columns, strict=True)]  # fmt: skip
    starting = f"Starting: {grid.count} pictures, {plural(grid.work, 'step')} in all…"
    yield cleared(starting, first.seed, progress.running(0, grid.work, 0, 0))
    images, done, sampling = [], 0, time.perf_counter()
    for number, (cell, column, row) in enumerate(cells, 1):
        where = f"Picture {number} of {grid.count} ({column}{', ' + row if row else ''})"
        output = None
        for item in stream_pipeline(app.pipe, cell.pipeline_kwargs(), cell.settings.num_inference_steps, stop):
            if not isinstance(item, list):
                output = item
                continue
            last = item[-1]
            shown = picture(folder, preview_frame(last.x_t, last.x0), f"preview-{number}-{last.step:04d}")
            bar = progress.running(done + last.step + 1, grid.work, timer.seconds, last.at - sampling)
            yield Update(preview=shown, status=f"{where}: {last.describe()}", progress=bar)
        if output is None:
            stopped = progress.stopped(done, grid.work, timer.seconds)
            yield Update(status=f"Stopped at picture {number} of {grid.count}; nothing was saved.", progress=stopped)
            return
        done += cell.settings.num_inference_steps
        images.append(output.images[0])

    name = f"seed{first.seed}-{slug(first.prompt)}"
    paths = []
    for index, (image, (cell, column, row)) in enumerate(zip(images, cells, strict=True)):
        path = folder / f"{name}-{index + 1:02d}-{slug(column + ' ' + row)}.png"
        save_png(image, path, cell.record() | {"checkpoint": app.checkpoint})
        paths.append(str(path))
    drawn = labelled_grid(images, grid.columns, grid.rows if grid.y != NO_AXIS else [], title(grid))
    axes = {"columns": grid.x, "column_values": grid.columns, "rows": grid.y, "row_values": grid.rows}
    grid_path = folder / f"{name}-compare-grid.png"
    save_png(drawn, grid_path, first.record() | {"checkpoint": app.checkpoint, "compare": axes})
    elapsed = timer.seconds
    rows = "" if grid.y == NO_AXIS else f", rows {grid.y.lower()}"
    yield Update(
        gallery=str(grid_path),
        files=[str(grid_path), *paths],
        status=f"Done in {elapsed:.1f} s: {grid.count} pictures of “{as_text(first.prompt)}” at seed {first.seed}, "
        f"columns {grid.x.lower()}{rows}.",
        progress=progress.finished(grid.work, elapsed),
    )


def title(grid: Plan) -> list[str]:
    """The grid's own caption: the prompt, the seed and the settings every cell shares; what the axes vary."""
    first = grid.cells[0][0]
    varied = {AXES[grid.x]} | ({AXES[grid.y]} if grid.y != NO_AXIS else set())
    settings = first.record()
    shared = [
        ("sampler " if name == "scheduler" else "") + label(name, settings[name])
        for name in AXES.values()
        if name not in varied
    ]
    negative = f" · not “{first.settings.negative_prompt}”" if first.settings.negative_prompt else ""
    rows = "" if grid.y == NO_AXIS else f" · rows: {grid.y.lower()}"
    return [
        f"“{first.prompt}”{negative} · seed {first.seed} · " + " · ".join(shared),
        f"columns: {grid.x.lower()}{rows}",
    ]
