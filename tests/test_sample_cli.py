"""The sampling CLI end to end on a tiny checkpoint: files, manifest, PNG metadata, errors."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from PIL import Image

from diffusion.imageio import read_png_settings

from .conftest import ROOT


def sample(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffusion.sample", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_writes_images_grid_gif_and_manifest(tiny_run, tmp_path):
    out = tmp_path / "out"
    result = sample("--checkpoint", str(tiny_run), "--prompt", "a pair of trousers", "--num-images", "3",
                    "--steps", "4", "--guidance", "3", "--scheduler", "ddim", "--seed", "5", "--out", str(out),
                    "--gif", "--negative-prompt", "a bag")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "note: “a pair of trousers” is one of the training captions (class Trouser)" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())["runs"][-1]
    assert [entry["seed"] for entry in manifest["images"]] == [5, 6, 7]
    for entry in manifest["images"]:
        settings = read_png_settings(out / entry["file"])
        assert settings["prompt"] == "a pair of trousers" and settings["negative_prompt"] == "a bag"
        assert settings["steps"] == 4 and settings["scheduler"] == "ddim" and settings["seed"] == entry["seed"]
    grid = Image.open(out / manifest["grid"])
    assert grid.width > 3 * 28
    gif = Image.open(out / manifest["gif"])
    assert gif.n_frames == 4

    # The command stored in a PNG regenerates that image.
    settings = read_png_settings(out / manifest["images"][1]["file"])
    again = tmp_path / "again"
    args = shlex.split(settings["command"])[3:] + ["--out", str(again)]
    assert sample(*args).returncode == 0
    regenerated = json.loads((again / "manifest.json").read_text())["runs"][-1]["images"][0]
    a = Image.open(out / manifest["images"][1]["file"]).tobytes()
    b = Image.open(again / regenerated["file"]).tobytes()
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a) < 1.0


def test_an_unseen_word_is_explained_by_its_nearest_training_caption(tiny_run, tmp_path):
    result = sample("--checkpoint", str(tiny_run), "--prompt", "a photo of an overcoat", "--num-images", "1",
                    "--steps", "2", "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "nearest the training caption “a photo of a coat” (class Coat, cosine similarity 0.8" in result.stderr


def test_a_second_run_keeps_the_first_runs_files(tiny_run, tmp_path):
    out = tmp_path / "out"
    for steps in ("2", "3"):
        assert sample("--checkpoint", str(tiny_run), "--prompt", "a bag", "--num-images", "1", "--steps", steps,
                      "--seed", "0", "--out", str(out)).returncode == 0  # fmt: skip
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0]["images"][0]["file"] != runs[1]["images"][0]["file"]
    assert all((out / run["images"][0]["file"]).is_file() for run in runs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", ""], "the prompt is empty"),
        (["--prompt", "x" * 301], "limit is 300"),
        (["--prompt", "a bag", "--steps", "0"], "steps must be a whole number from 1 to 1000"),
        (["--prompt", "a bag", "--steps", "5000"], "steps must be a whole number from 1 to 1000"),
        (["--prompt", "a bag", "--guidance", "-2"], "guidance scale must be a number from 0 to 30"),
        (["--prompt", "a bag", "--guidance", "lots"], "invalid float value: 'lots'"),
        (["--prompt", "a bag", "--scheduler", "heun"], "unknown scheduler 'heun'; choose one of"),
        (["--prompt", "a bag", "--num-images", "100"], "number of images must be from 1 to 64"),
        (["--prompt", "a bag", "--checkpoint", "/no/such/dir"], "does not exist"),
        (["--prompt", "a bag", "--checkpoint", "{tmp}"], "is not a pipeline"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tiny_run, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--checkpoint" not in args:
        args += ["--checkpoint", str(tiny_run)]
    result = sample(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
