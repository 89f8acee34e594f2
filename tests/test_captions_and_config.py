"""Captions carry the label and the brightness; configs refuse unknown keys and wrong types."""

from __future__ import annotations

import pytest
import torch

from diffusion.captions import (
    ATTRIBUTE_DARK,
    ATTRIBUTE_LIGHT,
    ATTRIBUTE_NONE,
    HELD_OUT_NAMES,
    TRAIN_NAMES,
    CaptionTable,
    brightness_attributes,
    caption,
    held_out_prompts,
)
from diffusion.config import config_from_dict, load_config, override
from diffusion.errors import UserError

from .conftest import ROOT


def words(text: str) -> set[str]:
    return set(text.replace("-", " ").split())


def test_captions_name_the_class_and_the_brightness():
    table = CaptionTable("fashion_mnist")
    labels = torch.arange(10).repeat(20)
    attributes = torch.tensor([ATTRIBUTE_DARK, ATTRIBUTE_LIGHT]).repeat(100)
    ids = table.sample(labels, attributes, attribute_probability=1.0, dropout=0.0)
    for label, attribute, index in zip(labels.tolist(), attributes.tolist(), ids.tolist(), strict=True):
        text = table.captions[index]
        assert any(name in text for name in TRAIN_NAMES["fashion_mnist"][label]), text
        assert ("dark" if attribute == ATTRIBUTE_DARK else "light") in text.split(), text


@pytest.mark.parametrize(
    ("template", "name", "attribute", "expected"),
    [
        ("a {name}", "ankle boot", "", "an ankle boot"),
        ("a photo of a {name}", "sneaker", "light", "a photo of a light sneaker"),
        ("a photo of a {name}", "trousers", "dark", "a photo of dark trousers"),
        ("a {name}", "pair of trousers", "", "a pair of trousers"),
        ("a photo of a {name}", "cowboy boots", "", "a photo of cowboy boots"),
    ],
)
def test_captions_are_grammatical(template, name, attribute, expected):
    assert caption(template, name, attribute) == expected


def test_every_caption_has_a_class_but_the_empty_one():
    table = CaptionTable("fashion_mnist")
    assert table.labels[0] == -1 and table.captions[0] == ""
    assert sorted(set(table.labels[1:])) == list(range(10))
    assert all(" a trousers" not in text and not text.startswith("a trousers") for text in table.captions)


def test_caption_dropout_gives_the_empty_caption_at_the_configured_rate():
    table = CaptionTable("fashion_mnist")
    labels = torch.zeros(4000, dtype=torch.long)
    ids = table.sample(labels, labels, 0.5, dropout=0.1, generator=torch.Generator().manual_seed(0))
    assert table.captions[0] == ""
    assert 0.08 < (ids == 0).float().mean().item() < 0.12
    no_attribute = table.sample(labels, torch.full_like(labels, ATTRIBUTE_DARK), 0.0, 0.0)
    assert not any("dark" in table.captions[i] for i in no_attribute.tolist())


def test_brightness_attribute_follows_mean_intensity_within_each_class():
    images = torch.stack([torch.full((1, 4, 4), v, dtype=torch.uint8) for v in (10, 100, 200, 20, 120, 250)])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attributes = brightness_attributes(images, labels, num_classes=2).tolist()
    assert attributes == [ATTRIBUTE_DARK, ATTRIBUTE_NONE, ATTRIBUTE_LIGHT] * 2


@pytest.mark.parametrize("dataset", ["fashion_mnist", "mnist", "cifar10"])
def test_held_out_names_never_appear_in_training_captions(dataset):
    training_words = set().union(*(words(c) for c in CaptionTable(dataset).captions))
    for names in HELD_OUT_NAMES[dataset]:
        for name in names:
            assert not (words(name) - {"pair", "of"}) & training_words, name
    assert len(held_out_prompts(dataset)) >= 10


def test_shipped_configs_load():
    for name in ("fashion_mnist", "mnist", "cifar10", "tiny"):
        config = load_config(ROOT / "configs" / f"{name}.yaml")
        assert config.train.max_steps > 0


def test_unknown_config_key_is_named():
    with pytest.raises(UserError, match="unknown config key 'train.learnig_rate'"):
        config_from_dict({"train": {"learnig_rate": 1e-3}})
    with pytest.raises(UserError, match="unknown config key 'trian'"):
        config_from_dict({"trian": {}})


def test_wrong_type_is_named():
    with pytest.raises(UserError, match="'train.batch_size' must be int"):
        config_from_dict({"train": {"batch_size": "big"}})
    with pytest.raises(UserError, match=r"'model.block_out_channels\[1\]' must be int"):
        config_from_dict({"model": {"block_out_channels": [32, "x"]}})
    assert config_from_dict({"train": {"learning_rate": "2e-3"}}).train.learning_rate == 2e-3


def test_cli_override_is_type_checked():
    config = config_from_dict({})
    override(config, "train.max_steps", 7)
    assert config.train.max_steps == 7
    with pytest.raises(UserError, match="train.max_steps"):
        override(config, "train.max_steps", "seven")
