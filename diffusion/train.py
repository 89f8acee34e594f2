"""Train the text-conditioned UNet.

    python -m diffusion.train --config configs/fashion_mnist.yaml
    python -m diffusion.train --config configs/tiny.yaml --max-steps 50 --output-dir runs/try
    python -m diffusion.train --config configs/fashion_mnist.yaml --resume latest
    accelerate launch -m diffusion.train --config configs/cifar10.yaml      # one or many GPUs

A run folder gets: loss.csv, samples/step-N.png (one row per prompt), checkpoints/step-N/ (the last K,
each with a ready-to-sample pipeline/), and pipeline/ (the final EMA model) at the end.

One step: pick a batch of images and captions, noise the images to random timesteps
(scheduler.add_noise), ask the UNet to predict the noise's velocity v, take the MSE (weighted by
min-SNR), backpropagate, clip, step AdamW and the learning-rate schedule, update the EMA copy.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import itertools
import json
import math
import os
import platform
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from safetensors.torch import load_file, save_file
from torchvision.utils import save_image
from tqdm.auto import tqdm

from .captions import CaptionBank, CaptionGrammar, brightness_attributes
from .checkpoint import find_checkpoint, load_checkpoint, prune_checkpoints, remove_unfinished, save_checkpoint
from .cli import SAVED_ON_STOP, ArgumentParser, run, stop_like_ctrl_c, typed_command
from .config import Config, load_config, override
from .data import ImageDataset, load_dataset, to_model_range
from .device import cpu_has_bf16, pick_device
from .errors import UserError
from .model import build_unet, count_parameters
from .nearest_caption import INDEX_PER_CLASS, CaptionIndex
from .pipeline import TextToImagePipeline
from .text import ENCODER_SHA256, PromptEmbeddings, shared_text_encoder


@dataclass
class TrainingData:
    """The dataset in memory with its brightness attributes, a bank of captions and their embeddings."""

    dataset: ImageDataset
    attributes: torch.Tensor
    captions: CaptionBank
    embeddings: PromptEmbeddings  # one row per caption in `captions`; tokens kept in fp16 to halve memory
    caption_index: CaptionIndex  # some of the captions, shipped with the pipeline for nearest-caption notes


def caption_embeddings(captions: list[str], cache_file: Path) -> PromptEmbeddings:
    """Encode the captions once; reuse the file while the captions and the encoder stay the same (a
    changed grammar, bank size or seed gives other captions, so a new file)."""
    key = _cache_key(captions)
    if cache_file.is_file():
        cached = load_file(cache_file)
        if cached.get("key") is not None and bytes(cached["key"].tolist()).decode() == key:
            return PromptEmbeddings(cached["tokens"], cached["mask"], cached["pooled"])
    # Encode in order of length, so each batch pads little; then back to the captions' order.
    order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
    encoder = shared_text_encoder("cpu")
    parts = [
        encoder.encode([captions[i] for i in order[start : start + 512]])
        for start in tqdm(range(0, len(captions), 512), desc="encoding captions", unit="batch", leave=False)
    ]
    embeddings = PromptEmbeddings.cat(parts)[torch.argsort(torch.tensor(order))]
    embeddings.tokens = embeddings.tokens.half()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "tokens": embeddings.tokens,
        "mask": embeddings.mask,
        "pooled": embeddings.pooled,
        "key": torch.tensor(list(key.encode()), dtype=torch.uint8),
    }
    staging = cache_file.with_suffix(f".{os.getpid()}.tmp")  # processes that write at once don't collide
    save_file({k: v.contiguous() for k, v in tensors.items()}, staging)
    staging.replace(cache_file)  # never a half-written cache under the real name
    return embeddings


def _cache_key(captions: list[str]) -> str:
    return hashlib.sha256(("\n".join(captions) + ENCODER_SHA256).encode()).hexdigest()


def prepare_data(config: Config, run_dir: Path) -> TrainingData:
    d = config.data
    dataset = load_dataset(d.dataset, d.data_dir, train=True, download=d.download)
    attributes = brightness_attributes(dataset.images, dataset.labels, len(dataset.class_names))
    captions = CaptionGrammar(d.dataset).bank(d.captions_per_class, seed=config.train.seed)
    embeddings = caption_embeddings(captions.captions, run_dir / "caption_embeddings.safetensors")
    index = CaptionIndex.from_captions(
        captions.captions, captions.labels, embeddings.pooled, d.dataset, INDEX_PER_CLASS
    )
    return TrainingData(dataset, attributes, captions, embeddings, index)


def step_generator(seed: int, step: int) -> torch.Generator:
    """All randomness of one step comes from (seed, step): resuming needs no saved RNG state, and every
    process draws the same numbers for the whole batch, so N processes train exactly as one does."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101)


def batch_indices(num_items: int, batch_size: int, step: int, seed: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """The step's batch, or process `rank`'s share of it when `world` processes split it: epoch-wise
    shuffling without replacement, derived from the step number alone, so every image is used once per
    epoch whatever the number of processes."""
    per_epoch = num_items // batch_size
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed + epoch))
    return order[position * batch_size : (position + 1) * batch_size][process_share(rank, world)]


def process_share(rank: int, world: int) -> slice:
    """Which rows of the batch process `rank` of `world` trains on: every world-th, starting at rank."""
    return slice(rank, None, world)


def batch_text(embeddings: PromptEmbeddings, caption_ids, config: Config, rng) -> PromptEmbeddings:
    """The batch's caption embeddings in fp32, cut to its longest caption, with the optional token dropout
    and sentence-embedding noise (see DataConfig)."""
    text = embeddings[caption_ids]
    if config.data.token_dropout > 0:
        hide = torch.rand(len(caption_ids), generator=rng) < config.data.token_dropout
        empty = embeddings[torch.zeros_like(caption_ids)]  # caption 0 is the empty caption
        text.tokens = torch.where(hide[:, None, None], empty.tokens, text.tokens)
        text.mask = torch.where(hide[:, None], empty.mask, text.mask)
    if config.data.pooled_noise > 0:
        text.pooled = text.pooled + config.data.pooled_noise * torch.randn(text.pooled.shape, generator=rng)
    length = int(text.mask.sum(1).max())  # the bank is padded to its longest caption; this batch needs less
    return PromptEmbeddings(text.tokens[:, :length].float(), text.mask[:, :length], text.pooled)


def draw_captions(data: TrainingData, indices, config: Config, rng) -> torch.Tensor:
    """One caption per image of the batch (indices into `data.captions`), drawn as the config says."""
    d = config.data
    labels, attributes = data.dataset.labels[indices], data.attributes[indices]
    return data.captions.sample(labels, attributes, d.attribute_probability, d.caption_dropout, rng)


def training_loss(
    unet, noise_scheduler: DDPMScheduler, data: TrainingData, indices, config: Config, rng, device, share=slice(None)
) -> torch.Tensor:
    """The mean denoising loss over this process's `share` of the batch (see the module docstring).
    Captions, noise and timesteps are drawn for the whole batch, then cut to the share."""
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
    gamma = config.train.snr_gamma
    if gamma is None:
        return per_image.mean()
    # Min-SNR weighting (Hang et al., 2023): stop easy, low-noise steps from dominating the loss.
    snr = compute_snr(noise_scheduler, timesteps)
    weight = snr.clamp(max=gamma) / (snr + 1 if noise_scheduler.config.prediction_type == "v_prediction" else snr)
    return (per_image * weight).mean()


def export_pipeline(ema: EMAModel, unet, noise_scheduler, record: dict, caption_index=None) -> TextToImagePipeline:
    """A pipeline holding a copy of the EMA weights (the weights that sample best)."""
    ema_unet = copy.deepcopy(unet).float().eval()
    ema.copy_to(ema_unet.parameters())
    pipe = TextToImagePipeline(unet=ema_unet, scheduler=copy.deepcopy(noise_scheduler))
    pipe.training_record = record
    pipe.caption_index = caption_index
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_grid(pipe: TextToImagePipeline, config: Config, path: Path, own_defaults: bool = False) -> None:
    """The config's sample prompts at seed 0, a row each; `own_defaults`: at the pipeline's own steps,
    guidance and sampler (a distilled student's) rather than the config's."""
    s = config.sample
    sampling = dict(num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale, scheduler=s.scheduler)
    if own_defaults:
        sampling = {}
    images = pipe(s.prompts, num_images_per_prompt=s.images_per_prompt, seed=0, output_type="pt", **sampling).images
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.cpu(), path, nrow=s.images_per_prompt, normalize=True, value_range=(-1, 1), padding=1)


def write_log_row(path: Path, row: list, mode: str = "a") -> None:
    """One CSV row, file closed again at once: the log survives any interruption."""
    with open(path, mode, newline="") as file:
        csv.writer(file).writerow(row)


def truncate_log(path: Path, last_step: int) -> float:
    """Drop the rows logged after `last_step`: a run killed between checkpoints logged steps that the
    resumed run trains again, and each step belongs in the log once. Return the last kept loss (NaN if
    none), from which the smoothed loss continues instead of starting afresh."""
    rows = path.read_text().splitlines(keepends=True)
    kept = rows[:1] + [row for row in rows[1:] if row.split(",")[0].isdigit() and int(row.split(",")[0]) <= last_step]
    staging = path.with_suffix(".tmp")
    staging.write_text("".join(kept))
    staging.replace(path)
    return float(kept[-1].split(",")[1]) if len(kept) > 1 else float("nan")


def weights_digest(*tensor_lists) -> str:
    """A short fingerprint of the weights, to check that all processes hold the same ones."""
    digest = hashlib.sha256()
    for tensor in itertools.chain(*tensor_lists):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class StopSignals:
    """Ctrl-C and SIGTERM during the loop only ask for a stop: the step in flight finishes, all processes
    agree on the stop at the same step (see the loop), and the main one saves a checkpoint. A signal that
    arrived in the middle of an optimizer step would otherwise leave a checkpoint between two steps."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self.request)
        return self

    def request(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def check_batch(batch_size: int, num_images: int, num_processes: int) -> None:
    if batch_size > num_images:
        raise UserError(f"batch-size {batch_size} is larger than the dataset ({num_images} images)")
    if batch_size < num_processes:
        raise UserError(f"batch-size {batch_size} is smaller than the number of processes ({num_processes})")


def training_precision(wanted: str, device: torch.device) -> str:
    """The mixed precision the config asks for, or fp32 where bf16 would only be emulated."""
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


def train(config: Config, resume: str | None = None, command: str = "") -> Path:
    """Run the training loop; return the exported pipeline folder.

    `train.batch_size` is the whole batch of one step, split across processes: 1 or N processes (GPUs,
    machines) follow the same learning-rate schedule, see the same images and reach the same weights."""
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    t = config.train
    device = pick_device(t.device)
    precision = training_precision(t.mixed_precision, device)
    accelerator = Accelerator(mixed_precision=precision, cpu=device.type == "cpu")
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    run_dir = Path(t.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(t.seed)
    started = time.time()  # the time budget covers preparing the data too
    checkpoint = find_checkpoint(run_dir, resume) if resume else None  # a wrong --resume fails before the work

    with accelerator.main_process_first():  # the main process writes the caption cache; the others read it
        data = prepare_data(config, run_dir)
    check_batch(t.batch_size, len(data.dataset), world)
    unet = build_unet(config.model, data.dataset.image_shape)
    noise_scheduler = DDPMScheduler(
        num_train_timesteps=t.num_train_timesteps, beta_schedule=t.beta_schedule, prediction_type=t.prediction_type
    )
    optimizer = torch.optim.AdamW(unet.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    lr_scheduler = get_scheduler(
        t.lr_schedule, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=t.max_steps
    )
    ema = EMAModel(
        unet.parameters(),
        decay=t.ema_decay,
        use_ema_warmup=True,
        power=2 / 3,
        model_cls=UNet2DConditionModel,
        model_config=unet.config,
    )
    start_step = 0
    if checkpoint is not None:
        restored = load_checkpoint(checkpoint, unet=unet, ema=ema, optimizer=optimizer, lr_scheduler=lr_scheduler)
        start_step = restored["step"]
        accelerator.print(f"resumed from {checkpoint} at step {start_step}")
    # The learning-rate schedule stays outside prepare(): accelerate would step it once per process per
    # step, as if each process had its own batch; here the batch is shared, so it steps once per step.
    unet, optimizer = accelerator.prepare(unet, optimizer)
    ema.to(accelerator.device)

    n_params = count_parameters(unet)
    record = training_record(config, data, command, n_params, accelerator.device, world, precision)
    log_path = run_dir / "loss.csv"
    recent_loss = float("nan")  # smoothed, for the log and the progress bar (main process only)
    if is_main:
        remove_unfinished(run_dir)  # what a killed run left half-written
        if start_step == 0 or not log_path.exists():
            write_log_row(log_path, ["step", "loss", "lr", "images_per_s", "elapsed_s"], mode="w")
        else:
            recent_loss = truncate_log(log_path, start_step)

    def checkpoint_dir(step: int) -> Path:
        return run_dir / "checkpoints" / f"step-{step:06d}"

    def save(step: int) -> None:
        if not is_main:
            return
        pipe = export_pipeline(
            ema, accelerator.unwrap_model(unet), noise_scheduler, {**record, "steps": step}, data.caption_index
        )
        save_checkpoint(
            checkpoint_dir(step),
            step=step,
            unet=accelerator.unwrap_model(unet),
            ema=ema,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            pipeline=pipe,
            extra={"config": config.to_dict()},
        )
        prune_checkpoints(run_dir, t.keep_checkpoints)

    accelerator.print(
        f"training {n_params / 1e6:.2f}M parameters on {len(data.dataset)} {data.dataset.name} images, "
        f"{accelerator.device} x {world}, mixed precision {precision}; run folder {run_dir}"
    )
    step, window_start, window_images = start_step, time.time(), 0
    progress = tqdm(total=t.max_steps, initial=start_step, desc="training", unit="step", disable=not is_main)
    share = process_share(rank, world)
    share_size = len(range(t.batch_size)[share])
    unet.train()
    with StopSignals() as stop:
        while step < t.max_steps:
            rng = step_generator(t.seed, step)
            indices = batch_indices(len(data.dataset), t.batch_size, step, t.seed)
            with accelerator.autocast():
                loss = training_loss(unet, noise_scheduler, data, indices, config, rng, accelerator.device, share)
            # The processes' gradients are averaged; weighting each share by its size makes that average the
            # gradient of the whole batch's mean loss, also when the shares differ by one image.
            loss_sum = loss * share_size
            accelerator.backward(loss_sum * world / len(indices))
            if t.grad_clip:
                accelerator.clip_grad_norm_(unet.parameters(), t.grad_clip)
            optimizer.step()
            if not accelerator.optimizer_step_was_skipped:  # fp16 skips steps whose gradients overflowed
                lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            ema.step(unet.parameters())
            step += 1
            over_time = t.max_minutes is not None and time.time() - started > t.max_minutes * 60
            # One small all-reduce: the whole batch's loss, and whether any process was asked to stop or ran
            # out of time, so that all of them stop at the same step.
            shared = torch.tensor([loss_sum.item(), stop.requested, over_time], device=accelerator.device)
            shared = accelerator.reduce(shared, "sum").tolist()
            batch_loss = shared[0] / len(indices)
            window_images += len(indices)
            recent_loss = batch_loss if math.isnan(recent_loss) else 0.95 * recent_loss + 0.05 * batch_loss
            progress.update(1)
            if step % t.log_every == 0 or step == t.max_steps:
                speed = window_images / (time.time() - window_start)
                lr = lr_scheduler.get_last_lr()[0]
                progress.set_postfix(loss=f"{recent_loss:.4f}", lr=f"{lr:.2e}", img_s=f"{speed:.0f}")
                row = [step, f"{recent_loss:.5f}", f"{lr:.3e}", f"{speed:.1f}", f"{time.time() - started:.1f}"]
                if is_main:
                    write_log_row(log_path, row)
                window_start, window_images = time.time(), 0
            if is_main and t.sample_every and step % t.sample_every == 0:
                pipe = export_pipeline(ema, accelerator.unwrap_model(unet), noise_scheduler, record, data.caption_index)
                sample_grid(pipe, config, run_dir / "samples" / f"step-{step:06d}.png")
            if t.checkpoint_every and step % t.checkpoint_every == 0:
                save(step)
            if shared[1]:
                progress.close()
                accelerator.print(f"\ninterrupted at step {step}; saving a checkpoint first")
                if not (t.checkpoint_every and step % t.checkpoint_every == 0):
                    save(step)
                raise KeyboardInterrupt
            if shared[2]:
                accelerator.print(f"\ntime budget of {t.max_minutes} minutes reached at step {step}")
                break
    progress.close()

    wall = time.time() - started
    final = {**record, "steps": step, "wall_time_s": round(wall, 1), "final_loss": round(recent_loss, 5)}
    final["weights_sha256_per_process"] = gather_object([weights_digest(unet.parameters(), ema.shadow_params)])
    if len(set(final["weights_sha256_per_process"])) > 1:
        accelerator.print("warning: the processes ended with different weights; the main process's are saved")
    if not checkpoint_dir(step).is_dir():  # unless the loop just saved this very step
        save(step)
    pipeline_dir = run_dir / "pipeline"
    if is_main:
        pipe = export_pipeline(ema, accelerator.unwrap_model(unet), noise_scheduler, final, data.caption_index)
        pipe.save_pretrained(pipeline_dir)
        sample_grid(pipe, config, run_dir / "samples" / "final.png")
        (run_dir / "training_record.json").write_text(json.dumps(final, indent=2) + "\n")
        accelerator.print(f"done: {step} steps in {wall / 60:.1f} min; pipeline saved to {pipeline_dir}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return pipeline_dir


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m diffusion.train",
        description="Train a small text-to-image diffusion model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml\n"
        "  python -m diffusion.train --config configs/tiny.yaml --max-steps 50 --output-dir runs/try\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml --max-minutes 30\n"
        "  python -m diffusion.train --config configs/fashion_mnist.yaml --resume latest\n",
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
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"])
    parser.add_argument("--resume", help="'latest' or a checkpoint folder (run/checkpoints/step-N)")
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
    return config


def main(argv=None) -> None:
    def command():
        args = parse_args(argv)
        config = config_from_args(args)
        command = typed_command("diffusion.train", argv)
        train(config, resume=args.resume, command=command)

    stop_like_ctrl_c()
    run(command, stopped=SAVED_ON_STOP)


if __name__ == "__main__":
    main()
