"""The loss by noise level: each image's error, counted in the bin of its timestep (the T training
timesteps cut into LEVEL_BINS equal bins), so that a run shows which noise levels the network gets right first.

A loss function reports what it already has for the step (BatchLoss: the per-image errors and noise
levels beside the loss it backpropagates); no extra forward pass. The loop adds each step's bin sums and
counts (all processes' together) into a LevelTally and reads the means out at every LOG event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LEVEL_BINS = 10


@dataclass
class BatchLoss:
    """What a loss function may return instead of a bare loss: the loss to backpropagate, and for each
    image of this process's share its unweighted error and its timestep (of `num_train_timesteps`)."""

    loss: torch.Tensor
    per_image: torch.Tensor
    timesteps: torch.Tensor
    num_train_timesteps: int

    def level_sums(self, bins: int = LEVEL_BINS) -> torch.Tensor:
        """(2 * bins,): the errors' sum in each bin, then the count in each bin, for one all-reduce."""
        # Integer arithmetic: t / T in floating point puts some timesteps on an edge into the bin below.
        index = (self.timesteps.long() * bins // self.num_train_timesteps).clamp(0, bins - 1)
        per_image = self.per_image.detach().float()
        sums = torch.zeros(bins, device=per_image.device).index_add_(0, index, per_image)
        counts = torch.bincount(index, minlength=bins).to(sums)
        return torch.cat([sums, counts])


class LevelTally:
    """The bins' sums and counts since the last `means()`."""

    def __init__(self, bins: int = LEVEL_BINS):
        self.bins = bins
        self.totals = torch.zeros(2 * bins, dtype=torch.float64)

    def add(self, sums_and_counts: list[float]) -> None:
        self.totals += torch.tensor(sums_and_counts, dtype=torch.float64)

    def means(self) -> tuple[float, ...]:
        """The mean error in each bin (NaN for a bin no image fell in); then starts again."""
        sums, counts = self.totals[: self.bins].tolist(), self.totals[self.bins :].tolist()
        self.totals.zero_()
        return tuple(s / c if c else math.nan for s, c in zip(sums, counts, strict=True))


def level_names(num_train_timesteps: int, bins: int = LEVEL_BINS) -> list[str]:
    """Each bin's timesteps in words: "t 0-99", "t 100-199", ... for 1000 timesteps and 10 bins."""
    edges = [-(-i * num_train_timesteps // bins) for i in range(bins + 1)]  # ceil: the first t of each bin
    return [f"t {edges[i]}-{edges[i + 1] - 1}" for i in range(bins)]
