"""Numbers that compare generated images with real ones, computed in the reference classifier's terms.

All take tensors and return plain floats, so they work as well on real images (for the references
each metric is printed beside) as on generated ones.
"""

from __future__ import annotations

import torch

from .classifier import Classifier, embed


def prompt_accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images the classifier assigns to the class they were asked for (or belong to). In float64:
    285 of 300 must compare equal to 0.95 (float32 makes it 0.94999999)."""
    logits, _ = embed(classifier, images)
    return (logits.argmax(1) == labels.cpu()).double().mean().item()


def accuracy_per_class(predictions: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> dict[str, float]:
    """Accuracy among the images of each class that has any."""
    return {
        name: (predictions[labels == label] == label).float().mean().item()
        for label, name in enumerate(class_names)
        if (labels == label).any()
    }


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    # Square root of a symmetric positive semi-definite matrix; tiny negative eigenvalues are rounding.
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature vectors (N, D) and (M, D):
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2).

    The cross term uses the symmetric product S_a^1/2 S_b S_a^1/2, whose eigenvalues are real and
    non-negative, so it needs only `eigh` (no scipy, no complex parts to discard) and stays exact
    for the rank-deficient covariances of small sets."""
    a, b = features_a.double().cpu(), features_b.double().cpu()
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (N, D) feature sets of the same D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two feature vectors in each set")
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrt_psd(cov_a)
    product = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((product + product.T) / 2).clamp(min=0).sqrt().sum()
    distance = (a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(0.0, distance.item())


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs: how varied a set of images is (nan below two)."""
    if len(features) < 2:
        return float("nan")
    return torch.pdist(features.double()).mean().item()


def mean_intensity(images: torch.Tensor) -> torch.Tensor:
    """Mean brightness of each image in [0, 1], from images in [-1, 1] or uint8."""
    if images.dtype == torch.uint8:
        return images.float().flatten(1).mean(1) / 255
    return images.float().flatten(1).mean(1).add(1).div(2)
