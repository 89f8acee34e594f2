"""What the page's handlers share: the pipeline, the limits, the run folders and the Stop signals.

Handlers are module functions that take this `App` first (handlers.py); `bind` hands Gradio a function
without that first parameter, keeping the signature and type hints Gradio reads to pass `gr.Request`
and to stream generators.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path

from ..nearest_caption import CaptionIndex, caption_index_of
from ..prompt_notes import notes_for
from ..settings import Limits
from .files import RunFolders
from .streaming import StopSignals


@dataclass
class App:
    pipe: object  # TextToImagePipeline
    limits: Limits
    checkpoint: str
    index: CaptionIndex | None = None
    folders: RunFolders = field(default_factory=RunFolders)
    signals: StopSignals = field(default_factory=StopSignals)

    @classmethod
    def serving(cls, pipe, limits: Limits, checkpoint: str) -> App:
        """The caption index is loaded (or built) now, so the first request does not wait for it."""
        return cls(pipe, limits, Path(checkpoint).name, caption_index_of(pipe))

    def notes(self, prompt: str) -> list[str]:
        """How the encoder reads the prompt, and warnings where they are due; none without an index."""
        if self.index is None or not prompt.strip():
            return []
        return notes_for(self.index, prompt).sentences


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
