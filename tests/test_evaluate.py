"""The evaluation: metrics on real images and noise, the classifier, and an end-to-end CLI run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from diffusion.common.errors import UserError
from diffusion.common.folders import SHIPPED_PIPELINE
from diffusion.data.datasets import CLASS_NAMES, load_dataset, to_model_range
from diffusion.evaluate import main
from diffusion.evaluation import evaluate_pipeline
from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier
from diffusion.evaluation.metrics import frechet_distance, mean_intensity, mean_pairwise_distance, prompt_accuracy
from diffusion.evaluation.prompt_sets import class_prompt_set, free_form_set
from diffusion.prompts.captions import class_prompt, held_out_prompts
from diffusion.prompts.nearest_caption import grammar_index

ROOT = Path(__file__).resolve().parent.parent
FASHION_CLASSES = CLASS_NAMES["fashion_mnist"]
HELD_OUT = held_out_prompts("fashion_mnist")


# ----- the Fréchet distance on synthetic features --------------------------------------------------------


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift():
    features = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    distances = [frechet_distance(features, features + shift) for shift in (0.5, 1.0, 2.0)]
    # A shift of every coordinate by s moves the mean by s * sqrt(16); nothing else changes.
    assert distances == pytest.approx([16 * s**2 for s in (0.5, 1.0, 2.0)], rel=1e-6)


def test_frechet_distance_matches_the_general_formula():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(300, 8, generator=generator) @ torch.randn(8, 8, generator=generator)
    b = torch.randn(200, 8, generator=generator) * 2 + 1
    cov_a, cov_b = torch.cov(a.double().T), torch.cov(b.double().T)
    # tr sqrt(S_a S_b) from the eigenvalues of the (non-symmetric) product, computed independently.
    cross = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0).sqrt().sum()
    expected = (a.mean(0) - b.mean(0)).double().square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def test_frechet_distance_refuses_mismatched_features():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))


def test_simple_metrics():
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    assert mean_intensity(torch.full((2, 1, 4, 4), -1.0)).tolist() == [0.0, 0.0]
    assert mean_intensity(torch.full((1, 1, 4, 4), 255, dtype=torch.uint8)).tolist() == [1.0]


# ----- the shipped classifier on real images and on noise -----------------------------------------------


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(default_classifier_dir("fashion_mnist"))


@pytest.fixture(scope="module")
def test_set():
    return load_dataset("fashion_mnist", train=False, download=False)


@pytest.mark.real_data
def test_shipped_classifier_reaches_its_accuracy(classifier):
    info = classifier.info
    assert info["dataset"] == "fashion_mnist" and info["test_accuracy"] >= 0.92
    assert info["architecture"]["in_channels"] == 1


@pytest.mark.real_data
def test_metrics_on_real_images_match_the_classifier_and_the_floor(classifier, test_set):
    images, labels = test_set.images[:2000], test_set.labels[:2000]
    accuracy = prompt_accuracy(classifier, to_model_range(images), labels)
    assert accuracy == pytest.approx(classifier.info["test_accuracy"], abs=0.03)

    train = load_dataset("fashion_mnist", train=True, download=False)
    reference = embed(classifier, test_set.images[7000:])[1]
    real = frechet_distance(embed(classifier, images[:1000])[1], reference)
    floor = frechet_distance(embed(classifier, train.images[:1000])[1], reference)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise_distance = frechet_distance(embed(classifier, noise)[1], reference)
    assert real < 2 * floor + 1
    assert noise_distance > 20 * max(real, floor)
    assert prompt_accuracy(classifier, noise, labels[:1000]) < 0.25  # chance is 0.1


@pytest.mark.real_data
def test_an_accuracy_at_a_threshold_reaches_it(classifier, test_set):
    # 285 of 300 right is 95%, and a run judged at `--until 0.95` must count it as reached.
    images, labels = to_model_range(test_set.images[:1000]), test_set.labels[:1000]
    right = embed(classifier, images)[0].argmax(1) == labels
    chosen = torch.cat([torch.nonzero(right)[:285, 0], torch.nonzero(~right)[:15, 0]])
    assert prompt_accuracy(classifier, images[chosen], labels[chosen]) >= 0.95


@pytest.mark.real_data
def test_train_classifier_command_writes_a_loadable_classifier(tmp_path, capsys):
    main(["train-classifier", "--epochs", "1", "--train-images", "3000", "--out", str(tmp_path / "c")])
    assert "test accuracy" in capsys.readouterr().out
    info = json.loads((tmp_path / "c" / "classifier.json").read_text())
    assert info["train_images"] == 3000 and info["test_accuracy"] > 0.5
    loaded = load_classifier(tmp_path / "c")
    assert loaded.info["class_names"][7] == "Sneaker"
    assert embed(loaded, torch.zeros(2, 1, 28, 28))[1].shape == (2, info["architecture"]["feature_dim"])


def test_damaged_classifier_is_a_user_error(tmp_path):
    shutil.copytree(default_classifier_dir("fashion_mnist"), tmp_path / "c")
    weights = tmp_path / "c" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match="damaged"):
        load_classifier(tmp_path / "c")


# ----- how the frozen encoder alone reads a prompt -------------------------------------------------------


def test_a_training_caption_is_its_own_nearest_caption():
    index = grammar_index("fashion_mnist")
    picks = (0, 200, len(index.captions) - 1)
    captions = [index.captions[i] for i in picks]
    found = index.nearest(captions)
    assert [f.caption for f in found] == captions
    assert [f.label for f in found] == [index.labels[i] for i in picks]
    assert all(f.similarity == pytest.approx(1.0, abs=1e-3) for f in found)


def test_the_encoder_reads_unseen_words_through_their_meaning():
    """As typed, without the lexicon: the shipped model's caption index places the held-out nouns, words no
    training caption contains, in their class far more often than chance (1 in 10), each near a training
    caption but on none. All 70 rather than a few: which rare words a given index reads right shifts with
    its captions, the share does not."""
    from diffusion.prompts.nearest_caption import CaptionIndex

    index = CaptionIndex.load(SHIPPED_PIPELINE, "fashion_mnist")
    prompts = held_out_prompts("fashion_mnist")
    found = index.nearest([prompt for prompt, _ in prompts])
    right = sum(f.label == label for f, (_, label) in zip(found, prompts, strict=True))
    assert right / len(prompts) > 0.3
    assert all(0.35 < f.similarity < 0.99 for f in found)


# ----- end to end on a tiny random pipeline --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    from diffusers import DDPMScheduler

    from diffusion.common.config import ModelConfig
    from diffusion.model.unet import build_unet
    from diffusion.sampling.pipeline import TextToImagePipeline

    torch.manual_seed(0)
    config = ModelConfig(
        block_out_channels=[16, 32], cross_attention_levels=[False, True], attention_head_dim=2, norm_num_groups=8
    )
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    pipe = TextToImagePipeline(unet=build_unet(config, (1, 28, 28)), scheduler=scheduler)
    folder = tmp_path_factory.mktemp("tiny") / "pipeline"
    pipe.save_pretrained(folder)
    return folder


@pytest.mark.real_data
def test_evaluate_command_fast_run_writes_the_report(tiny_pipeline, tmp_path, capsys):
    out = tmp_path / "eval"
    main(["--checkpoint", str(tiny_pipeline), "--fast", "--steps", "3", "--out", str(out)])
    assert "prompt accuracy: class prompts" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["images_per_prompt"] == 2
    class_prompts = metrics["class_prompts"]
    assert list(class_prompts["per_prompt"])[10:] == FASHION_CLASSES  # the label texts, as users type them
    held_out = metrics["held_out"]
    assert list(held_out["per_prompt"]) == [prompt for prompt, _ in HELD_OUT]
    assert set(held_out["most_often_drawn"].values()) <= set(FASHION_CLASSES)
    # The encoder's own reading of each prompt, and the model's accuracy on the prompts it reads right.
    readings = held_out["readings"]
    right = [readings[prompt]["class_name"] == FASHION_CLASSES[label] for prompt, label in HELD_OUT]
    assert held_out["encoder_accuracy"] == pytest.approx(sum(right) / len(right))
    expected = [a for a, ok in zip(held_out["per_prompt"].values(), right, strict=True) if ok]
    assert held_out["accuracy_where_encoder_right"] == pytest.approx(sum(expected) / len(expected))
    assert len(metrics["free_form"]["per_prompt"]) == len(free_form_set("fashion_mnist").prompts)
    assert [r["guidance_scale"] for r in metrics["guidance_sweep"]] == [1.0, 3.0]
    assert metrics["frechet"]["generated"] > metrics["frechet"]["real_train_floor"]
    assert metrics["frechet"]["images"] == 2 * 10  # the plain class prompts only
    quality = metrics["quality"]  # class and free-form images together, with intervals
    assert quality["images"] == 2 * 10 + 2 * len(free_form_set("fashion_mnist").prompts)
    low, high = quality["frechet_interval"]
    assert low <= quality["frechet"] <= high and quality["frechet"] > quality["frechet_floor_interval"][1]
    assert quality["kid"] > quality["kid_floor"] and quality["recall"] < 0.5, quality  # noise covers little
    report = (out / "report.md").read_text()
    assert "samples.png" in report and "guidance_sweep.png" in report and "Fréchet" in report
    assert "KID" in report and "precision (fidelity) / recall (coverage)" in report
    jeggings = readings["a photo of a pair of jeggings"]
    assert f"| {jeggings['caption']} ({jeggings['class_name']}, " in report
    assert "## Free-form descriptions" in report
    assert Image.open(out / "samples.png").size == (2 * 30 + 2, 10 * 30 + 2)  # one row per class prompt
    assert Image.open(out / "guidance_sweep.png").size[0] > 0


@pytest.mark.real_data
def test_evaluation_is_deterministic_with_a_seed(tiny_pipeline, classifier):
    from diffusion.sampling.pipeline import TextToImagePipeline

    pipe = TextToImagePipeline.from_pretrained(tiny_pipeline, device="cpu")
    settings = {"images_per_prompt": 1, "guidance_sweep": (), "num_inference_steps": 2, "progress": False}
    first = evaluate_pipeline(pipe, classifier, seed=5, **settings).to_dict()
    second = evaluate_pipeline(pipe, classifier, seed=5, **settings).to_dict()
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    assert first["diversity"]["generated"] is None  # one image per prompt has no spread, written as null


def test_class_prompt_set_holds_plain_prompts_and_label_texts():
    prompts = class_prompt_set("fashion_mnist")
    assert prompts.prompts[:3] == ["a t-shirt", "a pair of trousers", "a pullover"]
    assert prompts.prompts[10:] == FASHION_CLASSES and prompts.labels == list(range(10)) * 2


def test_classifier_of_another_dataset_is_refused(tiny_pipeline, classifier):
    from diffusion.sampling.pipeline import TextToImagePipeline

    pipe = TextToImagePipeline.from_pretrained(tiny_pipeline, device="cpu")
    pipe.training_record = {"data": {"dataset": "mnist"}}
    with pytest.raises(UserError, match="trained on mnist"):
        evaluate_pipeline(pipe, classifier, images_per_prompt=1)


# ----- user errors: one line, exit code 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "/nonexistent/pipeline"], "does not exist"),
        (["--checkpoint", str(SHIPPED_PIPELINE), "--images-per-prompt", "0"], "images per prompt"),
        (["--checkpoint", str(SHIPPED_PIPELINE), "--guidance-sweep", "1,lots"], "--guidance-sweep"),
        (["--checkpoint", str(SHIPPED_PIPELINE), "--guidance", "-1"], "guidance scale"),
        (["--checkpoint", str(SHIPPED_PIPELINE), "--scheduler", "magic"], "unknown scheduler"),
        (["--checkpoint", str(SHIPPED_PIPELINE), "--steps", "many"], "invalid int value"),
        (["--images-per-prompt", "4"], "--checkpoint"),
        (["train-classifier", "--dataset", "imagenet"], "unknown dataset"),
        (["train-classifier", "--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error


def test_missing_classifier_is_a_clear_error(tiny_pipeline, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(tiny_pipeline), "--classifier", str(tmp_path / "none"), "--fast"])
    assert exit_info.value.code == 2
    assert "train-classifier" in capsys.readouterr().err


@pytest.mark.slow  # a process of its own
def test_cli_prints_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "diffusion.evaluate", "--checkpoint", "/nonexistent"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")


# ----- the shipped pipeline draws what it is asked for --------------------------------------------------


@pytest.mark.real_data
@pytest.mark.skipif(
    not (SHIPPED_PIPELINE / "model_index.json").is_file(),
    reason=f"no shipped pipeline at {SHIPPED_PIPELINE} (train one with `python -m diffusion.train`)",
)
def test_shipped_pipeline_draws_each_class_prompt(classifier):
    from diffusion.sampling.pipeline import TextToImagePipeline

    pipe = TextToImagePipeline.from_pretrained(SHIPPED_PIPELINE, device="cpu")
    prompts = [class_prompt("fashion_mnist", label) for label in range(10)]
    images = pipe(prompts, num_images_per_prompt=4, seed=0, output_type="pt").images
    labels = torch.arange(10).repeat_interleave(4)
    assert prompt_accuracy(classifier, images, labels) >= 0.8


def test_generate_gives_each_prompt_the_same_noise_as_a_plain_seeded_call(tiny_pipeline):
    from diffusion.data.datasets import to_uint8
    from diffusion.evaluation.generate import generate
    from diffusion.sampling.pipeline import TextToImagePipeline

    pipe = TextToImagePipeline.from_pretrained(tiny_pipeline, device="cpu")
    settings = {"num_inference_steps": 2, "guidance_scale": 2.0}
    images = generate(pipe, ["a bag", "a coat"], 3, seed=7, batch_size=2, **settings)  # split into calls
    alone = pipe("a coat", num_images_per_prompt=3, seed=7, output_type="pt", **settings).images
    assert images.shape == (6, 1, 28, 28)
    # Equal up to rounding: a different batch may change the last bit of a float, so one uint8 level.
    assert (images[3:] - to_model_range(to_uint8(alone))).abs().max() <= 2 / 255 + 1e-6
