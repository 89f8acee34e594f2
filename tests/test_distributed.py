"""Training on two processes with accelerate (gloo on the CPU), against one process with the same batch.

One two-process run serves every check: it is killed with SIGKILL after its first checkpoint, resumed
with `--resume latest`, and then compared with a one-process run of the same config. `train.batch_size`
is the whole batch of a step, split across processes, and every random draw is made for the whole batch,
so the two runs differ only in the order of floating-point sums; the tolerances below bound that.
"""

from __future__ import annotations

import copy
import csv
import json
import socket
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from diffusion.training.checkpoint import checkpoint_folders
from diffusion.training.loop import process_share
from diffusion.training.train import train
from diffusion.training.training_data import batch_indices

from .processes import finish, kill_group, process_group, wait_for

STEPS, CHECKPOINT_EVERY = 12, 4
LOSS_RTOL = 1e-3  # a wrong split of the batch (other images, other noise) moves the loss by several percent
WEIGHT_ATOL = 1e-3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(config_file: Path, *extra: str) -> list[str]:
    """Two processes through torchrun on the CPU (gloo): `--cpu --num_processes 2` would start one process,
    because accelerate starts several CPU processes only through mpirun."""
    launcher = "-m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no"
    launcher += " --dynamo_backend no"
    trainer = ["-m", "diffusion.train", "--config", str(config_file), "--device", "cpu", *extra]
    return [sys.executable, *launcher.split(), "--main_process_port", str(free_port()), *trainer]


@pytest.fixture(scope="module")
def config(base_tiny_config):
    config = copy.deepcopy(base_tiny_config)
    t = config.train
    t.max_steps, t.checkpoint_every, t.sample_every, t.log_every = STEPS, CHECKPOINT_EVERY, CHECKPOINT_EVERY, 1
    return config


@pytest.fixture(scope="module")
def one_process_run(config, tmp_path_factory) -> Path:
    config = copy.deepcopy(config)
    config.train.output_dir = str(tmp_path_factory.mktemp("one-process"))
    train(config)
    return Path(config.train.output_dir)


@pytest.fixture(scope="module")
def two_process_run(config, tmp_path_factory) -> Path:
    """Two processes, SIGKILLed (launcher and workers) after the first checkpoint, then resumed."""
    folder = tmp_path_factory.mktemp("two-processes")
    config = copy.deepcopy(config)
    config.train.output_dir = str(folder / "run")
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    first = folder / "checkpoints-written"
    with process_group(launch(config_file), folder / "first.log") as process:
        wait_for(lambda: len(checkpoint_folders(folder / "run")) >= 1, process, timeout=600)
        kill_group(process)
    first.write_text(" ".join(p.name for p in checkpoint_folders(folder / "run")))
    with process_group(launch(config_file, "--resume", "latest"), folder / "resumed.log") as process:
        output = finish(process, timeout=1800)
    assert process.returncode == 0, output
    assert f"at step {CHECKPOINT_EVERY}" in output, output
    return folder / "run"


def log_rows(run: Path) -> list[dict]:
    with open(run / "loss.csv") as file:
        return list(csv.DictReader(file))


def final_state(run: Path) -> dict:
    return load_file(checkpoint_folders(run)[-1] / "training_state.safetensors")


@pytest.mark.slow
def test_killed_run_resumed_from_its_checkpoint_and_finished(two_process_run):
    assert (two_process_run.parent / "checkpoints-written").read_text() == f"step-{CHECKPOINT_EVERY:06d}"
    record = json.loads((two_process_run / "pipeline" / "training_record.json").read_text())
    assert record["steps"] == STEPS and record["processes"] == 2


@pytest.mark.slow
def test_both_processes_hold_identical_weights(two_process_run):
    record = json.loads((two_process_run / "training_record.json").read_text())
    digests = record["weights_sha256_per_process"]
    assert len(digests) == 2 and digests[0] == digests[1], digests


@pytest.mark.slow
def test_same_batch_schedule_and_loss_curve_as_one_process(two_process_run, one_process_run):
    two, one = log_rows(two_process_run), log_rows(one_process_run)
    assert [r["step"] for r in two] == [r["step"] for r in one] == [str(s) for s in range(1, STEPS + 1)]
    assert [r["lr"] for r in two] == [r["lr"] for r in one]  # warm-up and cosine at the same pace
    for a, b in zip(two, one, strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=LOSS_RTOL), (a, b)
    a, b = final_state(two_process_run), final_state(one_process_run)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=WEIGHT_ATOL, msg=key)


@pytest.mark.slow
def test_only_the_main_process_writes(two_process_run, one_process_run):
    """The same files as a one-process run, and each step logged once (a second writer would append its
    own rows, and two writers of one checkpoint or cache would collide)."""

    def files(run: Path) -> set[str]:
        return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}

    assert files(two_process_run) == files(one_process_run)
    assert (two_process_run / "loss.csv").read_text().count("step,loss") == 1
    assert [p.name for p in checkpoint_folders(two_process_run)] == ["step-000008", "step-000012"]
    assert sorted(p.name for p in (two_process_run / "samples").iterdir()) == [
        "final.png",
        "step-000004.png",
        "step-000008.png",
        "step-000012.png",
    ]
    resumed = (two_process_run.parent / "resumed.log").read_text()
    assert resumed.count("training ") == 1 and resumed.count("done: ") == 1, resumed


@pytest.mark.parametrize(("world", "batch_size"), [(1, 32), (2, 32), (3, 32), (4, 6)])
def test_each_image_once_per_epoch_across_processes(world, batch_size):
    num_items, seed = 320, 7
    per_epoch = num_items // batch_size
    for epoch in range(2):
        seen = []
        for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            batch = batch_indices(num_items, batch_size, step, seed)
            shares = [batch[process_share(rank, world)] for rank in range(world)]  # each process's rows, as trained
            assert sorted(torch.cat(shares).tolist()) == sorted(batch.tolist())  # the shares make up the batch
            assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
            seen += torch.cat(shares).tolist()
        assert len(seen) == len(set(seen)) == per_epoch * batch_size  # no image twice within an epoch
