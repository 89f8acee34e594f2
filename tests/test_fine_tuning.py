"""Fine-tuning (train.init_from, --init-from): a run that starts from a trained pipeline's weights."""

from __future__ import annotations

import pytest
import torch

from diffusion import TextToImagePipeline
from diffusion.common.errors import UserError
from diffusion.training.train import main as train_main
from diffusion.training.train import train

from .conftest import ROOT


def unet_weights(folder) -> dict[str, torch.Tensor]:
    return TextToImagePipeline.from_pretrained(folder, device="cpu").unet.state_dict()


def test_a_fine_tuning_run_starts_from_the_pipelines_weights(tiny_run, tiny_config):
    trained = unet_weights(tiny_run / "pipeline")
    tiny_config.train.max_steps, tiny_config.train.learning_rate = 1, 1e-9  # one step that barely moves them
    fresh = unet_weights(train(tiny_config))
    tiny_config.train.init_from = str(tiny_run / "pipeline")
    tiny_config.train.output_dir += "-fine"
    fine = unet_weights(train(tiny_config))
    assert fine.keys() == trained.keys()
    for key in trained:
        torch.testing.assert_close(fine[key], trained[key], rtol=0, atol=1e-5, msg=key)
    moved = max((fresh[key] - trained[key]).abs().max().item() for key in trained)
    assert moved > 0.01  # without init_from the run starts from a fresh UNet


def test_a_pipeline_of_another_shape_is_refused_with_what_to_do(tiny_run, tiny_config):
    tiny_config.model.block_out_channels = [16, 16]
    tiny_config.train.init_from = str(tiny_run / "pipeline")
    with pytest.raises(UserError, match="not the shape the config's model section builds"):
        train(tiny_config)


def test_the_command_line_names_a_missing_folder_before_preparing_the_data(run_cli, tmp_path):
    """The data folder is missing too (and downloads are off): the --init-from folder is named first."""
    config = tmp_path / "no-data.yaml"
    tiny = (ROOT / "configs" / "tiny.yaml").read_text()
    config.write_text(tiny.replace("data:\n", f"data:\n  download: false\n  data_dir: {tmp_path / 'no-data'}\n", 1))
    args = ["--config", str(config), "--output-dir", str(tmp_path / "run")]
    code, err = run_cli(train_main, args)
    assert code != 0 and any("no-data" in line for line in err), err  # what the run says without --init-from
    code, err = run_cli(train_main, [*args, "--init-from", str(tmp_path / "nowhere")])
    assert code != 0
    assert any("nowhere" in line for line in err), err
    assert not any("no-data" in line or "Traceback" in line for line in err), err
