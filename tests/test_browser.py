"""The web page in headless Chromium: type a prompt, click Generate, watch the live preview, get an image.

Uses the system Chromium (Debian package `chromium`), never a downloaded browser. The screenshot goes
under pytest's tmp folder; with SCREENSHOT_OUT=docs/screenshot.png it is also written there (set
UI_CHECKPOINT=checkpoints/fashion-mnist too, so that the picture shows the trained model):

    UI_CHECKPOINT=checkpoints/fashion-mnist SCREENSHOT_OUT=docs/screenshot.png pytest -m browser
"""

from __future__ import annotations

import io
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from .ui_server import ROOT, app_url

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

# Records every distinct picture the live preview shows, from before the click on.
WATCH_PREVIEW = """() => {
  window.previewSources = [];
  const record = () => {
    const img = document.querySelector('#preview img');
    if (img && img.src && window.previewSources.at(-1) !== img.src) window.previewSources.push(img.src);
  };
  new MutationObserver(record).observe(document.querySelector('#preview'),
                                       {subtree: true, childList: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=path)")
    url = app_url()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#generate", timeout=60_000)
        yield page
        browser.close()


def fetch_image(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=30) as response:
        return np.asarray(PIL.Image.open(io.BytesIO(response.read())).convert("L"))


def set_number(page, selector: str, value: int) -> None:
    if not page.locator(selector).is_visible():
        page.get_by_text("Settings").first.click()  # open the settings accordion
    field = page.locator(f"{selector} input[type=number]")
    field.fill(str(value))
    field.press("Enter")


def test_generate_streams_steps_and_shows_an_image(page, tmp_path):
    page.locator("#prompt textarea").fill("a dark coat")
    set_number(page, "#steps", 30)
    page.evaluate(WATCH_PREVIEW)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Done')", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#gallery img').length >= 1", timeout=30_000)

    assert "“a dark coat” is one of the training captions (class Coat)" in page.locator("#status").inner_text()
    assert len(page.evaluate("window.previewSources")) >= 3, "the live preview should change during sampling"
    final = fetch_image(page.locator("#gallery img").first.get_attribute("src"))
    assert final.shape[0] >= 28 and final.max() - final.min() > 30, "the final image should not be blank"
    assert page.locator("#attention img").count() >= 2  # one heatmap per word, plus [CLS] and [SEP]

    page.get_by_text("Settings").first.click()  # closed again, so the results are in view
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#gallery img, #preview img')).every(i => i.complete)",
        timeout=30_000,
    )
    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot))
    if os.environ.get("SCREENSHOT_OUT"):
        target = Path(os.environ["SCREENSHOT_OUT"])
        target = target if target.is_absolute() else ROOT / target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)

    page.locator("#gallery img").nth(1).click()  # another image: its own attention maps
    page.get_by_text("Where each word looked in image 2").wait_for(timeout=30_000)
    page.keyboard.press("Escape")


def test_bad_input_shows_a_message_in_the_page(page):
    page.locator("#prompt textarea").fill("x" * 400)
    page.locator("#generate").click()
    toast = page.locator(".toast-body").filter(has_text="limit is 300")
    toast.first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()


def test_stop_interrupts_sampling(page):
    page.locator("#prompt textarea").fill("a sandal")
    set_number(page, "#steps", 100)
    set_number(page, "#count", 16)  # long enough to still be running when Stop is pressed
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Step')", timeout=60_000)
    page.locator("#stop").click()
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Stopped')", timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.locator("#status").inner_text().startswith("Stopped")  # no late "Done" from the stopped run
    assert page.locator("#gallery img").count() == 0
    # The server is free again at once: a short run finishes.
    set_number(page, "#steps", 3)
    set_number(page, "#count", 1)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Done')", timeout=60_000)
