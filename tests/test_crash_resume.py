"""SIGKILL at several moments of a run (between checkpoints, inside a checkpoint write), each time
resumed with `--resume latest`: no half-written checkpoint ever sits under a checkpoint's name, each
resume starts from the newest complete checkpoint, and the final weights equal an uninterrupted run's."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from diffusion.training.checkpoint import checkpoint_folders
from diffusion.training.train import train

from .processes import finish, kill_group, process_group, python_module, wait_for

STEPS, CHECKPOINT_EVERY = 16, 2


def staging_folders(run: Path) -> list[Path]:
    return list((run / "checkpoints").glob(".step-??????-*"))  # save_checkpoint's temporary folders


def logged_steps(run: Path) -> list[int]:
    if not (run / "loss.csv").is_file():
        return []
    with open(run / "loss.csv") as file:
        return [int(row["step"]) for row in csv.DictReader(file) if row.get("loss")]


def assert_every_named_checkpoint_is_complete(run: Path) -> None:
    for folder in (run / "checkpoints").glob("step-*"):
        json.loads((folder / "training_state.json").read_text())
        assert load_file(folder / "training_state.safetensors"), folder
        assert load_file(folder / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"), folder
        assert (folder / "pipeline" / "model_index.json").is_file(), folder


@pytest.fixture
def config(base_tiny_config, tmp_path):
    config = copy.deepcopy(base_tiny_config)
    t = config.train
    t.max_steps, t.checkpoint_every, t.keep_checkpoints, t.log_every = STEPS, CHECKPOINT_EVERY, 2, 1
    t.output_dir = str(tmp_path / "run")
    return config


@pytest.mark.slow
def test_sigkill_at_several_moments_then_resume_gives_the_uninterrupted_weights(config, tmp_path):
    straight = copy.deepcopy(config)
    straight.train.output_dir = str(tmp_path / "straight")
    train(straight)

    run = Path(config.train.output_dir)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    command = python_module("diffusion.train", "--config", str(config_file))
    resumed_at = []

    def start(index: int):
        args = command + (["--resume", "latest"] if index else [])
        return process_group(args, tmp_path / f"attempt-{index}.log")

    def check_after_kill() -> None:
        assert_every_named_checkpoint_is_complete(run)
        resumed_at.append(int(checkpoint_folders(run)[-1].name.split("-")[1]))

    # Moment 1: between two checkpoints, after an odd step was logged.
    with start(0) as process:
        wait_for(lambda: any(s % CHECKPOINT_EVERY for s in logged_steps(run) if s > CHECKPOINT_EVERY), process, 600)
        kill_group(process)
    check_after_kill()

    # Moment 2: inside a checkpoint write, seen as its temporary folder. A kill can land just after the
    # write finished; then try again at the next checkpoint.
    killed_inside_a_write, attempt = False, 1
    while not killed_inside_a_write and attempt <= 4:
        earlier = set(staging_folders(run))  # left by the last kill; the new process removes them

        def writing(earlier=earlier) -> bool:
            return bool(set(staging_folders(run)) - earlier)

        with start(attempt) as process:
            wait_for(writing, process, 600, interval=0.005)
            kill_group(process)
        killed_inside_a_write = writing()
        check_after_kill()
        attempt += 1
    assert killed_inside_a_write, "no kill landed inside a checkpoint write"

    with start(attempt) as process:
        output = finish(process, timeout=1800)
    assert process.returncode == 0, output

    for index, step in enumerate(resumed_at, start=1):
        assert f"at step {step}" in (tmp_path / f"attempt-{index}.log").read_text()
    assert not staging_folders(run) and not list((run / "checkpoints").glob(".*"))  # leftovers cleared
    assert logged_steps(run) == list(range(1, STEPS + 1))  # each step logged once, despite the repeats
    for name in ("training_state.safetensors", "pipeline/unet/diffusion_pytorch_model.safetensors"):
        a = load_file(checkpoint_folders(run)[-1] / name)
        b = load_file(checkpoint_folders(Path(straight.train.output_dir))[-1] / name)
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=f"{name}: {key}")
