"""Variations of a result: the selected picture noised a little and drawn again with the same prompt and
settings, at the seeds after its own, so the new pictures keep its shape and differ in the details.

Nearby seeds alone would give unrelated pictures (each seed is independent noise); starting from the
picture at a small strength (image-to-image, as the sketch tab does) is what keeps them related.
"""

from __future__ import annotations

import PIL.Image

from ..common.errors import UserError
from ..sampling.imageio import tensor_grid
from ..sampling.settings import Limits
from .requests import PageRequest, check_request, shown_seed

VARIATIONS = 4  # new pictures per press
VARIATION_STRENGTH = 0.4  # noise put on the picture: low keeps its shape, 1 would keep nothing of it


def variation_request(limits: Limits, run: dict | None, shown) -> tuple[PageRequest, PIL.Image.Image]:
    """The checked request for variations of the result whose seed is `shown` (the first when none is), and
    that result as the starting picture."""
    if not run or run.get("images") is None or not run.get("settings"):
        raise UserError("no picture to vary yet: press Generate, click a result, then Variations (Live keeps none)")
    seeds, seed = run["seeds"], shown_seed(shown)
    index = seeds.index(seed) if seed in seeds else 0
    chosen, settings = seeds[index], run["settings"]
    kept = {key: settings[key] for key in ("model",) if key in settings}  # drawn by the same model
    request = check_request(
        limits,
        settings["prompt"],
        settings.get("negative_prompt", ""),
        settings["num_inference_steps"],
        settings["guidance_scale"],
        VARIATIONS,
        chosen + 1,
        settings["scheduler"],
        strength=VARIATION_STRENGTH,
        extra=kept | {"init_image": f"seed {chosen}", "variation_of": chosen},
    )
    return request, tensor_grid(run["images"][index : index + 1], scale=1, padding=0)


def describe(request: PageRequest) -> str:
    """What the run made, for its status line."""
    return f"{VARIATIONS} variations of seed {request.extra['variation_of']} (strength {VARIATION_STRENGTH:g})"
