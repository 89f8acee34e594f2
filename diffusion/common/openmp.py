"""How torch's OpenMP threads wait between two parallel regions: chosen per command, before torch loads.

Measured on 2 cores (benchmarks/RESULTS.md, "OpenMP's wait policy"), training the quick recipe on 2 threads:

| policy | quiet machine | the other core busy | an idle process |
|---|---|---|---|
| PASSIVE (a waiting thread sleeps at once) | 72-76 images/s | 55 | sleeps |
| ACTIVE (it spins) | 143-148 | 27 | burns a core |
| GNU OpenMP's default (spins a while, then sleeps) | 135-150 | 9 | sleeps |

So the training commands spin (they have the machine to themselves and never idle for long); the Train
tab's run, whose server draws for visitors and which may be paused, takes the default; everything else
(the web server, whose visitors' runs overlap; tests; sampling beside other work) sleeps. A value the user
set in the environment always wins.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "OMP_WAIT_POLICY"
TRAINING_COMMANDS = ("diffusion.train", "diffusion.distill")
# GNU OpenMP's own default, spin about 3 ms and then sleep, stated outright: a spin count set in the
# environment overrides the wait policy's, which the Train tab's process (started as a plain python, so
# PASSIVE by choose_wait_policy) would otherwise take.
DEFAULT_SPIN = {"GOMP_SPINCOUNT": "300000"}
CHOSEN_BY_USER = VARIABLE in os.environ or "GOMP_SPINCOUNT" in os.environ  # read before anything is set


def runs_a_training_command() -> bool:
    """Whether this process was started as `python -m diffusion.train` or `python -m diffusion.distill`."""
    options = iter(getattr(sys, "orig_argv", [])[1:])
    for option in options:  # the interpreter's own options come first, up to -m, -c or a script
        if option == "-m":
            return next(options, None) in TRAINING_COMMANDS
        if option in ("-W", "-X"):
            next(options, None)  # its value
        elif not option.startswith("-") or option == "-c":
            return False
    return False


def choose_wait_policy() -> None:
    """Set the policy for this process; it only counts if torch has not been imported yet."""
    os.environ.setdefault(VARIABLE, "ACTIVE" if runs_a_training_command() else "PASSIVE")


def train_tab_environment() -> dict[str, str]:
    """What the Train tab's training process adds to its environment: OpenMP's default spinning."""
    return {} if CHOSEN_BY_USER else dict(DEFAULT_SPIN)
