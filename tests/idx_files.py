"""Tiny Fashion-MNIST- and MNIST-like data written as real IDX files, so the real loading code runs in tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def make_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bright horizontal bar at row 2 + 2k on a dark background, at varied brightness."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 30, size=(count, 28, 28))
    brightness = rng.integers(120, 256, size=count)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = brightness[i]
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_fake_fashion_mnist(folder: Path, train_count: int = 320, test_count: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", train_count, 0), ("t10k", test_count, 1)):
        images, labels = make_images(count, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def write_fake_mnist(root: Path, train_count: int = 320, test_count: int = 60) -> Path:
    """The same bars as digits, in torchvision's MNIST layout (root/MNIST/raw/, files not gzipped)."""
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", train_count, 0), ("t10k", test_count, 1)):
        images, labels = make_images(count, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return root
