"""The prompts an evaluation asks for, each set with the class every prompt should draw.

class      the plain class prompts ("a sneaker") and the dataset's own label texts ("Ankle boot"); for digits
           every way of asking the captions use ("7", "seven", "the digit seven", "number 7", ...)
held_out   one prompt per held-out noun ("a photo of a cardigan") or, for digits, per held-out phrasing
           and digit ("the figure seven", "scribble a 7"): words no training caption contains
free_form  descriptions the way people type them (`diffusion/prompts/free_form_<dataset>.tsv`), none
           containing a training noun of its class; written before the shipped model was trained
pairs      the class prompts with the two words of an attribute pair, for attribute control (attribute_pairs.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.datasets import CLASS_NAMES, kind
from ..prompts import DATA
from ..prompts.grammars import grammar_for

PROMPTS_FOLDER = DATA


@dataclass
class PromptSet:
    name: str
    prompts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.prompts)


def class_prompt_set(dataset: str) -> PromptSet:
    grammar = grammar_for(dataset)
    pairs = [(grammar.class_prompt(label), label) for label in range(len(CLASS_NAMES[dataset]))]
    pairs += grammar.label_text_prompts()
    return PromptSet("class", [p for p, _ in pairs], [k for _, k in pairs])


def held_out_set(dataset: str) -> PromptSet:
    pairs = grammar_for(dataset).held_out_prompts()
    return PromptSet("held_out", [p for p, _ in pairs], [k for _, k in pairs])


def free_form_file(dataset: str) -> Path:
    return PROMPTS_FOLDER / f"free_form_{kind(dataset)}.tsv"


def free_form_set(dataset: str) -> PromptSet | None:
    """The committed free-form descriptions of a dataset; None where it has none."""
    path = free_form_file(dataset)
    return read_prompt_set(path, dataset, "free_form") if path.is_file() else None


def read_prompt_set(path: Path, dataset: str, name: str) -> PromptSet:
    """A committed prompt file: a line per prompt, "class name<TAB>prompt"; lines starting with # are notes."""
    names = CLASS_NAMES[dataset]
    prompts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            class_name, prompt = line.split("\t")
            prompts.append(prompt)
            labels.append(names.index(class_name))
    return PromptSet(name, prompts, labels)
