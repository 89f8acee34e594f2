"""The progress bar beside a tab's run button: how many steps are done, the time since the click's run
began and the time left, as a small piece of HTML.

The time left is the time per step measured so far in this run times the steps still to come, so there
is no guess before the first step is done. Only numbers and fixed words go in, never a visitor's text.
"""

from __future__ import annotations

import html

from .text import plural


def bar(done: int, total: int, words: str, state: str = "running") -> str:
    """A bar filled to done/total with `words` on it; `state` (running, done, stopped, queued) is a class
    for its colour and for tests."""
    share = 0 if total <= 0 else min(1.0, max(0.0, done / total))
    return (
        f'<div class="run-progress {state}" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
        f'aria-valuenow="{done}"><div class="run-progress-fill" style="width: {share:.1%}"></div>'
        f'<span class="run-progress-text">{html.escape(words)}</span></div>'
    )


def queued() -> str:
    return bar(0, 1, "Queued", "queued")


def running(done: int, total: int, elapsed: float, sampling: float) -> str:
    """`elapsed`: seconds since the run began; `sampling`: seconds the `done` steps took."""
    words = f"Step {done} of {total} · {elapsed:.1f} s"
    if 0 < done < total:
        words += f" · about {sampling / done * (total - done):.1f} s left"
    return bar(done, total, words)


def finished(total: int, elapsed: float) -> str:
    return bar(total, total, f"Done: {plural(total, 'step')} in {elapsed:.1f} s", "done")


def stopped(done: int, total: int, elapsed: float) -> str:
    return bar(done, total, f"Stopped at step {done} of {total} after {elapsed:.1f} s", "stopped")
