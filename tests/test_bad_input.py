"""Bad input, one line everywhere: the sampling CLI and the Python API give the same clear message,
naming the field, and write nothing.

Each table row is one mistake a user can make. The CLI runs in this process through `main(argv)`; its
error must be one line on stderr and exit code 2, argparse's own errors included.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusion.common.errors import UserError
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.sample import main
from diffusion.training.distill import main as distill_main
from diffusion.training.train import main as train_main

from .conftest import ROOT

UNET_WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def pipe(tiny_run):
    return TextToImagePipeline.from_pretrained(tiny_run)


def cli_error(capsys, args: list[str]) -> str:
    """The CLI's one error line (without "error: "), after checking the exit code and the line count."""
    with pytest.raises(SystemExit) as exit:
        main(args)
    stderr = capsys.readouterr().err
    assert exit.value.code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


# ----- settings: the same message from the CLI and from Python -------------------------------------------------

# (CLI arguments, the same setting as pipeline keywords, what the message must say)
SETTINGS = {
    "empty prompt": (["--prompt", ""], {"prompt": ""}, "the prompt is empty"),
    "whitespace prompt": (["--prompt", " \t "], {"prompt": " \t "}, "the prompt is empty"),
    "10,000-character prompt": (["--prompt", "x" * 10_000], {"prompt": "x" * 10_000}, "the prompt is 10000 characters"),
    "control character": (["--prompt", "a bag\x07"], {"prompt": "a bag\x07"}, "the prompt contains the control"),
    "escape sequence": (["--prompt", "a \x1b[31mbag"], {"prompt": "a \x1b[31mbag"}, "control character U+001B"),
    # Python keeps argv bytes that are not UTF-8 as lone surrogates (PEP 383).
    "not UTF-8": (["--prompt", "a \udcff bag"], {"prompt": "a \udcff bag"}, "the prompt is not valid UTF-8"),
    "negative prompt": (
        ["--negative-prompt", "\x00"],
        {"negative_prompt": "\x00"},
        "the negative prompt contains the control character U+0000",
    ),
    "steps 2.5": (["--steps", "2.5"], {"num_inference_steps": 2.5}, "steps must be a whole number from 1 to 1000"),
    "steps NaN": (
        ["--steps", "nan"],
        {"num_inference_steps": math.nan},
        "steps must be a whole number from 1 to 1000, got nan",
    ),
    "steps inf": (
        ["--steps", "inf"],
        {"num_inference_steps": math.inf},
        "steps must be a whole number from 1 to 1000, got inf",
    ),
    "steps 0": (["--steps", "0"], {"num_inference_steps": 0}, "steps must be a whole number from 1 to 1000, got 0"),
    "steps negative": (["--steps", "-5"], {"num_inference_steps": -5}, "from 1 to 1000, got -5"),
    "steps huge": (["--steps", str(10**30)], {"num_inference_steps": 10**30}, "steps must be"),
    "guidance NaN": (["--guidance", "nan"], {"guidance_scale": math.nan}, "guidance scale must be a number"),
    "guidance inf": (["--guidance", "inf"], {"guidance_scale": math.inf}, "guidance scale must be a number"),
    "guidance negative": (["--guidance", "-2"], {"guidance_scale": -2}, "guidance scale must be a number from 0 to 30"),
    "guidance huge": (["--guidance", "1e308"], {"guidance_scale": 1e308}, "from 0 to 30, got 1e+308"),
    "images 0": (["--num-images", "0"], {"num_images_per_prompt": 0}, "number of images must be a whole number"),
    "images huge": (["--num-images", "1e9"], {"num_images_per_prompt": 1e9}, "from 1 to 64, got 1e+09"),
    "images NaN": (["--num-images", "nan"], {"num_images_per_prompt": math.nan}, "number of images"),
    "seed negative": (["--seed", "-1"], {"seed": -1}, "seed must be a whole number from 0 to 4294967295, got -1"),
    "seed huge": (["--seed", str(2**64)], {"seed": 2**64}, "seed must be a whole number from 0 to 4294967295"),
    "seed fraction": (["--seed", "1.5"], {"seed": 1.5}, "seed must be a whole number"),
    "seed NaN": (["--seed", "nan"], {"seed": math.nan}, "seed must be a whole number"),
    "seed without room": (
        ["--seed", str(2**32 - 1), "--num-images", "2"],
        {"seed": 2**32 - 1, "num_images_per_prompt": 2},
        "seed must be a whole number from 0 to 4294967294 for 2 images (image i uses seed + i)",
    ),
    "unknown scheduler": (
        ["--scheduler", "heun"],
        {"scheduler": "heun"},
        "unknown scheduler 'heun'; choose one of: ddpm, ddim, dpm++, dpm++3m, euler, unipc, unipc3, lcm",
    ),
    "empty scheduler": (["--scheduler", ""], {"scheduler": ""}, "unknown scheduler ''"),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_the_cli_and_the_api_give_one_message_naming_the_field(case, pipe, tiny_run, tmp_path, capsys):
    args, keywords, expected = SETTINGS[case]
    out = tmp_path / "out"
    base = ["--prompt", "a bag", "--steps", "2", "--num-images", "1", "--checkpoint", str(tiny_run), "--out", str(out)]
    message = cli_error(capsys, base + args)
    assert expected in message
    assert not out.exists()  # checked before anything is written
    with pytest.raises(UserError) as raised:
        pipe(**{"prompt": "a bag", "num_inference_steps": 2, **keywords})
    assert str(raised.value) == message  # one rule, one message, wherever the value comes from


@pytest.mark.slow  # a process of its own
def test_a_prompt_that_is_not_utf8_from_a_real_command_line(tiny_run, tmp_path):
    """The real bytes, through the operating system: one line, exit code 2, no traceback."""
    command = [sys.executable, "-m", "diffusion.sample", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "o")]
    result = subprocess.run(
        [os.fsencode(part) for part in command] + [b"--prompt", b"a \xff bag"], capture_output=True, cwd=ROOT
    )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == ["error: the prompt is not valid UTF-8 text; type it again"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "the following arguments are required: --prompt (see --help)"),
        (["--prompt", "a bag", "--steps", "many"], "argument --steps: expected a number, got 'many' (see --help)"),
        (["--prompt", "a bag", "--steps"], "argument --steps: expected one argument (see --help)"),
        (["--prompt", "a bag", "--colour", "red"], "unrecognized arguments: --colour red (see --help)"),
    ],
)
def test_argparse_errors_are_one_line_too(args, expected, capsys):
    assert cli_error(capsys, args) == expected


@pytest.mark.parametrize(
    ("main", "args", "expected"),
    [
        (train_main, ["--max-steps", "2.5"], "argument --max-steps: invalid int value: '2.5' (see --help)"),
        (distill_main, ["--teacher", "t"], "the following arguments are required: --output-dir (see --help)"),
        (distill_main, ["--teacher", "t", "--output-dir", "o", "--steps", "9"], "steps must be 1 to 4"),
    ],
)
def test_training_and_distillation_errors_are_one_line(main, args, expected, run_cli):
    code, lines = run_cli(main, args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {expected}"), lines


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({"prompt": b"a bag"}, "prompt must be text, got bytes"),
        ({"prompt": None}, "give a prompt"),
        ({"prompt": []}, "the prompt list is empty"),
        ({"prompt": ["a bag", ""]}, "the prompt is empty"),
        ({"prompt": ["a bag", "a coat"], "negative_prompt": ["a shoe"]}, "got 1 negative prompts for 2 prompts"),
        ({"num_inference_steps": "20"}, "steps must be a whole number from 1 to 1000, got '20'"),
        ({"num_inference_steps": True}, "steps must be a whole number"),
        ({"image": torch.zeros(1, 1, 28, 28), "strength": 0}, "strength must be above 0 and at most 1"),
        ({"image": torch.zeros(1, 1, 28, 28), "strength": math.nan}, "strength must be above 0 and at most 1"),
        ({"image": "sketch.png"}, "image must be a PIL image, an array or a tensor, got str"),
        ({"generator": [torch.Generator()] * 3}, "got 3 generators for 1 images"),
        ({"prompt": "a " * 80}, "prompt is 82 tokens; the limit is 64 tokens"),
    ],
)
def test_python_only_mistakes(pipe, keywords, expected):
    with pytest.raises(UserError, match="^" + expected.replace("(", r"\(").replace(")", r"\)")):
        pipe(**{"prompt": "a bag", "num_inference_steps": 2, **keywords})


# ----- checkpoints -------------------------------------------------------------------------------------------------


def write_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


# What is done to a copy of a good pipeline folder, and what the message must say.
BROKEN_FOLDERS = {
    "truncated weights": (
        lambda f: (f / UNET_WEIGHTS).write_bytes((f / UNET_WEIGHTS).read_bytes()[:1000]),
        "diffusion_pytorch_model.safetensors is corrupt or truncated",
    ),
    "empty weights": (lambda f: (f / UNET_WEIGHTS).write_bytes(b""), "is corrupt or truncated"),
    "pickled weights": (lambda f: torch.save({"x": torch.zeros(2)}, f / UNET_WEIGHTS), "is corrupt or truncated"),
    "another model's weights": (
        lambda f: save_file({"x": torch.zeros(2)}, f / UNET_WEIGHTS),
        "unet/config.json (",
    ),
    "missing weights": (lambda f: (f / UNET_WEIGHTS).unlink(), "diffusion_pytorch_model.safetensors is missing"),
    "unknown UNet key": (
        lambda f: write_json(f / "unet" / "config.json", lambda c: {**c, "attention_heads_typo": 4}),
        "unet/config.json has unknown key 'attention_heads_typo' for UNet2DConditionModel",
    ),
    "unknown scheduler key": (
        lambda f: write_json(f / "scheduler" / "scheduler_config.json", lambda c: {**c, "beta_shedule": "linear"}),
        "scheduler_config.json has unknown key 'beta_shedule' for DDPMScheduler",
    ),
    "unknown part": (
        lambda f: write_json(f / "model_index.json", lambda c: {**c, "vae": ["diffusers", "AutoencoderKL"]}),
        "model_index.json has unknown part 'vae'",
    ),
    "wrong UNet class": (
        lambda f: write_json(f / "model_index.json", lambda c: {**c, "unet": ["diffusers", "UNet2DModel"]}),
        "'unet' must be UNet2DConditionModel",
    ),
    "config not JSON": (lambda f: (f / "unet" / "config.json").write_text("{oops"), "is not readable JSON"),
    "config not an object": (lambda f: (f / "unet" / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    "config not UTF-8": (lambda f: (f / "unet" / "config.json").write_bytes(b"\xff\xfe"), "is not readable JSON"),
    "impossible UNet": (
        lambda f: write_json(f / "unet" / "config.json", lambda c: {**c, "block_out_channels": [16]}),
        "does not describe a valid UNet2DConditionModel",
    ),
    "other text encoder": (
        lambda f: (f / "text_encoder.json").write_text(json.dumps({"name": "x", "sha256": "0" * 64})),
        "was trained with text encoder x",
    ),
    "no text encoder record": (lambda f: (f / "text_encoder.json").unlink(), "text_encoder.json is missing"),
    "not a pipeline": (lambda f: (f / "model_index.json").unlink(), "is not a pipeline (no model_index.json)"),
}


@pytest.mark.parametrize("case", list(BROKEN_FOLDERS))
def test_a_broken_pipeline_folder_is_named_with_what_is_wrong(case, tiny_run, tmp_path, capsys):
    damage, expected = BROKEN_FOLDERS[case]
    folder = tmp_path / "pipeline"
    shutil.copytree(tiny_run / "pipeline", folder)
    damage(folder)
    with pytest.raises(UserError) as raised:
        TextToImagePipeline.from_pretrained(folder)
    assert expected in str(raised.value)
    out = tmp_path / "out"
    message = cli_error(capsys, ["--prompt", "a bag", "--checkpoint", str(folder), "--out", str(out)])
    assert message == " ".join(str(raised.value).split()) and not out.exists()


def test_a_missing_checkpoint_says_how_to_make_one(tmp_path, capsys):
    message = cli_error(capsys, ["--prompt", "a bag", "--checkpoint", str(tmp_path / "nowhere")])
    assert "does not exist; train one with `python -m diffusion.train`" in message


# ----- output folders ----------------------------------------------------------------------------------------------


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write into: by its mode, and for root (whom modes do not stop) made immutable."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("cannot make a folder read-only here (root without chattr)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_output_folder_is_named_before_any_work(tiny_run, read_only_folder, capsys):
    args = ["--prompt", "a bag", "--steps", "2", "--checkpoint", str(tiny_run)]
    message = cli_error(capsys, [*args, "--out", str(read_only_folder)])
    assert message.startswith(f"--out {read_only_folder} cannot be written (")
    assert message.endswith("; choose another folder")
    assert list(read_only_folder.iterdir()) == []
    message = cli_error(capsys, [*args, "--out", str(read_only_folder / "inside")])
    assert message.startswith(f"--out {read_only_folder / 'inside'} cannot be written")


def test_an_output_path_that_is_a_file_is_named(tiny_run, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    args = ["--prompt", "a bag", "--steps", "2", "--checkpoint", str(tiny_run), "--out", str(taken)]
    assert cli_error(capsys, args).startswith(f"--out {taken} cannot be written")
    assert taken.read_text() == "mine"


def test_saving_a_pipeline_into_a_read_only_folder_names_it_and_writes_nothing(pipe, read_only_folder):
    with pytest.raises(UserError, match="cannot be written"):
        pipe.save_pretrained(read_only_folder / "copy")
    assert list(read_only_folder.iterdir()) == []
