"""Distillation: a tiny teacher's few-step student loads, samples in at most 4 UNet calls, reads its guidance
input and resumes exactly; the hand-written maths matches the diffusers schedulers it mirrors."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from diffusers import DDIMScheduler, LCMScheduler
from diffusers.pipelines.latent_consistency_models import LatentConsistencyModelPipeline
from safetensors.torch import load_file

from diffusion import TextToImagePipeline
from diffusion.common.errors import UserError
from diffusion.model.student import guidance_embedding
from diffusion.training.distill import DistillSettings, distill, main, sampling_grid
from diffusion.training.distill_targets import boundary_scalings, ddim_step

TINY = dict(batch_size=8, learning_rate=1e-3, warmup_steps=1, checkpoint_every=2, log_every=1)


@pytest.fixture(scope="module")
def student(tiny_run, with_tiny_captions, tmp_path_factory):
    """Two rounds of progressive distillation (8 -> 4 steps), two optimizer steps each."""
    out = with_tiny_captions(tmp_path_factory.mktemp("student"))
    settings = DistillSettings(str(tiny_run), str(out), teacher_steps=8 * 2, max_steps=4, **TINY)
    distill(settings)
    return out


def count_unet_calls(pipe, **kwargs) -> tuple[int, torch.Tensor]:
    calls = []
    hook = pipe.unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        images = pipe("a sneaker", output_type="pt", **kwargs).images
    finally:
        hook.remove()
    return len(calls), images


def test_student_loads_with_its_few_step_defaults(student):
    pipe = TextToImagePipeline.from_pretrained(student, device="cpu")
    assert pipe.generation_defaults == {"num_inference_steps": 4, "guidance_scale": 3.0, "scheduler": "ddim"}
    assert json.loads((student / "pipeline" / "generation_defaults.json").read_text()) == pipe.generation_defaults
    assert all(
        name.endswith(".safetensors") or "." not in name or name.endswith(".json")
        for name in (p.name for p in (student / "pipeline").rglob("*") if p.is_file())
    )
    assert (student / "stages" / "stage-0" / "model_index.json").is_file()  # the 8-step round's student


def test_student_makes_images_in_at_most_four_unet_calls(student):
    pipe = TextToImagePipeline.from_pretrained(student, device="cpu")
    calls, images = count_unet_calls(pipe, num_images_per_prompt=3, seed=0)
    assert calls <= 4
    assert images.shape == (3, 1, 28, 28) and torch.isfinite(images).all()


def test_teacher_needs_two_batch_halves_per_step_and_the_student_one(tiny_run, student):
    teacher = TextToImagePipeline.from_pretrained(tiny_run, device="cpu")
    calls = []
    hook = teacher.unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    settings = {"num_inference_steps": 4, "guidance_scale": 3.0, "num_images_per_prompt": 2, "seed": 0}
    teacher("a sneaker", guidance_interval=(0, math.inf), **settings)
    assert calls == [4] * 4  # guidance doubles the batch: prompt and empty prompt
    calls.clear()
    teacher("a sneaker", **settings)
    hook.remove()
    assert calls == [2, 4, 4, 4]  # by default the first step, from pure noise, is not guided
    pipe = TextToImagePipeline.from_pretrained(student, device="cpu")
    student_calls = []
    hook = pipe.unet.register_forward_hook(lambda module, args, output: student_calls.append(args[0].shape[0]))
    pipe("a sneaker", num_images_per_prompt=2, seed=0)
    hook.remove()
    assert student_calls == [2] * 4


def test_the_guidance_input_changes_the_images(student):
    pipe = TextToImagePipeline.from_pretrained(student, device="cpu")
    low = pipe("a sneaker", guidance_scale=1.0, seed=0, output_type="pt").images
    high = pipe("a sneaker", guidance_scale=6.0, seed=0, output_type="pt").images
    same = pipe("a sneaker", guidance_scale=6.0, seed=0, output_type="pt").images
    assert torch.equal(high, same)
    assert (low - high).abs().max() > 1e-4


def test_student_refuses_a_negative_prompt_with_a_message(student):
    pipe = TextToImagePipeline.from_pretrained(student, device="cpu")
    with pytest.raises(UserError, match="negative prompt"):
        pipe("a sneaker", negative_prompt="a dark sneaker")


def test_resume_gives_the_same_student_as_one_run(tiny_run, with_tiny_captions, tmp_path):
    common = dict(teacher_steps=8, **{**TINY, "checkpoint_every": 1})
    whole = with_tiny_captions(tmp_path / "whole")
    distill(DistillSettings(str(tiny_run), str(whole), max_steps=2, **common))
    parts = with_tiny_captions(tmp_path / "parts")
    distill(DistillSettings(str(tiny_run), str(parts), max_steps=1, **common))
    distill(DistillSettings(str(tiny_run), str(parts), max_steps=2, **common), resume="latest")
    assert json.loads((parts / "training_record.json").read_text())["steps"] == 2
    a = load_file(whole / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors")
    b = load_file(parts / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def test_a_student_can_anneal_its_learning_rate(tiny_run, with_tiny_captions, tmp_path):
    out = with_tiny_captions(tmp_path / "annealed")
    schedule = dict(lr_schedule="warmup_stable_decay", lr_decay_share=0.5)
    distill(DistillSettings(str(tiny_run), str(out), teacher_steps=8, max_steps=4, **schedule, **TINY))
    with open(out / "loss.csv", newline="") as file:
        rates = [float(row["lr"]) for row in csv.DictReader(file)]
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 0.0])  # constant, then a straight fall over the last half


def test_consistency_student_samples_with_lcm(tiny_run, with_tiny_captions, tmp_path):
    lcm = with_tiny_captions(tmp_path / "lcm")
    distill(DistillSettings(str(tiny_run), str(lcm), method="consistency", max_steps=2, **TINY))
    pipe = TextToImagePipeline.from_pretrained(lcm, device="cpu")
    assert pipe.generation_defaults["scheduler"] == "lcm"
    calls, images = count_unet_calls(pipe, seed=0)
    assert calls == 4 and torch.isfinite(images).all()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "8"], "steps must be 1 to 4"),
        (["--teacher-steps", "12"], "power of two"),
        (["--method", "magic"], "unknown method"),
        (["--guidance", "9"], "guidance-max"),
        (["--lr-schedule", "cosine_forever"], "unknown lr-schedule 'cosine_forever'"),
        (["--lr-schedule", "warmup_stable_decay", "--lr-decay-share", "0"], "lr-decay-share (the share spent"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(tiny_run, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--teacher", str(tiny_run), "--output-dir", str(tmp_path / "out"), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_names_a_missing_teacher(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--teacher", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


# ----- the hand-written maths against the diffusers code it mirrors --------------------------------------------------


def training_schedule():
    return DDIMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", clip_sample=True)


@pytest.mark.parametrize("steps", [2, 4, 8])
def test_sampling_grid_is_ddims_trailing_grid_and_nests(steps):
    ddim = training_schedule()
    ddim.config.timestep_spacing = "trailing"
    ddim.set_timesteps(steps)
    grid = sampling_grid(steps, 1000)
    assert grid[:-1].tolist() == ddim.timesteps.tolist() and grid[-1] == -1
    assert sampling_grid(2 * steps, 1000)[::2].tolist() == grid.tolist()


@pytest.mark.parametrize("t, t_next", [(999, 749), (749, 499), (249, -1)])
def test_ddim_step_matches_ddim_scheduler(t, t_next):
    ddim = DDIMScheduler.from_config(training_schedule().config, timestep_spacing="trailing")
    ddim.set_timesteps(4)
    generator = torch.Generator().manual_seed(0)
    z, v = torch.randn(2, 1, 8, 8, generator=generator), torch.randn(2, 1, 8, 8, generator=generator)
    expected = ddim.step(v, t, z).prev_sample
    ours = ddim_step(z, v, torch.tensor([t, t]), torch.tensor([t_next, t_next]), ddim.alphas_cumprod)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-4)


def test_boundary_scalings_match_lcm_scheduler():
    lcm = LCMScheduler()
    t = torch.tensor([0, 19, 259, 999])
    c_skip, c_out = boundary_scalings(t)
    for i, step in enumerate(t.tolist()):
        skip, out = lcm.get_scalings_for_boundary_condition_discrete(step)
        assert c_skip[i].item() == pytest.approx(float(skip), rel=1e-5, abs=1e-9)
        assert c_out[i].item() == pytest.approx(float(out), rel=1e-5)


def test_guidance_embedding_matches_diffusers():
    w = torch.tensor([1.0, 3.0, 6.5])
    expected = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w, embedding_dim=32)
    torch.testing.assert_close(guidance_embedding(w, 32), expected)


def test_settings_check_the_student_steps():
    with pytest.raises(UserError, match="steps must be 1 to 4"):
        DistillSettings("t", "o", steps=6)
    assert DistillSettings("t", "o", steps=4, teacher_steps=32).stage_steps == [16, 8, 4]
    assert DistillSettings("t", "o", method="consistency").stage_steps == [4]
