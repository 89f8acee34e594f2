"""The far-prompt warning, calibrated on the shipped model's own caption index: almost never on the
evaluation's in-domain prompts, and nearly always on the committed out-of-domain prompts."""

from __future__ import annotations

from pathlib import Path

from diffusion.common.folders import SHIPPED_PIPELINE
from diffusion.evaluation.prompt_sets import class_prompt_set, free_form_set, held_out_set
from diffusion.prompts.nearest_caption import CaptionIndex
from diffusion.prompts.prompt_notes import notes_for

ROOT = Path(__file__).resolve().parent.parent
OUT_OF_DOMAIN = ROOT / "diffusion" / "prompts" / "out_of_domain.txt"


def firing_rate(index: CaptionIndex, prompts: list[str]) -> float:
    return sum(notes_for(index, prompt).far for prompt in prompts) / len(prompts)


def test_the_warning_is_calibrated_on_the_shipped_index():
    index = CaptionIndex.load(SHIPPED_PIPELINE, "fashion_mnist")
    assert index is not None and len(index.captions) >= 3000
    in_domain = [p for s in (class_prompt_set, held_out_set, free_form_set) for p in s("fashion_mnist").prompts]
    lines = OUT_OF_DOMAIN.read_text(encoding="utf-8").splitlines()
    out_of_domain = [line for line in lines if line.strip() and not line.startswith("#")]
    assert len(in_domain) >= 200 and len(out_of_domain) >= 80
    assert firing_rate(index, in_domain) < 0.05
    assert firing_rate(index, class_prompt_set("fashion_mnist").prompts) == 0
    assert firing_rate(index, out_of_domain) > 0.9
