"""Distil a trained pipeline into a few-step student with guidance built in.

    python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --max-minutes 30
    python -m diffusion.distill --teacher runs/tiny --output-dir runs/tiny-fast --max-steps 20
    python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --resume latest

The student starts as a copy of the teacher that also reads the guidance scale (student.py) and learns,
on the teacher's own training images and captions, to make in one UNet call per step what the guided
teacher makes in many (distill_targets.py):
  * progressive (default): stages of halving, e.g. 16 guided teacher steps -> 8 -> 4 student steps;
    each stage's student teaches the next. Sampled with DDIM.
  * consistency: one stage, sampled with diffusers' LCMScheduler.
Each stage is one run of the training loop (loop.py) with the stage's student, loss and export.
The run folder gets loss.csv, checkpoints/step-N/ (the last K, written atomically; --resume latest),
stages/stage-S/ (each finished stage's student, the next stage's teacher), samples/final.png and
pipeline/: a folder that `TextToImagePipeline.from_pretrained` loads and whose stored defaults are the
student's steps, guidance and sampler.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from diffusers.training_utils import EMAModel

from ..common.cli import SAVED_ON_STOP, ArgumentParser, run, stop_like_ctrl_c, typed_command
from ..common.config import Config, config_from_dict
from ..common.errors import UserError
from ..data.datasets import to_model_range
from ..model.device import pick_device
from ..model.student import make_student
from ..model.text import PromptEmbeddings
from ..sampling.pipeline import TextToImagePipeline
from .checkpoint import TrainingState, find_checkpoint, load_checkpoint, read_checkpoint_meta
from .distill_targets import Batch, consistency_loss, progressive_loss
from .loop import LossFunction, Run, Schedule, TrainingLoop, make_accelerator, sample_grid
from .lr_schedule import check_schedule, learning_rate_schedule
from .progress import Console, LossLog, follow
from .training_data import TrainingData, batch_text, draw_captions, prepare_data

METHODS = ("progressive", "consistency")
SAMPLER = {"progressive": "ddim", "consistency": "lcm"}
CONSISTENCY_GRID = 50  # LCMScheduler's original_inference_steps: the teacher steps k = 1000 / 50 timesteps apart
DISTILLATION_STREAM = 7  # step_generator's stream: other random draws than the teacher's training made
# loss.csv's columns between the step and the loss, named as in earlier runs' logs ("round": the stage, from 1).
LOG_LABELS = ("round", "student_steps")


@dataclass
class DistillSettings:
    teacher: str
    output_dir: str
    method: str = "progressive"
    steps: int = 4  # the student's sampling steps (UNet calls per image)
    teacher_steps: int = 16  # progressive: the guided teacher's DDIM steps; halved each stage down to `steps`
    max_steps: int = 2000  # optimizer steps over all stages
    max_minutes: float | None = None
    batch_size: int = 64
    learning_rate: float = 2e-4
    warmup_steps: int = 50
    # as train.lr_schedule (lr_schedule.py); warmup_stable_decay falls to zero over each stage's last share
    lr_schedule: str = "constant_with_warmup"
    lr_decay_share: float = 0.2
    guidance_min: float = 1.0  # the scales the student learns; uniform in [min, max]
    guidance_max: float = 6.0
    guidance: float = 3.0  # the student's default scale
    ema_decay: float | None = None  # None: 0.99 for progressive, 0.95 (the target network) for consistency
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 20
    seed: int = 0
    data_dir: str | None = None
    device: str | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"unknown method '{self.method}'; choose one of: {', '.join(METHODS)}")
        if not 1 <= self.steps <= 4:
            raise UserError(f"steps must be 1 to 4 (the point of a fast student), got {self.steps}")
        stages = math.log2(self.teacher_steps / self.steps) if self.teacher_steps > 0 else 0
        if self.method == "progressive" and (stages < 1 or stages != int(stages)):
            raise UserError(
                f"teacher-steps must be steps times a power of two (e.g. {self.steps * 4}), got {self.teacher_steps}"
            )
        for name in ("max_steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserError(f"max-minutes must be above 0, got {self.max_minutes}")
        if self.learning_rate <= 0:
            raise UserError(f"learning-rate must be above 0, got {self.learning_rate}")
        check_schedule(self.lr_schedule, self.lr_decay_share, keys=("lr-schedule", "lr-decay-share"))
        if not 0 <= self.guidance_min <= self.guidance <= self.guidance_max <= 30:
            raise UserError(
                "need 0 <= guidance-min <= guidance <= guidance-max <= 30, got "
                f"{self.guidance_min:g}, {self.guidance:g}, {self.guidance_max:g}"
            )
        if self.ema_decay is None:
            self.ema_decay = 0.99 if self.method == "progressive" else 0.95

    @property
    def stage_steps(self) -> list[int]:
        """The student's sampling steps in each stage: e.g. [8, 4] from a 16-step teacher."""
        if self.method == "consistency":
            return [self.steps]
        stages = int(math.log2(self.teacher_steps // self.steps))
        return [self.steps * 2 ** (stages - 1 - stage) for stage in range(stages)]


def sampling_grid(steps: int, num_train_timesteps: int) -> torch.Tensor:
    """The timesteps of `steps` DDIM steps with trailing spacing, ending at -1 (the clean image).
    Equal to DDIMScheduler's for steps that divide 1000, and nested: the 8-step grid holds the 4-step one."""
    return torch.tensor([num_train_timesteps - 1 - (k * num_train_timesteps) // steps for k in range(steps + 1)])


def draw_batch(data, config, settings: DistillSettings, noise_scheduler, student_steps: int, rng, device):
    """Real training images with their captions, noised to the student's timesteps; with each image's
    next timestep(s) on the teacher's path."""
    size = settings.batch_size
    indices = torch.randint(len(data.dataset), (size,), generator=rng)
    clean = to_model_range(data.dataset.images[indices])
    caption_ids = draw_captions(data, indices, config, rng)
    text = batch_text(data.embeddings, caption_ids, config, rng)
    empty = data.embeddings[torch.zeros(size, dtype=torch.long)]
    length = int(empty.mask.sum(1).max())
    empty = PromptEmbeddings(empty.tokens[:, :length].float(), empty.mask[:, :length], empty.pooled)
    w = settings.guidance_min + (settings.guidance_max - settings.guidance_min) * torch.rand(size, generator=rng)
    T = noise_scheduler.config.num_train_timesteps
    if settings.method == "progressive":
        grid, fine = sampling_grid(student_steps, T), sampling_grid(2 * student_steps, T)
        k = torch.randint(student_steps, (size,), generator=rng)
        t, later = grid[k], (fine[2 * k + 1], grid[k + 1])
    else:
        gap = T // CONSISTENCY_GRID
        t = (torch.randint(CONSISTENCY_GRID, (size,), generator=rng) + 1) * gap - 1
        later = (t - gap,)
    noise = torch.randn(clean.shape, generator=rng)
    z = noise_scheduler.add_noise(clean, noise, t)
    batch = Batch(z.to(device), t.to(device), text.to(device), empty.to(device), w.to(device))
    return batch, [x.to(device) for x in later]


def frozen(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    return unet.eval().requires_grad_(False)


def export_student(state: TrainingState, teacher_pipe, record: dict, defaults: dict) -> TextToImagePipeline:
    """A pipeline of the EMA student, with its few-step defaults (generation_defaults.json)."""
    unet = copy.deepcopy(state.model).float().eval()
    state.ema.copy_to(unet.parameters())
    pipe = TextToImagePipeline(unet=unet, scheduler=copy.deepcopy(teacher_pipe.scheduler))
    pipe.generation_defaults = defaults
    pipe.training_record = record
    pipe.caption_index = teacher_pipe.caption_index
    pipe.set_progress_bar_config(disable=True)
    return pipe


def distill(settings: DistillSettings, resume: str | None = None, command: str = "") -> Path:
    """Run the distillation, one training loop per stage; return the exported pipeline folder."""
    started = time.time()  # the time budget covers loading the teacher and the data too
    accelerator = make_accelerator(pick_device(settings.device))
    if accelerator.num_processes > 1:
        raise UserError("distillation runs in one process; start it with python -m diffusion.distill")
    run_dir = Path(settings.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = find_checkpoint(run_dir, resume) if resume else None  # a wrong --resume fails before the work
    torch.manual_seed(settings.seed)
    teacher_pipe, config = load_teacher(settings, accelerator.device)
    data = prepare_data(config, run_dir)

    stage = read_checkpoint_meta(checkpoint).get("stage", 0) if checkpoint is not None else 0
    teacher = frozen(teacher_pipe.unet if stage == 0 else stage_teacher(run_dir, stage, accelerator.device))
    state = new_student(teacher, settings, stage_iterations(settings, stage))
    step = stage_step = 0
    if checkpoint is not None:
        meta = load_checkpoint(checkpoint, state)
        step, stage_step = meta["step"], meta["stage_step"]
        stages = len(settings.stage_steps)
        accelerator.print(f"resumed from {checkpoint} at step {step} (stage {stage + 1} of {stages})")
    record = distillation_record(settings, teacher_pipe.training_record, state.model, command)
    run = Run(run_dir, accelerator, record, started)
    return Distillation(settings, config, data, teacher_pipe, run, stage).run_stages(teacher, state, step, stage_step)


class Distillation:
    """The stages of one distillation run, each a TrainingLoop over a new student taught by the stage
    before (the first by the teacher pipeline); `first_stage` is where this process starts."""

    def __init__(
        self, settings: DistillSettings, config: Config, data: TrainingData, teacher_pipe, run: Run, first_stage: int
    ):
        self.settings, self.config, self.data, self.teacher_pipe = settings, config, data, teacher_pipe
        self.training_run, self.first_stage = run, first_stage
        self.student_steps = settings.stage_steps

    def run_stages(self, teacher, state: TrainingState, step: int, stage_step: int) -> Path:
        """From `step` (`stage_step` of them in the first stage) to the last stage; its student exported."""
        s, stage, stages = self.settings, self.first_stage, len(self.student_steps)
        log = LossLog(self.training_run.folder / "loss.csv", LOG_LABELS)
        smoothed_loss = log.start(step)
        self.training_run.accelerator.print(
            f"distilling {s.teacher} ({s.method}, stages of {self.student_steps} steps) on "
            f"{self.training_run.accelerator.device}; run folder {self.training_run.folder}"
        )
        console = Console(f"distilling, stage {stage + 1} of {stages}", s.max_steps, step)
        while True:
            loop = self.stage_loop(stage, teacher, state, stage_start=step - stage_step)
            follow(loop.run(step, smoothed_loss), log, console)
            loop.raise_if_diverged()
            if stage + 1 == stages:
                break
            teacher = frozen(self.save_stage(loop, stage))
            stage, step, stage_step, smoothed_loss = stage + 1, loop.step, 0, loop.smoothed_loss
            state = new_student(teacher, s, stage_iterations(s, stage))
            console.describe(f"distilling, stage {stage + 1} of {stages}")
            console.say(f"stage {stage + 1} of {stages}: {self.student_steps[stage]} steps, taught by the stage before")
        console.close()
        return loop.finish(saved_as=f"{s.steps}-step student")

    def stage_loop(self, stage: int, teacher, state: TrainingState, stage_start: int) -> TrainingLoop:
        """Stage `stage`: the student in `state` learns from `teacher` for the stage's share of the steps."""
        s, student_steps = self.settings, self.student_steps[stage]
        schedule = Schedule(
            end_step=stage_start + stage_iterations(s, stage),
            batch_size=s.batch_size,
            seed=s.seed,
            seed_stream=DISTILLATION_STREAM,
            grad_clip=1.0,
            log_every=s.log_every,
            checkpoint_every=s.checkpoint_every,
            keep_checkpoints=s.keep_checkpoints,
            deadline=self.deadline(stage),
        )
        defaults = {"num_inference_steps": student_steps, "guidance_scale": s.guidance, "scheduler": SAMPLER[s.method]}
        return TrainingLoop(
            self.training_run,
            state,
            schedule,
            loss=self.stage_loss(teacher, state, student_steps),
            export=lambda record: export_student(state, self.teacher_pipe, record, defaults),
            sample=lambda pipe, path: sample_grid(pipe, self.config.sample, path, own_defaults=True),
            checkpoint_extra=lambda step: {"stage": stage, "stage_step": step - stage_start},
            labels=dict(zip(LOG_LABELS, (stage + 1, student_steps), strict=True)),
        )

    def stage_loss(self, teacher, state: TrainingState, student_steps: int) -> LossFunction:
        """The loop's loss function for one stage: real images noised to the student's timesteps
        (draw_batch), the guided teacher's targets, the student's error. There is one process, so the
        share is the whole batch."""
        settings, config, data = self.settings, self.config, self.data
        noise_scheduler, device = self.teacher_pipe.scheduler, self.training_run.accelerator.device
        alphas_cumprod = noise_scheduler.alphas_cumprod.to(device)
        target = None
        if settings.method == "consistency":  # the slowly-moving copy whose answers are the targets
            target = frozen(copy.deepcopy(state.model))

        def loss(student, step: int, rng: torch.Generator, share: slice) -> torch.Tensor:
            batch, later = draw_batch(data, config, settings, noise_scheduler, student_steps, rng, device)
            if target is None:
                return progressive_loss(student, teacher, batch, later[0], later[1], alphas_cumprod)
            state.ema.copy_to(target.parameters())  # the target follows the student slowly: the EMA weights
            return consistency_loss(student, target, teacher, batch, later[0], alphas_cumprod)

        return loss

    def deadline(self, stage: int) -> float | None:
        """Each stage left gets an equal share of the time budget, which counts from the run's start."""
        if self.settings.max_minutes is None:
            return None
        stages_left = len(self.student_steps) - self.first_stage
        share = (stage + 1 - self.first_stage) / stages_left
        return self.training_run.started + self.settings.max_minutes * 60 * share

    def save_stage(self, loop: TrainingLoop, stage: int) -> UNet2DConditionModel:
        """The finished stage's student in stages/stage-S/, where a resumed run finds the next stage's
        teacher; returns its UNet."""
        finished = loop.export({**self.training_run.record, "steps": loop.step})
        finished.save_pretrained(self.training_run.folder / "stages" / f"stage-{stage}")
        return finished.unet


def load_teacher(settings: DistillSettings, device) -> tuple[TextToImagePipeline, Config]:
    """The teacher pipeline and the config it was trained with (its data, captions and sample prompts)."""
    teacher = TextToImagePipeline.from_pretrained(settings.teacher, device=str(device))
    if teacher.unet.config.time_cond_proj_dim is not None:
        raise UserError(f"{settings.teacher} is already a distilled student; give the full model as --teacher")
    if teacher.scheduler.config.prediction_type != "v_prediction":
        raise UserError("distillation needs a v-prediction teacher (train.prediction_type: v_prediction)")
    if "config" not in teacher.training_record:
        raise UserError(
            f"{settings.teacher} has no training config in its training_record.json; "
            "give a pipeline written by `python -m diffusion.train`"
        )
    config = config_from_dict(teacher.training_record["config"])
    if settings.data_dir is not None:
        config.data.data_dir = settings.data_dir
    return teacher, config


def distillation_record(settings: DistillSettings, teacher_record: dict, student, command: str) -> dict:
    """What the student's training_record.json says of how it was made, and from which teacher."""
    return {
        "command": command,
        "config": teacher_record["config"],
        "data": teacher_record.get("data"),
        "parameters": sum(p.numel() for p in student.parameters()),
        "teacher": {
            "path": str(settings.teacher),
            "command": teacher_record.get("command"),
            "steps": teacher_record.get("steps"),
        },
        "distillation": {k: v for k, v in vars(settings).items() if k not in ("teacher", "output_dir", "device")},
    }


def stage_iterations(settings: DistillSettings, stage: int) -> int:
    """The optimizer steps of one stage: an equal share of --max-steps."""
    stages = len(settings.stage_steps)
    return (stage + 1) * settings.max_steps // stages - stage * settings.max_steps // stages


def stage_teacher(run_dir: Path, stage: int, device) -> UNet2DConditionModel:
    """The teacher of stage `stage`: the student that finished the stage before."""
    folder = run_dir / "stages" / f"stage-{stage - 1}"
    if not (folder / "model_index.json").is_file():
        raise UserError(f"cannot resume stage {stage + 1}: {folder} (the stage before it) is missing; start anew")
    return TextToImagePipeline.from_pretrained(folder, device=str(device)).unet


def new_student(teacher, settings: DistillSettings, iterations: int) -> TrainingState:
    """A student initialised from its teacher, with a fresh EMA, optimizer and learning-rate warm-up."""
    if teacher.config.time_cond_proj_dim is None:
        student = make_student(teacher)
    else:
        student = copy.deepcopy(teacher).requires_grad_(True)
    student.train()
    ema = EMAModel(
        student.parameters(), decay=settings.ema_decay, model_cls=UNet2DConditionModel, model_config=student.config
    )
    optimizer = torch.optim.AdamW(student.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    lr_scheduler = learning_rate_schedule(
        settings.lr_schedule, optimizer, settings.warmup_steps, iterations, settings.lr_decay_share
    )
    return TrainingState(student, ema, optimizer, lr_scheduler)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m diffusion.distill",
        description="Distil a trained pipeline into a student that needs at most 4 UNet calls per image, "
        "classifier-free guidance included.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --max-minutes 30\n"
        "  python -m diffusion.distill --teacher runs/tiny --output-dir runs/tiny-fast --max-steps 20\n"
        "  python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --resume latest\n"
        "  python -m diffusion.sample --checkpoint runs/fast --prompt 'a coat'     # uses the student's defaults\n",
    )
    d = DistillSettings("", "")
    parser.add_argument("--teacher", required=True, help="pipeline or training-run folder of the full model")
    parser.add_argument("--output-dir", required=True, help="run folder; the student is written to its pipeline/")
    parser.add_argument("--method", default=d.method, help="progressive (default) or consistency")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"the student's steps, 1 to 4 (default {d.steps})")
    parser.add_argument(
        "--teacher-steps",
        type=int,
        default=d.teacher_steps,
        help=f"progressive: guided teacher steps, halved each stage (default {d.teacher_steps})",
    )
    parser.add_argument("--max-steps", type=int, default=d.max_steps, help=f"optimizer steps (default {d.max_steps})")
    parser.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes and export")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument(
        "--lr-schedule",
        default=d.lr_schedule,
        help=f"{d.lr_schedule} (default) or warmup_stable_decay: a fall to zero over each stage's last share",
    )
    parser.add_argument("--lr-decay-share", type=float, default=d.lr_decay_share, help="warmup_stable_decay's share")
    parser.add_argument("--guidance-min", type=float, default=d.guidance_min, help="lowest guidance scale learnt")
    parser.add_argument("--guidance-max", type=float, default=d.guidance_max, help="highest guidance scale learnt")
    parser.add_argument("--guidance", type=float, default=d.guidance, help="the student's default scale (3)")
    parser.add_argument("--ema-decay", type=float, help="default 0.99 (progressive), 0.95 (consistency)")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--resume", help="'latest' or a checkpoint folder (run/checkpoints/step-N)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--data-dir", help="folder with the dataset files (default: as the teacher was trained)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    def command():
        args = parse_args(argv)
        settings = DistillSettings(**{name: value for name, value in vars(args).items() if name != "resume"})
        command = typed_command("diffusion.distill", argv)
        distill(settings, resume=args.resume, command=command)

    stop_like_ctrl_c()
    run(command, stopped=SAVED_ON_STOP)
