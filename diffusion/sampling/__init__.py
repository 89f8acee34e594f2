"""Prompt to images: the pipeline and its denoising loop (pipeline.py), the samplers by name
(schedulers.py), every generation input checked once (settings.py), the saved pipeline folder's format
(saved_pipeline.py), PNGs with their settings and denoising GIFs (imageio.py), and the sampling command
line (sample.py, run as `python -m diffusion.sample`).

May import: `diffusion.common`, `diffusion.model`, `diffusion.data`, `diffusion.prompts`.
Never training, evaluation or ui.
"""
