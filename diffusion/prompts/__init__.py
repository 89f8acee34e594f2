"""Words: the caption grammars and their held-out words (captions.py, caption_words.py, digit_*.py,
grammars.py), the WordNet lexicon and the explanation of rare garment words (lexicon.py, grounding.py),
the nearest training caption (nearest_caption.py) and the notes on a prompt (prompt_notes.py). The
committed word lists and prompt sets (.tsv, .txt) live in this folder beside them (DATA).

May import: `diffusion.common`, `diffusion.model` (the text encoder), `diffusion.data` (class names).
Never sampling, training or anything above.
"""

from pathlib import Path

DATA = Path(__file__).resolve().parent
