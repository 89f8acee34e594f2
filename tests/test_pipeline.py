"""The pipeline: schedulers, guidance, seeds, callbacks, image-to-image, attention maps, save/load.

Bad input is in test_bad_input.py; the maths against diffusers in test_reference_maths.py."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from diffusion.common.defaults import DEFAULT_GUIDANCE_INTERVAL
from diffusion.common.errors import UserError
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.schedulers import SCHEDULERS, make_scheduler
from diffusion.sampling.settings import GenerationSettings


@pytest.fixture(scope="module")
def pipe(tiny_run):
    return TextToImagePipeline.from_pretrained(tiny_run)


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_each_scheduler_samples_the_right_shape_and_range(pipe, scheduler):
    prompts = ["a sneaker", "a bag"]
    images = pipe(
        prompts, num_images_per_prompt=2, num_inference_steps=3, seed=1, scheduler=scheduler, output_type="pt"
    )
    images = images.images
    assert images.shape == (4, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.01
    pil = pipe("a sneaker", num_inference_steps=2, seed=1, scheduler=scheduler).images
    assert pil[0].size == (28, 28) and pil[0].mode == "L"


def test_save_load_sample_gives_identical_images(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / "text_encoder.json").is_file()
    again = TextToImagePipeline.from_pretrained(tmp_path / "copy")
    a = pipe("a coat", num_images_per_prompt=3, num_inference_steps=4, seed=7, output_type="pt").images
    b = again("a coat", num_images_per_prompt=3, num_inference_steps=4, seed=7, output_type="pt").images
    assert torch.equal(a, b)
    c = again("a coat", num_images_per_prompt=3, num_inference_steps=4, seed=8, output_type="pt").images
    assert not torch.equal(a, c)


def test_seed_i_regenerates_image_i_alone(pipe):
    batch = pipe("a dress", num_images_per_prompt=3, num_inference_steps=4, seed=10, output_type="pt").images
    single = pipe("a dress", num_images_per_prompt=1, num_inference_steps=4, seed=12, output_type="pt").images
    torch.testing.assert_close(batch[2:], single, atol=1e-4, rtol=0)


def test_guidance_and_negative_prompt_change_the_result(pipe):
    def run(**kwargs):
        return pipe("a sneaker", num_inference_steps=4, seed=3, output_type="pt", **kwargs).images

    plain = run(guidance_scale=3.0)
    assert not torch.equal(plain, run(guidance_scale=1.0))
    assert not torch.equal(plain, run(guidance_scale=3.0, negative_prompt="a bag"))


def test_guidance_applies_only_inside_its_noise_interval(pipe):
    """Guided steps run the negative and the prompt together (a batch of 2N), the others the prompt alone (N)."""
    sampler = make_scheduler("unipc", pipe.scheduler.config)
    sampler.set_timesteps(4)
    alpha_bar = sampler.alphas_cumprod[sampler.timesteps]
    sigmas = ((1 - alpha_bar) / alpha_bar).sqrt().tolist()  # the noise level of each of the 4 steps
    assert sigmas[0] > 100 > sigmas[1]  # the first step starts from (almost) pure noise
    batches = []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))

    def run(interval):
        batches.clear()
        return pipe("a bag", num_images_per_prompt=2, num_inference_steps=4, seed=5, scheduler="unipc",
                    guidance_interval=interval, output_type="pt").images  # fmt: skip

    try:
        every = run((0, math.inf))
        assert batches == [4, 4, 4, 4]
        skip_first = run((0, 100))
        assert batches == [2, 4, 4, 4]
        none = run((0, sigmas[-1] / 2))  # below every step's level: no step is guided
        assert batches == [2, 2, 2, 2]
    finally:
        hook.remove()
    assert not torch.equal(every, skip_first)
    unguided = pipe("a bag", num_images_per_prompt=2, num_inference_steps=4, seed=5, scheduler="unipc",
                    guidance_scale=1.0, output_type="pt").images  # fmt: skip
    assert torch.equal(none, unguided)  # outside the interval a step is exactly the unguided model's
    default = pipe("a bag", num_images_per_prompt=2, num_inference_steps=4, seed=5, scheduler="unipc", output_type="pt")
    assert torch.equal(default.images, run(DEFAULT_GUIDANCE_INTERVAL))
    for bad in ((5, 1), (-1, 2), (float("nan"), 1), (1,), "0.28 5.42", (0, "inf")):
        with pytest.raises(UserError, match="guidance interval must be two noise levels"):
            pipe("a bag", num_inference_steps=2, guidance_interval=bad)


def test_callback_sees_every_step_with_x_t_and_x0(pipe):
    seen = []

    def record(pipe, step, timestep, tensors):
        seen.append((step, int(timestep), tensors["x_t"].shape, tensors["x0"].shape))

    pipe("a bag", num_inference_steps=5, seed=0, callback_on_step_end=record)
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    assert seen[0][1] > seen[-1][1]
    assert seen[0][2] == seen[0][3] == (1, 1, 28, 28)


def test_image_to_image_and_attention_maps(pipe):
    start = torch.zeros(1, 1, 28, 28)
    light = pipe("a bag", image=start, strength=0.3, num_inference_steps=10, seed=0, output_type="pt").images
    assert light.shape == (1, 1, 28, 28) and light.abs().mean() < 0.9  # stays near the (grey) start
    result = pipe("a sneaker", num_inference_steps=3, seed=0, return_attention=True)
    assert result.tokens == ["[CLS]", "a", "sneak", "##er", "[SEP]"]
    for maps in (result.attention_maps, pipe("a sneaker", num_inference_steps=3, guidance_scale=1.0, seed=0,
                                             return_attention=True).attention_maps):  # fmt: skip
        assert maps.shape == (1, 5, 28, 28)  # guided (its first step unguided, not in the maps) and unguided
        torch.testing.assert_close(maps.sum(1), torch.ones(1, 28, 28), atol=1e-3, rtol=0)  # a distribution per pixel


def test_save_and_load_refuse_keyword_arguments_they_would_ignore(pipe, tmp_path):
    with pytest.raises(TypeError, match="safe_serialization"):
        pipe.save_pretrained(tmp_path / "copy", safe_serialization=False)
    with pytest.raises(TypeError, match="torch_dtype"):
        TextToImagePipeline.from_pretrained(tmp_path, torch_dtype=torch.float16)
    assert not (tmp_path / "copy").exists()


def test_settings_give_the_same_images_as_the_keywords_they_stand_for(pipe):
    settings = GenerationSettings(
        prompt="a coat",
        negative_prompt="a bag",
        num_inference_steps=3,
        num_images_per_prompt=2,
        seed=4,
        scheduler="ddim",
    )
    keywords = dict(num_inference_steps=3, num_images_per_prompt=2, seed=4, scheduler="ddim", output_type="pt")
    direct = pipe("a coat", negative_prompt="a bag", **keywords).images
    via_settings = pipe(**settings.pipeline_kwargs(), output_type="pt").images
    assert torch.equal(direct, via_settings)


def test_a_run_folder_loads_its_newest_checkpoint_when_unfinished(tiny_run, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_run / "checkpoints", unfinished / "checkpoints")
    pipe = TextToImagePipeline.from_pretrained(unfinished)
    assert pipe.training_record["steps"] == 20
