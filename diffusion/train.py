"""`python -m diffusion.train`: train the text-conditioned UNet (the code lives in `diffusion/training/`).

python -m diffusion.train --config configs/fashion_mnist.yaml
python -m diffusion.train --config configs/tiny.yaml --max-steps 50 --output-dir runs/try
python -m diffusion.train --help
"""

from __future__ import annotations

from .training.train import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
