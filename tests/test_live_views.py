"""What the Train tab's live views are made of: the loop's LOG events with the loss by noise level and each
block's gradient norm, the SAMPLE events' picture of what the network sees, and the maths behind that
picture, checked against diffusers' own scheduler. Real tiny runs and a real UNet."""

from __future__ import annotations

import csv
import math

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DDPMScheduler

from diffusion.sampling.pipeline import predict_clean_image
from diffusion.training.block_norms import block_name
from diffusion.training.loop import LOG, SAMPLE
from diffusion.training.network_view import ROWS, VIEW_TIMESTEPS, look, predict_noise
from diffusion.training.noise_levels import LEVEL_BINS, BatchLoss, LevelTally, level_names
from diffusion.training.train import network_view_example, prepare_training
from diffusion.training.training_data import prepare_data

from .test_reference_maths import tiny_unet


def test_timesteps_fall_in_their_bins_and_the_tally_averages_each_bin():
    per_image = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    timesteps = torch.tensor([0, 99, 100, 300, 700, 999])  # 300 and 700 sit on edges where t / T rounds down
    sums = BatchLoss(per_image.mean(), per_image, timesteps, 1000).level_sums()
    counts = sums[LEVEL_BINS:].tolist()
    assert counts == [2, 1, 0, 1, 0, 0, 0, 1, 0, 1]
    tally = LevelTally()
    tally.add(sums.tolist())
    tally.add(BatchLoss(per_image.mean(), torch.tensor([6.0]), torch.tensor([50]), 1000).level_sums().tolist())
    means = tally.means()
    assert means[0] == pytest.approx((1 + 3 + 6) / 3) and means[1] == 5 and means[3] == 7 and means[9] == 11
    assert math.isnan(means[2]) and all(math.isnan(m) for m in tally.means()), "means() starts the tally again"
    assert level_names(1000)[:2] == ["t 0-99", "t 100-199"] and level_names(1000)[-1] == "t 900-999"


def test_log_and_sample_events_of_a_watched_run(tiny_config):
    t = tiny_config.train
    t.max_steps, t.log_every, t.sample_every, t.checkpoint_every = 20, 10, 10, 0
    training = prepare_training(tiny_config, watched=True)
    events = []
    for event in training.events():
        training.write_logs(event)
        events.append(event)
    logs = [e for e in events if e.kind == LOG]
    assert [e.step for e in logs] == [10, 20]
    for event in logs:
        assert len(event.loss_by_level) == LEVEL_BINS
        assert all(math.isfinite(loss) and loss > 0 for loss in event.loss_by_level), event.loss_by_level
        blocks = dict(event.block_grad_norms)
        assert {"conv_in", "down_blocks.0", "down_blocks.1", "mid_block", "up_blocks.0", "conv_out"} <= set(blocks)
        # The blocks together make up the whole model's gradient: the norm that clipping measured.
        whole = math.sqrt(sum(norm**2 for norm in blocks.values()))
        assert whole == pytest.approx(event.grad_norm, rel=1e-4)

    with open(training.log.path.with_name("loss_by_level.csv")) as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["step", *level_names(t.num_train_timesteps)]
    assert [float(x) for x in rows[2][1:]] == pytest.approx(logs[1].loss_by_level, abs=1e-5)

    samples = [e for e in events if e.kind == SAMPLE]
    assert [e.network_view.name for e in samples] == ["step-000010.png", "step-000020.png"]
    with PIL.Image.open(samples[-1].network_view) as picture:  # a row per ROWS entry, a column per timestep
        assert picture.size == (len(VIEW_TIMESTEPS) * 29 + 1, len(ROWS) * 29 + 1)
        assert len(np.unique(np.asarray(picture.convert("L")))) > 10, "a picture, not a blank"


def test_an_unwatched_run_draws_no_network_view_and_reads_no_block_norms(tiny_config):
    t = tiny_config.train
    t.max_steps, t.log_every, t.sample_every, t.checkpoint_every = 4, 2, 4, 0
    events = list(prepare_training(tiny_config).events())
    assert all(e.block_grad_norms == () for e in events if e.kind == LOG)
    assert [e.network_view for e in events if e.kind == SAMPLE] == [None]
    assert len([e for e in events if e.kind == LOG][-1].loss_by_level) == LEVEL_BINS, "levels cost nothing"


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_a_perfect_prediction_gives_back_the_true_noise_and_the_clean_image(prediction_type):
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type)
    generator = torch.Generator().manual_seed(0)
    clean, noise = torch.rand(4, 1, 8, 8, generator=generator) * 2 - 1, torch.randn(4, 1, 8, 8, generator=generator)
    t = torch.tensor(VIEW_TIMESTEPS)
    noisy = scheduler.add_noise(clean, noise, t)
    exact = {"v_prediction": scheduler.get_velocity(clean, noise, t), "epsilon": noise, "sample": clean}
    alpha_bar = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    output = exact[prediction_type]
    torch.testing.assert_close(predict_noise(noisy, output, alpha_bar, prediction_type), noise, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        predict_clean_image(noisy, output, alpha_bar, prediction_type), clean, atol=1e-4, rtol=1e-4
    )


def test_the_network_view_noises_one_training_image_as_training_does(base_tiny_config, tmp_path):
    data = prepare_data(base_tiny_config, tmp_path)
    clean, text, caption = network_view_example(data)
    assert caption and data.captions.labels[data.captions.captions.index(caption)] == int(data.dataset.labels[0])
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    unet = tiny_unet(size=clean.shape[-1]).eval()
    view = look(unet, scheduler, clean, text, seed=3)
    assert view.timesteps == VIEW_TIMESTEPS
    assert all(row.shape == (len(VIEW_TIMESTEPS), *clean.shape) for row in view.rows())
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(n, noise) for n in view.noise), "one noise for every column"
    t = torch.tensor(VIEW_TIMESTEPS)
    torch.testing.assert_close(view.noisy, scheduler.add_noise(clean.expand_as(view.noisy), view.noise, t))
    # Whatever the network answers, its two guesses add up to the input it was given.
    torch.testing.assert_close(
        scheduler.add_noise(view.predicted_clean, view.predicted_noise, t), view.noisy, atol=1e-4, rtol=1e-4
    )


def test_parameters_are_grouped_by_block():
    assert block_name("down_blocks.1.attentions.0.proj_in.weight") == "down_blocks.1"
    assert block_name("mid_block.resnets.0.conv1.weight") == "mid_block"
    assert block_name("conv_in.weight") == "conv_in" and block_name("time_embedding.linear_1.bias") == "time_embedding"
