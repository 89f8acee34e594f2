"""The Train tab in headless Chromium, on a server of its own that offers a tiny recipe (seconds per run).

One visitor starts a run and sees its loss plots (whole and by noise level), the gradient norm of each
block, the sample strip and what the network sees grow; another browser watches it read-only;
pause holds it, a reload re-attaches, resume goes on, stop saves, and the text tab draws with the run's
weights. A run at learning rate 1 stops with its message. Every wait is for this run's own number and a
value it changes (its step, a new strip), never for a state an earlier run may already show.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from diffusion.sampling.imageio import read_png_settings

from .conftest import ROOT
from .idx_files import write_fake_fashion_mnist
from .test_browser import browser, playwright, run_and_wait, set_number  # noqa: F401  (browser: the shared fixture)
from .ui_server import start_app, tiny_pipeline

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def train_url(tmp_path_factory):
    """A server whose Train tab offers one tiny recipe: fake data, a sample strip and a checkpoint every 4 steps."""
    folder = tmp_path_factory.mktemp("train-tab")
    values = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    values["data"] |= {"data_dir": str(write_fake_fashion_mnist(folder / "data")), "download": False}
    values["train"] |= {"max_steps": 2000, "checkpoint_every": 4, "sample_every": 4, "log_every": 2}
    values["sample"] |= {"prompts": ["a sneaker", "a bag", "a dress"], "images_per_prompt": 1}
    recipe = folder / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(values))
    extra = ["--fast-checkpoint", "none", "--train-config", f"tiny={recipe}", "--train-dir", str(folder / "runs")]
    process, url = start_app(tiny_pipeline(), *extra)
    yield url
    process.terminate()
    process.wait(timeout=30)


def open_train_tab(browser, url: str):  # noqa: F811
    """The page in a browser context of its own: a visitor with their own storage (where a run's key goes)."""
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#generate", timeout=120_000)
    page.get_by_role("tab", name="Train").click()
    # The first refresh: the status line names a run, or says there is none.
    page.wait_for_function("/Run \\d+|No run yet/.test(document.querySelector('#train-status')?.innerText)")
    return page


def status(page) -> str:
    return page.locator("#train-status").inner_text()


def step(page) -> int:
    return int(re.search(r"step (\d+) of", status(page)).group(1))


def wait_status(page, *parts: str, timeout: int = 120_000) -> None:
    """Until the status line holds every one of `parts` (one of them this run's number)."""
    try:
        page.wait_for_function(
            "parts => parts.every(p => document.querySelector('#train-status').innerText.includes(p))",
            arg=list(parts),
            timeout=timeout,
        )
    except playwright.TimeoutError:
        note = page.locator("#train-note").inner_text()
        raise AssertionError(f"waited for {parts}; the page shows {status(page)!r}, note {note!r}") from None


def wait_step_above(page, number: int, at_least: int, timeout: int = 120_000) -> None:
    page.wait_for_function(
        """([number, least]) => {
          const text = document.querySelector('#train-status').innerText;
          const step = text.match(/step (\\d+) of/);
          return text.includes('Run ' + number) && step && Number(step[1]) > least;
        }""",
        arg=[number, at_least],
        timeout=timeout,
    )


def start(page, learning_rate: float | None = None) -> int:
    """Press Start (after setting the learning rate); the new run's number, once the page shows it."""
    page.wait_for_function("!document.querySelector('#train-start').disabled", timeout=120_000)
    if learning_rate is not None:
        field = page.locator("#train-lr input")
        field.fill(str(learning_rate))
        field.press("Tab")
    page.locator("#train-start").click()
    # The note answers this click only (a fresh page has none): it names the run just started.
    page.wait_for_function("/Run \\d+ started/.test(document.querySelector('#train-note').innerText)")
    number = int(re.search(r"Run (\d+) started", page.locator("#train-note").inner_text()).group(1))
    wait_status(page, f"Run {number} ")
    return number


def strip_source(page) -> str:
    return page.evaluate("document.querySelector('#train-sample img')?.src || ''")


LINES = "document.querySelectorAll('#train-loss svg path[aria-roledescription=\"line mark\"]').length"
LEVEL_LINES = "document.querySelectorAll('#train-levels svg path[aria-roledescription=\"line mark\"]').length"
BARS = "document.querySelectorAll('#train-blocks svg path[aria-roledescription=\"bar\"]').length"


def test_start_watch_pause_reload_resume_stop_and_draw_with_the_run(browser, train_url, tmp_path):  # noqa: F811
    page = open_train_tab(browser, train_url)
    number = start(page)
    wait_step_above(page, number, 4)
    page.wait_for_function(f"{LINES} == 2", timeout=60_000)  # the loss, raw and smoothed
    page.wait_for_function(f"document.querySelector('#train-sample img')?.src.includes('run{number}-step')")
    first = strip_source(page)
    page.wait_for_function(
        """([number, first]) => {
          const src = document.querySelector('#train-sample img')?.src || '';
          return src.includes('run' + number + '-step') && src !== first;
        }""",
        arg=[number, first],
        timeout=60_000,
    )  # a newer strip of this run
    page.wait_for_function(f"{LEVEL_LINES} >= 8", timeout=60_000)  # a line per noise level (of 10) seen so far
    page.wait_for_function(f"{BARS} >= 8", timeout=60_000)  # a bar per block: conv_in, down_blocks.0, ...
    page.wait_for_function(
        f"document.querySelector('#train-network-view img')?.src.includes('run{number}-view-step')", timeout=60_000
    )
    assert "What the network sees at step" in page.locator("#train-network-note").inner_text()

    other = open_train_tab(browser, train_url)  # another browser, without the run's key
    wait_status(other, f"Run {number} ", "you watch it read-only")
    for button in ("#train-start", "#train-pause", "#train-stop"):
        assert other.locator(button).is_disabled(), button

    page.locator("#train-pause").click()
    wait_status(page, f"Run {number} ", "· paused")
    held = step(page)
    page.wait_for_timeout(4000)
    assert step(page) == held, "a paused run takes no steps"

    page.reload(wait_until="domcontentloaded")  # the run lives on the server: the page re-attaches
    page.wait_for_selector("#generate", timeout=120_000)
    page.get_by_role("tab", name="Train").click()
    wait_status(page, f"Run {number} ", "started from this browser", "· paused")
    page.wait_for_function("!document.querySelector('#train-resume').disabled", timeout=30_000)
    page.locator("#train-resume").click()
    wait_step_above(page, number, held + 2)

    page.locator("#train-stop").click()
    wait_status(page, f"Run {number} ", "· stopped", "the final pipeline is in")
    wait_status(other, f"Run {number} ", "· stopped")
    run_folder = re.search(r"the final pipeline is in (\S+)/pipeline", status(page)).group(1)

    page.get_by_role("tab", name="Text to image").click()
    page.locator("#model label").filter(has_text="Trained here").click()
    set_number(page, "#steps", 2)
    set_number(page, "#count", 1)
    run_and_wait(page, page.locator("#generate").click)
    page.get_by_text("Each file on its own").click()  # the list of single files is folded away under the zip
    page.locator("#files a").first.wait_for(timeout=30_000)
    link = next(href for href in page.eval_on_selector_all("#files a", "els => els.map(e => e.href)") if "png" in href)
    saved = tmp_path / "drawn.png"
    with urllib.request.urlopen(link, timeout=30) as response:
        saved.write_bytes(response.read())
    settings = read_png_settings(saved)
    assert settings["model"] == "trained" and settings["checkpoint"].startswith(Path(run_folder).name), settings


def test_a_diverging_run_stops_with_its_message(browser, train_url):  # noqa: F811
    page = open_train_tab(browser, train_url)
    number = start(page, learning_rate=1)
    wait_status(page, f"Run {number} ", "· diverged", "training diverged at step", timeout=120_000)
    assert "Lower the learning rate" in status(page)
    page.wait_for_function("!document.querySelector('#train-start').disabled", timeout=30_000)
