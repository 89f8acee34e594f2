"""What the page's buttons do: module functions over the shared `App` (state.py), bound in layout.py.

The three run handlers check the request, then stream the run's page updates (runs.py). Any error ends
in the tab's status line, where it stays until the next run, in place of the earlier run's results: a
`UserError` with its own message, anything else as a short note (the traceback goes to the server log).
No handler raises into Gradio, so the page never shows bare "Error" badges over its pictures.
"""

from __future__ import annotations

import contextlib
import traceback

import gradio as gr

from ..common.errors import UserError
from ..sampling.settings import random_seed as new_seed
from . import history as past
from . import progress
from .compare import plan
from .compare_run import compare_run
from .live import live_run, model_defaults
from .render import is_blank, sketch_to_input
from .requests import RANDOM_SEED, check_blend, check_request, shown_seed
from .runs import blend_run, heatmaps, images_run
from .state import DEFAULT_MODEL, FAST_MODEL, App
from .text import FAST_SETTINGS_NOTE, HINTS, QUEUED, as_text, example_prompts
from .updates import BLEND_FIELDS, COMPARE_FIELDS, IMAGE_FIELDS, TEXT_FIELDS, failed
from .variations import describe as describe_variations
from .variations import variation_request


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
    try:
        for update in run:
            yield update.values(fields)
    except UserError as error:
        yield failed(str(error)).values(fields)
    except Exception as error:  # a bug, not the visitor's doing: say so briefly, log the details
        traceback.print_exc()
        yield failed(f"the server could not finish this run ({type(error).__name__}); try again").values(fields)


def generate(
    app: App,
    prompt,
    negative_prompt,
    steps,
    guidance_scale,
    images,
    seed,
    scheduler,
    history,
    model,
    request: gr.Request,
):
    """Text to images with the chosen model (the default one, or the fast one when it is served)."""

    def run():
        with stop_signal(app, request, "generate") as stop:
            chosen = app.model(model)
            extra = {"model": model} if chosen is not app else None  # the history restores the model too
            checked = check_request(
                app.limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, extra=extra
            )
            total = checked.settings.num_inference_steps
            yield from images_run(chosen, checked, checked.pipeline_kwargs(), total, stop, history=history or [])

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
            total = max(
                1, round(checked.settings.num_inference_steps * checked.settings.strength)
            )  # noisiest steps skipped
            yield from images_run(app, checked, checked.pipeline_kwargs() | {"image": drawing}, total, stop)

    yield from in_status(run(), IMAGE_FIELDS)


def interpolate(app: App, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler, request: gr.Request):
    def run():
        with stop_signal(app, request, "interpolate") as stop:
            checked = check_blend(app.limits, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler)
            yield from blend_run(app, checked, stop)

    yield from in_status(run(), BLEND_FIELDS)


def variations(app: App, tab: str, run, seed, request: gr.Request):
    """ "Variations": the selected result drawn again from itself at a small strength, same prompt and
    settings, at the seeds after its own; in the tab's own results, stopped by its own Stop."""
    fields = TEXT_FIELDS if tab == "generate" else IMAGE_FIELDS

    def work():
        with stop_signal(app, request, tab) as stop:
            checked, picture = variation_request(app.limits, run, seed)
            total = max(
                1, round(checked.settings.num_inference_steps * checked.settings.strength)
            )  # noisiest steps skipped
            kwargs = checked.pipeline_kwargs() | {"image": picture}
            chosen = app.model(checked.extra.get("model"))
            yield from images_run(chosen, checked, kwargs, total, stop, made=describe_variations(checked))

    yield from in_status(work(), fields)


def compare(
    app: App, prompt, negative, x, x_values, y, y_values, steps, guidance_scale, scheduler, seed, request: gr.Request
):
    """A comparison grid: the prompt at one seed across the values of one or two settings."""

    def run():
        with stop_signal(app, request, "compare") as stop:
            base = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "scheduler": scheduler}
            grid = plan(app.limits, prompt, negative, seed, base, x, x_values, y, y_values)
            yield from compare_run(app, grid, stop)

    yield from in_status(run(), COMPARE_FIELDS)


def show_attention(app: App, run: dict | None, event: gr.SelectData):
    """A result was clicked: its attention maps, and its seed in "Seed of the selected image". Live
    pictures have no maps: only the seed."""
    if not run or not 0 <= event.index < len(run["seeds"]):
        return gr.skip(), gr.skip(), gr.skip()
    maps = heatmaps(run, event.index)
    if maps is None:
        return gr.skip(), gr.skip(), run["seeds"][event.index]
    note = f"Where each word looked in image {event.index + 1} (click another image to switch)."
    return maps, note, run["seeds"][event.index]


def scrub(app: App, run: dict | None, step):
    """The step slider moved: that step's x_t and x0 in the preview."""
    steps = (run or {}).get("steps") or []
    if not isinstance(step, (int, float)) or not 1 <= step <= len(steps):
        return gr.skip()
    return steps[int(step) - 1]


def use_seed(app: App, seed):
    """ "Use this seed": the selected image's seed into the seed box (it stays there until changed)."""
    seed = shown_seed(seed)
    return gr.skip() if seed is None else seed


def forget_seed(app: App):
    """ "Random seed": -1, so every run from now on gets a new seed."""
    return RANDOM_SEED


def reload_history(app: App, stored):
    """A page (re)loaded: the history its browser kept, as far as this server still has its runs."""
    runs = past.remembered(app, stored)
    return past.gallery_items(runs), runs


def restore(app: App, runs: list | None, event: gr.SelectData):
    """A past run was clicked: its settings, its seed and its model included, back into the text tab's
    controls (Live off, so that the restored settings stay as they were)."""
    if not runs or not 0 <= event.index < len(runs):
        return (gr.skip(),) * 10
    prompt, negative, steps, guidance, images, seed, scheduler = past.controls_of(runs[event.index])
    model = runs[event.index]["settings"].get("model", DEFAULT_MODEL)
    live, negative_box = model_widgets(app, model, negative)
    steps, guidance, scheduler = sampling_widgets(app, model, steps, guidance, scheduler)
    return (
        prompt,
        negative_box,
        steps,
        guidance,
        images,
        seed,
        scheduler,
        f"Settings of run “{as_text(prompt)}” restored; press Generate to make it again.",
        model,
        live,
    )


# ----- the model choice and Live (live.py) ------------------------------------------------------------------------


def model_widgets(app: App, model, negative: str) -> tuple:
    """Live only for the fast model, and off after a change; no negative prompt for the fast model (its
    guidance is built in), `negative` for the default one."""
    fast = is_fast(app, model)
    live = gr.Checkbox(value=False, interactive=fast)
    if fast:
        return live, gr.Textbox(value="", interactive=False, placeholder="(the fast model takes none)")
    return live, gr.Textbox(value=negative, interactive=True, placeholder="(none)")


def sampling_widgets(app: App, model, steps=None, guidance=None, scheduler=None) -> tuple:
    """Steps, guidance and sampler: the fast model's own, locked (it was distilled for exactly those); the
    default model's editable. Values left None are the model's stored ones."""
    fast = is_fast(app, model)
    shown = app.fast if fast else app.others.get(model, app)
    stored = model_defaults(shown.pipe)  # a model trained here stores none of its own
    asked = (steps, guidance, scheduler)
    values = stored if fast else [s if v is None else v for v, s in zip(asked, stored, strict=True)]
    hints = [FAST_SETTINGS_NOTE if fast else HINTS[name] for name in ("steps", "guidance", "scheduler")]
    return tuple(
        gr.update(value=value, interactive=not fast, info=hint) for value, hint in zip(values, hints, strict=True)
    )


def is_fast(app: App, model) -> bool:
    return model == FAST_MODEL and app.fast is not None


def choose_model(app: App, model, negative, kept_negative):
    """Another model was chosen: its stored steps, guidance and sampler into the settings, its example
    prompts under the prompt. The negative prompt typed for the default model is put aside while the fast
    one is chosen, and back after."""
    if is_fast(app, model):
        widgets, kept = model_widgets(app, model, ""), negative or ""
    else:
        widgets, kept = model_widgets(app, model, kept_negative or ""), ""
    return *sampling_widgets(app, model), *widgets, kept, model_examples(app, model)


def model_examples(app: App, model) -> gr.Dataset:
    """The example prompts of the chosen model's data (the default model's for a run trained here)."""
    shown = app.others.get(model, app)
    return gr.Dataset(samples=[[p] for p in example_prompts(shown.index.dataset if shown.index else None)])


def toggle_live(app: App, live: bool, seed, request: gr.Request):
    """Live switched on: a fixed seed in the seed box (a random one for -1), so that only the words change
    the pictures, and a ticket, so that the current prompt is drawn at once."""
    if not live:
        return gr.skip(), gr.skip()
    fixed = new_seed(app.limits.max_images) if seed is None or seed == RANDOM_SEED else gr.skip()
    return fixed, app.tickets.new(request.session_hash or "")


def generating(app: App, request: gr.Request) -> bool:
    """Whether this visitor's Generate run is waiting or running: Live then leaves the page to it."""
    return app.signals.is_active(session_key(request, "generate"))


def live_ticket(app: App, live: bool, request: gr.Request):
    """The prompt changed (no queue, at once): with Live on, a new ticket, whose change starts the run and
    makes this visitor's older run stop; with Live off, or while Generate runs, nothing."""
    if not live or generating(app, request):
        return gr.skip()
    return app.tickets.new(request.session_hash or "")


def live(app: App, prompt, seed, ticket, request: gr.Request):
    """The fast model's pictures of the prompt as it stands; nothing when a newer change has come, nor
    once a Generate run has started: a run the visitor asked for is never overwritten by Live."""
    session = request.session_hash or ""

    def current() -> bool:
        return app.tickets.is_current(session, ticket) and not generating(app, request)

    yield from in_status(live_run(app.model(FAST_MODEL), prompt, seed, current), IMAGE_FIELDS)


def start(app: App, tab: str, request: gr.Request):
    """At the click, before the run waits in the queue: arm the tab's Stop; Generate off, Stop on; the
    status says the run waits for its turn until the run itself says more."""
    app.signals.arm(session_key(request, tab))
    return gr.Button(interactive=False), gr.Button(interactive=True), QUEUED, progress.queued()


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
    app.tickets.forget_session(request.session_hash or "")
