"""`python -m diffusion.distill`: distil a pipeline into a few-step student (the code lives in
`diffusion/training/distill.py`).

python -m diffusion.distill --teacher checkpoints/fashion-mnist --output-dir runs/fast --max-minutes 30
python -m diffusion.distill --help
"""

from __future__ import annotations

from .training.distill import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
