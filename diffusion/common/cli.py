"""What the command lines share: every mistake is one line on stderr and exit code 2, argparse's own too."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from .errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad argument raises UserError instead of printing the usage block."""

    def error(self, message):
        raise UserError(f"{message} (see --help)")


def number(text: str) -> int | float:
    """A number as typed, int where it is whole ("20"), else float ("2.5", "nan"): the range and
    whole-number rules, and their messages, are the settings' (settings.py), not argparse's."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def run(command: Callable[[], None], stopped: str = "stopped") -> None:
    """Run a CLI's body: a UserError becomes `error: <one line>` and exit code 2; Ctrl-C prints `stopped`
    and exits with 130."""
    try:
        command()
    except UserError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(stopped, file=sys.stderr)
        sys.exit(130)


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """For long runs that save their progress on Ctrl-C: a polite kill (`kill`, a cluster scheduler's
    SIGTERM) stops the same way, and Ctrl-C works even in a process started from a background shell job,
    which inherits SIGINT as ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)


def typed_command(module: str, argv: list[str] | None) -> str:
    """The command as the user typed it, for the training record: `argv`, or the process's own arguments."""
    return f"python -m {module} " + " ".join(sys.argv[1:] if argv is None else argv)


SAVED_ON_STOP = "stopped; the checkpoint above holds the progress (continue with --resume latest)"
