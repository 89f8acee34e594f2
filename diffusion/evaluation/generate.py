"""Generating the images an evaluation judges: every prompt of every set, with shared noise."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..data.datasets import to_model_range, to_uint8
from .prompt_sets import PromptSet


def generate(pipe, prompts: list[str], images_per_prompt: int, seed: int, bar=None, batch_size: int = 64, **kwargs):
    """Images for every prompt, in prompt order; image i of every prompt starts from the noise of seed + i
    (exactly what `pipe(prompt, seed=seed)` gives), so prompts that differ by one word share their noise.
    Returned quantised to uint8 and back, as a user would see them, on the CPU in [-1, 1]."""
    # Several prompts per call when each has few images; one prompt in several calls when it has many.
    prompts_per_call = max(1, batch_size // images_per_prompt)
    images = []
    for first in range(0, len(prompts), prompts_per_call):
        group = prompts[first : first + prompts_per_call]
        for start in range(0, images_per_prompt, batch_size):
            count = min(batch_size, images_per_prompt - start)
            generators = [torch.Generator("cpu").manual_seed(seed + start + i) for _ in group for i in range(count)]
            output = pipe(group, num_images_per_prompt=count, generator=generators, output_type="pt", **kwargs)
            images.append(to_model_range(to_uint8(output.images.cpu())))
            if bar is not None:
                bar.update(len(generators))
    return torch.cat(images)


def generate_sets(
    pipe,
    sets: list[PromptSet],
    sweep: list[float],
    sweep_prompts: list[str],
    images_per_prompt: int,
    seed: int,
    progress: bool,
    **settings,
) -> tuple[dict[str, torch.Tensor], dict[float, torch.Tensor]]:
    """Images of each prompt set at the main settings, and of `sweep_prompts` at each extra guidance
    scale in `sweep`; one progress bar over the whole run."""
    total = images_per_prompt * (sum(len(s) for s in sets) + len(sweep) * len(sweep_prompts))
    with tqdm(total=total, desc="generating", unit="image", disable=not progress) as bar:
        images = {s.name: generate(pipe, s.prompts, images_per_prompt, seed, bar, **settings) for s in sets}
        swept = {}
        for scale in sweep:
            changed = {**settings, "guidance_scale": scale}
            swept[scale] = generate(pipe, sweep_prompts, images_per_prompt, seed, bar, **changed)
    return images, swept
