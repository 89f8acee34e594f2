"""Live drawing with the fast model: the text tab's pictures redrawn as the prompt is typed.

A distilled few-step model draws a few images in a fraction of a second, so with "Live" on every change
of the prompt draws them again, at the model's stored settings and the seed in the seed box. Each change
takes a ticket at once (no queue); the run that follows carries it and stops at its next step when a
newer change has taken another, so a busy server never finishes pictures of words already replaced.
The page sends at most one run per visitor at a time and, after it, only the newest (layout.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..common.defaults import sampling_defaults
from ..sampling.imageio import enlarge
from .files import DOWNLOAD_SCALE, picture
from .render import preview_frame
from .requests import PageRequest, check_request, stripped
from .state import App
from .streaming import Stopped
from .text import as_text, plural
from .updates import Update, hidden

LIVE_IMAGES = 4  # few enough to come back within a keystroke or two
EMPTY_HINT = "Live: type a prompt and the fast model draws it as you type."


def model_defaults(pipe) -> tuple[int, float, str]:
    """Steps, guidance and sampler a pipeline samples with when none are named (a student stores its own)."""
    stored = sampling_defaults(pipe.generation_defaults)
    return stored["num_inference_steps"], stored["guidance_scale"], stored["scheduler"]


@dataclass
class Drawn:
    """Pictures of one prompt drawn so far: the images, their seeds, the last step's x_t and x0, the time."""

    prompt: str
    steps: int
    images: list
    seeds: list[int]
    x_t: torch.Tensor
    x0: torch.Tensor
    seconds: float

    def joined(self, more: Drawn) -> Drawn:
        return Drawn(
            self.prompt,
            self.steps,
            self.images + more.images,
            self.seeds + more.seeds,
            torch.cat([self.x_t, more.x_t]),
            torch.cat([self.x0, more.x0]),
            self.seconds + more.seconds,
        )


def live_run(app: App, prompt, seed, current=None):
    """The updates of one live run: one picture first, within a keystroke's time; then the rest (the seeds
    after it), shown together with it. When `current()` turns False (a newer keystroke), the run stops at
    its next step and nothing on the page changes; an empty prompt gives a hint, not an error."""
    if not stripped(prompt or ""):
        yield Update(
            status=EMPTY_HINT,
            preview=None,
            gallery=None,
            files=None,
            snapshots=None,
            attention=None,
            scrubber=hidden(),
            bundle=hidden(),
            progress="",
        )
        return
    steps, guidance, scheduler = model_defaults(app.pipe)
    # Every field checked for the whole set before the first picture, and one seed for all (-1: random).
    whole = check_request(app.limits, prompt, "", steps, guidance, LIVE_IMAGES, seed, scheduler)
    first = draw(app, whole, range(1), current)
    if first is None:
        yield Update()
        return
    yield live_page(app, first)
    rest = draw(app, whole, range(1, LIVE_IMAGES), current)
    yield Update() if rest is None else live_page(app, first.joined(rest))


def draw(app: App, whole: PageRequest, which: range, current=None) -> Drawn | None:
    """Images `which` of the checked set `whole` (image i at its seed + i); None when a newer keystroke came."""
    kwargs = whole.pipeline_kwargs() | {"seed": whole.seed + which.start, "num_images_per_prompt": len(which)}
    stale = (lambda: False) if current is None else (lambda: not current())
    last, started = {}, time.perf_counter()

    def on_step(_pipe, _step, _timestep, tensors):
        if stale():
            raise Stopped
        last.update(x_t=tensors["x_t"], x0=tensors["x0"])

    try:
        if stale():  # it waited in the queue while the visitor typed on
            raise Stopped
        output = app.pipe(**kwargs, callback_on_step_end=on_step)
    except Stopped:
        return None
    seconds = time.perf_counter() - started
    images, seeds = list(output.images), list(output.seeds)
    return Drawn(whole.prompt, whole.settings.num_inference_steps, images, seeds, last["x_t"], last["x0"], seconds)


def live_page(app: App, drawn: Drawn) -> Update:
    """The pictures on the page: the last step's preview, the gallery and a status line."""
    folder, seeds = app.live_folders.new(), drawn.seeds
    gallery = [
        (picture(folder, enlarge(image, DOWNLOAD_SCALE), f"live-{seed}"), f"seed {seed}")
        for image, seed in zip(drawn.images, seeds, strict=True)
    ]
    count = len(seeds)
    seed_text = f"seed {seeds[0]}" if count == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    return Update(
        preview=picture(folder, preview_frame(drawn.x_t, drawn.x0), "live-preview"),
        scrubber=hidden(),  # Live keeps no steps to move through
        status=f"Live: {count} image{'s' * (count > 1)} of “{as_text(drawn.prompt)}”, {plural(drawn.steps, 'step')} in "
        f"{drawn.seconds:.2f} s, {seed_text}. Keep typing to redraw; Generate gives downloads and attention maps.",
        seed_used=seeds[0],
        gallery=gallery,
        files=None,
        bundle=hidden(),  # Live writes no downloads
        progress="",  # nor keeps a Generate run's bar: these pictures are not that run's
        snapshots=None,
        attention=None,
        run={"maps": None, "tokens": [], "seeds": seeds},  # a click on a picture shows its seed
    )
