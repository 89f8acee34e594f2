"""Training: the one loop that owns the optimizer step (loop.py), its checkpoints and resume
(checkpoint.py), progress bar and loss.csv (progress.py), the cached caption bank (training_data.py),
the loss by noise level, block gradient norms and what the network sees (noise_levels.py,
block_norms.py, network_view.py), and the two command lines over the loop: training (train.py,
`python -m diffusion.train`) and few-step distillation (distill.py, distill_targets.py,
`python -m diffusion.distill`).

May import: `diffusion.common`, `diffusion.model`, `diffusion.data`, `diffusion.prompts`,
`diffusion.sampling`. Never evaluation or ui.
"""
