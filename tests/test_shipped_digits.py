"""The shipped digits model, checkpoints/mnist, draws the digit asked for through the Python API, the
sampling CLI and the web page (in headless Chromium). Every picture is judged by the reference digit
classifier, which only ever saw real digits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from diffusion import TextToImagePipeline
from diffusion.evaluation.classifier import default_classifier_dir, load_classifier
from diffusion.ui.text import DIGIT_EXAMPLE_PROMPTS

from .ui_server import ROOT, start_app, tiny_pipeline

SHIPPED_DIGITS = ROOT / "checkpoints" / "mnist"

pytestmark = pytest.mark.slow


def digits_read(images: list[np.ndarray]) -> list[int]:
    """The reference classifier's reading of 28x28 (or larger, square) grey pictures, white ink on black."""
    classifier = load_classifier(default_classifier_dir("mnist_5k"))
    small = [np.asarray(PIL.Image.fromarray(image).resize((28, 28), PIL.Image.BILINEAR)) for image in images]
    batch = torch.from_numpy(np.stack(small)).float().div(127.5).sub(1).unsqueeze(1)
    with torch.no_grad():
        return classifier(batch).argmax(1).tolist()


def mostly(readings: list[int], digit: int) -> bool:
    return sum(reading == digit for reading in readings) >= 0.75 * len(readings)


def test_the_shipped_digits_model_records_how_it_was_made_and_measured():
    record = json.loads((SHIPPED_DIGITS / "training_record.json").read_text())
    assert record["command"].startswith("python -m diffusion.train --config configs/mnist.yaml")
    assert record["data"]["dataset"] == "mnist_5k" and record["wall_time_s"] <= 30 * 60
    evaluation = record["evaluation"]
    assert evaluation["class_prompts"]["accuracy"] >= 0.97 and evaluation["held_out"]["accuracy"] >= 0.90
    assert all(pair["right_sign_fraction"] >= 0.95 for pair in evaluation["attribute_pairs"])


def test_the_api_draws_the_digit_asked_for():
    pipe = TextToImagePipeline.from_pretrained(SHIPPED_DIGITS, device="cpu")
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    prompts = [f"the digit {word}" if digit % 2 else str(digit) for digit, word in enumerate(words)]
    images = pipe(prompts, num_images_per_prompt=4, seed=0).images  # prompt by prompt, 4 images each
    readings = digits_read([np.asarray(image) for image in images])
    asked = [digit for digit in range(10) for _ in range(4)]
    right = sum(reading == digit for reading, digit in zip(readings, asked, strict=True))
    assert right >= 0.9 * len(asked), list(zip(asked, readings, strict=True))


def test_the_cli_draws_the_digit_asked_for(tmp_path):
    command = [sys.executable, "-m", "diffusion.sample", "--checkpoint", str(SHIPPED_DIGITS)]
    command += ["--prompt", "the number four", "--num-images", "8", "--seed", "1", "--out", str(tmp_path)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=300)
    pictures = sorted(path for path in tmp_path.rglob("*.png") if "grid" not in path.name)
    assert len(pictures) == 8, pictures
    readings = digits_read([np.asarray(PIL.Image.open(path).convert("L")) for path in pictures])
    assert mostly(readings, 4), readings


@pytest.mark.browser
def test_the_page_switches_to_digits_and_draws_the_digit_typed():
    playwright = pytest.importorskip("playwright.sync_api")
    from .test_browser import set_number  # the browser tests' helper; imported here, where Playwright is known

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium} (apt-get install chromium, or set CHROMIUM=path)")
    server, url = start_app(tiny_pipeline(), "--also", f"digits={SHIPPED_DIGITS}", "--fast-checkpoint", "none")
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#generate", timeout=120_000)
            page.locator("#model label").filter(has_text="digits").click()
            # The example prompts switch with the model: wait for the digits' own, absent from the clothes page.
            example = next(prompt for prompt in DIGIT_EXAMPLE_PROMPTS if len(prompt) > 5)
            page.wait_for_function(f"document.body.innerText.includes({example!r})", timeout=60_000)
            # Eight images from fixed seeds: a handful of random seeds judges the model by luck, not by rate.
            set_number(page, "#count", 8)
            page.locator("#seed input").fill("100")
            page.locator("#prompt textarea").fill("the number two")
            page.locator("#generate").click()
            page.wait_for_function(
                "document.querySelector('#status').innerText.startsWith('Done')"
                " && document.querySelector('#status').innerText.includes('seeds 100–107')"
                " && document.querySelectorAll('#gallery img').length == 8",
                timeout=180_000,
            )
            sources = [img.get_attribute("src") for img in page.locator("#gallery img").all()]
            pictures = []
            for source in sources:
                with urllib.request.urlopen(source, timeout=30) as response:
                    pictures.append(np.asarray(PIL.Image.open(io.BytesIO(response.read())).convert("L")))
            assert "(class 2" in page.locator("#status").inner_text()  # the encoder reads it as a two
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    readings = digits_read(pictures)
    assert mostly(readings, 2), readings
