"""Configs refuse unknown keys and wrong types, naming the key."""

from __future__ import annotations

import pytest

from diffusion.common.config import config_from_dict, load_config, override
from diffusion.common.errors import UserError

from .conftest import ROOT


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
