"""What the page's buttons do: module functions over the shared `App` (state.py), bound in layout.py.

The three run handlers check the request, then stream the run's page updates (runs.py). Any error ends
in the tab's status line, where it stays until the next run: a `UserError` with its own message, anything
else as a short note (the traceback goes to the server log). No handler raises into Gradio, so the page
never shows bare "Error" badges over its pictures.
"""

from __future__ import annotations

import contextlib
import traceback

import gradio as gr

from ..errors import UserError
from . import history as past
from .render import is_blank, sketch_to_input
from .requests import RANDOM_SEED, check_blend, check_request
from .runs import blend_run, heatmaps, images_run
from .state import App
from .updates import BLEND_FIELDS, IMAGE_FIELDS, TEXT_FIELDS, failed


def session_key(request: gr.Request, tab: str) -> tuple[str, str]:
    return (request.session_hash or "", tab)


@contextlib.contextmanager
def stop_signal(app: App, request: gr.Request, tab: str):
    """This run's Stop event (armed at the click, or new for an API call), forgotten when the run ends."""
    key = session_key(request, tab)
    event = app.signals.take(key)
    try:
        yield event
    finally:
        app.signals.release(key, event)


def in_status(run, fields: tuple[str, ...]):
    """The run's updates as output tuples; an error becomes the status line instead of a Gradio error."""
    started = False
    try:
        for update in run:
            started = True
            yield update.values(fields)
    except UserError as error:
        yield failed(str(error), started).values(fields)
    except Exception as error:  # a bug, not the visitor's doing: say so briefly, log the details
        traceback.print_exc()
        yield failed(f"the server could not finish this run ({type(error).__name__}); try again", started).values(
            fields
        )


def generate(
    app: App, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, history, request: gr.Request
):
    def run():
        with stop_signal(app, request, "generate") as stop:
            checked = check_request(app.limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler)
            total = checked.settings.steps
            yield from images_run(app, checked, checked.pipeline_kwargs(), total, stop, history=history or [])

    yield from in_status(run(), TEXT_FIELDS)


def from_sketch(
    app: App,
    sketch,
    prompt,
    negative_prompt,
    strength,
    steps,
    guidance_scale,
    images,
    seed,
    scheduler,
    request: gr.Request,
):
    def run():
        with stop_signal(app, request, "sketch") as stop:
            checked = check_request(
                app.limits,
                prompt,
                negative_prompt,
                steps,
                guidance_scale,
                images,
                seed,
                scheduler,
                strength=strength,
                extra={"init_image": "sketch"},
            )
            composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
            drawing = sketch_to_input(composite)
            if drawing is None or is_blank(drawing):
                raise UserError("the sketch is empty: draw something (light on dark) or upload a picture first")
            total = max(1, round(checked.settings.steps * checked.settings.strength))  # noisiest steps skipped
            yield from images_run(app, checked, checked.pipeline_kwargs() | {"image": drawing}, total, stop)

    yield from in_status(run(), IMAGE_FIELDS)


def interpolate(app: App, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler, request: gr.Request):
    def run():
        with stop_signal(app, request, "interpolate") as stop:
            checked = check_blend(app.limits, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler)
            yield from blend_run(app, checked, stop)

    yield from in_status(run(), BLEND_FIELDS)


def show_attention(app: App, run: dict | None, event: gr.SelectData):
    """A result was clicked: its attention maps, and its seed in "Seed of the selected image"."""
    maps = heatmaps(run, event.index) if run else None
    if maps is None:
        return gr.skip(), gr.skip(), gr.skip()
    note = f"Where each word looked in image {event.index + 1} (click another image to switch)."
    return maps, note, run["seeds"][event.index]


def use_seed(app: App, seed):
    """ "Use this seed": the selected image's seed into the seed box (it stays there until changed)."""
    return gr.skip() if seed is None else int(seed)


def random_seed(app: App):
    """ "Random seed": -1, so every run from now on gets a new seed."""
    return RANDOM_SEED


def restore(app: App, runs: list | None, event: gr.SelectData):
    """A past run was clicked: its settings, its seed included, back into the text tab's controls."""
    if not runs or not 0 <= event.index < len(runs):
        return (gr.skip(),) * 8
    return (
        *past.controls_of(runs[event.index]),
        f"Settings of run “{runs[event.index]['settings']['prompt']}” restored; press Generate to make it again.",
    )


def start(app: App, tab: str, request: gr.Request):
    """At the click, before the run waits in the queue: arm the tab's Stop; Generate off, Stop on."""
    app.signals.arm(session_key(request, tab))
    return gr.Button(interactive=False), gr.Button(interactive=True)


def stop(app: App, tab: str, request: gr.Request):
    app.signals.stop(session_key(request, tab))
    return gr.Button(interactive=False)


def finish(app: App, tab: str, request: gr.Request):
    """The run ended (or never started): forget its Stop; Generate on, Stop off."""
    app.signals.discard(session_key(request, tab))
    return gr.Button(interactive=True), gr.Button(interactive=False)


def forget_session(app: App, request: gr.Request):
    """The tab was closed."""
    app.signals.forget_session(request.session_hash or "")
