"""A tiny CIFAR-10-like data set written in torchvision's `cifar-10-batches-py` layout (pickled batches),
so the real reading code runs in tests. Class k is a square of its own colour on a dark background."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from diffusion.data import cifar

COLOURS = np.array(
    [
        [230, 40, 40],
        [40, 200, 40],
        [40, 40, 230],
        [230, 230, 40],
        [230, 40, 230],
        [40, 230, 230],
        [240, 140, 30],
        [140, 60, 200],
        [250, 250, 250],
        [120, 120, 120],
    ],
)


def make_colour_images(count: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    labels = [i % 10 for i in range(count)]
    images = rng.integers(0, 40, size=(count, 3, 32, 32))
    for i, label in enumerate(labels):
        top, left = rng.integers(4, 12, size=2)
        shade = rng.uniform(0.55, 1.0)
        images[i, :, top : top + 16, left : left + 16] = (COLOURS[label] * shade)[:, None, None]
    return images.astype(np.uint8), labels


def write_fake_cifar10(root: Path, per_batch: int = 40, test_count: int = 60) -> dict[str, str]:
    """Write root/cifar-10-batches-py/; return the md5 of each batch (the test trusts these instead of the
    official ones: the synthetic files cannot match those)."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    splits = [(name, per_batch, seed) for seed, name in enumerate(cifar.BATCHES[True])]
    splits += [(name, test_count, 100) for name in cifar.BATCHES[False]]
    md5 = {}
    for name, count, seed in splits:
        images, labels = make_colour_images(count, seed)
        entry = {
            "batch_label": name,
            "labels": labels,
            "data": images.reshape(count, -1),
            "filenames": [f"{name}_{i}.png" for i in range(count)],
        }
        payload = pickle.dumps(entry)
        (folder / name).write_bytes(payload)
        md5[name] = hashlib.md5(payload).hexdigest()
    names = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(names))
    return md5
