"""Train the text-conditioned UNet.

    python -m diffusion.train --config configs/fashion_mnist.yaml
    python -m diffusion.train --config configs/tiny.yaml --max-steps 50 --output-dir runs/try
    python -m diffusion.train --config configs/fashion_mnist.yaml --resume latest
    python -m diffusion.train --config configs/fashion_mnist.yaml --init-from checkpoints/fashion-mnist  # fine-tune
    accelerate launch -m diffusion.train --config configs/cifar10.yaml      # one or many GPUs

A run folder gets: loss.csv, loss_by_level.csv (the unweighted error by noise level), samples/step-N.png
(one row per prompt), checkpoints/step-N/ (the last K, each with a ready-to-sample pipeline/), and pipeline/
(the final EMA model) at the end; a run watched from the Train tab also network_view/step-N.png.

One step: pick a batch of images and captions, noise the images to random timesteps
(scheduler.add_noise), ask the UNet to predict the noise's velocity v, take the MSE (weighted by
min-SNR), backpropagate, clip, step AdamW and the learning-rate schedule, update the EMA copy. The loop
around it (loop.py) is the one distillation runs too; this file gives it the UNet, the loss and the export.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.training_utils import EMAModel, compute_snr

from ..common.cli import SAVED_ON_STOP, ArgumentParser, run, stop_like_ctrl_c, typed_command
from ..common.config import Config, TrainConfig, load_config, override
from ..common.errors import UserError
from ..data.datasets import to_model_range
from ..model.device import auto_precision, cpu_has_bf16, pick_device
from ..model.text import PromptEmbeddings
from ..model.unet import build_unet, count_parameters
from ..sampling.pipeline import TextToImagePipeline
from .checkpoint import TrainingState, find_checkpoint, load_checkpoint
from .loop import LoopEvent, LossFunction, Run, Schedule, TrainingLoop, make_accelerator, sample_grid
from .lr_schedule import check_schedule, learning_rate_schedule
from .network_view import look, save_network_view
from .noise_levels import BatchLoss, level_names
from .progress import Console, LevelLog, LossLog, follow
from .training_data import TrainingData, batch_indices, batch_text, draw_captions, prepare_data


def training_loss(
    unet, noise_scheduler: DDPMScheduler, data: TrainingData, indices, config: Config, rng, device, share=slice(None)
) -> BatchLoss:
    """The mean denoising loss over this process's `share` of the batch (see the module docstring), with
    each image's unweighted error and timestep for the loss by noise level. Captions, noise and timesteps
    are drawn for the whole batch, then cut to the share."""
    caption_ids = draw_captions(data, indices, config, rng)
    text = batch_text(data.embeddings, caption_ids, config, rng)[share].to(device)
    noise = torch.randn((len(indices), *data.dataset.image_shape), generator=rng)[share].to(device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(indices),), generator=rng)
    timesteps = timesteps[share].to(device)
    clean = to_model_range(data.dataset.images[indices[share]]).to(device)
    noisy = noise_scheduler.add_noise(clean, noise, timesteps)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(clean, noise, timesteps)
    else:
        target = noise
    prediction = unet(
        noisy, timesteps, encoder_hidden_states=text.tokens, encoder_attention_mask=text.mask, class_labels=text.pooled
    ).sample
    per_image = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    gamma, loss = config.train.snr_gamma, per_image.mean()
    if gamma is not None:
        # Min-SNR weighting (Hang et al., 2023): stop easy, low-noise steps from dominating the loss.
        snr = compute_snr(noise_scheduler, timesteps)
        weight = snr.clamp(max=gamma) / (snr + 1 if noise_scheduler.config.prediction_type == "v_prediction" else snr)
        loss = (per_image * weight).mean()
    return BatchLoss(loss, per_image.detach(), timesteps, noise_scheduler.config.num_train_timesteps)


def export_pipeline(ema: EMAModel, unet, noise_scheduler, record: dict, caption_index=None) -> TextToImagePipeline:
    """A pipeline holding a copy of the EMA weights (the weights that sample best)."""
    ema_unet = copy.deepcopy(unet).float().eval()
    ema.copy_to(ema_unet.parameters())
    pipe = TextToImagePipeline(unet=ema_unet, scheduler=copy.deepcopy(noise_scheduler))
    pipe.training_record = record
    pipe.caption_index = caption_index
    pipe.set_progress_bar_config(disable=True)
    return pipe


def check_batch(batch_size: int, num_images: int, num_processes: int) -> None:
    if batch_size > num_images:
        raise UserError(f"batch-size {batch_size} is larger than the dataset ({num_images} images)")
    if batch_size < num_processes:
        raise UserError(f"batch-size {batch_size} is smaller than the number of processes ({num_processes})")


def training_precision(wanted: str, device: torch.device) -> str:
    """The mixed precision the config asks for ("auto": whatever pays on this device), or fp32 where bf16
    would only be emulated."""
    if wanted not in ("auto", "no", "bf16", "fp16"):
        raise UserError(f"unknown mixed_precision '{wanted}'; use auto, no, bf16 or fp16")
    if wanted == "auto":
        return auto_precision(device)
    if wanted == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        return "no"  # bf16 without hardware support is slower than fp32
    if wanted == "fp16" and device.type != "cuda":
        raise UserError("mixed_precision fp16 needs a CUDA GPU; use bf16 or no")
    return wanted


def training_record(config: Config, data: TrainingData, command: str, n_params: int, device, world: int, precision):
    """What the run's training_record.json says of how the model was made (the steps are added later)."""
    return {
        "command": command,
        "config": config.to_dict(),
        "data": {
            "dataset": data.dataset.name,
            "source": data.dataset.source,
            "images": len(data.dataset),
            "captions": len(data.captions) - 1,  # not counting the empty caption
            "distinct_captions": len(set(data.captions.captions)) - 1,
        },
        "parameters": n_params,
        "device": str(device),
        "processes": world,
        "mixed_precision": precision,
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "python": platform.python_version(),
        },
    }


def training_objective(config: Config, data: TrainingData, noise_scheduler, device) -> LossFunction:
    """The loop's loss function for training: the step's batch (batch_indices), then training_loss."""
    t = config.train

    def loss(unet, step: int, rng: torch.Generator, share: slice) -> BatchLoss:
        indices = batch_indices(len(data.dataset), t.batch_size, step, t.seed)
        return training_loss(unet, noise_scheduler, data, indices, config, rng, device, share)

    return loss


def pipeline_weights(folder: str) -> dict[str, torch.Tensor]:
    """A trained pipeline's UNet weights, to fine-tune (train.init_from)."""
    return TextToImagePipeline.from_pretrained(folder, device="cpu").unet.state_dict()


def start_from(unet, weights: dict[str, torch.Tensor], folder: str) -> None:
    """Copy `weights` (pipeline_weights of `folder`) into `unet`; its shape must be the config's."""
    try:
        unet.load_state_dict(weights)
    except RuntimeError:
        raise UserError(
            f"--init-from {folder}: its UNet is not the shape the config's model section builds; "
            "use the config it was trained with"
        ) from None


def new_training_state(unet, t: TrainConfig) -> TrainingState:
    """AdamW, the configured learning-rate schedule and an EMA copy with warm-up, around a fresh UNet."""
    optimizer = torch.optim.AdamW(unet.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    lr_scheduler = learning_rate_schedule(t.lr_schedule, optimizer, t.warmup_steps, t.max_steps, t.lr_decay_share)
    ema = EMAModel(
        unet.parameters(),
        decay=t.ema_decay,
        use_ema_warmup=True,
        power=2 / 3,
        model_cls=UNet2DConditionModel,
        model_config=unet.config,
    )
    return TrainingState(unet, ema, optimizer, lr_scheduler)


def network_view_example(data: TrainingData) -> tuple[torch.Tensor, PromptEmbeddings, str]:
    """The training image that the network-view picture shows (the data set's first), in the model's range,
    with the first caption of its class in the bank: its embeddings and its words."""
    label = int(data.dataset.labels[0])
    caption = data.captions.labels.index(label)
    text = data.embeddings[[caption]]
    return (
        to_model_range(data.dataset.images[0]),
        PromptEmbeddings(text.tokens.float(), text.mask, text.pooled),
        (data.captions.captions[caption]),
    )


def training_schedule(t: TrainConfig, started: float, watched: bool = False) -> Schedule:
    """The whole run in one loop; the time budget counts from `started` (preparing the data included).
    `watched`: each block's gradient norm in the LOG events too."""
    return Schedule(
        end_step=t.max_steps,
        batch_size=t.batch_size,
        seed=t.seed,
        grad_clip=t.grad_clip,
        log_every=t.log_every,
        sample_every=t.sample_every,
        checkpoint_every=t.checkpoint_every,
        keep_checkpoints=t.keep_checkpoints,
        deadline=None if t.max_minutes is None else started + t.max_minutes * 60,
        block_norms=watched,
    )


@dataclass
class Training:
    """A run ready to take its steps: its loop, the step it starts at, and its loss.csv. `events()` takes
    them; the command line follows them with a progress bar, the web page's Train tab with its views."""

    loop: TrainingLoop
    start_step: int
    smoothed_loss: float
    log: LossLog
    level_log: LevelLog
    description: str  # what is trained on what, where
    network_view_caption: str = ""  # the caption of the image the network-view pictures show

    def events(self) -> Iterator[LoopEvent]:
        return self.loop.run(self.start_step, self.smoothed_loss)

    def write_logs(self, event: LoopEvent) -> None:
        """loss.csv and loss_by_level.csv: what every follower of the events writes."""
        self.log(event)
        self.level_log(event)


def prepare_training(config: Config, resume: str | None = None, command: str = "", watched: bool = False) -> Training:
    """Everything before the first step: the data and its caption bank, the UNet, the optimizer, the
    checkpoint to resume from. `train.batch_size` is the whole batch of one step, split across processes:
    1 or N processes (GPUs, machines) follow the same learning-rate schedule and reach the same weights.
    `watched` (the Train tab): also the blocks' gradient norms, and a network-view picture (network_view.py,
    in network_view/) with every sample grid."""
    t = config.train
    started = time.time()  # the time budget covers preparing the data too
    device = pick_device(t.device)
    precision = training_precision(t.mixed_precision, device)
    accelerator = make_accelerator(device, precision)
    run_dir = Path(t.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(t.seed)
    checkpoint = find_checkpoint(run_dir, resume) if resume else None  # a wrong --resume fails before the work
    initial = pipeline_weights(t.init_from) if t.init_from and checkpoint is None else None  # and --init-from

    with accelerator.main_process_first():  # the main process writes the caption cache; the others read it
        data = prepare_data(config, run_dir)
    check_batch(t.batch_size, len(data.dataset), accelerator.num_processes)
    unet = build_unet(config.model, data.dataset.image_shape)
    if initial is not None:
        start_from(unet, initial, t.init_from)
        accelerator.print(f"starting from the weights of {t.init_from}")
    noise_scheduler = DDPMScheduler(
        num_train_timesteps=t.num_train_timesteps, beta_schedule=t.beta_schedule, prediction_type=t.prediction_type
    )
    state = new_training_state(unet, t)
    start_step = 0
    if checkpoint is not None:
        start_step = load_checkpoint(checkpoint, state)["step"]
        accelerator.print(f"resumed from {checkpoint} at step {start_step}")

    n_params, world = count_parameters(unet), accelerator.num_processes
    record = training_record(config, data, command, n_params, accelerator.device, world, precision)
    clean, text, caption = network_view_example(data)

    def network_view(pipe: TextToImagePipeline, path: Path) -> None:
        save_network_view(look(pipe.unet, pipe.scheduler, clean, text), path)

    loop = TrainingLoop(
        Run(run_dir, accelerator, record, started),
        state,
        training_schedule(t, started, watched),
        loss=training_objective(config, data, noise_scheduler, accelerator.device),
        export=lambda record: export_pipeline(state.ema, unet, noise_scheduler, record, data.caption_index),
        sample=lambda pipe, path: sample_grid(pipe, config.sample, path),
        network_view=network_view if watched else None,
        checkpoint_extra=lambda step: {"config": config.to_dict()},
    )
    main = accelerator.is_main_process
    log = LossLog(run_dir / "loss.csv", enabled=main)
    level_log = LevelLog(run_dir / "loss_by_level.csv", level_names(t.num_train_timesteps), enabled=main)
    level_log.start(start_step)
    description = (
        f"training {n_params / 1e6:.2f}M parameters on {len(data.dataset)} {data.dataset.name} images, "
        f"{accelerator.device} x {world}, mixed precision {precision}; run folder {run_dir}"
    )
    return Training(loop, start_step, log.start(start_step), log, level_log, description, caption)


def train(config: Config, resume: str | None = None, command: str = "") -> Path:
    """Run the training loop with a progress bar; return the exported pipeline folder."""
    training = prepare_training(config, resume, command)
    loop = training.loop
    loop.training_run.accelerator.print(training.description)
    console = Console("training", config.train.max_steps, training.start_step, enabled=loop.is_main)
    follow(training.events(), training.write_logs, console)
    console.close()
    loop.raise_if_diverged()
    return loop.finish()


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m diffusion.train",
        description="Train a small text-to-image diffusion model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml\n"
        "  python -m diffusion.train --config configs/tiny.yaml --max-steps 50 --output-dir runs/try\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml --max-minutes 30\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml --resume latest\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml --init-from checkpoints/fashion-mnist\n",
    )
    parser.add_argument("--config", required=True, help="YAML file, e.g. configs/fashion_mnist.yaml")
    parser.add_argument("--output-dir", help="run folder (default: train.output_dir of the config)")
    parser.add_argument("--data-dir", help="folder with the dataset files (looked at before anything else)")
    parser.add_argument("--max-steps", type=int, help="number of optimizer steps")
    parser.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes and export")
    parser.add_argument("--checkpoint-every", type=int, help="save a checkpoint every N steps")
    parser.add_argument("--sample-every", type=int, help="write a sample grid every N steps (0 = never)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"])
    parser.add_argument("--resume", help="'latest' or a checkpoint folder (run/checkpoints/step-N)")
    parser.add_argument("--init-from", help="fine-tune: start from this trained pipeline folder's weights")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    return parser.parse_args(argv)


FLAG_TO_KEY = {
    "output_dir": "train.output_dir",
    "data_dir": "data.data_dir",
    "max_steps": "train.max_steps",
    "max_minutes": "train.max_minutes",
    "checkpoint_every": "train.checkpoint_every",
    "sample_every": "train.sample_every",
    "batch_size": "train.batch_size",
    "learning_rate": "train.learning_rate",
    "mixed_precision": "train.mixed_precision",
    "seed": "train.seed",
    "device": "train.device",
    "init_from": "train.init_from",
}


def config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    for flag, key in FLAG_TO_KEY.items():
        value = getattr(args, flag)
        if value is not None:
            override(config, key, value)
    t = config.train
    for name in ("max_steps", "batch_size"):
        if getattr(t, name) < 1:
            raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(t, name)}")
    if t.max_minutes is not None and t.max_minutes <= 0:
        raise UserError(f"max-minutes must be above 0, got {t.max_minutes}")
    if t.learning_rate <= 0:
        raise UserError(f"learning-rate must be above 0, got {t.learning_rate}")
    check_schedule(t.lr_schedule, t.lr_decay_share)
    return config


def main(argv=None) -> None:
    def command():
        args = parse_args(argv)
        config = config_from_args(args)
        command = typed_command("diffusion.train", argv)
        train(config, resume=args.resume, command=command)

    stop_like_ctrl_c()
    run(command, stopped=SAVED_ON_STOP)
