"""This session's runs on the text tab: a thumbnail of each run's grid with its settings; clicking one
puts those settings (its seed included) back into the controls, so a run can be made again or varied.

The list lives in the visitor's own `gr.State`, newest first, and keeps the last `HISTORY_SIZE` runs; a copy
in the browser's storage (`gr.BrowserState`) brings it back after a reload. What comes back from a browser
is checked like a request: the browser's storage is the visitor's to edit.
"""

from __future__ import annotations

from pathlib import Path

from ..common.errors import UserError
from .requests import check_request
from .state import DEFAULT_MODEL, App
from .text import plural

HISTORY_SIZE = 24


def add_run(runs: list[dict] | None, record: dict, num_images_per_prompt: int, grid: str) -> list[dict]:
    """The new run first; runs whose files the server has since deleted (RunFolders keeps the last few
    dozen runs of all visitors) are dropped, so the page is never sent a picture that is gone."""
    kept = [run for run in runs or [] if Path(run["grid"]).is_file()]
    return [{"settings": record, "num_images_per_prompt": num_images_per_prompt, "grid": grid}, *kept][:HISTORY_SIZE]


def caption(run: dict) -> str:
    s = run["settings"]
    negative = f" · not “{s['negative_prompt']}”" if s.get("negative_prompt") else ""
    model = f" · {s['model']} model" if s.get("model") else ""  # set for the fast model only
    count = run["num_images_per_prompt"]
    return (
        f"“{s['prompt']}”{negative} · seed {s['seed']} · {count} image{'s' * (count > 1)} · "
        f"{plural(s['num_inference_steps'], 'step')} · guidance {s['guidance_scale']:g} · {s['scheduler']}{model}"
    )


def gallery_items(runs: list[dict]) -> list[tuple[str, str]]:
    return [(run["grid"], caption(run)) for run in runs]


def controls_of(run: dict) -> tuple:
    """The text tab's controls for this run: prompt, negative prompt, steps, guidance, images, seed, scheduler."""
    s = run["settings"]
    return (
        s["prompt"],
        s.get("negative_prompt", ""),
        s["num_inference_steps"],
        s["guidance_scale"],
        run["num_images_per_prompt"],
        s["seed"],
        s["scheduler"],
    )


def remembered(app: App, stored) -> list[dict]:
    """The runs a reloaded page brings back from its browser, as far as this server still has them: a run
    whose grid is not a picture in this server's run folders (deleted since, made before a restart, or
    never made here) is dropped, and so is one whose settings would not pass as a request."""
    runs = stored if isinstance(stored, list) else []
    return [run for run in runs[:HISTORY_SIZE] if is_kept_run(app, run)]


def is_kept_run(app: App, run) -> bool:
    if not isinstance(run, dict) or not isinstance(run.get("settings"), dict) or not isinstance(run.get("grid"), str):
        return False
    grid, root = Path(run["grid"]).resolve(), app.folders.root.resolve()
    if not (grid.is_relative_to(root) and grid.name.endswith("-grid.png") and grid.is_file()):
        return False
    s = run["settings"]
    if s.get("model", DEFAULT_MODEL) not in app.offered():
        return False
    try:
        names = ("prompt", "negative_prompt", "num_inference_steps", "guidance_scale")
        check_request(app.limits, *(s.get(name) for name in names), run.get("num_images_per_prompt"), s.get("seed"),
                      s.get("scheduler"))  # fmt: skip
    except (UserError, TypeError, ValueError):
        return False
    return True
