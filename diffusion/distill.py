"""Distil a trained pipeline into a few-step student with guidance built in.

    python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --max-minutes 30
    python -m diffusion.distill --teacher runs/tiny --output-dir runs/tiny-fast --max-steps 20
    python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --resume latest

The student starts as a copy of the teacher that also reads the guidance scale (student.py) and learns,
on the teacher's own training images and captions, to make in one UNet call per step what the guided
teacher makes in many (distill_targets.py):
  * progressive (default): rounds of halving, e.g. 16 guided teacher steps -> 8 -> 4 student steps;
    each round's student teaches the next. Sampled with DDIM.
  * consistency: one stage, sampled with diffusers' LCMScheduler.
The run folder gets loss.csv, checkpoints/step-N/ (the last K, written atomically; --resume latest),
stages/stage-R/ (each finished round's student, the next round's teacher), samples/final.png and
pipeline/: a folder that `TextToImagePipeline.from_pretrained` loads and whose stored defaults are the
student's steps, guidance and sampler.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from .checkpoint import find_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint
from .cli import SAVED_ON_STOP, ArgumentParser, run, stop_like_ctrl_c, typed_command
from .config import Config, config_from_dict
from .data import to_model_range
from .distill_targets import Batch, consistency_loss, progressive_loss
from .errors import UserError
from .pipeline import TextToImagePipeline
from .student import make_student
from .text import PromptEmbeddings
from .train import batch_text, draw_captions, prepare_data, sample_grid, write_log_row

METHODS = ("progressive", "consistency")
SAMPLER = {"progressive": "ddim", "consistency": "lcm"}
CONSISTENCY_GRID = 50  # LCMScheduler's original_inference_steps: the teacher steps k = 1000 / 50 timesteps apart


@dataclass
class DistillSettings:
    teacher: str
    output_dir: str
    method: str = "progressive"
    steps: int = 4  # the student's sampling steps (UNet calls per image)
    teacher_steps: int = 16  # progressive: the guided teacher's DDIM steps; halved each round down to `steps`
    max_steps: int = 2000  # optimizer steps over all rounds
    max_minutes: float | None = None
    batch_size: int = 64
    learning_rate: float = 2e-4
    warmup_steps: int = 50
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
        rounds = math.log2(self.teacher_steps / self.steps) if self.teacher_steps > 0 else 0
        if self.method == "progressive" and (rounds < 1 or rounds != int(rounds)):
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
        if not 0 <= self.guidance_min <= self.guidance <= self.guidance_max <= 30:
            raise UserError(
                "need 0 <= guidance-min <= guidance <= guidance-max <= 30, got "
                f"{self.guidance_min:g}, {self.guidance:g}, {self.guidance_max:g}"
            )
        if self.ema_decay is None:
            self.ema_decay = 0.99 if self.method == "progressive" else 0.95

    @property
    def stage_steps(self) -> list[int]:
        """The student's sampling steps in each round: e.g. [8, 4] from a 16-step teacher."""
        if self.method == "consistency":
            return [self.steps]
        rounds = int(math.log2(self.teacher_steps // self.steps))
        return [self.steps * 2 ** (rounds - 1 - r) for r in range(rounds)]


def sampling_grid(steps: int, num_train_timesteps: int) -> torch.Tensor:
    """The timesteps of `steps` DDIM steps with trailing spacing, ending at -1 (the clean image).
    Equal to DDIMScheduler's for steps that divide 1000, and nested: the 8-step grid holds the 4-step one."""
    return torch.tensor([num_train_timesteps - 1 - (k * num_train_timesteps) // steps for k in range(steps + 1)])


def step_generator(seed: int, step: int) -> torch.Generator:
    """All randomness of one step comes from (seed, step): resuming needs no saved RNG state."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101 + 7)


def draw_batch(data, config, settings: DistillSettings, noise_scheduler, stage_steps: int, rng, device):
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
        grid, fine = sampling_grid(stage_steps, T), sampling_grid(2 * stage_steps, T)
        k = torch.randint(stage_steps, (size,), generator=rng)
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


def export(student, ema: EMAModel, teacher_pipe, record: dict, defaults: dict) -> TextToImagePipeline:
    """A pipeline of the EMA student, with its few-step defaults stored in model_index.json."""
    unet = copy.deepcopy(student).float().eval()
    ema.copy_to(unet.parameters())
    pipe = TextToImagePipeline(unet=unet, scheduler=copy.deepcopy(teacher_pipe.scheduler))
    pipe.generation_defaults = defaults
    pipe.training_record = record
    pipe.caption_index = teacher_pipe.caption_index
    pipe.set_progress_bar_config(disable=True)
    return pipe


def distill(settings: DistillSettings, resume: str | None = None, command: str = "") -> Path:
    """Run the distillation; return the exported pipeline folder."""
    started = time.time()
    run_dir = Path(settings.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    teacher_pipe, config = load_teacher(settings)
    device = teacher_pipe.unet.device
    data = prepare_data(config, run_dir)
    noise_scheduler = teacher_pipe.scheduler
    alphas_cumprod = noise_scheduler.alphas_cumprod.to(device)
    stages = settings.stage_steps

    stage, stage_step, step = 0, 0, 0
    checkpoint = find_checkpoint(run_dir, resume) if resume else None
    if checkpoint is not None:
        stage = json.loads((checkpoint / "training_state.json").read_text()).get("stage", 0)
    teacher = frozen(teacher_pipe.unet) if stage == 0 else frozen(stage_teacher(run_dir, stage, device))
    student, ema, optimizer, lr_scheduler = new_student(teacher, settings, stage_iterations(settings, stage))
    if checkpoint is not None:
        meta = load_checkpoint(checkpoint, unet=student, ema=ema, optimizer=optimizer, lr_scheduler=lr_scheduler)
        step, stage_step = meta["step"], meta["stage_step"]
        print(f"resumed from {checkpoint} at step {step} (round {stage + 1} of {len(stages)})")
    target = None
    if settings.method == "consistency":  # the slowly-moving copy whose answers are the targets: the EMA weights
        target = frozen(copy.deepcopy(student))
        ema.copy_to(target.parameters())

    record = distillation_record(settings, teacher_pipe.training_record, student, command)

    def defaults(stage_index: int) -> dict:
        return {
            "num_inference_steps": stages[stage_index],
            "guidance_scale": settings.guidance,
            "scheduler": SAMPLER[settings.method],
        }

    def save(at_step: int) -> None:
        pipe = export(student, ema, teacher_pipe, {**record, "steps": at_step}, defaults(stage))
        save_checkpoint(
            run_dir / "checkpoints" / f"step-{at_step:06d}",
            step=at_step,
            unet=student,
            ema=ema,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            pipeline=pipe,
            extra={"stage": stage, "stage_step": stage_step},
        )
        prune_checkpoints(run_dir, settings.keep_checkpoints)

    log_path = run_dir / "loss.csv"
    if step == 0 or not log_path.exists():
        write_log_row(log_path, ["step", "round", "student_steps", "loss", "lr", "images_per_s", "elapsed_s"], "w")
    print(
        f"distilling {settings.teacher} ({settings.method}, rounds of {stages} steps) on {device}; run folder {run_dir}"
    )
    first_stage, budget_s = stage, None if settings.max_minutes is None else settings.max_minutes * 60
    progress = tqdm(total=settings.max_steps, initial=step, desc="distilling", unit="step")
    recent, window_start, window_images = float("nan"), time.time(), 0
    try:
        while True:
            # Each remaining round gets its share of the steps and of the time budget.
            deadline = None if budget_s is None else budget_s * (stage + 1 - first_stage) / (len(stages) - first_stage)
            over_time = deadline is not None and time.time() - started > deadline
            if stage_step >= stage_iterations(settings, stage) or over_time:
                if stage + 1 == len(stages):
                    break
                finished = export(student, ema, teacher_pipe, {**record, "steps": step}, defaults(stage))
                finished.save_pretrained(run_dir / "stages" / f"stage-{stage}")
                stage, stage_step = stage + 1, 0
                teacher = frozen(finished.unet)
                student, ema, optimizer, lr_scheduler = new_student(
                    teacher, settings, stage_iterations(settings, stage)
                )
                progress.write(f"round {stage + 1} of {len(stages)}: {stages[stage]} steps, taught by the round before")
                continue
            student.train()
            rng = step_generator(settings.seed, step)
            batch, later = draw_batch(data, config, settings, noise_scheduler, stages[stage], rng, device)
            if settings.method == "progressive":
                loss = progressive_loss(student, teacher, batch, later[0], later[1], alphas_cumprod)
            else:
                loss = consistency_loss(student, target, teacher, batch, later[0], alphas_cumprod)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            ema.step(student.parameters())
            if target is not None:
                ema.copy_to(target.parameters())  # the consistency target moves slowly with the student
            step, stage_step = step + 1, stage_step + 1
            window_images += settings.batch_size
            recent = loss.item() if math.isnan(recent) else 0.95 * recent + 0.05 * loss.item()
            progress.update(1)
            if step % settings.log_every == 0:
                speed = window_images / (time.time() - window_start)
                lr = lr_scheduler.get_last_lr()[0]
                progress.set_postfix(round=f"{stage + 1}/{len(stages)}", loss=f"{recent:.4f}", img_s=f"{speed:.0f}")
                elapsed = time.time() - started
                row = [step, stage + 1, stages[stage], f"{recent:.5f}", f"{lr:.3e}", f"{speed:.1f}", f"{elapsed:.1f}"]
                write_log_row(log_path, row)
                window_start, window_images = time.time(), 0
            if step % settings.checkpoint_every == 0:
                save(step)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted at step {step}; saving a checkpoint first", file=sys.stderr)
        save(step)
        raise
    progress.close()

    wall = time.time() - started
    final = {**record, "steps": step, "wall_time_s": round(wall, 1), "final_loss": round(recent, 5)}
    if not (run_dir / "checkpoints" / f"step-{step:06d}").is_dir():
        save(step)
    pipe = export(student, ema, teacher_pipe, final, defaults(stage))
    pipeline_dir = run_dir / "pipeline"
    pipe.save_pretrained(pipeline_dir)
    sample_grid(pipe, config, run_dir / "samples" / "final.png", own_defaults=True)
    (run_dir / "training_record.json").write_text(json.dumps(final, indent=2) + "\n")
    print(f"done: {step} steps in {wall / 60:.1f} min; {stages[stage]}-step student saved to {pipeline_dir}")
    return pipeline_dir


def load_teacher(settings: DistillSettings) -> tuple[TextToImagePipeline, Config]:
    """The teacher pipeline and the config it was trained with (its data, captions and sample prompts)."""
    teacher = TextToImagePipeline.from_pretrained(settings.teacher, device=settings.device)
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
    """The optimizer steps of one round: an equal share of --max-steps."""
    rounds = len(settings.stage_steps)
    return (stage + 1) * settings.max_steps // rounds - stage * settings.max_steps // rounds


def stage_teacher(run_dir: Path, stage: int, device) -> UNet2DConditionModel:
    """The teacher of round `stage`: the student that finished the round before."""
    folder = run_dir / "stages" / f"stage-{stage - 1}"
    if not (folder / "model_index.json").is_file():
        raise UserError(f"cannot resume round {stage + 1}: {folder} (the round before it) is missing; start anew")
    return TextToImagePipeline.from_pretrained(folder, device=str(device)).unet


def new_student(teacher, settings: DistillSettings, iterations: int):
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
    lr_scheduler = get_scheduler(
        "constant_with_warmup",
        optimizer,
        num_warmup_steps=settings.warmup_steps,
        num_training_steps=iterations,
    )
    return student, ema, optimizer, lr_scheduler


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
        help=f"progressive: guided teacher steps, halved each round (default {d.teacher_steps})",
    )
    parser.add_argument("--max-steps", type=int, default=d.max_steps, help=f"optimizer steps (default {d.max_steps})")
    parser.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes and export")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
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


if __name__ == "__main__":
    main()
