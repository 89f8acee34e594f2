"""Image quality that can tell two settings apart: Fréchet distance with a bootstrap interval beside the
real-vs-real floor at the same size, the kernel distance (KID, unbiased at small sizes) and precision and
recall (fidelity and coverage apart), all in the reference classifier's features.

A Fréchet distance alone hides its own noise: two sets of 200 *real* images differ by about 1.5 here, so
settings must be compared at the same size, with intervals, against that floor. A difference smaller
than the intervals is "no measured difference", not "as good".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .metrics import frechet_distance

BOOTSTRAP_ROUNDS = 200
NEAREST_NEIGHBOURS = 3  # k of the k-NN balls in precision and recall (Kynkäänniemi et al., 2019)


def kernel_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 (Bińkowski et al.,
    2018; the kernel of torchmetrics' and clean-fid's KID), on the whole sets at once. Unlike the Fréchet
    distance its expectation does not depend on the set size, and it can be slightly negative."""
    a, b = features_a.double(), features_b.double()
    n, m, d = len(a), len(b), a.shape[1]
    if n < 2 or m < 2:
        raise ValueError("need at least two feature vectors in each set")
    k_aa, k_bb, k_ab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return (within_a + within_b - 2 * k_ab.mean()).item()


def precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int = NEAREST_NEIGHBOURS) -> tuple[float, float]:
    """Precision: the share of generated images inside the real images' manifold (each real feature's
    ball reaches its k-th nearest real neighbour). Recall: the share of real images inside the generated
    images' manifold. Low precision means implausible images, low recall means missing variety."""

    def covered(support: torch.Tensor, queries: torch.Tensor) -> float:
        radii = torch.cdist(support, support).kthvalue(k + 1, dim=1).values  # +1: a point's own distance 0
        return (torch.cdist(queries, support) <= radii).any(dim=1).double().mean().item()

    real, generated = real.double(), generated.double()
    return covered(real, generated), covered(generated, real)


def bootstrap_interval(statistic, a: torch.Tensor, b: torch.Tensor, rounds: int, seed: int) -> tuple[float, float]:
    """A 95% interval around `statistic(a, b)`: plus or minus 1.96 standard errors, the standard error
    being the spread of the statistic over sets redrawn with replacement. Not the bootstrap's percentiles:
    a redrawn set repeats images, which raises a Fréchet distance (it is biased by the number of distinct
    images), so its percentiles lie above the estimate; their spread is still the estimate's noise."""
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(rounds):
        pick_a = torch.randint(len(a), (len(a),), generator=generator)
        pick_b = torch.randint(len(b), (len(b),), generator=generator)
        values.append(statistic(a[pick_a], b[pick_b]))
    low, high = normal_interval(statistic(a, b), values)
    return max(0.0, low), high


def paired_ratio_interval(
    generated_a: torch.Tensor, generated_b: torch.Tensor, reference: torch.Tensor, rounds: int, seed: int
) -> tuple[float, float, float]:
    """Fréchet(a) / Fréchet(b) with its 95% interval, for two generated sets made from the same prompts and
    seeds (row i of a and of b share them). Each round redraws the same rows of both, and one reference
    set for both, so the noise the two share (which prompts, which seeds, which real images) cancels in
    the ratio: a 10% difference that each set's own interval hides shows here."""
    if generated_a.shape != generated_b.shape:
        raise ValueError("the two sets must be paired: the same prompts and seeds, in the same order")
    generator = torch.Generator().manual_seed(seed)
    ratios = []
    for _ in range(rounds):
        rows = torch.randint(len(generated_a), (len(generated_a),), generator=generator)
        real = reference[torch.randint(len(reference), (len(reference),), generator=generator)]
        ratios.append(frechet_distance(generated_a[rows], real) / frechet_distance(generated_b[rows], real))
    ratio = frechet_distance(generated_a, reference) / frechet_distance(generated_b, reference)
    return ratio, *normal_interval(ratio, ratios)


def normal_interval(estimate: float, resampled: list[float]) -> tuple[float, float]:
    """estimate +- 1.96 standard errors, the error being the spread of the resampled values."""
    error = torch.tensor(resampled, dtype=torch.float64).std().item()
    return estimate - 1.96 * error, estimate + 1.96 * error


@dataclass
class Quality:
    images: int  # generated images, and as many real reference images
    frechet: float
    frechet_interval: tuple[float, float]  # bootstrap 95%
    frechet_floor: float  # two disjoint real sets of this size
    frechet_floor_interval: tuple[float, float]
    kid: float  # x 1000, as usually printed
    kid_floor: float
    precision: float
    recall: float

    def as_dict(self) -> dict:
        return asdict(self)

    def frechet_text(self, digits: int = 2) -> str:
        low, high = self.frechet_interval
        return f"{self.frechet:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def matched_real_sets(labels: torch.Tensor, real_labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sets of real indices, each with the class counts of `labels` (what the generated
    images were asked to be): the reference, and a second set for the real-vs-real floor."""
    generator = torch.Generator().manual_seed(seed)
    reference, floor = [], []
    for label in labels.unique().tolist():
        wanted = int((labels == label).sum())
        members = (real_labels == label).nonzero().flatten()
        if len(members) < 2 * wanted:
            raise ValueError(
                f"the real set has {len(members)} images of class {label}, fewer than the 2 x {wanted} needed; "
                "ask for fewer images per prompt"
            )
        members = members[torch.randperm(len(members), generator=generator)]
        reference.append(members[:wanted])
        floor.append(members[wanted : 2 * wanted])
    return torch.cat(reference), torch.cat(floor)


def measure_quality(
    generated: torch.Tensor,
    labels: torch.Tensor,
    real: torch.Tensor,
    real_labels: torch.Tensor,
    seed: int = 0,
    rounds: int = BOOTSTRAP_ROUNDS,
) -> Quality:
    """Quality of generated features (N, D) asked to be of classes `labels`, against N real features of
    the same classes, with the floor from N other real features."""
    reference_index, floor_index = matched_real_sets(labels, real_labels, seed)
    reference, floor = real[reference_index].double(), real[floor_index].double()
    generated = generated.double()
    precision, recall = precision_recall(reference, generated)
    return Quality(
        images=len(generated),
        frechet=frechet_distance(generated, reference),
        frechet_interval=bootstrap_interval(frechet_distance, generated, reference, rounds, seed),
        frechet_floor=frechet_distance(floor, reference),
        frechet_floor_interval=bootstrap_interval(frechet_distance, floor, reference, rounds, seed),
        kid=1000 * kernel_distance(generated, reference),
        kid_floor=1000 * kernel_distance(floor, reference),
        precision=precision,
        recall=recall,
    )
