"""How good is a pipeline: generated images judged by a reference classifier that only saw real ones.

prompt_sets.py  what to ask for (class prompts, held-out nouns, free-form descriptions, dark/light)
generate.py     the images, with shared noise across prompts
run.py          evaluate_pipeline: generate, measure (each number beside its real-image reference), report
results.py      the typed record that measure fills, report reads and metrics.json stores
classifier.py   the reference classifier; metrics.py the numbers; report.py report.md and charts
cli.py          `python -m diffusion.evaluate`
"""

from .results import EvaluationResult
from .run import evaluate_pipeline

__all__ = ["EvaluationResult", "evaluate_pipeline"]
