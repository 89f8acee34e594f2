"""The quality statistics: a set against itself, two halves of one distribution, a shifted set; KID against
its definition written out pair by pair; and, on real Fashion-MNIST features, two real halves at the floor."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision

from diffusion.evaluation.metrics import frechet_distance
from diffusion.evaluation.quality import (
    bootstrap_interval,
    kernel_distance,
    matched_real_sets,
    measure_quality,
    paired_ratio_interval,
    precision_recall,
)


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_a_set_against_itself_is_zero_and_fully_covered():
    a = gaussian(300)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    assert precision_recall(a, a) == (1.0, 1.0)
    assert kernel_distance(a, a) < 0.01  # unbiased: near zero, not exactly zero


def test_kid_is_the_unbiased_mmd_of_its_definition():
    a, b = gaussian(7, 3, seed=1).double(), gaussian(6, 3, shift=0.5, seed=2).double()

    def k(x, y):
        return (float(x @ y) / 3 + 1) ** 3

    within_a = sum(k(a[i], a[j]) for i, j in itertools.permutations(range(7), 2)) / (7 * 6)
    within_b = sum(k(b[i], b[j]) for i, j in itertools.permutations(range(6), 2)) / (6 * 5)
    across = sum(k(x, y) for x in a for y in b) / (7 * 6)
    assert kernel_distance(a, b) == pytest.approx(within_a + within_b - 2 * across, rel=1e-9)


def test_halves_of_one_distribution_are_close_and_a_shifted_set_is_far():
    a, b = gaussian(500, seed=1), gaussian(500, seed=2)
    shifted = gaussian(500, shift=1.0, seed=3)  # |shift|^2 = 8 over 8 dimensions
    same, far = frechet_distance(a, b), frechet_distance(a, shifted)
    assert same < 0.5 and far == pytest.approx(8.0, rel=0.15)
    same_interval = bootstrap_interval(frechet_distance, a, b, rounds=50, seed=0)
    far_interval = bootstrap_interval(frechet_distance, a, shifted, rounds=50, seed=0)
    assert same_interval[0] <= same <= same_interval[1] < far_interval[0] <= far <= far_interval[1]
    assert kernel_distance(a, b) < 0.1 * kernel_distance(a, shifted)


def test_a_paired_ratio_sees_a_difference_that_the_separate_intervals_hide():
    reference, generated = gaussian(400, seed=7), gaussian(400, seed=8) * 1.3  # too wide a spread
    slightly_worse = generated * 1.04  # the same "prompts and seeds", a little wider still
    ratio, low, high = paired_ratio_interval(slightly_worse, generated, reference, rounds=100, seed=0)
    assert 1 < low <= ratio <= high
    apart = [bootstrap_interval(frechet_distance, g, reference, 100, 0) for g in (generated, slightly_worse)]
    assert apart[0][1] > apart[1][0], "on their own, the two intervals overlap"
    assert paired_ratio_interval(generated, generated, reference, rounds=20, seed=0) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="paired"):
        paired_ratio_interval(generated, generated[:10], reference, rounds=2, seed=0)


def test_precision_and_recall_tell_fidelity_from_coverage():
    real = gaussian(400, d=2, seed=4)
    collapsed = real[:20].repeat(20, 1) + 0.01 * gaussian(400, d=2, seed=5)  # plausible, but little variety
    off = gaussian(400, d=2, shift=6.0, seed=6)  # varied, but nothing like the real set
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.5
    assert precision_recall(real, off) == (0.0, 0.0)


def test_real_sets_match_the_class_counts_and_never_overlap():
    real_labels = torch.arange(10).repeat(30)
    wanted = torch.tensor([0] * 5 + [3] * 2 + [9] * 7)
    reference, floor = matched_real_sets(wanted, real_labels, seed=0)
    for picked in (reference, floor):
        assert sorted(real_labels[picked].tolist()) == sorted(wanted.tolist())
    assert not set(reference.tolist()) & set(floor.tolist())
    with pytest.raises(ValueError, match="fewer images per prompt"):
        matched_real_sets(torch.zeros(16, dtype=torch.long), real_labels, seed=0)


@pytest.mark.slow
@pytest.mark.real_data
def test_real_images_score_at_the_floor_and_shifted_ones_do_not():
    from diffusion.data.datasets import load_dataset
    from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier

    test = load_dataset("fashion_mnist", None, train=False)
    classifier = load_classifier(default_classifier_dir("fashion_mnist"), "cpu")
    features = embed(classifier, test.images)[1]
    first, rest = torch.arange(0, 1000), torch.arange(1000, len(test))  # "generated" = real images
    real = measure_quality(features[first], test.labels[first], features[rest], test.labels[rest], rounds=50)
    low, high = real.frechet_floor_interval
    assert low <= real.frechet <= high  # real images are as far from the reference as other real ones
    assert real.precision > 0.7 and real.recall > 0.7
    blurred = torchvision.transforms.functional.gaussian_blur(test.images[first], 3, 1.0)
    worse = measure_quality(embed(classifier, blurred)[1], test.labels[first], features[rest], test.labels[rest])
    assert worse.frechet_interval[0] > real.frechet_interval[1] and worse.kid > real.kid + 5
    assert worse.recall < real.recall - 0.1  # blur loses the texture that tells real images apart


@pytest.mark.slow
@pytest.mark.real_data
def test_texture_statistics_see_fine_detail_that_the_pooled_features_barely_see():
    from diffusion.data.datasets import load_dataset
    from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier, texture_features

    test = load_dataset("fashion_mnist", None, train=False)
    classifier = load_classifier(default_classifier_dir("fashion_mnist"), "cpu")
    first, rest = torch.arange(0, 1000), torch.arange(1000, len(test))
    softened = torchvision.transforms.functional.gaussian_blur(test.images[first], 3, 0.6)  # barely visible
    spaces = {"pooled": lambda x: embed(classifier, x)[1], "texture": lambda x: texture_features(classifier, x)}
    times_floor = {}
    for name, space in spaces.items():
        real = space(test.images)
        same = measure_quality(real[first], test.labels[first], real[rest], test.labels[rest], rounds=20)
        soft = measure_quality(space(softened), test.labels[first], real[rest], test.labels[rest], rounds=20)
        assert same.frechet_interval[0] <= same.frechet_floor_interval[1]  # real images sit at the floor
        times_floor[name] = soft.frechet / same.frechet_floor
    assert times_floor["texture"] > 10  # a slight softening is far from real texture...
    assert times_floor["texture"] > 3 * times_floor["pooled"]  # ...much further than the pooled features say
