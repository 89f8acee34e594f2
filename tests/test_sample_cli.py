"""The sampling CLI on a tiny checkpoint: files, manifest, PNG metadata, the note on the prompt.

The CLI runs in this process through `main(argv)`; one test starts `python -m diffusion.sample` for
real. Bad input is in test_bad_input.py.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from PIL import Image

from diffusion.sampling.imageio import read_png_settings
from diffusion.sampling.sample import main

from .conftest import ROOT


def sample(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_images_grid_gif_and_manifest(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    options = '--prompt "a pair of trousers" --negative-prompt "a bag" --num-images 3 --steps 4 --guidance 3'
    options += " --scheduler ddim --seed 5 --gif"
    code, stdout, stderr = sample(capsys, "--checkpoint", str(tiny_run), "--out", str(out), *shlex.split(options))
    assert code == 0, stderr
    assert "(class Trouser" in stderr
    manifest = json.loads((out / "manifest.json").read_text())["runs"][-1]
    assert [entry["seed"] for entry in manifest["images"]] == [5, 6, 7]
    assert stdout.split() == [str(out / entry["file"]) for entry in manifest["images"]] + [
        str(out / manifest["grid"]),
        str(out / manifest["gif"]),
    ]
    for entry in manifest["images"]:
        settings = read_png_settings(out / entry["file"])
        assert settings["prompt"] == "a pair of trousers" and settings["negative_prompt"] == "a bag"
        assert (
            settings["num_inference_steps"] == 4
            and settings["scheduler"] == "ddim"
            and settings["seed"] == entry["seed"]
        )
    assert Image.open(out / manifest["grid"]).width > 3 * 28
    assert Image.open(out / manifest["gif"]).n_frames == 4
    assert not [path.name for path in out.iterdir() if path.name.startswith(".")]  # no staging files left

    # The command stored in a PNG regenerates that image.
    settings = read_png_settings(out / manifest["images"][1]["file"])
    again = tmp_path / "again"
    code, _, stderr = sample(capsys, *shlex.split(settings["command"])[3:], "--out", str(again))
    assert code == 0, stderr
    regenerated = json.loads((again / "manifest.json").read_text())["runs"][-1]["images"][0]
    a = Image.open(out / manifest["images"][1]["file"]).tobytes()
    b = Image.open(again / regenerated["file"]).tobytes()
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a) < 1.0


def test_the_guidance_interval_is_an_option_recorded_with_the_images(tiny_run, tmp_path, capsys):
    common = ["--checkpoint", str(tiny_run), "--prompt", "a bag", "--num-images", "1", "--steps", "4", "--seed", "3"]
    code, _, stderr = sample(capsys, *common, "--out", str(tmp_path / "default"))
    assert code == 0, stderr
    code, _, stderr = sample(capsys, *common, "--guidance-interval", "0", "inf", "--out", str(tmp_path / "every"))
    assert code == 0, stderr
    runs = {
        name: json.loads((tmp_path / name / "manifest.json").read_text())["runs"][-1] for name in ("default", "every")
    }
    assert runs["default"]["guidance_interval"] == [0, 10] and runs["every"]["guidance_interval"] == [0, float("inf")]
    images = {name: Image.open(tmp_path / name / run["images"][0]["file"]).tobytes() for name, run in runs.items()}
    assert images["default"] != images["every"]  # the first step guided or not
    settings = read_png_settings(tmp_path / "every" / runs["every"]["images"][0]["file"])
    assert (
        settings["command"].endswith("--guidance-interval 0 inf")
        and "--guidance-interval" not in (runs["default"]["images"][0]["command"])
    )
    code, _, stderr = sample(capsys, *common, "--guidance-interval", "5", "1", "--out", str(tmp_path / "bad"))
    assert code != 0 and "guidance interval must be two noise levels" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "bad").exists()  # refused before any work


def test_an_unseen_word_is_explained_by_its_nearest_training_caption(tiny_run, tmp_path, capsys):
    options = shlex.split('--prompt "a photo of an overcoat" --num-images 1 --steps 2')
    code, _, stderr = sample(capsys, "--checkpoint", str(tiny_run), "--out", str(tmp_path), *options)
    assert code == 0, stderr
    assert "(class Coat, cosine similarity" in stderr


def test_a_word_nothing_explains_is_named_with_the_encoders_pieces(tiny_run, tmp_path, capsys):
    options = shlex.split('--prompt "sandles for the beach" --num-images 1 --steps 2')
    code, _, stderr = sample(capsys, "--checkpoint", str(tiny_run), "--out", str(tmp_path), *options)
    assert code == 0, stderr
    assert "note: Unknown to the model and the garment lexicon: “sandles” (sand·les)" in stderr


def test_a_second_run_keeps_the_first_runs_files(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    for steps in ("2", "3"):
        args = ["--checkpoint", str(tiny_run), "--prompt", "a bag", "--num-images", "1", "--steps", steps]
        assert sample(capsys, *args, "--seed", "0", "--out", str(out))[0] == 0
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0]["images"][0]["file"] != runs[1]["images"][0]["file"]
    assert all((out / run["images"][0]["file"]).is_file() for run in runs)


def test_without_a_seed_a_fresh_one_is_drawn_and_recorded(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    for _ in range(2):
        args = ["--checkpoint", str(tiny_run), "--prompt", "a bag", "--num-images", "2", "--steps", "2"]
        assert sample(capsys, *args, "--out", str(out))[0] == 0
    first, second = json.loads((out / "manifest.json").read_text())["runs"]
    assert first["seed"] != second["seed"]
    assert [entry["seed"] for entry in first["images"]] == [first["seed"], first["seed"] + 1]


def test_help_shows_examples_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    assert 'python -m diffusion.sample --prompt "a dark sneaker"' in capsys.readouterr().out


@pytest.mark.slow  # a process of its own
def test_the_module_runs_as_a_command(tiny_run, tmp_path):
    """The one real process: `python -m diffusion.sample` as a user types it."""
    options = ["--prompt", "a bag", "--num-images", "1", "--steps", "2", "--seed", "3", "--out", str(tmp_path)]
    command = [sys.executable, "-m", "diffusion.sample", "--checkpoint", str(tiny_run), *options]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    written = result.stdout.split()
    assert len(written) == 2 and all(path.endswith(".png") for path in written)
    assert read_png_settings(written[0])["seed"] == 3
