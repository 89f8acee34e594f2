"""CIFAR-10 from torchvision's `cifar-10-batches-py` folder.

The batches are Python pickles, and unpickling a file can run any code its author wrote into it. So each
file is opened only after its md5 matches the one torchvision publishes for the official file, and a
file that does not match is never opened: the error says so and how to get a good copy.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_md5

from ..common.errors import UserError

FOLDER = CIFAR10.base_folder  # "cifar-10-batches-py"
BATCHES = {True: [name for name, _ in CIFAR10.train_list], False: [name for name, _ in CIFAR10.test_list]}
MD5 = dict(CIFAR10.train_list + CIFAR10.test_list)  # file name -> md5 of the official file


def batches_folder(root: Path) -> Path | None:
    """`root` itself or `root/cifar-10-batches-py`, whichever holds the batches."""
    for folder in (root, root / FOLDER):
        if (folder / BATCHES[True][0]).is_file() or (folder / BATCHES[False][0]).is_file():
            return folder
    return None


def read_cifar10(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32) and labels int64 (N,) of one split, each batch md5-checked first."""
    images, labels = [], []
    for name in BATCHES[train]:
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path} is missing; download CIFAR-10 again (data.download: true) or copy the folder")
        if not check_md5(str(path), MD5[name]):
            raise UserError(
                f"{path} is not the official CIFAR-10 file (its md5 differs from {MD5[name]}), so it was not "
                "opened (a pickle can run code); delete the folder and download CIFAR-10 again"
            )
        with open(path, "rb") as file:
            entry = pickle.load(file, encoding="latin1")  # safe: the bytes are the published file's
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)
