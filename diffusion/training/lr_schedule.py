"""The learning-rate schedules of training: any that diffusers' get_scheduler knows, and one of our own,
"warmup_stable_decay": a warm-up, a constant rate, then a straight fall to zero over the run's last share.

A constant rate suits a run that stops at a time budget (nothing is lost when it stops), but the weights
then still jump about at the end; annealing the rate lets them settle into the minimum they circle
(benchmarks/RESULTS.md, "An annealed end"). A run planned in steps falls over its last steps. A run with a
time budget cannot know its last step in advance: when the budget's last share begins, the training loop
counts the steps the rest of the budget holds, at the rate it has kept so far, and the fall is moved
there (`StableDecay.fall_from`). The plan is part of the schedule's state, so a resumed run falls the same way.
"""

from __future__ import annotations

import torch
from diffusers.optimization import SchedulerType, get_scheduler

from ..common.errors import UserError

STABLE_DECAY = "warmup_stable_decay"


class StableDecay:
    """The rate's factor at a step: warm-up, 1, then a straight line to 0 from `decay_start` to `decay_end`."""

    # A callable object, not a function, so that LambdaLR's state_dict keeps its __dict__: where a time
    # budget moved the fall, which a resumed run must keep. The configured plan sits in slots, outside
    # __dict__: a run resumed with another max_steps plans its fall anew, as diffusers' schedules do.
    __slots__ = ("warmup_steps", "total_steps", "decay_share", "__dict__")

    def __init__(self, warmup_steps: int, total_steps: int, decay_share: float):
        self.warmup_steps, self.total_steps, self.decay_share = warmup_steps, total_steps, decay_share
        self.moved_fall: list[int] | None = None  # [first step, last step] of a fall a time budget moved

    @property
    def decay_start(self) -> int:
        if self.moved_fall:
            return self.moved_fall[0]
        return max(self.warmup_steps, round(self.total_steps * (1 - self.decay_share)))

    @property
    def decay_end(self) -> int:
        return self.moved_fall[1] if self.moved_fall else self.total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps  # as diffusers' constant_with_warmup
        if step < self.decay_start:
            return 1.0
        return max(0.0, (self.decay_end - step) / max(1, self.decay_end - self.decay_start))

    def falling(self, step: int) -> bool:
        return step >= self.decay_start

    def fall_from(self, step: int, steps: int) -> None:
        """Fall to zero over the `steps` after `step` instead (a time budget ends the run before the plan)."""
        if step + steps < self.decay_end:
            self.moved_fall = [step, step + steps]


def check_schedule(
    name: str, decay_share: float, keys: tuple[str, str] = ("train.lr_schedule", "train.lr_decay_share")
):
    """A one-line error for a schedule the optimizer could not follow, when the config is read (before the
    minute the full recipe spends preparing its data); `keys` name the two settings as the user set them."""
    if name == STABLE_DECAY:
        if not 0 < decay_share < 1:
            raise UserError(f"{keys[1]} (the share spent falling) must be in (0, 1), not {decay_share}")
        return
    # piecewise_constant needs step rules that the config has no key for
    if name not in {kind.value for kind in SchedulerType} - {"piecewise_constant"}:
        raise UserError(
            f"unknown {keys[0]} {name!r}: use {STABLE_DECAY}, constant_with_warmup, cosine or linear "
            "(or cosine_with_restarts, polynomial, constant)"
        )


def learning_rate_schedule(
    name: str, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, decay_share: float
) -> torch.optim.lr_scheduler.LRScheduler:
    """The named schedule over `total_steps`; `decay_share` is the share of the run that warmup_stable_decay
    spends falling."""
    check_schedule(name, decay_share)  # also where the config is read; this serves every other caller
    if name == STABLE_DECAY:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, StableDecay(warmup_steps, total_steps, decay_share))
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)


def stable_decay_plan(scheduler: torch.optim.lr_scheduler.LRScheduler) -> StableDecay | None:
    """The StableDecay plan that `scheduler` follows, if it follows one."""
    lambdas = getattr(scheduler, "lr_lambdas", [])
    return lambdas[0] if lambdas and isinstance(lambdas[0], StableDecay) else None
