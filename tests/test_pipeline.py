"""The pipeline: schedulers, guidance, seeds, save/load, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from diffusion.errors import UserError
from diffusion.pipeline import TextToImagePipeline
from diffusion.schedulers import SCHEDULERS


@pytest.fixture(scope="module")
def pipe(tiny_run):
    return TextToImagePipeline.from_pretrained(tiny_run)


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_each_scheduler_samples_the_right_shape_and_range(pipe, scheduler):
    images = pipe(["a sneaker", "a bag"], num_images_per_prompt=2, num_inference_steps=3, seed=1,
                  scheduler=scheduler, output_type="pt").images  # fmt: skip
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
    maps = result.attention_maps
    assert maps.shape == (1, 5, 28, 28)
    torch.testing.assert_close(maps.sum(1), torch.ones(1, 28, 28), atol=1e-3, rtol=0)  # a distribution per pixel


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "the prompt is empty"),
        ({"prompt": "   "}, "the prompt is empty"),
        ({"prompt": "x" * 400}, "limit is 300"),
        ({"prompt": "a " * 80}, "limit is 64 tokens"),
        ({"num_inference_steps": 0}, "steps must be a whole number from 1 to 1000"),
        ({"num_inference_steps": 1001}, "steps must be a whole number from 1 to 1000"),
        ({"guidance_scale": -1}, "guidance scale must be a number from 0 to 30"),
        ({"guidance_scale": float("nan")}, "guidance scale must be a number"),
        ({"guidance_scale": "3"}, "guidance scale must be a number"),
        ({"num_images_per_prompt": 0}, "number of images must be from 1 to 64"),
        ({"num_images_per_prompt": 65}, "number of images must be from 1 to 64"),
        ({"scheduler": "heun"}, "choose one of: ddpm, ddim, dpm\\+\\+, euler, unipc"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"image": torch.zeros(1, 1, 28, 28), "strength": 0}, "strength must be a number above 0"),
    ],
)
def test_bad_input_raises_one_clear_error(pipe, kwargs, message):
    kwargs = {"prompt": "a sneaker", "num_inference_steps": 2, **kwargs}
    with pytest.raises(UserError, match=message):
        pipe(**kwargs)


def test_missing_not_a_pipeline_and_corrupt_checkpoints(tiny_run, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        TextToImagePipeline.from_pretrained(tmp_path / "missing")
    with pytest.raises(UserError, match="is not a pipeline"):
        TextToImagePipeline.from_pretrained(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run / "pipeline", broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        TextToImagePipeline.from_pretrained(broken)
    other = tmp_path / "other-encoder"
    shutil.copytree(tiny_run / "pipeline", other)
    (other / "text_encoder.json").write_text(json.dumps({"name": "x", "sha256": "0" * 64}))
    with pytest.raises(UserError, match="trained with text encoder"):
        TextToImagePipeline.from_pretrained(other)


def test_a_run_folder_loads_its_newest_checkpoint_when_unfinished(tiny_run, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_run / "checkpoints", unfinished / "checkpoints")
    pipe = TextToImagePipeline.from_pretrained(unfinished)
    assert pipe.training_record["steps"] == 40
