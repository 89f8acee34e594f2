"""Shared fixtures: tiny IDX data, a tiny config, and a tiny trained run (real UNet, real text encoder).

Tests that start a server, a browser or a process of their own, or read the installed data set, are
slow: `python -m pytest -m "not slow"` leaves them out, CI runs everything.
"""

from __future__ import annotations

import copy
import shutil
import signal
from pathlib import Path

import pytest

from diffusion.common.config import Config, load_config
from diffusion.training.train import train
from diffusion.training.training_data import CAPTION_CACHE, prepare_data

from .idx_files import write_fake_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
SLOW_MARKERS = ("browser", "real_data")  # a browser; the installed data set
SLOW_MODULES = ("test_app.py", "test_browser.py")  # a real Gradio server in a subprocess


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def idx_data_dir(tmp_path_factory) -> Path:
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake-fashion-mnist"))


@pytest.fixture(scope="session")
def base_tiny_config(idx_data_dir) -> Config:
    config = load_config(ROOT / "configs" / "tiny.yaml")
    config.data.data_dir = str(idx_data_dir)
    config.data.download = False
    return config


@pytest.fixture(scope="session")
def with_tiny_captions(base_tiny_config, tmp_path_factory):
    """Returns a function that gives a new run folder the tiny bank's caption embeddings, encoded once
    per session: the run then reads them as a resumed run reads its own (the file's key is checked, so a
    run with other captions still encodes its own). Saves an encoder pass per training run."""
    folder = tmp_path_factory.mktemp("tiny-captions")
    prepare_data(base_tiny_config, folder)

    def seed(run_dir: Path | str) -> Path:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / CAPTION_CACHE, run_dir / CAPTION_CACHE)
        return run_dir

    return seed


@pytest.fixture
def tiny_config(base_tiny_config, with_tiny_captions, tmp_path) -> Config:
    config = copy.deepcopy(base_tiny_config)
    config.train.output_dir = str(with_tiny_captions(tmp_path / "run"))
    return config


@pytest.fixture(scope="session")
def tiny_run(base_tiny_config, with_tiny_captions, tmp_path_factory) -> Path:
    """A run folder trained for 20 steps: checkpoints at 10 and 20, loss.csv every 5, the exported pipeline."""
    config = copy.deepcopy(base_tiny_config)
    config.train.output_dir = str(with_tiny_captions(tmp_path_factory.mktemp("tiny-run")))
    config.train.max_steps, config.train.checkpoint_every, config.train.log_every = 20, 10, 5
    train(config)
    return Path(config.train.output_dir)


@pytest.fixture
def run_cli(capsys):
    """Runs a command's `main(argv)` in this process and returns (exit code, stderr lines); the signal
    handlers a long-running command installs are put back afterwards."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    def run(main, args: list[str]) -> tuple[int, list[str]]:
        with pytest.raises(SystemExit) as stop:
            main(args)
        return stop.value.code, capsys.readouterr().err.splitlines()

    yield run
    for number, handler in saved.items():
        signal.signal(number, handler)
