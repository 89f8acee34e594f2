"""What every layer shares: the user-error type, files written atomically and the shipped checkpoints'
paths (folders.py), the command lines' argument handling (cli.py), the typed training config
(config.py) and the generation defaults (defaults.py).

May import: nothing else of `diffusion` (the bottom layer).
"""
