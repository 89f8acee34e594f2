"""`python -m diffusion.evaluate`: how good a pipeline is (the code lives in `diffusion/evaluation/`).

python -m diffusion.evaluate --checkpoint checkpoints/fashion-mnist --images-per-prompt 20
python -m diffusion.evaluate --help
"""

from __future__ import annotations

from .evaluation.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
