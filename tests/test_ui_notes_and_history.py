"""The web page without a server: prompt notes, downloads, the history of runs, handler binding."""

from __future__ import annotations

import inspect
from pathlib import Path

import gradio as gr
import PIL.Image
import pytest
import torch

from diffusion.prompts.nearest_caption import grammar_index
from diffusion.prompts.prompt_notes import FAR_BELOW, NEARER_THING_BY, colour_words, notes_for
from diffusion.sampling.imageio import read_png_settings
from diffusion.sampling.settings import Limits
from diffusion.ui import history
from diffusion.ui.files import RunFolders, picture, save_results
from diffusion.ui.requests import check_request
from diffusion.ui.state import App, bind
from diffusion.ui.streaming import StepFrame


@pytest.fixture(scope="module")
def index():
    return grammar_index("fashion_mnist", per_class=20)


def test_far_prompts_get_a_warning_and_clothing_prompts_do_not(index):
    for prompt in ["asdfghjkl", "🐱", "一只猫"]:
        notes = notes_for(index, prompt)
        assert notes.far and notes.nearest.similarity < FAR_BELOW
        assert "far from everything the model was trained on" in notes.sentences[1]
    # Near the captions by similarity alone, but nearer still to an everyday thing that is not clothing.
    notes = notes_for(index, "a teapot")
    thing, similarity = notes.nearest_thing
    assert notes.nearest.similarity >= FAR_BELOW
    assert notes.far and similarity > notes.nearest.similarity + NEARER_THING_BY
    assert f"reads more like “{thing}”" in notes.sentences[1]
    for prompt in ["a sneaker", "a dark coat", "a pair of jeans"]:
        notes = notes_for(index, prompt)
        assert not notes.far and len(notes.sentences) == 1  # only how the encoder reads it


def test_colour_words_get_a_greyscale_note(index):
    assert colour_words("A RED dress with pink, red and black stripes") == ["red", "pink"]
    assert colour_words("a black coat") == []  # a tone word the training captions use
    notes = notes_for(index, "a red dress")
    assert "greyscale" in notes.sentences[-1] and "(red)" in notes.sentences[-1]


def test_downloads_carry_settings_and_name_the_seed(tmp_path):
    request = check_request(Limits(max_steps=50, max_images=8), "a dark coat", "", 4, 3, 2, 7, "ddim")
    images = [PIL.Image.new("L", (28, 28), 40), PIL.Image.new("L", (28, 28), 200)]
    steps = [StepFrame(i, 2, 999 - i, 0.5, torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)) for i in range(2)]
    paths = save_results(tmp_path, images, request, [7, 8], steps, "model")
    names = [path.rsplit("/", 1)[1] for path in paths]
    assert names == [
        "seed7-a-dark-coat.png",
        "seed7-a-dark-coat-8x.png",
        "seed8-a-dark-coat.png",
        "seed8-a-dark-coat-8x.png",
        "seeds7-8-a-dark-coat-grid.png",
        "seeds7-8-a-dark-coat-denoising.gif",
    ]
    assert PIL.Image.open(paths[1]).size == (224, 224)
    assert PIL.Image.open(paths[1]).getpixel((200, 200)) == 40  # nearest neighbour: no blur into other values
    enlarged = read_png_settings(paths[3])
    assert enlarged["seed"] == 8 and enlarged["scale"] == 8 and enlarged["prompt"] == "a dark coat"
    assert read_png_settings(paths[4])["seed"] == 7 and PIL.Image.open(paths[4]).width > 2 * 28 * 4


def test_a_picture_is_written_whole_under_its_own_name(tmp_path):
    path = picture(tmp_path, PIL.Image.new("L", (5, 5)), "preview-0001")
    assert path.endswith("preview-0001.png") and [p.name for p in tmp_path.iterdir()] == ["preview-0001.png"]


def test_history_keeps_the_newest_runs_and_restores_their_settings(tmp_path):
    runs = None
    for seed in range(history.HISTORY_SIZE + 3):
        record = {
            "prompt": f"a bag {seed}",
            "negative_prompt": "",
            "num_inference_steps": 5,
            "guidance_scale": 2.5,
            "seed": seed,
            "scheduler": "ddim",
        }
        (tmp_path / f"grid-{seed}.png").write_bytes(b"")
        runs = history.add_run(runs, record, 3, str(tmp_path / f"grid-{seed}.png"))
    assert len(runs) == history.HISTORY_SIZE and runs[0]["settings"]["seed"] == history.HISTORY_SIZE + 2
    assert history.controls_of(runs[0]) == (f"a bag {history.HISTORY_SIZE + 2}", "", 5, 2.5, 3, 26, "ddim")
    path, caption = history.gallery_items(runs)[0]
    assert path.endswith(f"/grid-{history.HISTORY_SIZE + 2}.png") and "seed 26 · 3 images · 5 steps" in caption
    (tmp_path / "grid-25.png").unlink()  # its run folder was deleted: the run leaves the history
    assert [run["settings"]["seed"] for run in history.add_run(runs, record, 1, path)[:3]] == [26, 26, 24]


def test_a_reloaded_page_gets_back_only_runs_this_server_made_and_still_has(tmp_path):
    (tmp_path / "runs").mkdir()
    app = App(pipe=None, limits=Limits(), checkpoint="test", folders=RunFolders(tmp_path / "runs"))
    record = {
        "prompt": "a bag",
        "negative_prompt": "",
        "num_inference_steps": 5,
        "guidance_scale": 2.5,
        "seed": 7,
        "scheduler": "ddim",
    }
    grids = []
    for name in ("kept", "deleted"):
        grid = app.folders.new() / f"{name}-grid.png"
        grid.write_bytes(b"png")
        grids.append(str(grid))
    Path(grids[1]).unlink()
    elsewhere = tmp_path / "secret-grid.png"  # a file outside the run folders, named by an edited storage
    elsewhere.write_bytes(b"png")
    good = history.add_run(None, record, 3, grids[0])[0]
    stored = [
        good,
        {**good, "grid": grids[1]},
        {**good, "grid": str(elsewhere)},
        {**good, "grid": str(app.folders.root / ".." / "secret-grid.png")},
        {**good, "settings": {**record, "num_inference_steps": 10_000}},
        {**good, "settings": {**record, "prompt": 3}},
        {**good, "settings": {**record, "model": "nonexistent"}},
        {**good, "num_images_per_prompt": "many"},
        "not a run",
    ]
    assert history.remembered(app, stored) == [good]
    assert history.remembered(app, {"grid": grids[0]}) == [] and history.remembered(app, None) == []


def test_bound_handlers_keep_what_gradio_reads():
    def handler(app, tab, prompt, request: gr.Request):
        yield app, tab, prompt

    bound = bind(handler, "the app", "text")
    assert inspect.isgeneratorfunction(bound)
    assert list(inspect.signature(bound).parameters) == ["prompt", "request"]
    assert list(bound("a bag", None)) == [("the app", "text", "a bag")]
    assert gr.utils.get_type_hints(bound)["request"] is gr.Request  # so Gradio passes the request in
