"""Draw the pictures of docs/how-it-works.md from a trained pipeline, with the web UI's own drawing code.

    python docs/make_pictures.py                                  # the shipped checkpoints/fashion-mnist
    python docs/make_pictures.py --checkpoint runs/fashion-mnist --out docs/images

Writes noising.png (training: one image at five noise levels), denoising.gif and snapshots.png
(sampling, step by step), guidance.png, attention.png and interpolation.png. The page screenshot,
docs/screenshot.png, comes from tests/test_browser.py (see there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import PIL.Image
import PIL.ImageDraw
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion.common.errors import UserError  # noqa: E402
from diffusion.data.datasets import load_dataset, to_model_range  # noqa: E402
from diffusion.sampling.imageio import denoising_frames, enlarge, save_gif, tensor_grid  # noqa: E402
from diffusion.sampling.pipeline import TextToImagePipeline  # noqa: E402
from diffusion.sampling.settings import Limits  # noqa: E402
from diffusion.ui.render import attention_heatmaps, snapshot, snapshot_steps  # noqa: E402
from diffusion.ui.requests import blend_kwargs, blend_weights, check_blend  # noqa: E402

SEED = 7


def labelled_row(pictures: list[PIL.Image.Image], labels: list[str], gap: int = 6) -> PIL.Image.Image:
    """Pictures side by side on white, each with a line of text under it."""
    text_height = 16
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    height = max(p.height for p in pictures) + text_height
    canvas = PIL.Image.new("RGB", (width, height), "white")
    draw = PIL.ImageDraw.Draw(canvas)
    x = 0
    for picture, label in zip(pictures, labels, strict=True):
        canvas.paste(picture.convert("RGB"), (x, 0))
        draw.text((x + 2, height - text_height + 2), label, fill="black")
        x += picture.width + gap
    return canvas


def noising(pipe: TextToImagePipeline, out: Path) -> None:
    """What training shows the network: scheduler.add_noise at five timesteps."""
    try:
        data = load_dataset("fashion_mnist", train=False, download=False)
    except UserError as error:
        print(f"skipping noising.png: {error}")
        return
    clean = to_model_range(data.images[:1])
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(SEED))
    steps = [0, 250, 500, 750, 999]
    noisy = [pipe.scheduler.add_noise(clean, noise, torch.tensor([t])) for t in steps]
    abar = pipe.scheduler.alphas_cumprod
    labels = [f"t={t}, noise {float((1 - abar[t]).sqrt()):.2f}" for t in steps]
    labelled_row([tensor_grid(x, scale=4) for x in noisy], labels).save(out / "noising.png")


def sampling(pipe: TextToImagePipeline, out: Path) -> None:
    """The denoising of four sneakers: GIF of every step, and a strip of snapshots of the first one."""
    frames = []
    pipe(
        "a sneaker", num_images_per_prompt=4, seed=SEED, num_inference_steps=20,
        callback_on_step_end=lambda _p, step, t, k: frames.append((step, int(t), k["x_t"].cpu(), k["x0"].cpu())),
    )  # fmt: skip
    save_gif(denoising_frames([f[2] for f in frames], [f[3] for f in frames], scale=4), out / "denoising.gif", 100)
    chosen = [frames[i] for i in snapshot_steps(len(frames), 6)]
    labels = [f"step {step + 1}, t={t}" for step, t, _, _ in chosen]
    labelled_row([snapshot(x_t, x0, scale=3) for _, _, x_t, x0 in chosen], labels).save(out / "snapshots.png")


def guidance(pipe: TextToImagePipeline, out: Path) -> None:
    scales = [0.0, 1.0, 3.0, 7.0]
    batches = [
        pipe("an ankle boot", num_images_per_prompt=4, seed=SEED, guidance_scale=g, output_type="pt") for g in scales
    ]
    pictures = [tensor_grid(batch.images, 3) for batch in batches]
    labelled_row(pictures, [f"guidance {g:g}" for g in scales]).save(out / "guidance.png")


def attention(pipe: TextToImagePipeline, out: Path) -> None:
    prompt = "a dark pair of trousers"
    result = pipe(prompt, seed=SEED, return_attention=True, output_type="pt")
    maps = attention_heatmaps(result.images[0], result.attention_maps[0], result.tokens, scale=4)
    first = enlarge(pipe.to_pil(result.images[:1])[0], 4)
    labelled_row([first] + [picture for picture, _ in maps], ["result"] + [caption for _, caption in maps]).save(
        out / "attention.png"
    )


def interpolation(pipe: TextToImagePipeline, out: Path) -> None:
    blend = check_blend(Limits(), "a sneaker", "an ankle boot", 6, 20, 3.0, SEED, "dpm++")
    images = pipe(**blend_kwargs(pipe, blend)).images
    labels = [f"w={w:.1f}" for w in blend_weights(len(images))]
    labelled_row([enlarge(image, 4) for image in images], labels).save(out / "interpolation.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "fashion-mnist"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args(argv)
    try:
        pipe = TextToImagePipeline.from_pretrained(args.checkpoint)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for draw in (noising, sampling, guidance, attention, interpolation):
        draw(pipe, out)
        print(f"drew {draw.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
