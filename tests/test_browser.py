"""The web page in headless Chromium: type a prompt, click Generate, watch the live preview, get an image.

Uses the system Chromium (Debian package `chromium`), never a downloaded browser. The screenshot goes
under pytest's tmp folder; with SCREENSHOT_OUT=docs/screenshot.png it is also written there (set
UI_CHECKPOINT=checkpoints/fashion-mnist too, so that the picture shows the trained model):

    UI_CHECKPOINT=checkpoints/fashion-mnist SCREENSHOT_OUT=docs/screenshot.png pytest -m browser

Each test opens its own page (a new visitor with an empty history) in one shared browser, so no test
depends on another having run first. Every wait is for *this* run: a finished run is recognised by a
gallery picture from its own run folder, never by a status that the run before may already show.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from diffusion.common.defaults import DEFAULT_STEPS
from diffusion.sampling.imageio import read_png_settings, save_png
from diffusion.ui.live import LIVE_IMAGES

from .ui_server import ROOT, app_url

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOAST_SECONDS = 10  # how long Gradio shows a pop-up before it fades

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

# Whether any caption or block label lies over a picture of the element, and whether the element scrolls.
COVERED = """(selector) => {
  const root = document.querySelector(selector);
  const images = Array.from(root.querySelectorAll('img')).map(i => i.getBoundingClientRect());
  const labels = Array.from(root.querySelectorAll('.caption-label, [data-testid="block-label"]'))
    .map(l => l.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1
    && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const scrolls = Array.from(root.querySelectorAll('*')).some(e => e.scrollHeight > e.clientHeight + 2
    && ['auto', 'scroll'].includes(getComputedStyle(e).overflowY));
  return {images: images.length, covered: labels.some(l => images.some(i => overlap(l, i))), scrolls};
}"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=path)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(app_url(), wait_until="domcontentloaded")
    page.wait_for_selector("#generate", timeout=120_000)
    yield page
    page.close()


def fetch_image(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=30) as response:
        return np.asarray(PIL.Image.open(io.BytesIO(response.read())).convert("L"))


def open_settings(page, selector: str) -> None:
    if not page.locator(selector).is_visible():
        # The open tab's settings accordion, waited for by its own class: a text match could find Gradio's
        # footer "Settings" button while the page is still being built.
        accordion = page.locator(".settings-accordion:visible").first
        accordion.wait_for(state="visible", timeout=30_000)
        accordion.locator("button").first.click()
    page.locator(f"{selector} input").first.wait_for(state="visible", timeout=30_000)


def close_settings(page) -> None:
    """Close the open tab's settings accordion, as a visitor leaves it: found by its class, as above."""
    page.locator(".settings-accordion:visible").first.locator("button").first.click()


def set_number(page, selector: str, value: int) -> None:
    """Type a number into a slider's box and wait until the slider itself holds it: a box typed into while
    the accordion's contents are still being set up can lose the number, so it is typed again then."""
    open_settings(page, selector)
    field = page.locator(f"{selector} input[type=number]")
    held = f"document.querySelector('{selector} input[type=range]').value == '{value}'"
    for _ in range(3):
        field.fill(str(value))
        field.press("Enter")
        try:
            page.wait_for_function(held, timeout=5_000)
            return
        except playwright.TimeoutError:
            continue
    raise AssertionError(f"{selector} did not take the value {value}")


SEED_USED = "#seed-used :is(input, textarea)"  # "Seed of the selected image", a read-only text box


def status(page, prefix: str = "") -> str:
    return page.locator(f"#{prefix}status").inner_text()


def wait_status(page, start: str, prefix: str = "", timeout: int = 120_000) -> None:
    page.wait_for_function(
        f"document.querySelector('#{prefix}status').innerText.startsWith({start!r})", timeout=timeout
    )


# The first gallery picture's address: every run writes into a folder of its own, so a new address means
# that this run, not an earlier one, has finished.
FIRST_PICTURE = "(prefix) => document.querySelector('#' + prefix + 'gallery img')?.src || ''"
FINISHED = """([prefix, start, before]) => {
  const status = document.querySelector('#' + prefix + 'status').innerText;
  const src = document.querySelector('#' + prefix + 'gallery img')?.src || '';
  return status.startsWith(start) && src !== '' && src !== before;
}"""


def run_and_wait(page, start_run, prefix: str = "", timeout: int = 120_000) -> None:
    """Start a run (`start_run()` clicks or presses Enter) and wait until *this* run shows its results."""
    before = page.evaluate(FIRST_PICTURE, prefix)
    start_run()
    page.wait_for_function(FINISHED, arg=[prefix, "Done", before], timeout=timeout)


# Generate on and Stop off: the page is idle. The buttons are switched by an update of their own after a
# run's last picture and "Done", so a test waits for it rather than reading the buttons at once.
IDLE = "document.querySelector('#stop').disabled && !document.querySelector('#generate').disabled"
BUSY = "!document.querySelector('#stop').disabled && document.querySelector('#generate').disabled"


def wait_idle(page, timeout: int = 30_000) -> None:
    page.wait_for_function(IDLE, timeout=timeout)


def generate(page, timeout: int = 120_000) -> None:
    run_and_wait(page, page.locator("#generate").click, timeout=timeout)


def test_generate_streams_steps_and_shows_an_image(page, tmp_path):
    assert page.locator("#stop").is_disabled(), "Stop is off while nothing runs"
    page.locator("#prompt textarea").fill("a dark coat")
    set_number(page, "#steps", 30)
    page.evaluate(WATCH_PREVIEW)
    generate(page)

    assert "(class Coat" in status(page)  # how the text encoder reads the prompt
    assert len(page.evaluate("window.previewSources")) >= 3, "the live preview should change during sampling"
    final = fetch_image(page.locator("#gallery img").first.get_attribute("src"))
    assert final.shape[0] >= 28 and final.max() - final.min() > 30, "the final image should not be blank"
    assert page.locator("#attention img").count() >= 2  # one heatmap per word, plus [CLS] and [SEP]
    wait_idle(page)

    close_settings(page)  # closed again, so the results are in view
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

    page.locator("#gallery img").nth(1).click()  # another image: its own attention maps and its seed
    page.get_by_text("Where each word looked in image 2").wait_for(timeout=30_000)
    page.keyboard.press("Escape")


def test_nothing_covers_the_pictures_and_nothing_scrolls_inside(page):
    set_number(page, "#count", 16)
    set_number(page, "#steps", 2)
    page.locator("#prompt textarea").fill("a long-sleeved pullover")
    generate(page)
    page.wait_for_function("document.querySelectorAll('#gallery img').length == 16", timeout=30_000)
    for selector in ["#preview", "#gallery", "#attention"]:
        found = page.evaluate(COVERED, selector)
        assert found["images"] >= 1 and not found["covered"] and not found["scrolls"], (selector, found)
    assert "Download all 34 files (zip)" in page.locator("#bundle").inner_text()  # one download, not 34
    page.get_by_text("Each file on its own").click()
    # The list shows each name from its start (the seed); long names are shortened in the middle, so the
    # full names are read from the download links.
    page.locator("#files a").first.wait_for(timeout=30_000)
    assert "seed" in page.locator("#files").inner_text()
    links = " ".join(
        page.eval_on_selector_all("#files a", "els => els.map(e => (e.href || '') + ' ' + (e.download || ''))")
    )
    assert "-8x.png" in links and "-grid.png" in links and "seed" in links


SIZES = """(selector) => Array.from(document.querySelectorAll(selector)).map(e => {
  const box = e.getBoundingClientRect();
  return {width: box.width, height: box.height, fit: getComputedStyle(e).objectFit};
})"""


def test_a_clicked_result_shows_larger_and_the_history_shows_whole_runs(page):
    set_number(page, "#steps", 2)
    generate(page)
    thumbnail = page.evaluate(SIZES, "#gallery .thumbnail-item img")[0]
    page.locator("#gallery .thumbnail-item img").first.click()
    shown = "(box => box ? Math.min(box.width, box.height) : 0)(document.querySelector('#gallery .preview img')"
    shown += "?.getBoundingClientRect())"  # the picture's side: it is drawn whole inside its box
    page.wait_for_function(f"{shown} > {thumbnail['width']}", timeout=30_000)
    page.keyboard.press("Escape")
    tiles = page.evaluate(SIZES, "#history .thumbnail-item img")
    assert len(tiles) == 1 and tiles[0]["fit"] == "contain", "a run's strip of pictures is shown whole, not cropped"
    assert tiles[0]["width"] < 400, "one run is a thumbnail, not a picture as wide as the page"


def test_after_a_run_the_step_slider_shows_every_step(page):
    set_number(page, "#steps", 6)
    assert not page.locator("#scrubber").is_visible(), "no steps to move through before a run"
    generate(page)
    page.locator("#scrubber").wait_for(state="visible", timeout=30_000)
    assert page.locator("#scrubber input[type=number]").input_value() == "6"  # at the last step
    last = page.locator("#preview img").get_attribute("src")
    first = fetch_image(last)
    box = page.locator("#scrubber input[type=number]")
    box.fill("1")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#preview img')?.src.includes('step-0001')", timeout=30_000)
    noisy = fetch_image(page.locator("#preview img").get_attribute("src"))
    assert noisy.shape == first.shape and np.abs(noisy.astype(int) - first.astype(int)).mean() > 1
    set_number(page, "#steps", 2)
    generate(page)  # a new run: the slider follows it
    page.wait_for_function("document.querySelector('#scrubber input[type=number]')?.value === '2'", timeout=30_000)


def test_an_error_stays_in_the_status_line_without_badges_or_the_last_pictures(page):
    set_number(page, "#steps", 2)
    generate(page)
    before = page.locator("#gallery img").count()
    page.locator("#prompt textarea").fill("x" * 400)
    page.locator("#generate").click()
    wait_status(page, "Error:")
    page.wait_for_timeout((TOAST_SECONDS + 2) * 1000)  # longer than a pop-up would have stayed
    assert status(page).startswith("Error:") and "limit is 300" in status(page)
    assert page.get_by_text("Error", exact=True).count() == 0, "no bare Error badges over the outputs"
    assert before >= 1 and page.locator("#gallery img, #preview img").count() == 0, "no old pictures under it"
    assert "Traceback" not in page.content()


def test_prompts_far_from_the_training_data_colours_and_unknown_words_get_a_note(page):
    set_number(page, "#count", 1)
    set_number(page, "#steps", 2)
    prompt = page.locator("#prompt textarea")
    prompt.fill("asdfghjkl qwerty")
    run_and_wait(page, lambda: prompt.press("Enter"))  # Enter generates
    assert "far from everything the model was trained on" in status(page)
    prompt.fill("a red dress")
    run_and_wait(page, lambda: prompt.press("Enter"))
    assert "greyscale" in status(page) and "far from everything" not in status(page)
    prompt.fill("sandles for the beach")  # a word nothing explains: named with the encoder's pieces
    run_and_wait(page, lambda: prompt.press("Enter"))
    assert "Unknown to the model and the garment lexicon: “sandles” (sand·les)" in status(page)


def test_history_restores_a_run_and_seeds_can_be_kept_or_random(page):
    page.locator("#prompt textarea").fill("a dark coat")
    set_number(page, "#steps", 3)
    generate(page)
    page.locator("#prompt textarea").fill("a sandal")
    set_number(page, "#steps", 2)
    generate(page)
    page.wait_for_function("document.querySelectorAll('#history img').length == 2", timeout=30_000)
    close_settings(page)  # closed, as a visitor leaves it
    page.locator("#history img").nth(1).click()  # newest first: the first run, "a dark coat", 3 steps
    page.wait_for_function("document.querySelector('#prompt textarea').value == 'a dark coat'", timeout=30_000)
    open_settings(page, "#seed")
    # The settings accordion was closed: its fields may show the restored values a moment after it opens.
    page.wait_for_function("document.querySelector('#steps input[type=number]').value == '3'", timeout=30_000)
    assert int(page.locator("#seed input").input_value()) >= 0

    page.locator("#random-seed").click()
    page.wait_for_function("document.querySelector('#seed input').value == '-1'", timeout=30_000)
    set_number(page, "#steps", 2)
    seeds = []
    for _ in range(2):  # random stays random: two runs, two seeds
        generate(page)
        seeds.append(int(page.locator(SEED_USED).input_value()))
    assert seeds[0] != seeds[1] and page.locator("#seed input").input_value() == "-1"

    page.locator("#use-seed").click()  # keep the seed of the selected (first) image
    page.wait_for_function(f"document.querySelector('#seed input').value == '{seeds[1]}'", timeout=30_000)
    page.locator("#random-seed").click()


HISTORY_KEY = "localStorage.getItem('tiny-diffusion-history')"
STORED_AGAIN = f"(before) => {HISTORY_KEY} !== before"


def test_history_survives_a_reload(page):
    before = page.evaluate(HISTORY_KEY)
    page.locator("#prompt textarea").fill("a striped dress")
    set_number(page, "#steps", 2)
    generate(page)
    page.wait_for_function("document.querySelectorAll('#history img').length == 1", timeout=30_000)
    page.wait_for_function(STORED_AGAIN, arg=before, timeout=30_000)  # the browser has stored the new run
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector("#generate", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#history img').length == 1", timeout=30_000)
    assert page.locator("#prompt textarea").input_value() != "a striped dress"  # the form itself starts afresh
    page.locator("#history img").first.click()
    page.wait_for_function("document.querySelector('#prompt textarea').value == 'a striped dress'", timeout=30_000)


def test_stop_interrupts_sampling(page):
    page.locator("#prompt textarea").fill("a sandal")
    set_number(page, "#steps", 100)
    set_number(page, "#count", 16)  # long enough to still be running when Stop is pressed
    page.locator("#generate").click()
    wait_status(page, "Step", timeout=60_000)
    page.wait_for_function(BUSY, timeout=30_000)
    page.locator("#stop").click()
    wait_status(page, "Stopped", timeout=30_000)
    page.wait_for_timeout(1500)
    assert status(page).startswith("Stopped")  # no late "Done" from the stopped run
    assert page.locator("#gallery img").count() == 0
    wait_idle(page)
    # The server is free again at once: a short run finishes.
    set_number(page, "#steps", 3)
    set_number(page, "#count", 1)
    generate(page, timeout=60_000)


def test_live_with_the_fast_model_redraws_as_the_prompt_is_typed(page):
    assert page.locator("#live input").is_disabled(), "Live is for the fast model only"
    page.locator("#model label").filter(has_text="Fast").click()
    open_settings(page, "#steps")
    page.wait_for_function("document.querySelector('#steps input[type=number]').value == '4'", timeout=30_000)
    page.wait_for_function("document.querySelector('#negative textarea').disabled")  # its guidance is built in
    page.locator("#live input").check()
    wait_status(page, "Live:")  # switched on: the prompt as it stands, at a fixed seed
    assert page.locator("#seed input").input_value() != "-1"

    prompt = page.locator("#prompt textarea")
    prompt.fill("")
    wait_status(page, "Live: type a prompt")
    pictures = []
    for words in ("a dark", " coat"):
        prompt.press_sequentially(words, delay=60)
        typed = prompt.input_value()
        done = f"{LIVE_IMAGES} images of “{typed}”"  # one picture comes first, then all of them
        page.wait_for_function(f"document.querySelector('#status').innerText.includes({done!r})", timeout=60_000)
        pictures.append(fetch_image(page.locator("#gallery img").first.get_attribute("src")))
    assert np.abs(pictures[0].astype(int) - pictures[1].astype(int)).max() > 8, "the picture should change"
    assert page.locator("#gallery img").count() == LIVE_IMAGES and not status(page).startswith("Error")

    page.locator("#model label").filter(has_text="Default").click()  # back: Live off, the model's settings
    default_steps = f"document.querySelector('#steps input[type=number]').value == '{DEFAULT_STEPS}'"
    page.wait_for_function(default_steps, timeout=30_000)
    live_off = "document.querySelector('#live input').disabled && !document.querySelector('#live input').checked"
    page.wait_for_function(live_off, timeout=30_000)
    close_settings(page)


def test_switching_models_keeps_the_negative_prompt_and_locks_the_fast_models_settings(page):
    negative = page.locator("#negative textarea")
    negative.fill("blurry, dark")
    page.locator("#model label").filter(has_text="Fast").click()
    page.wait_for_function("document.querySelector('#negative textarea').disabled", timeout=30_000)
    open_settings(page, "#steps")
    page.wait_for_function("document.querySelector('#steps input[type=number]')?.disabled === true", timeout=30_000)
    assert negative.input_value() == ""  # the fast model takes none: nothing typed there is used
    page.locator("#model label").filter(has_text="Default").click()
    page.wait_for_function("!document.querySelector('#negative textarea').disabled", timeout=30_000)
    assert negative.input_value() == "blurry, dark", "what was typed comes back with the default model"
    page.wait_for_function("document.querySelector('#steps input[type=number]').disabled === false", timeout=30_000)
    set_number(page, "#steps", 2)
    generate(page)
    assert "blurry, dark" in page.locator("#history").inner_text() or page.locator("#history img").count() == 1
    assert "__type__" not in page.content()


def test_live_shows_the_prompt_as_typed_never_as_markdown(page):
    page.locator("#model label").filter(has_text="Fast").click()
    page.wait_for_function("!document.querySelector('#live input').disabled", timeout=30_000)
    page.locator("#live input").check()
    wait_status(page, "Live:")
    typed = "a **bold** dress [click me](javascript:alert(3)) ![x](http://example.com/p.png)"
    page.locator("#prompt textarea").fill(typed)
    page.wait_for_function("document.querySelector('#status').innerText.includes('**bold**')", timeout=60_000)
    assert page.locator("#status strong, #status a, #status img").count() == 0, "no bold, links or pictures"
    assert typed in status(page)


def test_a_number_outside_its_range_is_not_changed_silently(page):
    set_number(page, "#steps", 7)  # the slider set up and listening
    steps = page.locator("#steps input[type=number]")
    steps.fill("500")
    steps.press("Tab")  # the box loses focus: the slider puts the number back into its range
    page.wait_for_function("document.querySelector('#steps input[type=number]').value == '100'", timeout=30_000)
    note = page.locator("#steps .range-note")
    assert note.is_visible() and "500 is outside 1 to 100, so 100 is used" in note.inner_text()
    steps.fill("7")
    steps.press("Tab")
    page.wait_for_function("document.querySelector('#steps .range-note').innerText === ''", timeout=30_000)
    count = page.locator("#count input[type=number]")
    count.fill("0")
    count.press("Tab")
    assert "0 is outside 1 to" in page.locator("#count .range-note").inner_text()


def test_enter_runs_every_tab_and_how_it_works_is_one_click_away(page):
    page.get_by_role("tab", name="Interpolate").click()
    run_and_wait(page, lambda: page.locator("#prompt-a textarea").press("Enter"), prefix="blend-")
    page.get_by_role("tab", name="Sketch to image").click()
    page.locator("#sketch-prompt textarea").press("Enter")  # the canvas is still empty: a clear message
    wait_status(page, "Error: The sketch is empty", prefix="sketch-")
    page.locator("#how-button").click()
    page.get_by_text("The model draws by removing noise").wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="How it works").get_attribute("aria-selected") == "true"
    assert page.locator("h1, h2").filter(has_text="How it works").count() >= 1  # the document, rendered


# The mean brightness (0-255) of the sketch canvas as drawn on screen.
CANVAS_SHOT = "#sketch canvas"


def canvas_brightness(page) -> float:
    shot = page.locator(CANVAS_SHOT).first.screenshot()
    pixels = np.asarray(PIL.Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float32)
    height, width = pixels.shape
    return float(pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4].mean())


def test_sketch_canvas_starts_black_and_a_picture_can_be_chosen_by_click(page, tmp_path):
    page.get_by_role("tab", name="Sketch to image").click()
    page.locator(CANVAS_SHOT).first.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.querySelector('#sketch canvas')?.width > 0", timeout=30_000)
    assert canvas_brightness(page) < 40, "the canvas starts black"

    picture = PIL.Image.new("L", (28, 28), 255)  # a dark square on white paper: inverted to light on dark
    picture.paste(0, (4, 4, 24, 24))
    path = tmp_path / "drawing.png"
    picture.save(path)
    with page.expect_file_chooser(timeout=30_000) as chooser:
        page.locator("#sketch-upload").click()  # a click, not a drop, opens the file chooser
    chooser.value.set_files(str(path))
    wait_status(page, "Picture on the canvas", prefix="sketch-")
    page.wait_for_function(
        "document.querySelector('#sketch canvas') !== null", timeout=30_000
    )  # the editor redraws with the picture as its background
    for _ in range(30):
        if canvas_brightness(page) > 150:
            break
        page.wait_for_timeout(500)
    assert canvas_brightness(page) > 150, "the dark square on white is on the canvas as a light square"

    set_number(page, "#sketch-steps", 2)
    run_and_wait(page, page.locator("#sketch-generate").click, prefix="sketch-")

    page.locator("#sketch button[aria-label='Clear canvas']").click()
    for _ in range(30):
        if canvas_brightness(page) < 40:
            break
        page.wait_for_timeout(500)
    assert canvas_brightness(page) < 40, "a cleared canvas is black again, not a white upload area"
    assert page.get_by_text("Upload an image").count() == 0 or not page.get_by_text("Upload an image").is_visible()


def test_the_header_names_the_kinds_the_model_draws(page):
    header = page.locator("#header").inner_text()
    assert "10 kinds" in header and "Ankle boot" in header and "Sneaker" in header


PREVIEW_IN_VIEW = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}"""


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["laptop", "phone"])
def test_the_live_preview_is_on_screen_after_generate(browser, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    try:
        page.goto(app_url(), wait_until="domcontentloaded")
        page.wait_for_selector("#generate", timeout=120_000)
        set_number(page, "#steps", 3)  # Settings left open: they must not push the preview away
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#generate").click()
        page.wait_for_function(PREVIEW_IN_VIEW, arg="#preview", timeout=30_000)
        page.wait_for_function("document.querySelector('#preview img') !== null", timeout=120_000)
        assert page.evaluate(PREVIEW_IN_VIEW, "#preview")
    finally:
        page.close()


def test_a_run_waiting_for_its_turn_says_it_is_queued(browser, page):
    set_number(page, "#steps", 100)
    set_number(page, "#count", 16)  # long enough to hold the server while the second visitor clicks
    page.locator("#generate").click()
    wait_status(page, "Step", timeout=60_000)
    other = browser.new_page(viewport={"width": 1280, "height": 1200})
    try:
        other.goto(app_url(), wait_until="domcontentloaded")
        other.wait_for_selector("#generate", timeout=120_000)
        assert status(other).startswith("Press Generate")
        other.locator("#generate").click()
        # Gradio's own line (its place in the queue, the time waited) may come first: looked for anywhere.
        queued = "document.querySelector('#status').innerText.includes('Queued: waiting for a free turn')"
        other.wait_for_function(queued, timeout=30_000)
        page.locator("#stop").click()
        wait_status(page, "Stopped", timeout=30_000)
        wait_status(other, "Done", timeout=120_000)  # its turn came: the queued run ran
    finally:
        other.close()


def test_send_to_sketch_puts_the_selected_result_on_the_canvas(page):
    set_number(page, "#steps", 2)
    page.locator("#prompt textarea").fill("a dark coat")
    generate(page)
    page.locator("#gallery .thumbnail-item img").nth(1).click()  # the second image: its seed is selected
    second = page.locator("#gallery .caption-label").nth(1).inner_text()
    page.wait_for_function(
        f"document.querySelector({SEED_USED!r}).value === {second.removeprefix('seed ')!r}", timeout=30_000
    )
    page.keyboard.press("Escape")
    page.locator("#send-to-sketch").click()
    page.wait_for_function("document.querySelector('#sketch-prompt textarea')?.value === 'a dark coat'", timeout=30_000)
    assert page.get_by_role("tab", name="Sketch to image").get_attribute("aria-selected") == "true"
    wait_status(page, f"Image with {second}", prefix="sketch-")
    set_number(page, "#sketch-steps", 2)
    run_and_wait(page, page.locator("#sketch-generate").click, prefix="sketch-")  # not refused as empty


def test_the_seed_of_the_selected_image_is_empty_before_any_run(page):
    box = page.locator(SEED_USED)
    assert box.input_value() == "" and "none yet" in (box.get_attribute("placeholder") or "")
    set_number(page, "#steps", 2)
    generate(page)
    first = page.locator("#gallery .caption-label").first.inner_text().removeprefix("seed ")
    page.wait_for_function(f"document.querySelector({SEED_USED!r}).value === {first!r}", timeout=30_000)


# Records every text the progress bar shows, from before the click on.
WATCH_PROGRESS = """() => {
  window.progressTexts = [];
  const record = () => {
    // The bar's own words: Gradio's hidden status tracker in the same block has a timer of its own.
    const text = document.querySelector('#progress .run-progress-text')?.innerText || '';
    if (text && window.progressTexts.at(-1) !== text) window.progressTexts.push(text);
  };
  new MutationObserver(record).observe(document.querySelector('#progress'),
                                       {subtree: true, childList: true, characterData: true});
}"""

BESIDE = """() => {
  const button = document.querySelector('#generate').getBoundingClientRect();
  const bar = document.querySelector('#progress .run-progress').getBoundingClientRect();
  return bar.width > 0 && bar.top >= button.bottom - 1 && bar.top - button.bottom < 120
    && bar.left < button.right && button.left < bar.right;
}"""


def test_a_progress_bar_beside_generate_shows_the_step_and_the_time_left(page):
    set_number(page, "#steps", 30)  # long enough for several updates
    page.evaluate(WATCH_PROGRESS)
    generate(page, timeout=300_000)
    page.wait_for_function(
        "document.querySelector('#progress .run-progress-text').innerText.startsWith('Done: 30 steps in')",
        timeout=30_000,
    )
    seen = page.evaluate("window.progressTexts")
    assert seen[0] == "Queued", seen
    running = [text for text in seen if re.fullmatch(r"Step \d+ of 30 · [\d.]+ s · about [\d.]+ s left", text)]
    assert running, seen  # the step, the time so far and the time left, measured while it ran
    steps = [int(text.split()[1]) for text in running]
    assert steps == sorted(steps), "the steps only go forward"
    assert page.evaluate(BESIDE), "the bar sits right under the Generate button"
    assert page.locator("#progress [role=progressbar]").get_attribute("aria-valuenow") == "30"


def picture_settings(src: str) -> dict:
    """The settings stored in a picture the page shows (the gallery shows the downloadable 8x PNGs)."""
    with urllib.request.urlopen(src, timeout=30) as response:
        return read_png_settings(io.BytesIO(response.read()))


def test_variations_redraw_the_selected_result_at_the_next_seeds(page):
    set_number(page, "#steps", 10)
    set_number(page, "#count", 2)
    page.locator("#prompt textarea").fill("a dark coat")
    generate(page)
    page.locator("#gallery .thumbnail-item img").nth(1).click()  # the second image is the one to vary
    chosen = int(page.locator("#gallery .caption-label").nth(1).inner_text().removeprefix("seed "))
    page.wait_for_function(f"document.querySelector({SEED_USED!r}).value === '{chosen}'", timeout=30_000)
    page.keyboard.press("Escape")
    run_and_wait(page, page.locator("#variations").click)
    captions = page.locator("#gallery .caption-label").all_inner_texts()
    assert captions == [f"seed {chosen + k}" for k in range(1, 5)], captions
    assert f"4 variations of seed {chosen}" in status(page)
    settings = picture_settings(page.locator("#gallery img").first.get_attribute("src"))
    assert (
        settings["prompt"] == "a dark coat"
        and settings["num_inference_steps"] == 10
        and settings["variation_of"] == chosen
    )
    assert 0 < settings["strength"] < 1  # drawn from the chosen picture, a little noised
    wait_idle(page)


def choose(page, selector: str, option: str) -> None:
    """Pick `option` in a Gradio dropdown."""
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function(f"document.querySelector('{selector} input').value === {option!r}", timeout=30_000)


def test_a_comparison_grid_draws_one_prompt_and_seed_across_a_settings_values(page):
    page.get_by_role("tab", name="Compare settings").click()
    page.locator("#compare-x-values textarea").fill("1, 7.5")
    choose(page, "#compare-y", "Sampler")
    page.locator("#compare-y-values textarea").fill("ddim, euler")
    set_number(page, "#compare-steps", 2)
    run_and_wait(page, page.locator("#compare-generate").click, prefix="compare-", timeout=300_000)
    said = status(page, "compare-")
    assert "4 pictures" in said and "columns guidance scale, rows sampler" in said
    src = page.locator("#compare-gallery img").get_attribute("src")
    grid = fetch_image(src)
    assert grid.shape[1] > grid.shape[0] > 2 * 28 * 4, "two rows of two pictures, enlarged, with labels above"
    settings = picture_settings(src)
    assert settings["compare"]["column_values"] == ["guidance 1", "guidance 7.5"]
    assert settings["compare"]["row_values"] == ["ddim", "euler"] and settings["prompt"] == "a dark coat"
    assert page.locator("#compare-progress .run-progress-text").inner_text().startswith("Done: 8 steps")

    page.locator("#compare-x-values textarea").fill("1, 2, 3, 4, 5, 6, 7, 8")  # 24 pictures of 100 steps
    choose(page, "#compare-y", "Steps")
    page.locator("#compare-y-values textarea").fill("100, 99, 98")
    page.locator("#compare-generate").click()
    wait_status(page, "Error:", prefix="compare-")
    assert "needs 2,376 denoising steps" in status(page, "compare-") and "at most 1,600" in status(page, "compare-")
    assert page.locator("#compare-gallery img").count() == 0


def drop_png(page, path) -> None:
    """Give the "Settings from a PNG" box a file, as its file chooser does."""
    with page.expect_file_chooser(timeout=30_000) as chooser:
        page.locator("#png-settings").click()
    chooser.value.set_files(str(path))


def test_settings_are_read_back_from_a_dropped_png(page, tmp_path):
    made = tmp_path / "seed77-a-sandal-8x.png"
    # "steps": as PNGs written before the settings took the pipeline's names call it
    stored = {"prompt": "a sandal", "negative_prompt": "blurry", "steps": 7, "guidance_scale": 4.5, "seed": 77}
    save_png(PIL.Image.new("L", (224, 224)), made, stored | {"scheduler": "ddim", "checkpoint": "pipeline"})
    drop_png(page, made)
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a sandal'", timeout=60_000)
    assert page.locator("#negative textarea").input_value() == "blurry"
    assert "read from seed77-a-sandal-8x.png" in status(page)
    open_settings(page, "#seed")
    page.wait_for_function("document.querySelector('#steps input[type=number]').value === '7'", timeout=30_000)
    assert page.locator("#seed input").input_value() == "77"

    plain = tmp_path / "photo.png"
    PIL.Image.new("L", (28, 28)).save(plain)
    drop_png(page, plain)
    wait_status(page, "Error: photo.png holds no settings", timeout=60_000)
    assert page.locator("#prompt textarea").input_value() == "a sandal", "the form keeps what it had"


def test_the_words_fit_the_page_one_step_interpolate_and_the_attention_markers(page):
    page.get_by_text("[CLS] and [SEP] are the encoder's start and end markers").first.wait_for(timeout=30_000)
    set_number(page, "#steps", 1)
    set_number(page, "#count", 1)
    generate(page)
    page.wait_for_function("document.querySelector('#history .caption-label') !== null", timeout=30_000)
    caption = page.locator("#history .caption-label").first.inner_text()
    assert "1 step ·" in caption and "1 image ·" in caption, caption
    assert page.locator("#progress .run-progress-text").inner_text().startswith("Done: 1 step in")
    assert not re.search(r"(?<![\d,.])1 (steps|images)\b", page.locator("body").inner_text())

    page.get_by_role("tab", name="Interpolate").click()
    assert status(page, "blend-").startswith("Press Blend to start")  # the button is called Blend
    page.locator("button:visible").filter(has_text="Each file on its own").first.click()
    downloads = page.locator("#blend-files").inner_text()
    assert "8×" not in downloads and "grid" not in downloads, "no promise of files a blend does not write"
