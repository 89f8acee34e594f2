"""Training checkpoints: everything needed to continue a run exactly, in safetensors and JSON.

A checkpoint folder `checkpoints/step-N/` holds
    training_state.safetensors   UNet weights, EMA weights, optimizer moments (tensors only)
    training_state.json          step, learning-rate schedule, EMA counters, optimizer settings
    pipeline/                    the EMA model exported as a ready-to-sample pipeline
It is written into a temporary folder and renamed into place, so an interrupted save never damages the
previous checkpoint. Nothing here is pickled: a checkpoint can be loaded without trusting its author.
Random state needs no saving: each step's randomness is derived from (seed, step), see loop.py.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..common.errors import UserError
from ..common.folders import staged_folder

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


@dataclass
class TrainingState:
    """What the optimizer steps change and a checkpoint holds."""

    model: torch.nn.Module
    ema: EMAModel
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler


def checkpoint_folder(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:06d}"


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folders = [p for p in (run_dir / "checkpoints").glob("step-*") if (p / STATE_JSON).is_file()]
    return sorted(folders, key=lambda p: int(p.name.split("-")[1]))


def find_checkpoint(run_dir: Path, resume: str) -> Path:
    """`resume` is "latest" (newest checkpoint of run_dir) or a checkpoint folder path."""
    if resume == "latest":
        folders = checkpoint_folders(run_dir)
        if not folders:
            raise UserError(f"--resume latest: no checkpoint in {run_dir / 'checkpoints'}; start without --resume")
        return folders[-1]
    folder = Path(resume)
    if not (folder / STATE_JSON).is_file():
        raise UserError(
            f"--resume {resume}: not a checkpoint folder (no {STATE_JSON}); give 'latest' or a step-N folder"
        )
    return folder


def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, step: int, state: TrainingState, pipeline, extra: dict) -> None:
    """`state` at `step`, with `pipeline` (the EMA model, ready to sample) and `extra` in the JSON."""
    with staged_folder(folder) as staging:
        tensors = {f"unet.{k}": v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
        ema_state = state.ema.state_dict()
        shadow = ema_state.pop("shadow_params")
        tensors.update({f"ema.{i}": p.detach().cpu().contiguous() for i, p in enumerate(shadow)})
        optimizer_tensors, optimizer_meta = _flatten_optimizer(state.optimizer.state_dict())
        tensors.update(optimizer_tensors)
        save_file(tensors, staging / STATE_TENSORS)
        meta = {
            "step": step,
            "ema": ema_state,
            "optimizer": optimizer_meta,
            "lr_scheduler": state.lr_scheduler.state_dict(),
        }
        (staging / STATE_JSON).write_text(json.dumps({**meta, **extra}, indent=2, default=str) + "\n")
        pipeline.save_pretrained(staging / "pipeline")


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints. Each is first renamed to a hidden name, so a kill
    in the middle of the deletion leaves no half-deleted folder under a checkpoint's name."""
    for old in checkpoint_folders(run_dir)[:-keep] if keep > 0 else []:
        doomed = old.with_name(f".{old.name}.deleting")
        os.replace(old, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def remove_unfinished(run_dir: Path) -> None:
    """Delete what an interrupted save or prune left behind: hidden staging folders (`.step-N-xxxx`,
    `.step-N.old`, `.step-N.deleting`); complete checkpoints never have a leading dot."""
    for leftover in (run_dir / "checkpoints").glob(".step-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def read_checkpoint_meta(folder: Path) -> dict:
    """The checkpoint's JSON: its step, the schedule's and the EMA's counters, and what the run added."""
    try:
        return json.loads((folder / STATE_JSON).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"checkpoint {folder} is damaged ({error}); resume from an older one") from None


def load_checkpoint(folder: Path, state: TrainingState) -> dict:
    """Restore `state` in place; return the JSON metadata (with "step")."""
    meta = read_checkpoint_meta(folder)
    try:
        tensors = load_file(folder / STATE_TENSORS)
    except (OSError, SafetensorError) as error:
        raise UserError(f"checkpoint {folder} is damaged ({error}); resume from an older one") from None
    unet_state = {k.removeprefix("unet."): v for k, v in tensors.items() if k.startswith("unet.")}
    try:
        state.model.load_state_dict(unet_state)
    except RuntimeError:
        raise UserError(f"checkpoint {folder} holds a different model than this config; use the run's config") from None
    shadow = [tensors[f"ema.{i}"] for i in range(sum(k.startswith("ema.") for k in tensors))]
    state.ema.load_state_dict({**meta["ema"], "shadow_params": shadow})
    state.optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    state.lr_scheduler.load_state_dict(meta["lr_scheduler"])
    return meta
