"""The web app end to end: the real app.py in a subprocess, driven through its API with gradio_client.

/generate returns (preview, status, seed of the selected image (as text: empty before a run), gallery,
downloads, snapshots, attention, history, the step slider, the zip of the run's files, the progress bar's
HTML); a request the server refuses returns "**Error:** ..." as the status and clears the earlier run's
results.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PIL.Image
import pytest

from diffusion.sampling.imageio import read_png_settings

from .ui_server import ROOT, SERVER_LOG, app_url

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client():
    return gradio_client.Client(app_url(), verbose=False)


def generate(client, prompt="a sneaker", negative="", steps=4, guidance=3.0, images=2, seed=1234, scheduler="dpm++"):
    return client.predict(prompt, negative, steps, guidance, images, seed, scheduler, api_name="/generate")


def pixels(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path).convert("L"))


def test_same_seed_gives_the_same_images(client):
    first = generate(client)
    second = generate(client)
    preview, status, seed_used, gallery, files, snapshots, attention, history, step_slider, bundle, bar = first
    assert step_slider["value"] == step_slider["maximum"] == 4  # at the last of the 4 steps it moves through
    assert status.startswith("Done") and "seeds 1234–1235" in status
    assert "(class Sneaker" in status  # how the text encoder reads the prompt
    assert seed_used == "1234"
    assert "Done: 4 steps in" in bar and 'aria-valuenow="4"' in bar
    assert [item["caption"] for item in gallery] == ["seed 1234", "seed 1235"]
    for a, b in zip(gallery, second[3], strict=True):
        assert np.array_equal(pixels(a["image"]), pixels(b["image"]))
    assert not np.array_equal(pixels(gallery[0]["image"]), pixels(gallery[1]["image"]))

    names = [f.rsplit("/", 1)[1] for f in files]
    assert names == [
        "seed1234-a-sneaker.png",
        "seed1234-a-sneaker-8x.png",
        "seed1235-a-sneaker.png",
        "seed1235-a-sneaker-8x.png",
        "seeds1234-1235-a-sneaker-grid.png",
        "seeds1234-1235-a-sneaker-denoising.gif",
    ]
    assert pixels(files[0]).shape == (28, 28) and pixels(files[1]).shape == (224, 224)
    zipped = bundle["value"]  # the button is shown with its file: an update, not a bare path
    zipped = zipped if isinstance(zipped, str) else zipped["path"]
    assert zipped.endswith("seeds1234-1235-a-sneaker-files.zip") and bundle["visible"]
    assert zipfile.ZipFile(zipped).namelist() == names  # every file of the run, in one download
    settings = read_png_settings(files[3])
    assert settings["prompt"] == "a sneaker" and settings["seed"] == 1235 and settings["num_inference_steps"] == 4
    gifs = [f for f in files if f.endswith(".gif")]
    assert PIL.Image.open(gifs[0]).n_frames == 4  # one frame per step
    assert len(snapshots) == 4
    assert [item["caption"].split(" · ")[0] for item in attention] == ["a", "sneaker", "[CLS]", "[SEP]"]
    assert PIL.Image.open(preview).width > 28 * 4
    assert "“a sneaker” · seed 1234 · 2 images · 4 steps · guidance 3 · dpm++" in history[0]["caption"]
    assert len(second[7]) == len(history) + 1  # the session's runs, newest first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "x" * 400}, "the limit is 300"),
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "a " * 100}, "limit is 64 tokens"),  # found by the text encoder, inside the worker thread
        ({"images": 2.5}, "whole number"),
        ({"seed": -7}, "seed must be a whole number"),
    ],
)
def test_bad_input_shows_a_message_in_the_status(client, change, message):
    result = generate(client, **change)
    status = result[1]
    assert status.startswith("**Error:**") and message.lower() in status.lower()
    assert "Traceback" not in status


@pytest.mark.parametrize(
    ("change", "value"), [({"steps": 5000}, "5000"), ({"guidance": 31}, "31"), ({"scheduler": "nope"}, "nope")]
)
def test_values_the_page_cannot_send_are_refused_by_the_components(client, change, value):
    """Outside a slider's range or a dropdown's choices: Gradio refuses the API call before any handler."""
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        generate(client, **change)
    assert value in str(error.value) and "Traceback" not in str(error.value)


def test_status_says_how_the_encoder_reads_an_unseen_word(client):
    status = generate(client, prompt="a photo of a pair of jeans", images=1, steps=2)[1]
    assert "The text encoder puts this prompt nearest the training caption" in status and "(class Trouser" in status
    assert "far from everything" not in status and "greyscale" not in status


def test_status_warns_about_prompts_far_from_the_training_captions_and_colour(client):
    status = generate(client, prompt="asdfghjkl qwerty", images=1, steps=2)[1]
    assert "far from everything the model was trained on" in status
    status = generate(client, prompt="a red dress", images=1, steps=2)[1]
    assert "far from everything" not in status and "greyscale, so colour words (red)" in status


def test_random_seed_is_reported(client):
    status, seed_used = generate(client, seed=-1, images=1, steps=2)[1:3]
    assert 0 <= int(seed_used) < 2**32 and f"seed {seed_used}" in status


def test_sessions_do_not_share_results(client):
    other = gradio_client.Client(app_url(), verbose=False)
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(generate, client, "a bag", seed=1, images=1, steps=3)
        b = pool.submit(generate, other, "a coat", seed=2, images=1, steps=3)
        a, b = a.result(), b.result()
    assert a[2] == "1" and b[2] == "2"
    assert read_png_settings(a[4][0])["prompt"] == "a bag" and read_png_settings(b[4][0])["prompt"] == "a coat"
    assert [x["caption"].split(" · ")[0] for x in b[6]][:2] == ["a", "coat"]
    assert [run["caption"].split(" · ")[0] for run in b[7]] == ["“a coat”"]  # each session its own history


def test_interpolation_strip(client):
    preview, status, seed_used, gallery, files, bundle, bar = client.predict(
        "a sneaker", "an ankle boot", 3, 3, 3.0, 7, "ddim", api_name="/interpolate"
    )
    assert status.startswith("Done") and seed_used == "7" and "Done: 3 steps" in bar
    assert [item["caption"] for item in gallery] == ["w = 0.00", "w = 0.50", "w = 1.00"]
    assert not np.array_equal(pixels(gallery[0]["image"]), pixels(gallery[2]["image"]))
    blends = [read_png_settings(f)["blend"] for f in files if f.endswith(".png")]
    assert blends == [0.0, 0.5, 1.0]
    refused = client.predict("a sneaker", "", 3, 3, 3.0, 7, "ddim", api_name="/interpolate")
    assert "second prompt is empty" in refused[1].lower()


def test_a_one_step_run_finishes(client):
    """A step slider from 1 to 1 made Gradio refuse the whole result."""
    result = generate(client, steps=1, images=1)
    assert result[1].startswith("Done") and result[8]["visible"] is False


def test_sketch_to_image(client, tmp_path):
    drawing = PIL.Image.new("RGB", (280, 280), "white")
    drawing.paste((0, 0, 0), (90, 40, 190, 240))  # a dark block on white paper: inverted to light on dark
    path = tmp_path / "sketch.png"
    drawing.save(path)
    sketch = {
        "background": gradio_client.handle_file(str(path)),
        "layers": [],
        "composite": gradio_client.handle_file(str(path)),
    }
    result = client.predict(sketch, "a pair of trousers", "", 0.5, 8, 3.0, 1, 5, "dpm++", api_name="/sketch")
    assert result[1].startswith("Done")
    assert read_png_settings(result[4][0])["strength"] == 0.5
    assert PIL.Image.open(result[4][-1]).n_frames == 4  # strength 0.5 of 8 steps: the last 4 are run

    blank = tmp_path / "blank.png"
    PIL.Image.new("RGB", (280, 280), "black").save(blank)
    empty = {
        "background": gradio_client.handle_file(str(blank)),
        "layers": [],
        "composite": gradio_client.handle_file(str(blank)),
    }
    refused = client.predict(empty, "a bag", "", 0.5, 8, 3.0, 1, 5, "dpm++", api_name="/sketch")
    assert refused[1].startswith("**Error:** The sketch is empty")


def test_clients_fetching_every_picture_at_once_cause_no_server_errors():
    """The stress test of benchmarks/ui_stress.py, small: same requests in three sessions at once, every
    streamed picture fetched as a browser would. Once this logged h11's "Too much data for declared
    Content-Length"; the log must stay free of it and of any traceback."""
    import threading

    from tests.load_harness import ERROR_SIGNS, one_client

    url, counts, lock = app_url(), {"runs": 0, "fetched": 0, "failed": 0}, threading.Lock()
    already = len(SERVER_LOG)
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(one_client, url, 4, counts, lock) for _ in range(3)]:
            future.result()
    assert counts["runs"] == 12 and counts["fetched"] > 12 * 4 and counts["failed"] == 0
    assert not [line for line in SERVER_LOG[already:] if any(sign in line for sign in ERROR_SIGNS)]


def test_missing_checkpoint_is_one_line_and_exit_code_2(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--checkpoint", str(tmp_path / "nothing-here")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in done.stderr
