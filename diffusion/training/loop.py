"""The one training loop. Training (train.py) and distillation (distill.py) run it; they differ only in
what they pass in: the model with its EMA, optimizer and learning-rate schedule (a TrainingState), a loss
function that draws the step's batch, and an export function that makes the pipeline a checkpoint holds.

    loop = TrainingLoop(run, state, schedule, loss=loss, export=export, sample=sample)
    for event in loop.run(start_step):   # a STEP event after every step; LOG, SAMPLE, CHECKPOINT when due; STOP
        ...                              # loss.csv and the progress bar follow these (progress.py), or a web page
    pipeline_dir = loop.finish()

One step: the loss over this process's share of the batch, backward through accelerate (1..N processes),
gradient clipping, the optimizer, the learning-rate schedule, the EMA copy. Then the processes agree, in
one small all-reduce, on the whole batch's loss, its loss by noise level (when the loss function reports
it, noise_levels.py) and on whether to stop (Ctrl-C, SIGTERM, the time budget), so that all of them stop
at the same step. All randomness of a step comes from (seed, step): a
run resumed from a checkpoint takes exactly the steps that an uninterrupted one takes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import gather_object
from torchvision.utils import save_image

from ..common.config import SampleConfig
from ..common.errors import UserError
from ..common.folders import write_text_atomic
from ..sampling.pipeline import TextToImagePipeline
from .block_norms import block_grad_norms
from .checkpoint import (
    TrainingState,
    checkpoint_folder,
    checkpoint_folders,
    prune_checkpoints,
    remove_unfinished,
    save_checkpoint,
)
from .lr_schedule import stable_decay_plan
from .noise_levels import BatchLoss, LevelTally

# The kinds of event (FALL: a time budget has moved the learning rate's fall, and so the loop's last step),
# and why a loop stopped (a STOP event's reason): DONE at the last step, TIME_UP at the time budget,
# INTERRUPTED by Ctrl-C or SIGTERM, STOPPED by its caller (request_stop: the web page's Stop), DIVERGED when
# the loss became NaN or exploded.
STEP, LOG, SAMPLE, CHECKPOINT, STOP, FALL = "step", "log", "sample", "checkpoint", "stop", "fall"
DONE, TIME_UP, INTERRUPTED, STOPPED, DIVERGED = "done", "time up", "interrupted", "stopped", "diverged"
# A batch loss above this means divergence: the targets have unit variance, so the predictions would be off
# by some 30 standard deviations (a healthy run starts near 1 and falls). So does a smoothed loss that has
# grown to this many times the loop's first batch loss (a healthy one falls; too high a learning rate can
# instead keep the loss high and finite, the weights thrown about, without ever reaching NaN).
DIVERGED_LOSS, DIVERGED_GROWTH = 1e3, 20.0

# loss(model, step, rng, share): the mean loss of `model` over this process's `share` of step `step`'s batch,
# every random draw made from `rng` for the whole batch (so that 1 or N processes train alike); or a
# BatchLoss, which also gives each image's error and timestep for the loss by noise level.
LossFunction = Callable[[torch.nn.Module, int, torch.Generator, slice], torch.Tensor | BatchLoss]
# export(record): a pipeline of the EMA weights, carrying `record` as its training record.
Export = Callable[[dict], TextToImagePipeline]
# sample(pipeline, path): a grid of sample images written to `path`; also what a network_view callable
# does: a picture of what the network sees (network_view.py), drawn with the same pipeline.
Sample = Callable[[TextToImagePipeline, Path], None]


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """All randomness of one step comes from (seed, step): resuming needs no saved RNG state, and every
    process draws the same numbers for the whole batch, so N processes train exactly as one does. Another
    `stream` gives other numbers for the same seed (distillation's, not those its teacher trained with)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101 + stream)


def process_share(rank: int, world: int) -> slice:
    """Which rows of the batch process `rank` of `world` trains on: every world-th, starting at rank."""
    return slice(rank, None, world)


def make_accelerator(device: torch.device, mixed_precision: str = "no") -> Accelerator:
    """accelerate's view of the processes (one, or as many as `accelerate launch` started) on `device`'s kind."""
    if AcceleratorState._shared_state.get("_mixed_precision", mixed_precision) != mixed_precision:
        # accelerate keeps one precision per process, but one process may run jobs of several precisions in
        # turn (a fp32 distillation after a bf16 training, the Train tab's runs): forget the finished job's
        # choice. The process group (PartialState) stays.
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, cpu=device.type == "cpu")


class StopSignals:
    """Ctrl-C and SIGTERM during the loop only ask for a stop: the step in flight finishes, all processes
    agree on the stop at the same step, and the main one saves a checkpoint. A signal that arrived in the
    middle of an optimizer step would otherwise leave a checkpoint between two steps."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self.request)
        return self

    def request(self, signum=None, frame=None) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


@dataclass
class Schedule:
    """When a loop steps, logs, samples, saves and stops. An `*_every` of 0 means never."""

    end_step: int  # the loop's last step: the run's last, or the last of a distillation stage
    batch_size: int  # images per step, all processes together
    seed: int
    seed_stream: int = 0  # see step_generator
    grad_clip: float | None = 1.0
    log_every: int = 50
    sample_every: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    deadline: float | None = None  # a time.time() past which the loop stops after its current step
    max_loss: float = DIVERGED_LOSS  # a whole-batch loss above it (or NaN) stops the loop as DIVERGED
    block_norms: bool = False  # each block's gradient norm in the LOG events (the Train tab shows them)


@dataclass
class Run:
    """What every loop of one run shares: its folder, its processes, its record so far (the steps are added
    at each export), and when it started (elapsed_s and the time budget count from then)."""

    folder: Path
    accelerator: Accelerator
    record: dict
    started: float


@dataclass(frozen=True)
class LoopEvent:
    """The loop's state after a step, or news of a log row's moment, a sample grid, a checkpoint, the stop."""

    kind: str  # STEP, LOG, SAMPLE, CHECKPOINT or STOP
    step: int  # optimizer steps taken in the run so far
    batch_loss: float  # the last step's loss over the whole batch (all processes); NaN before the first
    smoothed_loss: float  # its moving average: what loss.csv and the progress bar show
    lr: float
    images_per_s: float  # since the last LOG event
    elapsed_s: float  # since the run started
    labels: dict = field(default_factory=dict)  # the caller's names for this loop (distillation: its stage)
    path: Path | None = None  # SAMPLE: the grid; CHECKPOINT: the checkpoint folder
    reason: str = ""  # STOP: DONE, TIME_UP, INTERRUPTED, STOPPED or DIVERGED
    grad_norm: float = math.nan  # the last step's gradient norm (whole model, before clipping)
    # LOG: the mean unweighted error in each noise-level bin over the steps since the last LOG (NaN: no image
    # fell in it; empty: the loss function does not report it), and each block's gradient norm (before
    # clipping) at this step, when the schedule asks for them.
    loss_by_level: tuple[float, ...] = ()
    block_grad_norms: tuple[tuple[str, float], ...] = ()
    network_view: Path | None = None  # SAMPLE: the picture of what the network sees, when one is drawn
    lr_fall: tuple[int, int] = ()  # FALL: the first and last step of the learning rate's fall to zero


class TrainingLoop:
    """Optimizer steps over one TrainingState up to `schedule.end_step`: a whole training run, or one stage
    of a distillation. Iterate `run()` to take the steps; `finish()` then exports the result."""

    def __init__(
        self,
        run: Run,
        state: TrainingState,
        schedule: Schedule,
        *,
        loss: LossFunction,
        export: Export,
        sample: Sample | None = None,
        network_view: Sample | None = None,
        checkpoint_extra: Callable[[int], dict] | None = None,
        labels: dict | None = None,
    ):
        self.training_run, self.state, self.schedule = run, state, schedule
        self.loss, self.export, self.sample, self.network_view = loss, export, sample, network_view
        self.checkpoint_extra = checkpoint_extra or (lambda step: {})  # more for the checkpoint's JSON
        self.labels = labels or {}
        accelerator = run.accelerator
        # The learning-rate schedule stays outside prepare(): accelerate would step it once per process per
        # step, as if each process had its own batch; here the batch is shared, so it steps once per step.
        self.model, self.optimizer = accelerator.prepare(state.model, state.optimizer)
        state.ema.to(accelerator.device)
        self.share = process_share(accelerator.process_index, accelerator.num_processes)
        self.share_size = len(range(schedule.batch_size)[self.share])
        self.step, self.batch_loss, self.smoothed_loss, self.grad_norm = 0, math.nan, math.nan, math.nan
        self.stop_reason = ""  # why run() ended, once it has
        self.first_loss = math.nan  # the first batch loss of run(): what DIVERGED_GROWTH compares with
        self.levels, self.block_norms = LevelTally(), ()  # for the next LOG event
        self.reports_levels = False  # whether the loss function gives the loss by noise level
        self._stop_requested = threading.Event()
        self.decay_plan = stable_decay_plan(state.lr_scheduler)  # a fall the time budget may move (lr_schedule.py)
        self.pace_start = (0, time.time())
        self.fall_news = False  # a FALL event is due
        self._start_window()

    @property
    def is_main(self) -> bool:
        return self.training_run.accelerator.is_main_process

    def run(self, start_step: int, smoothed_loss: float = math.nan) -> Iterator[LoopEvent]:
        """Take the steps from `start_step` on, yielding the events; the last one is STOP. `smoothed_loss`
        continues a resumed run's (or an earlier stage's) moving average. Ctrl-C or SIGTERM: the STOP
        event, a checkpoint, then KeyboardInterrupt. request_stop(): the STOP event and a checkpoint.
        A NaN or exploding loss: the STEP and STOP events, and no checkpoint of the broken weights."""
        self.step, self.smoothed_loss, self.first_loss = start_step, smoothed_loss, math.nan
        if self.is_main:
            remove_unfinished(self.training_run.folder)  # what a killed run left half-written
        self._start_window()
        self.pace_start = (start_step, time.time())  # the steps per second that the time budget plans with
        if self.decay_plan is not None:  # a resumed run that was falling ends where its fall ends
            self.schedule.end_step = min(self.schedule.end_step, self.decay_plan.decay_end)
        self.model.train()
        with StopSignals() as stop:
            while self.step < self.schedule.end_step:
                reason = self._take_step(stop)
                if reason == DIVERGED:
                    yield self._event(STEP)
                else:
                    yield from self._events_after_step()
                if reason:
                    yield from self._stop(reason)
                    return
        yield from self._stop(DONE)

    def _stop(self, reason: str) -> Iterator[LoopEvent]:
        """The STOP event; for a stop asked for before the end, a checkpoint first (Ctrl-C: then KeyboardInterrupt)."""
        self.stop_reason = reason
        yield self._event(STOP, reason=reason)
        if reason in (INTERRUPTED, STOPPED) and (saved := self._save_unless_saved()):
            yield self._event(CHECKPOINT, path=saved)
        if reason == INTERRUPTED:
            raise KeyboardInterrupt

    def request_stop(self) -> None:
        """Stop after the step in flight, with a checkpoint (from another thread: the web page's Stop)."""
        self._stop_requested.set()

    def paused_for(self, seconds: float) -> None:
        """The caller held the loop for `seconds` between events: neither the time budget, the elapsed time
        nor images/s count them."""
        if self.schedule.deadline is not None:
            self.schedule.deadline += seconds
        self.training_run.started += seconds
        self.window_start += seconds
        self.pace_start = (self.pace_start[0], self.pace_start[1] + seconds)

    def divergence(self) -> str:
        """What happened, in words, when the loop stopped as DIVERGED: the step, the loss, the checkpoint kept."""
        kept = checkpoint_folders(self.training_run.folder)
        where = "no checkpoint was saved before it"
        if kept:
            where = f"the newest checkpoint ({kept[-1].name}) holds the last good weights"
        loss = f"a loss of {self.batch_loss:.3g}"
        if math.isfinite(self.batch_loss) and not math.isfinite(self.grad_norm):
            loss = "a NaN gradient"
        elif self.grown():
            loss = f"a smoothed loss of {self.smoothed_loss:.3g}, {self.smoothed_loss / self.first_loss:.0f}x its first"
        return f"training diverged at step {self.step} ({loss}); {where}. Lower the learning rate and try again"

    def raise_if_diverged(self) -> None:
        """For the command line: a diverged run ends with a message, not with an export of broken weights."""
        if self.stop_reason == DIVERGED:
            raise UserError(self.divergence() + " (--learning-rate; --resume latest continues from that checkpoint)")

    def _take_step(self, stop: StopSignals) -> str:
        """One optimizer step; then why the loop must stop here ("" if it need not)."""
        accelerator, schedule = self.training_run.accelerator, self.schedule
        rng = step_generator(schedule.seed, self.step, schedule.seed_stream)
        with accelerator.autocast():
            loss = self.loss(self.model, self.step, rng, self.share)
        level_sums = []
        if isinstance(loss, BatchLoss):  # the per-image errors the loss already has: no extra forward pass
            self.reports_levels = True
            level_sums = loss.level_sums(self.levels.bins).tolist()
            loss = loss.loss
        # The processes' gradients are averaged; weighting each share by its size makes that average the
        # gradient of the whole batch's mean loss, also when the shares differ by one image.
        loss_sum = loss * self.share_size
        accelerator.backward(loss_sum * accelerator.num_processes / schedule.batch_size)
        # The norm is the same on every process (the gradients are already averaged). A NaN or infinite one
        # is never stepped with, so the weights stay those of the last good step; fp16's scaler skips it anyway.
        norm = float(accelerator.clip_grad_norm_(self.model.parameters(), schedule.grad_clip or math.inf))
        if schedule.block_norms and self._logs_at(self.step + 1):
            # Read after clipping (and fp16's unscaling), then divided by clipping's factor, as torch computes it.
            clipped_by = min(1.0, (schedule.grad_clip or math.inf) / (norm + 1e-6))
            self.block_norms = block_grad_norms(accelerator.unwrap_model(self.model), clipped_by)
        broken = not math.isfinite(norm) and accelerator.scaler is None
        if not broken:
            self.optimizer.step()
            if not accelerator.optimizer_step_was_skipped:  # fp16 skips steps whose gradients overflowed
                self.state.lr_scheduler.step()
            self.state.ema.step(self.model.parameters())
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        over_time = schedule.deadline is not None and time.time() > schedule.deadline
        # One small all-reduce: the whole batch's loss, and whether any process was asked to stop or ran
        # out of time, so that all of them stop at the same step.
        asked = stop.requested or self._stop_requested.is_set()
        fall = self._steps_left_if_fall_due() if self.is_main else 0  # the main process's clock decides
        numbers = [loss_sum.item(), stop.requested, asked, over_time, fall, *level_sums]
        total, signalled, stops, overs, fall, *levels = accelerator.reduce(
            torch.tensor(numbers, device=accelerator.device), "sum"
        ).tolist()
        if levels:
            self.levels.add(levels)
        if fall:
            self.decay_plan.fall_from(self.step, int(fall))
            schedule.end_step = min(schedule.end_step, self.decay_plan.decay_end)
            self.fall_news = True
        self._count(total / schedule.batch_size, norm)
        if math.isnan(self.first_loss):
            self.first_loss = self.batch_loss
        if broken or not self.batch_loss <= schedule.max_loss or self.grown():  # NaN compares False
            return DIVERGED
        return INTERRUPTED if signalled else STOPPED if stops else TIME_UP if overs else ""

    def _steps_left_if_fall_due(self) -> int:
        """0, or, once the time budget's falling share has begun (and the plan's fall has not), the steps that
        the rest of the budget holds at the pace kept so far: the learning rate falls to zero over them."""
        plan, deadline = self.decay_plan, self.schedule.deadline
        if plan is None or deadline is None or plan.falling(self.step):
            return 0
        now = time.time()
        if now < deadline - plan.decay_share * (deadline - self.training_run.started):
            return 0
        first_step, first_time = self.pace_start
        pace = (self.step - first_step) / max(now - first_time, 1e-9)
        return max(1, int(pace * (deadline - now)))

    def grown(self) -> bool:
        """Whether the smoothed loss has grown to DIVERGED_GROWTH times the first (see there)."""
        return self.smoothed_loss > DIVERGED_GROWTH * self.first_loss

    def _count(self, batch_loss: float, grad_norm: float) -> None:
        self.batch_loss, self.grad_norm = batch_loss, grad_norm
        if not math.isfinite(batch_loss):
            return  # the moving average keeps its last good value
        smoothed = self.smoothed_loss
        self.smoothed_loss = batch_loss if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * batch_loss
        self.window_images += self.schedule.batch_size

    def _events_after_step(self) -> Iterator[LoopEvent]:
        """STEP after every step; FALL, LOG, SAMPLE and CHECKPOINT when they are due."""
        schedule, step = self.schedule, self.step
        yield self._event(STEP)
        if self.fall_news:
            self.fall_news = False
            yield self._event(FALL, lr_fall=(self.decay_plan.decay_start, self.decay_plan.decay_end))
        if self._logs_at(step):
            levels = self.levels.means() if self.reports_levels else ()
            yield self._event(LOG, loss_by_level=levels, block_grad_norms=self.block_norms)
            self._start_window()  # the next LOG's images/s counts from here
        if self.sample is not None and schedule.sample_every and step % schedule.sample_every == 0:
            path, view = self._sample_grid()
            yield self._event(SAMPLE, path=path, network_view=view)
        if schedule.checkpoint_every and step % schedule.checkpoint_every == 0:
            yield self._event(CHECKPOINT, path=self._save())

    def _logs_at(self, step: int) -> bool:
        return step % self.schedule.log_every == 0 or step == self.schedule.end_step

    def _start_window(self) -> None:
        self.window_start, self.window_images = time.time(), 0

    def _event(self, kind: str, **news) -> LoopEvent:
        return LoopEvent(
            kind,
            self.step,
            self.batch_loss,
            self.smoothed_loss,
            lr=self.state.lr_scheduler.get_last_lr()[0],
            images_per_s=self.window_images / max(time.time() - self.window_start, 1e-9),
            elapsed_s=time.time() - self.training_run.started,
            labels=self.labels,
            grad_norm=self.grad_norm,
            **news,
        )

    def _record(self) -> dict:
        record = {**self.training_run.record, "steps": self.step}
        if self.decay_plan is not None:  # where the rate fell to zero: the plan's last share, or the budget's
            record["learning_rate_fall"] = [self.decay_plan.decay_start, self.decay_plan.decay_end]
        return record

    def _sample_grid(self) -> tuple[Path, Path | None]:
        """The sample grid, and the picture of what the network sees (if asked for), from one export."""
        name = f"step-{self.step:06d}.png"
        path, view = self.training_run.folder / "samples" / name, None
        if self.network_view is not None:
            view = self.training_run.folder / "network_view" / name
        if self.is_main:
            pipeline = self.export(self._record())
            self.sample(pipeline, path)
            if view is not None:
                self.network_view(pipeline, view)
        return path, view

    def _save(self) -> Path:
        """A checkpoint at this step, written by the main process; only the newest few are kept."""
        folder = checkpoint_folder(self.training_run.folder, self.step)
        if self.is_main:
            pipeline = self.export(self._record())
            save_checkpoint(folder, self.step, self.state, pipeline, self.checkpoint_extra(self.step))
            prune_checkpoints(self.training_run.folder, self.schedule.keep_checkpoints)
        return folder

    def _save_unless_saved(self) -> Path | None:
        """A checkpoint at this step, unless there is one (just saved, or the one the run resumed from)."""
        if checkpoint_folder(self.training_run.folder, self.step).is_dir():
            return None
        return self._save()

    def finish(self, saved_as: str = "pipeline") -> Path:
        """After the last step: a checkpoint at it (unless there is one), the final pipeline and
        training_record.json in the run folder, samples/final.png. Returns the pipeline folder."""
        run, accelerator = self.training_run, self.training_run.accelerator
        wall = time.time() - run.started
        final = {**self._record(), "wall_time_s": round(wall, 1), "final_loss": round(self.smoothed_loss, 5)}
        digest = weights_digest(self.model.parameters(), self.state.ema.shadow_params)
        final["weights_sha256_per_process"] = gather_object([digest])
        if len(set(final["weights_sha256_per_process"])) > 1:
            accelerator.print("warning: the processes ended with different weights; the main process's are saved")
        self._save_unless_saved()
        pipeline_dir = run.folder / "pipeline"
        if self.is_main:
            pipeline = self.export(final)
            pipeline.save_pretrained(pipeline_dir)
            if self.sample is not None:
                self.sample(pipeline, run.folder / "samples" / "final.png")
            write_text_atomic(run.folder / "training_record.json", json.dumps(final, indent=2) + "\n")
            accelerator.print(f"done: {self.step} steps in {wall / 60:.1f} min; {saved_as} saved to {pipeline_dir}")
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return pipeline_dir


def sample_grid(pipe: TextToImagePipeline, sampling: SampleConfig, path: Path, own_defaults: bool = False) -> None:
    """The config's sample prompts at seed 0, a row each (one image each: all in one row); `own_defaults`: at
    the pipeline's own steps, guidance and sampler (a distilled student's) rather than the config's."""
    s = sampling
    settings = dict(num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale, scheduler=s.scheduler)
    if own_defaults:
        settings = {}
    images = pipe(s.prompts, num_images_per_prompt=s.images_per_prompt, seed=0, output_type="pt", **settings).images
    path.parent.mkdir(parents=True, exist_ok=True)
    per_row = s.images_per_prompt if s.images_per_prompt > 1 else len(s.prompts)
    save_image(images.cpu(), path, nrow=per_row, normalize=True, value_range=(-1, 1), padding=1)


def weights_digest(*tensor_lists) -> str:
    """A short fingerprint of the weights, to check that all processes hold the same ones."""
    digest = hashlib.sha256()
    for tensor in itertools.chain(*tensor_lists):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
