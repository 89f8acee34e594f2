"""Training checkpoints: everything needed to continue a run exactly, in safetensors and JSON.

A checkpoint folder `checkpoints/step-N/` holds
    training_state.safetensors   UNet weights, EMA weights, optimizer moments (tensors only)
    training_state.json          step, learning-rate schedule, EMA counters, optimizer settings
    pipeline/                    the EMA model exported as a ready-to-sample pipeline
It is written into a temporary folder and renamed into place, so an interrupted save never damages the
previous checkpoint. Nothing here is pickled: a checkpoint can be loaded without trusting its author.
Random state needs no saving: each step's randomness is derived from (seed, step), see train.py.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UserError
from .folders import replace_folder

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


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


def save_checkpoint(folder: Path, *, step: int, unet, ema, optimizer, lr_scheduler, pipeline, extra: dict) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tensors = {f"unet.{k}": v.detach().cpu().contiguous() for k, v in unet.state_dict().items()}
        ema_state = ema.state_dict()
        shadow = ema_state.pop("shadow_params")
        tensors.update({f"ema.{i}": p.detach().cpu().contiguous() for i, p in enumerate(shadow)})
        optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(optimizer_tensors)
        save_file(tensors, staging / STATE_TENSORS)
        meta = {"step": step, "ema": ema_state, "optimizer": optimizer_meta, "lr_scheduler": lr_scheduler.state_dict()}
        (staging / STATE_JSON).write_text(json.dumps({**meta, **extra}, indent=2, default=str) + "\n")
        pipeline.save_pretrained(staging / "pipeline")
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def load_checkpoint(folder: Path, *, unet, ema, optimizer, lr_scheduler) -> dict:
    """Restore the states in place; return the JSON metadata (with "step")."""
    try:
        meta = json.loads((folder / STATE_JSON).read_text())
        tensors = load_file(folder / STATE_TENSORS)
    except (OSError, json.JSONDecodeError, SafetensorError) as error:
        raise UserError(f"checkpoint {folder} is damaged ({error}); resume from an older one") from None
    unet_state = {k.removeprefix("unet."): v for k, v in tensors.items() if k.startswith("unet.")}
    try:
        unet.load_state_dict(unet_state)
    except RuntimeError:
        raise UserError(f"checkpoint {folder} holds a different model than this config; use the run's config") from None
    shadow = [tensors[f"ema.{i}"] for i in range(sum(k.startswith("ema.") for k in tensors))]
    ema.load_state_dict({**meta["ema"], "shadow_params": shadow})
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    lr_scheduler.load_state_dict(meta["lr_scheduler"])
    return meta
