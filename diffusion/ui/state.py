"""What the page's handlers share: the pipeline, the limits, the run folders and the Stop signals; and,
when one is served, the fast model as an `App` of its own that shares them.

Handlers are module functions that take this `App` first (handlers.py); `bind` hands Gradio a function
without that first parameter, keeping the signature and type hints Gradio reads to pass `gr.Request`
and to stream generators.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..grounding import prepare_grounding
from ..nearest_caption import CaptionIndex, caption_index_of
from ..prompt_notes import notes_for, things_outside
from ..settings import Limits
from .files import RunFolders, live_folders
from .streaming import StopSignals, Tickets

DEFAULT_MODEL, FAST_MODEL = "default", "fast"  # the model choice on the text tab


@dataclass
class App:
    pipe: object  # TextToImagePipeline
    limits: Limits
    checkpoint: str
    index: CaptionIndex | None = None
    folders: RunFolders = field(default_factory=RunFolders)
    signals: StopSignals = field(default_factory=StopSignals)
    fast: App | None = None  # the distilled few-step model, when one is served
    tickets: Tickets = field(default_factory=Tickets)  # the newest prompt change per visitor, for Live
    live_folders: RunFolders | None = None

    @classmethod
    def serving(cls, pipe, limits: Limits, checkpoint: str, fast=None, fast_checkpoint: str = "") -> App:
        """The caption indexes (and the list of things outside the data, and the lexicon) are loaded now, so
        the first request does not wait for them.
        `fast`: a few-step pipeline offered beside `pipe`, sharing the run folders and the Stop signals."""
        app = cls(pipe, limits, Path(checkpoint).name, caption_index_of(pipe))
        if app.index is not None:
            things_outside(app.index.dataset)
            prepare_grounding(app.index.dataset)
        if fast is not None:
            app.live_folders = live_folders(app.folders.root)
            app.fast = replace(app, pipe=fast, checkpoint=Path(fast_checkpoint).name, index=caption_index_of(fast))
        return app

    def model(self, choice: str | None) -> App:
        """The App of the model chosen on the page: the fast one, or this one."""
        return self.fast if choice == FAST_MODEL and self.fast is not None else self

    def notes(self, prompt: str) -> list[str]:
        """How the encoder reads the prompt, and warnings where they are due; none without an index."""
        if self.index is None or not prompt.strip():
            return []
        return notes_for(self.index, prompt, getattr(self.pipe, "ground_words", True)).sentences


def bind(handler, *leading):
    """`handler` with its first arguments fixed (the `App`, sometimes the tab's name), as Gradio calls it."""
    if inspect.isgeneratorfunction(handler):

        def bound(*args, **kwargs):
            yield from handler(*leading, *args, **kwargs)
    else:

        def bound(*args, **kwargs):
            return handler(*leading, *args, **kwargs)

    functools.update_wrapper(bound, handler)
    signature = inspect.signature(handler)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(leading) :])
    return bound
