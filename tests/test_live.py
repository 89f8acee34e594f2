"""The model choice and Live drawing of the text tab, at handler level: a tiny pipeline and its few-step
student (real UNets, real text encoder), the handlers called as Gradio calls them, no server."""

from __future__ import annotations

import subprocess
import sys

import gradio as gr
import numpy as np
import PIL.Image
import pytest

from diffusion.common.defaults import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from diffusion.sampling.imageio import read_png_settings
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.settings import Limits
from diffusion.ui import App
from diffusion.ui import handlers as on
from diffusion.ui.live import EMPTY_HINT, LIVE_IMAGES
from diffusion.ui.state import DEFAULT_MODEL, FAST_MODEL, bind
from diffusion.ui.text import EXAMPLE_PROMPTS
from diffusion.ui.updates import IMAGE_FIELDS, TEXT_FIELDS

from .ui_server import ROOT, tiny_fast_pipeline, tiny_pipeline

LIMITS = Limits(max_steps=50, max_images=8)


@pytest.fixture(scope="module")
def app():
    pipes = []
    for folder in (tiny_pipeline(), tiny_fast_pipeline()):
        pipe = TextToImagePipeline.from_pretrained(folder, device="cpu")
        pipe.training_record = {}  # no caption index to build: the notes are tested elsewhere
        pipes.append(pipe)
    app = App.serving(pipes[0], LIMITS, "tiny", pipes[1], "tiny-fast")
    yield app
    app.folders.cleanup()


def request(session: str = "visitor") -> gr.Request:
    return gr.Request(session_hash=session)


def live_updates(app, prompt, seed=3, ticket=None, session="visitor") -> list[dict]:
    """One live run through the handler as Gradio calls it: each update's outputs by field name."""
    updates = bind(on.live, app)(prompt, seed, ticket, request(session))
    return [dict(zip(IMAGE_FIELDS, values, strict=True)) for values in updates]


def live(app, prompt, seed=3, ticket=None, session="visitor") -> dict:
    """The page as a live run leaves it: its last update."""
    return live_updates(app, prompt, seed, ticket, session)[-1]


def pixels(gallery) -> np.ndarray:
    return np.stack([np.asarray(PIL.Image.open(path).convert("L"), dtype=np.int16) for path, _ in gallery])


def unet_calls(pipe) -> list:
    calls = []
    hook = pipe.unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    return calls, hook


def draws_nothing(app, prompt, ticket, session) -> bool:
    """Whether a live run calls the fast UNet not once and leaves every field of the page as it was."""
    calls, hook = unet_calls(app.fast.pipe)
    try:
        page = live(app, prompt, ticket=ticket, session=session)
    finally:
        hook.remove()
    return calls == [] and all(isinstance(value, type(gr.skip())) for value in page.values())


def test_live_redraws_the_pictures_as_the_prompt_grows(app):
    calls, hook = unet_calls(app.fast.pipe)
    try:
        first, short = live_updates(app, "a dark")
    finally:
        hook.remove()
    # One picture first, then the rest beside it; the student's 4 stored steps, guidance built in: one call each.
    assert calls == [1] * 4 + [LIVE_IMAGES - 1] * 4
    assert first["status"].startswith("Live: 1 image of “a dark”") and len(first["gallery"]) == 1
    assert np.array_equal(pixels(first["gallery"]), pixels(short["gallery"][:1]))  # kept, not drawn again
    longer, again = live(app, "a dark coat"), live(app, "a dark coat")
    assert short["status"].startswith(f"Live: {LIVE_IMAGES} images of “a dark”, 4 steps in ")
    assert "seeds 3–6" in short["status"] and short["seed_used"] == 3
    assert [caption for _, caption in longer["gallery"]] == ["seed 3", "seed 4", "seed 5", "seed 6"]
    assert np.array_equal(pixels(longer["gallery"]), pixels(again["gallery"]))  # same words, same seed
    change = np.abs(pixels(short["gallery"]) - pixels(longer["gallery"])).max()
    assert change > 8, "another word should change the picture"
    assert PIL.Image.open(longer["preview"]).width > 28 * 4  # the last step, x_t beside x0
    assert longer["files"] is None and longer["attention"] is None  # none left from an earlier run


def test_a_random_seed_gives_the_whole_set_consecutive_seeds(app):
    seeds = [int(caption.split()[1]) for _, caption in live(app, "a bag", seed=-1)["gallery"]]
    assert seeds == list(range(seeds[0], seeds[0] + LIVE_IMAGES))


def test_an_empty_prompt_gives_a_hint_and_a_bad_one_a_status_line(app):
    empty = live(app, "   ")
    assert empty["status"] == EMPTY_HINT and empty["gallery"] is None
    too_long = live(app, "x" * 400)
    assert too_long["status"].startswith("**Error:**") and "limit is 300" in too_long["status"]


def test_a_newer_keystroke_stops_the_older_run(app):
    first = bind(on.live_ticket, app)(True, request("typist"))
    second = bind(on.live_ticket, app)(True, request("typist"))
    assert second > first
    assert draws_nothing(app, "a bag", ticket=first, session="typist")
    assert live(app, "a bag", ticket=second, session="typist")["status"].startswith("Live:")
    assert live(app, "a bag", ticket=first, session="someone else")["status"].startswith("Live:")
    assert isinstance(bind(on.live_ticket, app)(False, request("typist")), type(gr.skip()))  # Live off


def test_live_leaves_the_page_to_a_generate_run(app):
    visitor = request("generating")
    app.signals.arm(on.session_key(visitor, "generate"))  # Generate was clicked
    try:
        assert isinstance(bind(on.live_ticket, app)(True, visitor), type(gr.skip())), "typing starts no live run"
        ticket = app.tickets.new("generating")  # a live run that was already waiting
        assert draws_nothing(app, "a bag", ticket=ticket, session="generating")
    finally:
        app.signals.discard(on.session_key(visitor, "generate"))
    assert live(app, "a bag", ticket=ticket, session="generating")["status"].startswith("Live:")  # Generate ended


def test_live_shows_the_prompt_as_typed_not_as_markdown(app):
    typed = "a **bold** dress [click](javascript:alert(3)) ![x](http://example.com/p.png) <b>"
    status = live(app, typed)["status"]
    for formatting in ("**bold**", "[click]", "![x]", "<b>"):
        assert formatting not in status, formatting
    assert "&#42;&#42;bold&#42;&#42;" in status and "&#60;b&#62;" in status


def test_the_model_choice_sets_its_stored_settings_and_live_only_for_the_fast_model(app):
    choose = bind(on.choose_model, app)
    *sampling, live_box, negative, kept, examples = choose(FAST_MODEL, "blurry", "")
    assert [w["value"] for w in sampling] == [4, 3.0, "ddim"]
    assert all(w["interactive"] is False for w in sampling), "the fast model's settings are locked"
    assert live_box.interactive and negative.interactive is False and negative.value == ""
    assert kept == "blurry"  # what was typed for the default model is put aside, not lost
    assert examples.raw_samples[0] == [EXAMPLE_PROMPTS[0]]  # both models draw clothes: the same examples
    *sampling, live_box, negative, kept, _ = choose(DEFAULT_MODEL, "", "blurry")
    assert [w["value"] for w in sampling] == [DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_SCHEDULER]  # none stored
    assert all(w["interactive"] for w in sampling)
    assert live_box.interactive is False and live_box.value is False and negative.interactive
    assert negative.value == "blurry" and kept == ""

    seed, ticket = bind(on.toggle_live, app)(True, -1, request())
    assert seed >= 0 and isinstance(ticket, int)  # a fixed seed: only the words change the pictures
    seed, _ = bind(on.toggle_live, app)(True, 42, request())
    assert isinstance(seed, type(gr.skip()))  # a seed already chosen stays


def test_generate_with_the_fast_model_uses_it_and_the_history_restores_it(app):
    go = bind(on.generate, app)
    *_, last = go("a sneaker", "", 4, 3.0, 2, 5, "ddim", [], FAST_MODEL, request())
    done = dict(zip(TEXT_FIELDS, last, strict=True))
    assert done["status"].startswith("Done"), done["status"]
    settings = read_png_settings(done["files"][0])
    assert (
        settings["checkpoint"] == "tiny-fast"
        and settings["model"] == FAST_MODEL
        and settings["num_inference_steps"] == 4
    )
    assert "fast model" in done["history"][0][1]

    restored = bind(on.restore, app)(done["history_runs"], gr.SelectData(None, {"index": 0, "value": None}))
    assert restored[0] == "a sneaker" and restored[-2] == FAST_MODEL and restored[-1].interactive

    *_, refused = go("a sneaker", "a boot", 4, 3.0, 1, 5, "ddim", [], FAST_MODEL, request())
    assert "takes no negative prompt" in dict(zip(TEXT_FIELDS, refused, strict=True))["status"]


@pytest.mark.slow
def test_app_refuses_a_missing_fast_checkpoint_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--checkpoint", str(ROOT), "--fast-checkpoint", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "fast checkpoint" in lines[0] and "does not exist" in lines[0]
