"""This session's runs on the text tab: a thumbnail of each run's grid with its settings; clicking one
puts those settings (its seed included) back into the controls, so a run can be made again or varied.

The list lives in the visitor's own `gr.State`, newest first, and keeps the last `HISTORY_SIZE` runs.
"""

from __future__ import annotations

from pathlib import Path

from .text import plural

HISTORY_SIZE = 24


def add_run(runs: list[dict] | None, record: dict, images: int, grid: str) -> list[dict]:
    """The new run first; runs whose files the server has since deleted (RunFolders keeps the last few
    dozen runs of all visitors) are dropped, so the page is never sent a picture that is gone."""
    kept = [run for run in runs or [] if Path(run["grid"]).is_file()]
    return [{"settings": record, "images": images, "grid": grid}, *kept][:HISTORY_SIZE]


def caption(run: dict) -> str:
    s = run["settings"]
    negative = f" · not “{s['negative_prompt']}”" if s.get("negative_prompt") else ""
    model = f" · {s['model']} model" if s.get("model") else ""  # set for the fast model only
    return (
        f"“{s['prompt']}”{negative} · seed {s['seed']} · {run['images']} image{'s' * (run['images'] > 1)} · "
        f"{plural(s['steps'], 'step')} · guidance {s['guidance_scale']:g} · {s['scheduler']}{model}"
    )


def gallery_items(runs: list[dict]) -> list[tuple[str, str]]:
    return [(run["grid"], caption(run)) for run in runs]


def controls_of(run: dict) -> tuple:
    """The text tab's controls for this run: prompt, negative prompt, steps, guidance, images, seed, scheduler."""
    s = run["settings"]
    return (
        s["prompt"],
        s.get("negative_prompt", ""),
        s["steps"],
        s["guidance_scale"],
        run["images"],
        s["seed"],
        s["scheduler"],
    )
