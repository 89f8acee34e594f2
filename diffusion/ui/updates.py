"""Page updates: what a handler changes in its tab, by name, in the order the tab's outputs are wired.

A field left out keeps what the page shows (`gr.skip()`). The same names are the attributes of the
tab's `Panel` (layout.py), so a handler never needs the component objects themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import gradio as gr

from .text import as_text

# In this order the API returns them (gr.State values are not returned); the step slider, the zip of the
# run's files and the progress bar, added later, come last, so that the API's earlier outputs keep their places.
RESULT_FIELDS = ("preview", "status", "seed_used", "gallery", "files", "snapshots", "attention", "run")
IMAGE_FIELDS = RESULT_FIELDS + ("scrubber", "bundle", "progress")
TEXT_FIELDS = RESULT_FIELDS + ("history", "history_runs", "scrubber", "bundle", "progress")
BLEND_FIELDS = ("preview", "status", "seed_used", "gallery", "files", "bundle", "progress")
COMPARE_FIELDS = ("preview", "status", "gallery", "files", "progress")  # the gallery: one picture, the grid


@dataclass
class Update:
    preview: object = field(default_factory=gr.skip)
    scrubber: object = field(default_factory=gr.skip)
    status: object = field(default_factory=gr.skip)
    seed_used: object = field(default_factory=gr.skip)
    gallery: object = field(default_factory=gr.skip)
    files: object = field(default_factory=gr.skip)
    snapshots: object = field(default_factory=gr.skip)
    attention: object = field(default_factory=gr.skip)
    run: object = field(default_factory=gr.skip)  # gr.State: the finished run, for attention and seeds
    history: object = field(default_factory=gr.skip)
    history_runs: object = field(default_factory=gr.skip)  # gr.State: this session's past runs
    bundle: object = field(default_factory=gr.skip)  # the zip of all the run's files
    progress: object = field(default_factory=gr.skip)  # the bar beside the run button (progress.py)

    def values(self, fields: tuple[str, ...]) -> tuple:
        return tuple(getattr(self, name) for name in fields)


def cleared(status: str, seed: int | None, progress: str = "") -> Update:
    """The start of a run: old results gone (not left under the new run's status), the new seed shown."""
    return Update(
        status=status,
        progress=progress,
        seed_used=seed,
        gallery=None,
        files=None,
        snapshots=None,
        attention=None,
        run=None,
        scrubber=hidden(),
        bundle=hidden(),
    )


def hidden():
    """The step slider or the zip button out of sight: shown only for a finished run."""
    return gr.update(visible=False)


def scrubber_over(steps: int):
    """The step slider for a finished run of `steps` steps, at its last step; none for a one-step run (a
    slider from 1 to 1 is refused by Gradio, and there is nothing to move through)."""
    if steps < 2:
        return hidden()
    return gr.update(minimum=1, maximum=steps, value=steps, visible=True)


def download_all(path: str, count: int):
    """The button that downloads the run's zip, saying how many files it holds."""
    return gr.update(value=path, label=f"Download all {count} files (zip)", visible=True)


def failed(message: str) -> Update:
    """An error, in the status line where it stays until the next run, with nothing of an earlier run left
    under it: pictures shown below an error would read as this request's results."""
    text = as_text(message[:1].upper() + message[1:])  # it may quote what the visitor typed
    return replace(cleared(f"**Error:** {text}", None), preview=None)
