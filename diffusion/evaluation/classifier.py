"""The reference classifier: a small CNN that judges generated images.

It is trained by our own code on the real training split only, never on generated images, so its
verdict on a generated image is an outside opinion. Its penultimate layer (`features`) is the space in
which the Fréchet distance is measured: a feature space that knows these images, where an ImageNet
Inception network would only know photographs.

Saved as a folder: `model.safetensors` (weights) and `classifier.json` (dataset, class names,
architecture, test accuracy), loadable without unpickling anything.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..common.errors import UserError
from ..common.folders import CHECKPOINTS
from ..data.datasets import ImageDataset, kind, to_model_range

WEIGHTS = "model.safetensors"
INFO = "classifier.json"


def default_classifier_dir(dataset: str) -> Path:
    """Where the shipped classifier of a dataset lives, e.g. checkpoints/classifier-fashion-mnist."""
    return CHECKPOINTS / f"classifier-{dataset.replace('_', '-')}"


class Classifier(nn.Module):
    """Three conv blocks (conv-BN-ReLU twice, then 2x2 max-pool), a 3x3 grid of pooled activations (where
    on the garment a pattern is matters: shirt or T-shirt), one hidden layer (the features) and the class
    logits. Inputs are images in [-1, 1], as the pipeline makes them."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = (16, 32, 64),
        feature_dim: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.architecture = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "widths": list(widths),
            "feature_dim": feature_dim,
            "dropout": dropout,
        }
        layers, channels = [], in_channels
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(3), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(channels * 9, feature_dim), nn.BatchNorm1d(feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations (N, feature_dim)."""
        return self.hidden(self.body(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@torch.no_grad()
def embed(classifier: Classifier, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) of images in [-1, 1] (or uint8, converted), in batches, on the classifier's device."""
    logits, features = [], []
    for batch in model_batches(classifier, images, batch_size):
        feature = classifier.features(batch)
        features.append(feature.cpu())
        logits.append(classifier.head(feature).cpu())
    return torch.cat(logits), torch.cat(features)


def model_batches(classifier: Classifier, images: torch.Tensor, batch_size: int):
    """`images` in batches as the classifier takes them: in [-1, 1], on its device (and it in eval mode)."""
    classifier.eval()
    device = next(classifier.parameters()).device
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        yield (to_model_range(batch) if batch.dtype == torch.uint8 else batch.float()).to(device)


@torch.no_grad()
def conv_features(classifier: Classifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The last conv block's activations pooled on a 3x3 grid (N, 9 x channels): a wider, less
    class-minded view than `features`, which keeps more of the texture (knit, prints, seams) that a
    classifier's last layer learns to ignore."""
    return torch.cat([classifier.body(batch).cpu() for batch in model_batches(classifier, images, batch_size)])


@torch.no_grad()
def texture_features(classifier: Classifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Each conv block's activations summarised per channel by their mean and standard deviation over the
    image (N, 2 x (16 + 32 + 64)): the statistics style transfer matches to copy a texture (Gatys et al.
    2016). Taken before any pooling, so fine detail (knit, stripes, seams) that the pooled `features`
    and `conv_features` average away still moves them."""
    blocks = block_ends(classifier)
    rows = []
    for batch in model_batches(classifier, images, batch_size):
        stats, x = [], batch
        for index, layer in enumerate(classifier.body):
            x = layer(x)
            if index in blocks:
                stats += [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
        rows.append(torch.cat(stats, dim=1).cpu())
    return torch.cat(rows)


def block_ends(classifier: Classifier) -> set[int]:
    """Indices in `classifier.body` of each conv block's last ReLU (the layer before its max-pool)."""
    layers = list(classifier.body)
    return {i - 1 for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)}


def augment(images: torch.Tensor, generator: torch.Generator, flip: bool, shift: float = 2.0) -> torch.Tensor:
    """Random shifts of up to `shift` pixels (and left-right flips), a different one per image, in one
    vectorised `grid_sample` call: no per-image Python loop."""
    n, _, height, _ = images.shape
    theta = torch.zeros(n, 2, 3)
    scale = torch.ones(n)
    if flip:
        scale = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta[:, 0, 0], theta[:, 1, 1] = scale, 1.0
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * shift / height)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # Pad with the background value (-1 = black), not zero (= mid grey in the model range).
    return F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1


def dataset_accuracy(classifier: Classifier, test: ImageDataset) -> float:
    logits, _ = embed(classifier, test.images)
    return (logits.argmax(1) == test.labels).float().mean().item()


def train_classifier(
    train: ImageDataset,
    test: ImageDataset,
    epochs: int = 10,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Classifier, dict]:
    """Train on the whole training split, batches indexed from in-memory tensors; report test accuracy."""
    if not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"epochs must be a whole number of at least 1, got {epochs!r}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = Classifier(in_channels=train.image_shape[0], num_classes=len(train.class_names))
    images = to_model_range(train.images)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=learning_rate, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=epochs * steps_per_epoch)
    flip = kind(train.name) != "mnist"  # a mirrored digit is another glyph; a mirrored shoe is still a shoe
    started = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc="training classifier", disable=not progress)
    for _ in range(epochs):
        classifier.train()
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            batch = augment(images[index], generator, flip)
            loss = F.cross_entropy(classifier(batch), train.labels[index], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - started
    info = {
        "dataset": train.name,
        "class_names": list(train.class_names),
        "image_shape": list(train.image_shape),
        "architecture": classifier.architecture,
        "test_accuracy": round(dataset_accuracy(classifier, test), 4),
        "train_images": len(train),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
    }
    classifier.info = info
    return classifier.eval(), info


def save_classifier(classifier: Classifier, info: dict, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in classifier.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    (folder / INFO).write_text(json.dumps(info, indent=2) + "\n")
    return folder


def load_classifier(folder: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Load a saved classifier; its `info` (dataset, class names, test accuracy...) is attached."""
    folder = Path(folder)
    hint = "train one with `python -m diffusion.evaluate train-classifier --dataset NAME --out DIR`"
    if not (folder / INFO).is_file() or not (folder / WEIGHTS).is_file():
        raise UserError(f"no classifier in {folder} (it needs {INFO} and {WEIGHTS}); {hint}")
    try:
        info = json.loads((folder / INFO).read_text())
        classifier = Classifier(**info["architecture"])
        state = load_file(folder / WEIGHTS)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, SafetensorError) as error:
        raise UserError(f"the classifier in {folder} is damaged ({error}); {hint}") from None
    try:
        classifier.load_state_dict(state)
    except RuntimeError:  # missing, unexpected or differently shaped weights
        raise UserError(f"the classifier weights in {folder} do not match its {INFO}; {hint}") from None
    classifier.info = info
    return classifier.to(device).eval()
