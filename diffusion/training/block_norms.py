"""The gradient norm of each block of a model (a UNet's conv_in, down_blocks.0, ..., mid_block, up_blocks.1,
conv_out): which part of the network the step pushes hardest. Read at LOG steps only; one pass over the
gradients, small beside the backward pass that made them."""

from __future__ import annotations

import torch


def block_name(parameter_name: str) -> str:
    """The block a parameter belongs to: its top-level module, with the index of a numbered list of them."""
    parts = parameter_name.split(".")
    if len(parts) > 2 and parts[1].isdigit():
        return ".".join(parts[:2])
    return parts[0]


def block_grad_norms(model: torch.nn.Module, scale: float = 1.0) -> tuple[tuple[str, float], ...]:
    """(block, norm of its gradients) in the model's own order, each divided by `scale` (the loop reads them
    after clipping and divides by the clipping factor: the norms before clipping, as the whole one is)."""
    grads: dict[str, list[torch.Tensor]] = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            grads.setdefault(block_name(name), []).append(parameter.grad.detach().float().norm())
    return tuple((name, float(torch.stack(norms).norm()) / scale) for name, norms in grads.items())
