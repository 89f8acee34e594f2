"""`python -m diffusion.sample`: images from text with a trained pipeline (the code lives in
`diffusion/sampling/sample.py`).

python -m diffusion.sample --prompt "a pair of trousers"
python -m diffusion.sample --help
"""

from __future__ import annotations

from .sampling.sample import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
