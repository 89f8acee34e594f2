"""The comparison grid's plan (axes, values, the work bound), its labelled picture, and the progress bar's
words: pure functions, no server."""

from __future__ import annotations

import PIL.Image
import pytest

from diffusion.common.errors import UserError
from diffusion.sampling.imageio import labelled_grid
from diffusion.sampling.settings import Limits
from diffusion.ui import progress
from diffusion.ui.compare import NO_AXIS, parse_values, plan

LIMITS = Limits(max_steps=100, max_images=16)
BASE = {"num_inference_steps": 10, "guidance_scale": 3.0, "scheduler": "ddim"}


def test_a_plan_puts_each_axis_value_into_its_cells_at_one_seed():
    grid = plan(LIMITS, "a coat", "", 5, BASE, "Guidance scale", "1, 7.5, 1", "Sampler", "euler, DDPM")
    assert grid.columns == ["guidance 1", "guidance 7.5"] and grid.rows == ["euler", "ddpm"]  # repeats left out
    cells = [cell.settings for row in grid.cells for cell in row]
    assert [(s.guidance_scale, s.scheduler, s.num_inference_steps) for s in cells] == [
        (1.0, "euler", 10),
        (7.5, "euler", 10),
        (1.0, "ddpm", 10),
        (7.5, "ddpm", 10),
    ]
    assert {cell.seed for row in grid.cells for cell in row} == {5} and grid.work == 40
    random = plan(LIMITS, "a coat", "", -1, BASE, "Steps", "2, 3", NO_AXIS, "")
    assert random.rows == [""] and len({cell.seed for cell in random.cells[0]}) == 1  # one random seed for all


@pytest.mark.parametrize(
    ("axis", "values", "message"),
    [
        ("Steps", "5, x", "'x' is not a number"),
        ("Steps", "2.5", "whole number"),
        ("Steps", "500", "from 1 to 100"),
        ("Sampler", "ddim, nope", "'nope' is not a sampler"),
        ("Guidance scale", "", "type the values"),
        ("Guidance scale", "1, 2, 3, 4, 5, 6, 7, 8, 9", "at most 8"),
    ],
)
def test_bad_values_are_refused_with_a_message(axis, values, message):
    with pytest.raises(UserError, match=message):
        plan(LIMITS, "a coat", "", 5, BASE, axis, values, NO_AXIS, "")


def test_a_grid_larger_than_the_largest_request_is_refused_with_its_numbers():
    with pytest.raises(UserError, match=r"24 pictures needs 2,376 denoising steps.*at most 1,600"):
        plan(LIMITS, "a coat", "", 5, BASE, "Guidance scale", "1,2,3,4,5,6,7,8", "Steps", "100, 99, 98")
    with pytest.raises(UserError, match="both axes vary steps"):
        plan(LIMITS, "a coat", "", 5, BASE, "Steps", "2", "Steps", "3")
    assert parse_values("Steps", "4, 4.0") == [4]


def test_the_labelled_grid_has_room_for_its_labels():
    images = [PIL.Image.new("L", (28, 28), 128) for _ in range(6)]
    picture = labelled_grid(images, ["a", "b", "c"], ["row 1", "row 2"], ["“a coat” · seed 5", "columns: steps"])
    assert picture.width > 3 * 28 * 4 and picture.height > 2 * 28 * 4 + 40  # labels beside and above


def test_the_time_left_is_the_measured_time_per_step_times_the_steps_to_come():
    assert "Step 4 of 10 · 5.0 s · about 6.0 s left" in progress.running(4, 10, 5.0, 4.0)
    assert "left" not in progress.running(0, 10, 0.1, 0.0)  # nothing measured yet: no guess
    assert "Done: 1 step in 0.3 s" in progress.finished(1, 0.3)
    assert 'aria-valuenow="3"' in progress.stopped(3, 10, 1.0) and "Stopped at step 3" in progress.stopped(3, 10, 1.0)
