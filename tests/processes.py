"""Child processes for tests: each in its own process group, killed with the whole group when the test
ends, fails or times out, so no test leaves a trainer (or an accelerate launcher's workers) running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict:
    """The test's environment, one thread per process (the machine may be shared), the repo importable."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def ignore_sigint() -> None:
    """What a child of a background shell job starts with: Ctrl-C ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def process_group(command: list[str], log: Path, preexec_fn: Callable | None = None) -> Iterator[subprocess.Popen]:
    """Start `command` as the leader of a new process group, its output going to the file `log` (a pipe
    nobody reads would fill up and stall it); on the way out, SIGKILL the whole group."""
    with open(log, "w") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=child_env(),
            start_new_session=True,
            preexec_fn=preexec_fn,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    process.log = log
    try:
        yield process
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child, its process group and all its descendants (torchrun starts its workers in
    sessions of their own, so the group alone would miss them), then reap the child."""
    with contextlib.suppress(psutil.Error):
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def output_of(process: subprocess.Popen) -> str:
    return Path(process.log).read_text(errors="replace")


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float, interval: float = 0.02) -> None:
    """Poll `condition` until it holds; fail with the child's output if the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the child exited ({process.returncode}) first:\n{output_of(process)[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s:\n{output_of(process)[-3000:]}")
        time.sleep(interval)


def finish(process: subprocess.Popen, timeout: float) -> str:
    """Wait for the child to exit by itself; its output. A timeout fails the test (the group is killed)."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {timeout} s:\n{output_of(process)[-3000:]}") from None
    return output_of(process)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def options(**values) -> list[str]:
    """Command-line options from keywords: `max_steps=6` gives `--max-steps 6`, `fast=True` a bare `--fast`."""
    argv = []
    for name, value in values.items():
        argv += ["--" + name.replace("_", "-")] + ([] if value is True else [str(value)])
    return argv
