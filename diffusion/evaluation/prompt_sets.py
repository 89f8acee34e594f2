"""The prompts an evaluation asks for, each set with the class every prompt should draw.

class      the plain class prompts ("a sneaker") and the dataset's own label texts ("Ankle boot")
held_out   one prompt per held-out noun ("a photo of a cardigan"): words no training caption contains
free_form  descriptions the way people type them (`diffusion/prompts/free_form_<dataset>.tsv`), none
           containing a training noun of its class; written before the shipped model was trained
dark/light the class prompts with a tone word, for attribute control
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..captions import class_prompt, held_out_prompts, label_text_prompts
from ..data import CLASS_NAMES

PROMPTS_FOLDER = Path(__file__).resolve().parent.parent / "prompts"


@dataclass
class PromptSet:
    name: str
    prompts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.prompts)


def class_prompt_set(dataset: str) -> PromptSet:
    pairs = [(class_prompt(dataset, label), label) for label in range(len(CLASS_NAMES[dataset]))]
    pairs += label_text_prompts(dataset)
    return PromptSet("class", [p for p, _ in pairs], [k for _, k in pairs])


def held_out_set(dataset: str) -> PromptSet:
    pairs = held_out_prompts(dataset)
    return PromptSet("held_out", [p for p, _ in pairs], [k for _, k in pairs])


def free_form_file(dataset: str) -> Path:
    return PROMPTS_FOLDER / f"free_form_{dataset}.tsv"


def free_form_set(dataset: str) -> PromptSet | None:
    """The committed free-form descriptions of a dataset; None where it has none."""
    path = free_form_file(dataset)
    if not path.is_file():
        return None
    names = CLASS_NAMES[dataset]
    prompts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, prompt = line.split("\t")
            prompts.append(prompt)
            labels.append(names.index(name))
    return PromptSet("free_form", prompts, labels)


def tone_sets(dataset: str) -> tuple[PromptSet, PromptSet]:
    """The class prompts with "dark" and with "light": pairs that differ by one word."""
    labels = list(range(len(CLASS_NAMES[dataset])))
    dark = PromptSet("dark", [class_prompt(dataset, k, "dark") for k in labels], labels)
    light = PromptSet("light", [class_prompt(dataset, k, "light") for k in labels], labels)
    return dark, light
