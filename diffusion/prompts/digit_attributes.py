"""What a digit's pixels say about how it was written: stroke thickness and slant.

Both are measured on the ink (pixel intensity in [0, 1]), so they are honest words for a caption and the
same numbers judge generated digits in the evaluation.
  * stroke thickness: ink area over half the outline length, 2 * sum(ink) / sum(|horizontal and vertical
    steps|). A stroke of width w and length L has area w*L and an outline of about 2L, so this reads w in
    pixels, whatever the digit's size (ink area alone would call a large digit bold).
  * slant: the shear of the ink, -mu11 / mu02 from its central moments (y pointing down), so a digit whose
    top leans to the right has a positive slant, as in italic writing.
Caption words come from thirds within each class (a bold 1 has less ink than a thin 8): the thinnest third
is "thin", the thickest "bold"; the third with the smallest |slant| is "upright", the third leaning right
most is "slanted"; the digits between get no word.
"""

from __future__ import annotations

import torch

NONE, LOW, HIGH = 0, 1, 2  # per measure: no word; thin or upright; bold or slanted
THIN, BOLD = LOW, HIGH
UPRIGHT, SLANTED = LOW, HIGH
VALUES = 3  # values of each measure, so an image's attribute code is thickness * VALUES + slant


def ink(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) ink in [0, 1] from uint8 images or images in [-1, 1], shaped (N, 1, H, W)."""
    values = images.float()
    values = values / 255 if images.dtype == torch.uint8 else (values + 1) / 2
    return values.clamp(0, 1).flatten(0, 1) if values.ndim == 4 else values


def stroke_thickness(images: torch.Tensor) -> torch.Tensor:
    """(N,) stroke width in pixels: twice the ink over its outline length (see the module docstring)."""
    x = ink(images)
    outline = (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2)) + (x[:, 1:] - x[:, :-1]).abs().sum((1, 2))
    return 2 * x.sum((1, 2)) / outline.clamp(min=1e-6)


def slant(images: torch.Tensor) -> torch.Tensor:
    """(N,) horizontal shift per pixel of height, positive when the top leans right."""
    x = ink(images)
    height, width = x.shape[1:]
    ys = torch.arange(height, dtype=torch.float32).view(1, -1, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, -1)
    mass = x.sum((1, 2)).clamp(min=1e-6)
    cy, cx = (x * ys).sum((1, 2)) / mass, (x * xs).sum((1, 2)) / mass
    dy, dx = ys - cy.view(-1, 1, 1), xs - cx.view(-1, 1, 1)
    mu11, mu02 = (x * dx * dy).sum((1, 2)), (x * dy * dy).sum((1, 2))
    return -mu11 / mu02.clamp(min=1e-6)


def class_thirds(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """LOW for the lowest third of each class, HIGH for the highest third, NONE between."""
    thirds = torch.full_like(labels, NONE)
    for label in range(num_classes):
        members = labels == label
        if not members.any():
            continue
        low, high = torch.quantile(values[members].float(), torch.tensor([1 / 3, 2 / 3]))
        thirds[members & (values <= low)] = LOW
        thirds[members & (values >= high)] = HIGH
    return thirds


def digit_attributes(images: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """(N,) attribute code thickness * VALUES + slant of each digit (THIN/BOLD, UPRIGHT/SLANTED or NONE)."""
    thickness = class_thirds(stroke_thickness(images), labels, num_classes)
    lean = slant(images)
    upright = class_thirds(lean.abs(), labels, num_classes) == LOW
    slanted = (class_thirds(lean, labels, num_classes) == HIGH) & ~upright
    slant_word = torch.where(upright, UPRIGHT, torch.where(slanted, SLANTED, NONE))
    return thickness * VALUES + slant_word


def split_code(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(thickness, slant) of attribute codes."""
    return codes // VALUES, codes % VALUES
