"""The web UI's parts without a server: request checks, streaming and stopping, pictures, PNG/GIF files."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import PIL.Image
import pytest
import torch

from diffusion.common.errors import UserError
from diffusion.sampling.imageio import denoising_frames, read_png_settings, save_gif, save_png
from diffusion.sampling.pipeline import TextToImageOutput, TextToImagePipeline
from diffusion.sampling.settings import GenerationSettings, Limits, with_current_names
from diffusion.ui.render import attention_heatmaps, merge_word_pieces, preview_frame, sketch_to_input
from diffusion.ui.requests import check_blend, check_request
from diffusion.ui.streaming import StepFrame, StopButtons, stream_pipeline

from .ui_server import tiny_pipeline

LIMITS = Limits(max_steps=50, max_images=8)


@pytest.fixture(scope="module")
def pipe():
    return TextToImagePipeline.from_pretrained(tiny_pipeline(), device="cpu")


def test_settings_are_checked_with_messages_that_name_the_field():
    request = check_request(LIMITS, " a bag ", "", 20.0, 3, 2, 5, "ddim")
    assert (
        request.prompt,
        request.settings.num_inference_steps,
        request.settings.num_images_per_prompt,
        request.seed,
    ) == ("a bag", 20, 2, 5)
    assert check_request(LIMITS, "a bag", None, 20, 3, 1, -1, "dpm++").seed >= 0  # -1: a random seed
    bad = [
        ({"steps": 51}, "steps must be a whole number from 1 to 50"),
        ({"images": 9}, "number of images"),
        ({"guidance": -1}, "guidance scale"),
        ({"seed": 1.5}, "seed"),
        ({"scheduler": "fast"}, "unknown scheduler"),
        ({"prompt": ""}, "prompt is empty"),
        ({"strength": 0}, "strength must be above 0"),
        ({"strength": 1.5}, "strength"),
    ]
    for change, message in bad:
        values = {"prompt": "a bag", "steps": 20, "guidance": 3, "images": 1, "seed": 0, "scheduler": "dpm++"} | change
        with pytest.raises(UserError, match=message):
            check_request(
                LIMITS,
                values["prompt"],
                "",
                values["steps"],
                values["guidance"],
                values["images"],
                values["seed"],
                values["scheduler"],
                strength=change.get("strength"),
            )
    with pytest.raises(UserError, match="number of frames"):
        check_blend(LIMITS, "a bag", "a coat", 1, 20, 3, 0, "dpm++")


def test_settings_speak_the_pipelines_names_and_older_files_are_read():
    settings = GenerationSettings(prompt="a bag", num_inference_steps=3, num_images_per_prompt=2, seed=1, strength=0.5)
    kwargs = settings.pipeline_kwargs()
    assert set(kwargs) <= set(inspect.signature(TextToImagePipeline.__call__).parameters)
    assert kwargs["num_inference_steps"] == 3 and kwargs["num_images_per_prompt"] == 2 and kwargs["strength"] == 0.5
    assert "strength" not in GenerationSettings(prompt="a bag").pipeline_kwargs()
    older = {"prompt": "a bag", "steps": 7, "guidance": 4.5, "num_images": 2, "seed": 1}  # the sampling CLI's old names
    assert with_current_names(older) == {
        "prompt": "a bag",
        "num_inference_steps": 7,
        "guidance_scale": 4.5,
        "num_images_per_prompt": 2,
        "seed": 1,
    }
    assert with_current_names({"steps": 7, "num_inference_steps": 9}) == {"num_inference_steps": 9}


def test_stream_yields_every_step_then_the_output(pipe):
    items = list(stream_pipeline(pipe, {"prompt": "a bag", "num_inference_steps": 5, "seed": 0}, 5))
    frames = [frame for item in items if isinstance(item, list) for frame in item]
    assert [f.step for f in frames] == [0, 1, 2, 3, 4] and isinstance(items[-1], TextToImageOutput)
    assert frames[0].sigma > 0.9 > frames[-1].sigma and frames[0].x_t.shape == (1, 1, 28, 28)
    assert "Step 1 of 5" in frames[0].describe()


def test_stop_ends_the_run_at_the_next_step(pipe):
    stop = threading.Event()
    seen = []
    for item in stream_pipeline(pipe, {"prompt": "a bag", "num_inference_steps": 200, "seed": 0}, 200, stop):
        seen.append(item)
        stop.set()
    assert all(isinstance(item, list) for item in seen) and len(seen) == 1  # no output after Stop
    assert not any(t.name == "ui-sampling" for t in threading.enumerate())


def test_stop_signals_belong_to_one_session_and_tab():
    signals = StopButtons()
    signals.arm(("alice", "generate"))
    assert not signals.stop(("bob", "generate")) and not signals.stop(("alice", "sketch"))
    event = signals.take(("alice", "generate"))
    assert signals.stop(("alice", "generate")) and event.is_set()
    signals.release(("alice", "generate"), event)
    assert not signals.stop(("alice", "generate"))  # nothing left behind for the next run


def test_word_pieces_are_joined_and_heatmaps_drawn():
    tokens = ["[CLS]", "a", "sneak", "##er", "[SEP]"]
    maps = torch.rand(6, 28, 28)  # one more than the tokens: padding from a longer negative prompt
    words = merge_word_pieces(tokens, maps)
    assert [w for w, _ in words] == ["[CLS]", "a", "sneaker", "[SEP]"]
    assert torch.allclose(words[2][1], maps[2] + maps[3])
    pictures = attention_heatmaps(torch.zeros(1, 28, 28), maps, tokens, scale=2)
    assert [caption.split(" · ")[0] for _, caption in pictures] == ["a", "sneaker", "[CLS]", "[SEP]"]
    shares = [float(caption.split(" · ")[1].rstrip("%")) for _, caption in pictures]
    assert abs(sum(shares) - 100) <= 2 and pictures[0][0].size == (56, 56)


def test_a_dark_drawing_on_white_is_inverted_and_shrunk():
    drawing = PIL.Image.new("RGBA", (280, 280), (255, 255, 255, 0))  # transparent = paper
    drawing.paste((0, 0, 0, 255), (100, 100, 180, 180))
    picture = np.asarray(sketch_to_input(drawing))
    assert picture.shape == (28, 28) and picture[14, 14] == 255 and picture[0, 0] == 0
    assert sketch_to_input(None) is None


def test_png_settings_and_gif(tmp_path):
    image = PIL.Image.new("L", (28, 28), 100)
    save_png(image, tmp_path / "a.png", {"prompt": "a bag", "seed": 3})
    assert read_png_settings(tmp_path / "a.png") == {"prompt": "a bag", "seed": 3}
    image.save(tmp_path / "plain.png")
    assert read_png_settings(tmp_path / "plain.png") == {}
    steps = [torch.rand(4, 1, 28, 28) * 2 - 1 for _ in range(3)]
    frames = denoising_frames(steps, steps, scale=2)
    assert len(frames) == 3 and frames[0].width > 2 * frames[0].height * 0.9
    save_gif(frames, tmp_path / "a.gif", duration_ms=50)
    gif = PIL.Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3
    gif.seek(2)
    assert gif.info["duration"] > 50  # the finished picture is held longer
    assert preview_frame(steps[0], steps[1]).width > 2 * 28
    assert StepFrame(2, 9, 999, 1.0, steps[0], steps[0]).describe().startswith("Step 3 of 9 · timestep 999")
