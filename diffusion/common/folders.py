"""Files and folders written so that an interruption never leaves half of one under its final name,
and finding the pipeline folder inside whatever folder a user names."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

# The pipelines shipped with a source checkout, in the folder beside the package.
CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
SHIPPED_PIPELINE = CHECKPOINTS / "fashion-mnist"
SHIPPED_STUDENT = CHECKPOINTS / "fashion-mnist-fast"  # its distilled few-step student


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside `target`; when the block finishes, it replaces `target` in one rename.
    If the block fails, the staging folder is removed and `target` is as it was."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as error:
        raise UserError(f"{target} cannot be written ({error.strerror or error}); choose another folder") from None
    try:
        yield staging
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(source: Path, target: Path) -> None:
    """Move `source` to `target`, replacing an existing `target` with as short a gap as a rename allows."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers that go by it still work); renamed
    to `path` when the block finishes, removed if it fails. The name is this call's own, so processes
    that write the same file at once (each run's caption cache, say) never write into one another's."""
    staging = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")
    try:
        yield staging
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with staged_file(path) as staging:
        staging.write_text(text)


def writable_folder(path: Path, what: str) -> Path:
    """Create `path` if needed and prove a file can be written there, before any long work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"{what} {path} cannot be written ({error.strerror or error}); choose another folder") from None
    return path


def resolve_pipeline_folder(path: Path) -> Path:
    """A pipeline folder itself; a run folder's final `pipeline/`; or its newest checkpoint's."""
    if not path.exists():
        raise UserError(
            f"checkpoint {path} does not exist; train one with `python -m diffusion.train` or "
            "pass --checkpoint with a pipeline or run folder"
        )
    if (path / "model_index.json").is_file():
        return path
    if (path / "pipeline" / "model_index.json").is_file():
        return path / "pipeline"
    checkpoints = sorted((path / "checkpoints").glob("step-*"), key=checkpoint_step)
    for checkpoint in reversed(checkpoints):
        if (checkpoint / "pipeline" / "model_index.json").is_file():
            return checkpoint / "pipeline"
    raise UserError(
        f"{path} is not a pipeline (no model_index.json) nor a training run folder with one; "
        "pass a folder written by `python -m diffusion.train`"
    )


def checkpoint_step(folder: Path) -> int:
    """The step of a `step-N` checkpoint folder; -1 for a stray name, which then sorts first."""
    number = folder.name.removeprefix("step-")
    return int(number) if number.isdigit() else -1
