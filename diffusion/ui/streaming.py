"""Running the pipeline for the web page: one `StepFrame` per denoising step as it happens, and Stop.

`stream_pipeline` runs the pipeline in a worker thread and hands back the step frames as they come,
then the finished output. Closing the iterator (the Stop button, a closed tab) stops the worker at its
next step, so an abandoned run never keeps the CPU busy. Nothing here imports Gradio.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ..sampling.pipeline import TextToImageOutput


@dataclass
class StepFrame:
    """What the sampler showed after one step."""

    step: int  # 0-based
    total: int
    timestep: int
    sigma: float  # noise level of x_t: sqrt(1 - alpha_bar)
    x_t: torch.Tensor  # (N, C, H, W) noisy images after this step
    x0: torch.Tensor  # (N, C, H, W) the model's guess of the clean images at this step
    at: float = field(default_factory=time.perf_counter)  # when the step ended, for the time left

    def describe(self) -> str:
        return (
            f"Step {self.step + 1} of {self.total} · timestep {self.timestep} · "
            f"noise level σ = {self.sigma:.2f} (signal {math.sqrt(max(0.0, 1 - self.sigma**2)):.2f})"
        )


class Stopped(Exception):
    """Raised inside the pipeline's step callback to end a run early."""


class StopButtons:
    """The Stop buttons: one `threading.Event` per (session, tab) while a run is waiting or running.

    `arm` is called the moment Generate is clicked (before the request waits in the queue), `take` when
    the run starts, `release` when it ends; `stop` sets the event, so a run stops whether it is already
    sampling or still waiting for its turn. Keys hold the session, so nobody can stop another's run."""

    def __init__(self):
        self._events: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.setdefault(key, threading.Event())

    def take(self, key: tuple[str, str]) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def stop(self, key: tuple[str, str]) -> bool:
        with self._lock:
            event = self._events.get(key)
        if event is not None:
            event.set()
        return event is not None

    def is_active(self, key: tuple[str, str]) -> bool:
        """Whether a run of this key is waiting or running (armed and not yet released)."""
        with self._lock:
            return key in self._events

    def release(self, key: tuple[str, str], event: threading.Event) -> None:
        with self._lock:
            if self._events.get(key) is event:
                del self._events[key]

    def discard(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.pop(key, None)

    def forget_session(self, session: str) -> None:
        with self._lock:
            for key in [key for key in self._events if key[0] == session]:
                del self._events[key]


def stream_pipeline(
    pipe, kwargs: dict, steps: int, stop: threading.Event | None = None
) -> Iterator[list[StepFrame] | TextToImageOutput]:
    """Run `pipe(**kwargs)` in a worker thread; yield lists of new StepFrames as they come, then the output.

    Frames that arrive while the consumer is busy are handed over together, so a slow page never makes
    the sampler wait. When `stop` is set, the worker ends at its next step and the iterator simply ends
    without an output. Closing the iterator (a closed tab) stops the worker too, and waits for it."""
    updates: queue.Queue = queue.Queue()
    stop = stop or threading.Event()
    closed = threading.Event()
    alphas_cumprod = pipe.scheduler.alphas_cumprod

    def on_step(_pipe, step, timestep, tensors):
        if stop.is_set() or closed.is_set():
            raise Stopped
        t = int(round(float(timestep)))
        sigma = float((1 - alphas_cumprod[min(max(t, 0), len(alphas_cumprod) - 1)]).sqrt())
        frame = StepFrame(step, steps, t, sigma, tensors["x_t"].detach().cpu(), tensors["x0"].detach().cpu())
        updates.put(frame)

    def work():
        try:
            updates.put(pipe(**kwargs, callback_on_step_end=on_step))
        except BaseException as error:  # handed to the consumer, which re-raises it there
            updates.put(error)

    worker = threading.Thread(target=work, name="ui-sampling", daemon=True)
    worker.start()
    try:
        while True:
            items = [updates.get()]
            while not updates.empty():
                items.append(updates.get_nowait())
            frames = [item for item in items if isinstance(item, StepFrame)]
            if frames and not stop.is_set():
                yield frames
            for item in items:
                if isinstance(item, Stopped):
                    return
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, TextToImageOutput):
                    yield item
                    return
    finally:
        closed.set()
        worker.join(timeout=30)


class Tickets:
    """The newest change of each visitor's prompt: a number per session that only grows."""

    def __init__(self):
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    def new(self, session: str) -> int:
        with self._lock:
            self._latest[session] = self._latest.get(session, 0) + 1
            return self._latest[session]

    def is_current(self, session: str, ticket: int | None) -> bool:
        """None (an API call without a ticket) is always current."""
        with self._lock:
            return ticket is None or self._latest.get(session, 0) <= ticket

    def forget_session(self, session: str) -> None:
        with self._lock:
            self._latest.pop(session, None)
