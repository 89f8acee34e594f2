"""A small text-to-image diffusion system: `from diffusion import TextToImagePipeline`."""

import os

from .common.openmp import choose_wait_policy

# Offline by default: every weight this project uses is on disk; nothing is fetched at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
choose_wait_policy()  # training spins, the rest sleeps: see common/openmp.py


def __getattr__(name):
    # Lazily: `import diffusion.common.config` (or errors, captions) then loads neither torch nor diffusers.
    if name == "TextToImagePipeline":
        from .sampling.pipeline import TextToImagePipeline

        return TextToImagePipeline
    raise AttributeError(name)


__all__ = ["TextToImagePipeline"]
