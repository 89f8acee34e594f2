"""The loop's stop and divergence events, and a run started as the web page starts one: the run lock,
pause, resume, stop with a checkpoint, a run folder that sampling and --resume accept. Real tiny runs."""

from __future__ import annotations

import copy
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from diffusion.common import openmp
from diffusion.common.errors import UserError
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.training.checkpoint import checkpoint_folders
from diffusion.training.loop import CHECKPOINT, LOG, STEP, STOP, STOPPED
from diffusion.training.train import main as train_main
from diffusion.training.train import prepare_training
from diffusion.ui.training_run import BROKEN, ENDED, FAILED, HALTED, PAUSED, TRAINING, RunRequest, TrainingRuns

from .conftest import ROOT


def test_a_requested_stop_ends_the_loop_with_a_checkpoint(tiny_config):
    tiny_config.train.max_steps, tiny_config.train.checkpoint_every = 1000, 1000
    training = prepare_training(tiny_config)
    events = []
    for event in training.events():
        events.append(event)
        if event.kind == STEP and event.step == 3:
            training.loop.request_stop()
    kinds = [(e.kind, e.step) for e in events if e.kind != LOG]
    assert kinds[-2:] == [(STOP, 4), (CHECKPOINT, 4)] and events[-2].reason == STOPPED
    assert training.loop.stop_reason == STOPPED and events[-1].path.is_dir()
    steps = [e for e in events if e.kind == STEP]
    assert all(math.isfinite(e.grad_norm) and e.grad_norm > 0 for e in steps), "each step reports its gradient norm"


def test_an_exploding_loss_stops_the_command_line_run_and_keeps_the_last_good_checkpoint(
    idx_data_dir, with_tiny_captions, tmp_path, run_cli
):
    run = with_tiny_captions(tmp_path / "run")
    args = ["--config", str(ROOT / "configs" / "tiny.yaml"), "--data-dir", str(idx_data_dir)]
    args += ["--output-dir", str(run), "--learning-rate", "1", "--checkpoint-every", "2", "--max-steps", "200"]
    code, lines = run_cli(train_main, args)
    error = lines[-1]  # after the progress bars: one line, no traceback
    assert code == 2 and error.startswith("error: training diverged at step"), lines
    assert not any("Traceback" in line for line in lines)
    kept = checkpoint_folders(run)
    assert kept and f"({kept[-1].name}) holds the last good weights" in error
    stopped_at = int(error.split("step ")[1].split(" ")[0])
    assert int(kept[-1].name.split("-")[1]) < stopped_at, "nothing is saved at or after the diverged step"
    state = load_file(kept[-1] / "training_state.safetensors")
    assert all(torch.isfinite(t).all() for t in state.values())
    assert not (run / "pipeline").exists(), "broken weights are never exported"


@pytest.fixture
def runs(base_tiny_config, tmp_path) -> TrainingRuns:
    recipe = tmp_path / "tiny.yaml"
    values = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    values["data"] |= {"data_dir": base_tiny_config.data.data_dir, "download": False}
    recipe.write_text(yaml.safe_dump(values))
    runs = TrainingRuns({"tiny": recipe}, tmp_path / "runs")
    yield runs
    if runs.current is not None:
        runs.current.stop()
        runs.current.wait(120)


def asked(**changes) -> RunRequest:
    return RunRequest(**({"recipe": "tiny", "seed": 0, "learning_rate": 3e-3, "batch_size": 8} | changes))


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow  # a training process of its own
def test_one_run_at_a_time_pause_resume_and_stop(runs, base_tiny_config):
    run = runs.start(asked(max_steps=100_000, max_minutes=None))
    with pytest.raises(UserError, match="run 1 .* is training on this server"):
        runs.start(asked(max_steps=10, max_minutes=None))
    assert runs.owned(run.key) is run and runs.owned("someone else's") is None and runs.owned(None) is None
    wait_until(lambda: run.view().step >= 3)

    run.pause()
    time.sleep(0.5)  # a step in flight when Pause was pressed finishes
    paused = run.view()
    time.sleep(1.5)
    assert paused.status == PAUSED and run.view().step == paused.step, "a paused run takes no steps"
    run.resume()
    assert run.view().status == TRAINING
    wait_until(lambda: run.view().step > paused.step + 2)

    run.stop()
    assert run.wait(120) and run.view().status == HALTED
    stopped = run.view()
    assert stopped.checkpoint_step == stopped.step and len(stopped.losses) == stopped.step
    assert checkpoint_folders(run.folder)[-1].name == f"step-{stopped.step:06d}"
    pipe = TextToImagePipeline.from_pretrained(run.folder, device="cpu")  # as `diffusion.sample --checkpoint RUN`
    assert pipe.training_record["steps"] == stopped.step
    config = copy.deepcopy(run.config)
    config.train.max_steps = stopped.step + 2
    resumed = prepare_training(config, resume="latest")  # as `diffusion.train --resume latest`
    assert resumed.start_step == stopped.step

    second = runs.start(asked(max_steps=3, max_minutes=None))  # the slot is free again
    assert second.number == 2 and second.key != run.key
    assert second.wait(120) and second.view().status in ENDED and second.view().step == 3


@pytest.mark.slow  # a training process of its own
def test_a_diverging_run_stops_with_its_message(runs):
    run = runs.start(asked(learning_rate=1.0, max_steps=200, max_minutes=None))
    assert run.wait(120)
    view = run.view()
    assert view.status == BROKEN and "training diverged at step" in view.message
    assert view.step < 200 and not (run.folder / "pipeline").exists()


def test_bad_settings_are_refused_before_anything_starts(runs):
    for changes, message in [
        ({"batch_size": 0}, "batch size must be"),
        ({"learning_rate": -1.0}, "learning rate must be above 0"),
        ({"max_steps": 0}, "steps must be at least 1"),
        ({"max_minutes": 1e6}, "minutes must be above 0"),
        ({"recipe": "nope"}, "unknown recipe"),
    ]:
        with pytest.raises(UserError, match=message):
            runs.start(asked(**({"max_steps": 5, "max_minutes": None} | changes)))
    assert runs.current is None and not Path(runs.root).exists()


@pytest.mark.slow  # a training process of its own
def test_a_run_whose_process_dies_is_reported_and_keeps_its_checkpoints(runs):
    run = runs.start(asked(max_steps=100_000, max_minutes=None))
    assert run.process.pid != os.getpid(), "the run trains in a process of its own"
    wait_until(lambda: run.view().checkpoint_step is not None)
    # Read once the process has trained: just after its start /proc may show it before its exec, empty.
    environment = Path(f"/proc/{run.process.pid}/environ").read_bytes().split(b"\0")
    if not openmp.CHOSEN_BY_USER:  # OpenMP's own default spinning there; this process sleeps (PASSIVE)
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in os.environ
        assert b"GOMP_SPINCOUNT=300000" in environment
    os.kill(run.process.pid, signal.SIGKILL)  # as the kernel does to a process out of memory
    assert run.wait(30)
    view = run.view()
    assert view.status == FAILED and "training process ended unexpectedly (exit code -9)" in view.message
    assert checkpoint_folders(run.folder), "what the run saved is kept"
    assert runs.start(asked(max_steps=2, max_minutes=None)).wait(120), "the slot is free again"


def test_the_training_commands_spin_and_the_rest_sleeps(monkeypatch):
    for argv, training in [
        (["python", "-m", "diffusion.train", "--config", "c.yaml"], True),
        (["python", "-m", "diffusion.distill", "--teacher", "t"], True),
        (["python", "-m", "diffusion.sample", "--prompt", "a bag"], False),
        (["python", "app.py", "-m", "diffusion.train"], False),  # words of another command's arguments
        (["python", "-m", "pytest"], False),
    ]:
        monkeypatch.setattr("sys.orig_argv", argv)
        assert openmp.runs_a_training_command() == training, argv
