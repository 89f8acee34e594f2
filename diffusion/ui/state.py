"""What the page's handlers share: the pipeline, the limits, the run folders and the Stop signals; when one
is served, the fast model as an `App` of its own that shares them; and the Train tab's run slot, whose
newest run's weights the text tab can draw with (loaded from the run folder, as `diffusion.sample` does).

Handlers are module functions that take this `App` first (handlers.py); `bind` hands Gradio a function
without that first parameter, keeping the signature and type hints Gradio reads to pass `gr.Request`
and to stream generators.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..common.errors import UserError
from ..prompts.grounding import prepare_grounding
from ..prompts.nearest_caption import CaptionIndex
from ..prompts.prompt_notes import notes_for, things_outside
from ..sampling.pipeline import TextToImagePipeline
from ..sampling.saved_pipeline import caption_index_of
from ..sampling.settings import Limits
from .files import RunFolders, live_folders
from .streaming import StopButtons, Tickets
from .training_run import TrainingRuns

DEFAULT_MODEL, FAST_MODEL, TRAINED_MODEL = "default", "fast", "trained"  # the model choice on the text tab


@dataclass
class App:
    pipe: object  # TextToImagePipeline
    limits: Limits
    checkpoint: str
    index: CaptionIndex | None = None
    folders: RunFolders = field(default_factory=RunFolders)
    signals: StopButtons = field(default_factory=StopButtons)
    fast: App | None = None  # the distilled few-step model, when one is served
    tickets: Tickets = field(default_factory=Tickets)  # the newest prompt change per visitor, for Live
    live_folders: RunFolders | None = None
    training: TrainingRuns | None = None  # the Train tab's run slot, when the page offers training
    trained: dict = field(default_factory=dict)  # the newest run's pipeline folder -> its App, loaded once
    others: dict = field(default_factory=dict)  # other models offered beside this one (the digits), by choice name

    @classmethod
    def serving(
        cls, pipe, limits: Limits, checkpoint: str, fast=None, fast_checkpoint: str = "", training=None, others=None
    ) -> App:
        """The caption indexes (and the list of things outside the data, and the lexicon) are loaded now, so
        the first request does not wait for them.
        `fast`: a few-step pipeline offered beside `pipe`, sharing the run folders and the Stop signals.
        `training`: the TrainingRuns of the Train tab.
        `others`: {choice name: (pipeline, checkpoint)} of other models offered beside `pipe` (another dataset's)."""
        app = cls(pipe, limits, Path(checkpoint).name, caption_index_of(pipe), training=training)
        if fast is not None:
            app.live_folders = live_folders(app.folders.root)
            app.fast = replace(app, pipe=fast, checkpoint=Path(fast_checkpoint).name, index=caption_index_of(fast))
        for name, (other, folder) in (others or {}).items():
            app.others[name] = replace(app, pipe=other, checkpoint=Path(folder).name, index=caption_index_of(other),
                                       fast=None, others={})  # fmt: skip
        for served in (app, *app.others.values()):
            if served.index is not None:
                things_outside(served.index.dataset)
                prepare_grounding(served.index.dataset)
        return app

    def model(self, choice: str | None) -> App:
        """The App of the model chosen on the page: the fast one, the Train tab's run, another, or this one."""
        if choice == TRAINED_MODEL and self.training is not None:
            return self.trained_model()
        if choice in self.others:
            return self.others[choice]
        return self.fast if choice == FAST_MODEL and self.fast is not None else self

    def trained_model(self) -> App:
        """The Train tab's newest run, at its newest checkpoint (or its final pipeline), loaded once per folder."""
        run = self.training.current
        if run is None:
            raise UserError("no model has been trained here yet: start a run in the Train tab first")
        try:
            folder = run.pipeline_folder()
        except UserError:
            raise UserError(
                f"run {run.number} has not saved a checkpoint yet; wait for its first, or stop it to save one"
            ) from None
        if folder not in self.trained:
            pipe = TextToImagePipeline.from_pretrained(folder, device=str(self.pipe.device))
            name = f"{run.folder.name}/{folder.relative_to(run.folder)}"
            self.trained.clear()  # only the newest is kept: a run saves many
            self.trained[folder] = replace(self, pipe=pipe, checkpoint=name, index=caption_index_of(pipe), fast=None)
        return self.trained[folder]

    def offered(self) -> set[str]:
        """The models the text tab offers here."""
        models = {DEFAULT_MODEL, *self.others}
        models |= {FAST_MODEL} if self.fast is not None else set()
        return models | ({TRAINED_MODEL} if self.training is not None else set())

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
