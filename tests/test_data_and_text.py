"""Data loading from real IDX files, and the text encoder's integrity check."""

from __future__ import annotations

import shutil

import pytest
import torch

from diffusion.common.errors import UserError
from diffusion.data.datasets import load_dataset, read_idx
from diffusion.model.text import MAX_PROMPT_TOKENS, encoder_folder, shared_text_encoder, verify_encoder


def test_idx_files_load_as_uint8_tensors(idx_data_dir):
    train = load_dataset("fashion_mnist", idx_data_dir, train=True, download=False)
    test = load_dataset("fashion_mnist", idx_data_dir, train=False, download=False)
    assert train.images.shape == (320, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (60, 1, 28, 28)
    assert train.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert train.source == str(idx_data_dir)


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="pass --data-dir"):
        load_dataset("mnist", tmp_path / "nothing-here", download=False)


def test_truncated_idx_file_is_a_clear_error(idx_data_dir, tmp_path):
    data = (idx_data_dir / "train-images-idx3-ubyte.gz").read_bytes()
    import gzip

    raw = gzip.decompress(data)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[: len(raw) // 2])
    shutil.copy(idx_data_dir / "train-labels-idx1-ubyte.gz", tmp_path)
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(UserError, match="truncated"):
        load_dataset("fashion_mnist", tmp_path, download=False)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UserError, match="fashion_mnist, mnist, mnist_5k, cifar10"):
        load_dataset("imagenet")


def test_text_encoder_weights_are_checked(tmp_path):
    verify_encoder(encoder_folder())  # the installed package passes
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the real weights")
    with pytest.raises(UserError, match="expected 53aa5117"):
        verify_encoder(fake)
    with pytest.raises(UserError, match="missing"):
        verify_encoder(tmp_path)


def test_text_encoder_gives_masked_token_and_sentence_embeddings():
    encoder = shared_text_encoder()
    embeddings = encoder.encode(["a sneaker", "a photo of a pair of jeans", "a pair of trousers"])
    assert embeddings.tokens.shape[0] == 3 and embeddings.tokens.shape[2] == 384
    assert embeddings.mask.sum(1).tolist()[0] < embeddings.mask.sum(1).tolist()[1]
    similarity = torch.nn.functional.cosine_similarity(embeddings.pooled[1:2], embeddings.pooled[1:])
    cross = torch.nn.functional.cosine_similarity(embeddings.pooled[0:1], embeddings.pooled[1:2])
    assert similarity[1] > cross  # jeans are nearer trousers than sneakers
    with pytest.raises(UserError, match=f"limit is {MAX_PROMPT_TOKENS} tokens"):
        encoder.check_prompt("a " * 100)
