"""CIFAR-10's colour path (3x32x32) and MNIST's digits (1x28x28) end to end on small synthetic files in
torchvision's layouts: read, train, sample a grid, export, reload, sample from the CLI, train a tiny
reference classifier and evaluate. And CIFAR-10's pickled batches are never opened unchecked."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion import evaluate, sample
from diffusion.common.errors import UserError
from diffusion.data import cifar
from diffusion.data.datasets import CLASS_NAMES, load_dataset
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.training.train import train

from .cifar_files import make_colour_images, write_fake_cifar10
from .idx_files import make_images, write_fake_mnist
from .processes import options


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("fake-cifar10")
    return root, write_fake_cifar10(root)


@pytest.fixture
def trusted_cifar(cifar_root, monkeypatch) -> Path:
    """The synthetic batches' own md5s in place of the official ones: the checking code still runs."""
    root, md5 = cifar_root
    monkeypatch.setattr(cifar, "MD5", md5)
    return root


class WritesAFileWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_cifar_batches_that_fail_the_md5_check_are_never_unpickled(tmp_path):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    marker = tmp_path / "code-ran"
    for name in cifar.BATCHES[True] + cifar.BATCHES[False]:
        (folder / name).write_bytes(pickle.dumps({"data": WritesAFileWhenUnpickled(marker), "labels": []}))
    with pytest.raises(UserError, match="md5") as error:
        load_dataset("cifar10", tmp_path, train=True, download=False)
    assert "data_batch_1" in str(error.value) and "not opened" in str(error.value)
    assert not marker.exists()


def test_cifar_folder_reads_back_pixel_for_pixel(trusted_cifar):
    train_set = load_dataset("cifar10", trusted_cifar, train=True, download=False)
    test_set = load_dataset("cifar10", trusted_cifar / cifar.FOLDER, train=False, download=False)
    assert train_set.image_shape == (3, 32, 32) and len(train_set) == 5 * 40 and len(test_set) == 60
    first_batch, labels = make_colour_images(40, seed=0)
    assert torch.equal(train_set.images[:40], torch.from_numpy(first_batch))  # channels first, in order
    assert train_set.labels[:40].tolist() == labels and train_set.class_names[9] == "truck"


def test_mnist_folder_in_torchvisions_layout_reads_back(tmp_path):
    dataset = load_dataset("mnist", write_fake_mnist(tmp_path), train=False, download=False)
    images, labels = make_images(60, seed=1)
    assert dataset.image_shape == (1, 28, 28) and dataset.class_names[3] == "3"
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images)) and dataset.labels.tolist() == labels.tolist()


def channel_spread(image: Image.Image) -> float:
    """Mean absolute difference between an image's colour channels (0 for a grey image)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    return float(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "shape", "prompts"),
    [("cifar10", (3, 32, 32), ["a frog", "a red truck"]), ("mnist", (1, 28, 28), ["digit 3", "a handwritten 7"])],
)
def test_train_sample_export_reload_and_evaluate(dataset, shape, prompts, base_tiny_config, request, tmp_path):
    root = request.getfixturevalue("trusted_cifar") if dataset == "cifar10" else write_fake_mnist(tmp_path / "data")
    config = copy.deepcopy(base_tiny_config)
    config.data.dataset, config.data.data_dir = dataset, str(root)
    config.train.output_dir, config.train.max_steps, config.train.checkpoint_every = str(tmp_path / "run"), 20, 10
    config.sample.prompts = prompts
    run = Path(config.train.output_dir)
    train(config)

    record = json.loads((run / "pipeline" / "training_record.json").read_text())
    assert record["data"]["dataset"] == dataset and record["steps"] == 20
    grid = Image.open(run / "samples" / "final.png")
    assert grid.mode == "RGB"  # save_image writes RGB; a grey model's grid has equal channels
    assert (channel_spread(grid) > 1) == (shape[0] == 3)

    pipe = TextToImagePipeline.from_pretrained(run)
    assert (pipe.unet.config.in_channels, pipe.unet.config.sample_size) == shape[:2]
    images = pipe(prompts[0], num_images_per_prompt=2, num_inference_steps=4, seed=0).images
    assert [image.size for image in images] == [shape[1:]] * 2
    assert {image.mode for image in images} == {"RGB" if shape[0] == 3 else "L"}

    out = tmp_path / "samples"
    sample.main(options(checkpoint=run, prompt=prompts[1], num_images=2, steps=4, seed=0, out=out))
    written = [Image.open(p) for p in sorted(out.glob("*.png")) if "grid" not in p.name]
    assert len(written) >= 2 and all(image.size == shape[1:] for image in written)

    classifier = tmp_path / "classifier"
    evaluate.main(["train-classifier", *options(dataset=dataset, data_dir=root, epochs=15, out=classifier)])
    info = json.loads((classifier / "classifier.json").read_text())
    assert info["image_shape"] == list(shape) and info["test_accuracy"] > 0.5  # the synthetic classes are easy

    report = tmp_path / "evaluation"
    evaluate.main(options(checkpoint=run, classifier=classifier, fast=True, steps=4, data_dir=root, out=report))
    metrics = json.loads((report / "metrics.json").read_text())
    judged = metrics["class_prompts"]  # one prompt per class at least, each judged, the total their mean
    assert len(judged["per_prompt"]) >= len(CLASS_NAMES[dataset])
    assert judged["accuracy"] == pytest.approx(sum(judged["per_prompt"].values()) / len(judged["per_prompt"]))
    assert metrics["frechet"]["generated"] > 0
