"""A comparison grid (AUTOMATIC1111's X/Y plot): one prompt and one seed drawn across the values of one or
two settings (guidance scale, steps, sampler), one cell per combination, to see what a setting does.

Here the visitor's axes and values become a checked plan; compare_run.py draws it. Every cell is checked
like a Generate request, and the whole grid may do no more denoising work than the largest Generate
request the page allows (its most steps times its most images), so a grid never holds the server longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.errors import UserError
from ..sampling.schedulers import SCHEDULERS
from ..sampling.settings import Limits
from .requests import PageRequest, check_request

# The settings an axis can vary, by the name the page shows, as the settings record names them.
AXES = {"Guidance scale": "guidance_scale", "Steps": "num_inference_steps", "Sampler": "scheduler"}
NO_AXIS = "Nothing"
MAX_VALUES = 8  # per axis: a grid a screen can show


@dataclass(frozen=True)
class Plan:
    """The checked cells, row by row: cells[row][column]; the labels of the columns and the rows."""

    cells: list[list[PageRequest]]
    columns: list[str]
    rows: list[str]
    x: str
    y: str

    @property
    def work(self) -> int:
        return sum(cell.settings.num_inference_steps for row in self.cells for cell in row)

    @property
    def count(self) -> int:
        return sum(len(row) for row in self.cells)


def parse_values(axis: str, text) -> list:
    """The comma-separated values typed for `axis`, each converted (numbers for guidance and steps, names
    for samplers), repeats left out; a clear UserError for anything else."""
    name = AXES.get(axis)
    if name is None:
        raise UserError(f"there is no setting called {axis!r} to compare; choose one of {', '.join(AXES)}")
    words = [word.strip() for word in str(text or "").split(",") if word.strip()]
    if not words:
        raise UserError(f"type the values of {axis.lower()} to compare, separated by commas")
    values = []
    for word in words:
        value = convert(name, word, axis)
        if value not in values:
            values.append(value)
    if len(values) > MAX_VALUES:
        raise UserError(f"{len(values)} values of {axis.lower()}; at most {MAX_VALUES} fit one grid")
    return values


def convert(name: str, word: str, axis: str):
    if name == "scheduler":
        if word.lower() not in SCHEDULERS:
            raise UserError(f"{word!r} is not a sampler; the samplers are {', '.join(SCHEDULERS)}")
        return word.lower()
    try:
        number = float(word)
    except ValueError:
        raise UserError(f"{word!r} is not a number ({axis.lower()} values are numbers, e.g. 1, 3, 7.5)") from None
    return int(number) if name == "num_inference_steps" and number.is_integer() else number


def label(name: str, value) -> str:
    if name == "num_inference_steps":
        return f"{value} step{'s' * (value != 1)}"
    return f"guidance {value:g}" if name == "guidance_scale" else str(value)


def plan(limits: Limits, prompt, negative, seed, base: dict, x: str, x_values, y: str, y_values) -> Plan:
    """The grid's cells: `base` (num_inference_steps, guidance_scale, scheduler) with the axes' values put in; Y may be
    NO_AXIS. Refused, with the numbers, when the grid would do more work than one request may."""
    xs = parse_values(x, x_values)
    ys = [None] if y == NO_AXIS else parse_values(y, y_values)
    if y != NO_AXIS and AXES[y] == AXES[x]:
        raise UserError(f"both axes vary {x.lower()}; choose another setting for Y, or Nothing")
    steps, guidance, scheduler = base["num_inference_steps"], base["guidance_scale"], base["scheduler"]
    first = check_request(limits, prompt, negative, steps, guidance, 1, seed, scheduler)  # one seed for all
    cells = []
    for y_value in ys:
        row = []
        for x_value in xs:
            settings = base | {AXES[x]: x_value} | ({AXES[y]: y_value} if y_value is not None else {})
            steps, guidance, scheduler = (
                settings["num_inference_steps"],
                settings["guidance_scale"],
                settings["scheduler"],
            )
            row.append(check_request(limits, prompt, negative, steps, guidance, 1, first.seed, scheduler))
        cells.append(row)
    rows = [""] if y == NO_AXIS else [label(AXES[y], value) for value in ys]
    grid = Plan(cells, [label(AXES[x], value) for value in xs], rows, x, y)
    budget = limits.max_steps * limits.max_images
    if grid.work > budget:
        raise UserError(
            f"this grid of {grid.count} pictures needs {grid.work:,} denoising steps in all; one request may do "
            f"at most {budget:,} (the page's {limits.max_steps} steps × {limits.max_images} images): "
            "use fewer values or fewer steps"
        )
    return grid
