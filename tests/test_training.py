"""Training: the loss falls, checkpoints resume exactly, Ctrl-C saves first, the CLI refuses bad input."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from diffusion.common.errors import UserError
from diffusion.model.device import cpu_has_amx, cpu_has_bf16
from diffusion.training.checkpoint import checkpoint_folders
from diffusion.training.lr_schedule import STABLE_DECAY, StableDecay, learning_rate_schedule, stable_decay_plan
from diffusion.training.train import main as train_main
from diffusion.training.train import train, training_precision
from diffusion.training.training_data import batch_text

from .conftest import ROOT
from .processes import finish, ignore_sigint, options, process_group, python_module, wait_for


def read_loss(run: Path, column: str = "loss") -> list[float]:
    with open(run / "loss.csv") as file:
        return [float(row[column]) for row in csv.DictReader(file)]


def test_tiny_training_lowers_the_loss(tiny_run):
    losses = read_loss(tiny_run)
    assert len(losses) >= 3
    assert losses[-1] < 0.8 * losses[0]


def test_run_folder_holds_checkpoints_and_a_pipeline(tiny_run):
    assert [p.name for p in checkpoint_folders(tiny_run)] == ["step-000010", "step-000020"]
    assert (tiny_run / "pipeline" / "model_index.json").is_file()
    assert (tiny_run / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(tiny_run.rglob("*.bin")) and not list(tiny_run.rglob("*.pt"))
    record = (tiny_run / "pipeline" / "training_record.json").read_text()
    assert '"steps": 20' in record and '"dataset": "fashion_mnist"' in record


def final_state(run: Path) -> dict:
    return load_file(checkpoint_folders(run)[-1] / "training_state.safetensors")


@pytest.mark.parametrize("lr_schedule", ["cosine", STABLE_DECAY])
def test_resume_continues_at_the_same_step_with_identical_state(tiny_config, with_tiny_captions, lr_schedule):
    tiny_config.train.lr_schedule, tiny_config.train.lr_decay_share = lr_schedule, 0.5
    tiny_config.train.max_steps = 4
    tiny_config.train.checkpoint_every = 2
    tiny_config.train.log_every = 1
    straight = copy.deepcopy(tiny_config)
    straight.train.output_dir = str(with_tiny_captions(straight.train.output_dir + "-straight"))
    train(straight)

    halves = copy.deepcopy(tiny_config)
    halves.train.max_steps = 2
    train(halves)
    halves.train.max_steps = 4
    train(halves, resume="latest")

    a, b = final_state(Path(straight.train.output_dir)), final_state(Path(halves.train.output_dir))
    assert a.keys() == b.keys() and any(k.startswith("optimizer.") for k in a) and any(k.startswith("ema.") for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    steps = [line.split(",")[0] for line in (Path(halves.train.output_dir) / "loss.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2", "3", "4"]


def run_train_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusion.train", *args], capture_output=True, text=True, cwd=ROOT, **kwargs
    )


@pytest.mark.slow  # a training process of its own, stopped by a signal
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_saves_a_checkpoint_first(idx_data_dir, tmp_path, stop_signal):
    """The child starts with Ctrl-C ignored, as under a background shell job: the trainer must still stop."""
    run = tmp_path / "run"
    never = 100_000  # steps: it runs until stopped
    args = options(
        config="configs/tiny.yaml", data_dir=idx_data_dir, output_dir=run, max_steps=never, checkpoint_every=never
    )
    command = python_module("diffusion.train", *args)
    with process_group(command, tmp_path / "train.log", preexec_fn=ignore_sigint) as process:
        wait_for(lambda: (run / "loss.csv").is_file() and len(read_loss(run)) >= 1, process, timeout=300)
        os.kill(process.pid, stop_signal)
        output = finish(process, timeout=120)
    assert process.returncode == 130, output
    assert "saving a checkpoint first" in output and "Traceback" not in output
    saved = checkpoint_folders(run)
    assert saved and int(saved[-1].name.split("-")[1]) >= 10
    assert (saved[-1] / "pipeline" / "model_index.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "configs/nope.yaml"], "config file configs/nope.yaml not found"),
        (["--config", "{bad}", "--max-steps", "0"], "max-steps must be at least 1"),
        (["--config", "{bad}", "--max-minutes", "-1"], "max-minutes must be above 0"),
        (["--config", "{unknown}"], "unknown config key 'train.bogus'"),
        # refused when the config is read, before the data folder is even looked at
        (["--config", "{schedule}", "--data-dir", "/nonexistent"], "unknown train.lr_schedule 'cosine_forever'"),
        (["--config", "{bad}", "--data-dir", "/nonexistent"], "data folder /nonexistent does not exist"),
        (["--config", "{bad}", "--resume", "latest"], "no checkpoint in"),
        (["--config", "{bad}", "--max-steps", "2.5"], "argument --max-steps: invalid int value: '2.5'"),
        (["--config", "{bad}", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path, run_cli):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("train:\n  bogus: 1\n")
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("train:\n  lr_schedule: cosine_forever\n")
    bad = tmp_path / "offline.yaml"
    bad.write_text(f"data:\n  download: false\ntrain:\n  output_dir: {tmp_path / 'run'}\n")
    args = [
        a.replace("{bad}", str(bad)).replace("{unknown}", str(unknown)).replace("{schedule}", str(schedule))
        for a in args
    ]
    code, lines = run_cli(train_main, args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.real_data
def test_a_few_steps_on_the_installed_fashion_mnist(tmp_path):
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.fail("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
    args = options(config="configs/tiny.yaml", output_dir=tmp_path / "run", max_steps=6, checkpoint_every=3)
    result = run_train_cli(*args, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "60000 fashion_mnist images" in result.stdout + result.stderr
    assert (tmp_path / "run" / "pipeline" / "model_index.json").is_file()


def test_text_augmentation_hides_tokens_and_jitters_the_sentence_embedding(base_tiny_config):
    from diffusion.model.text import PromptEmbeddings

    config = copy.deepcopy(base_tiny_config)
    embeddings = PromptEmbeddings(
        torch.randn(3, 4, 8), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]), torch.randn(3, 8)
    )
    ids = torch.tensor([1, 2, 1, 2])
    plain = batch_text(embeddings, ids, config, torch.Generator().manual_seed(0))
    assert torch.equal(plain.tokens, embeddings.tokens[ids])
    assert torch.equal(plain.pooled, embeddings.pooled[ids])
    config.data.token_dropout, config.data.pooled_noise = 1.0, 0.5
    augmented = batch_text(embeddings, ids, config, torch.Generator().manual_seed(0))
    assert torch.equal(augmented.tokens, embeddings.tokens[[0, 0, 0, 0], :2])  # the empty caption's, cut to its 2
    assert torch.equal(augmented.mask, embeddings.mask[[0, 0, 0, 0], :2])
    assert 0.2 < (augmented.pooled - embeddings.pooled[ids]).std() < 0.8


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_fast():
    cpu = torch.device("cpu")
    assert training_precision("auto", cpu) == ("bf16" if cpu_has_amx() else "no")
    assert training_precision("bf16", cpu) == ("bf16" if cpu_has_bf16() else "no")  # emulated bf16: fp32
    assert training_precision("no", cpu) == "no"
    with pytest.raises(UserError, match="use auto, no, bf16 or fp16"):
        training_precision("half", cpu)
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        training_precision("fp16", cpu)


def test_bf16_training_lowers_the_loss_and_saves_fp32_weights(tiny_config):
    tiny_config.train.mixed_precision = "bf16"
    tiny_config.train.max_steps, tiny_config.train.checkpoint_every, tiny_config.train.log_every = 20, 10, 5
    train(tiny_config)
    run = Path(tiny_config.train.output_dir)
    losses = read_loss(run)
    assert losses[-1] < 0.8 * losses[0]
    weights = load_file(run / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(w.dtype == torch.float32 for w in weights.values())
    record = (run / "pipeline" / "training_record.json").read_text()
    assert f'"mixed_precision": "{training_precision("bf16", torch.device("cpu"))}"' in record


def test_a_time_budget_moves_the_fall_of_the_learning_rate_to_its_last_share(tiny_config, capsys):
    """warmup_stable_decay with a time budget: the rate falls to zero over the steps that the budget's last
    half holds, not over max_steps (which the budget never reaches)."""
    t = tiny_config.train
    t.lr_schedule, t.lr_decay_share, t.warmup_steps = STABLE_DECAY, 0.5, 0
    t.max_steps, t.max_minutes, t.log_every, t.checkpoint_every = 1_000_000, 0.25, 1, 0
    train(tiny_config)
    rates = read_loss(Path(t.output_dir), "lr")
    steps = len(rates)
    assert 10 < steps < t.max_steps
    peak = t.learning_rate
    assert rates[0] == pytest.approx(peak)
    first_below_peak = next(i for i, rate in enumerate(rates) if rate < peak)
    assert steps - first_below_peak > 5 and all(a >= b for a, b in itertools.pairwise(rates))
    assert rates[-1] < 0.25 * peak  # ended at (or, had the pace dropped, near) zero, not mid-fall
    record = json.loads((Path(t.output_dir) / "training_record.json").read_text())
    assert record["learning_rate_fall"][0] == first_below_peak  # the rate after step N is logged at row N
    first, last = record["learning_rate_fall"]
    assert f"from step {first} the learning rate falls to zero by step {last}" in capsys.readouterr().out


def test_stable_decay_warms_up_holds_then_falls_and_a_fall_moves_only_earlier():
    plan = StableDecay(warmup_steps=2, total_steps=10, decay_share=0.4)
    assert [plan(step) for step in range(11)] == pytest.approx([0, 0.5, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])
    plan.fall_from(8, 5)  # would end after the planned end: kept
    assert (plan.decay_start, plan.decay_end) == (6, 10)
    plan.fall_from(4, 2)
    assert [plan(step) for step in range(3, 8)] == [1, 1, 0.5, 0, 0]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = learning_rate_schedule(STABLE_DECAY, optimizer, 2, 10, 0.4)
    schedule.lr_lambdas[0].fall_from(4, 2)
    state = json.loads(json.dumps(schedule.state_dict()))  # as a checkpoint keeps it
    resumed = learning_rate_schedule(STABLE_DECAY, optimizer, 2, 10, 0.4)
    resumed.load_state_dict(state)
    assert stable_decay_plan(resumed).decay_end == 6


@pytest.mark.parametrize(
    ("name", "share", "message"),
    [("warmup_stable_decay", 1.0, "lr_decay_share"), ("cosine_forever", 0.2, "unknown train.lr_schedule")],
)
def test_a_bad_learning_rate_schedule_is_a_clear_error(name, share, message):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(UserError, match=message):
        learning_rate_schedule(name, optimizer, 2, 10, share)
