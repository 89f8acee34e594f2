"""Would fine-tuning the text encoder help unseen garment words? A measurement, not part of training.

    python benchmarks/encoder_finetune.py [--layers 2] [--epochs 1] [--per-class 1500]

MiniLM's top --layers transformer layers (of 6) and a linear head are trained for --epochs on captions
from the grammar (training nouns only, as the UNet sees them) to name each caption's class. Before and
after, each evaluation prompt set is read two ways: the class of its nearest caption (of 3,000 from the
same bank) and the head's class. The held-out nouns and the free-form descriptions contain no training
noun of their class, so a gain there is the encoder generalising, not remembering.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from diffusion.evaluation.prompt_sets import class_prompt_set, free_form_set, held_out_set
from diffusion.model.text import MAX_PROMPT_TOKENS, TextEncoder
from diffusion.prompts.captions import CaptionGrammar

DATASET = "fashion_mnist"
BATCH = 64
LOGIT_SCALE = 10  # the head reads unit vectors; a scale makes its softmax sharp enough to train


def unit_embeddings(encoder: TextEncoder, model, texts: list[str], grad: bool = False) -> torch.Tensor:
    """Sentence embeddings as the project makes them (masked mean), scaled to length 1."""
    batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=MAX_PROMPT_TOKENS, return_tensors="pt")
    with torch.set_grad_enabled(grad):
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def embed_all(encoder, model, texts: list[str]) -> torch.Tensor:
    return torch.cat([unit_embeddings(encoder, model, texts[i : i + 256]) for i in range(0, len(texts), 256)])


def report(label: str, encoder, model, head, index: tuple[list[str], torch.Tensor]) -> None:
    captions, caption_labels = index
    caption_embeddings = embed_all(encoder, model, captions)
    cells = [label]
    for prompt_set in (class_prompt_set(DATASET), held_out_set(DATASET), free_form_set(DATASET)):
        prompts, labels = embed_all(encoder, model, prompt_set.prompts), torch.tensor(prompt_set.labels)
        nearest = caption_labels[(prompts @ caption_embeddings.T).argmax(1)]
        by_head = "—" if head is None else f"{(head(prompts).argmax(1) == labels).float().mean():.1%}"
        cells.append(f"{(nearest == labels).float().mean():.1%} / {by_head}")
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2, help="top transformer layers to train (1 to 6)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--per-class", type=int, default=1500, help="grammar captions per class")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = TextEncoder()
    bank = CaptionGrammar(DATASET).bank(args.per_class, seed=1)
    captions = [c for c, k in zip(bank.captions, bank.labels, strict=True) if k >= 0]
    labels = torch.tensor([k for k in bank.labels if k >= 0])
    index = (captions[::5], labels[::5])

    print("| encoder | class prompts (nearest / head) | held-out nouns | free-form |")
    print("|---|---|---|---|")
    report("frozen MiniLM", encoder, encoder.model, None, index)

    model = copy.deepcopy(encoder.model).requires_grad_(False)
    trained = [p for layer in model.encoder.layer[-args.layers :] for p in layer.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    head = torch.nn.Linear(model.config.hidden_size, int(labels.max()) + 1)
    optimizer = torch.optim.AdamW([{"params": trained, "lr": 2e-5}, {"params": head.parameters(), "lr": 1e-2}])
    steps, started = int(args.epochs * len(captions) / BATCH), time.time()
    for _ in range(steps):
        chosen = torch.randint(len(captions), (BATCH,))
        embeddings = unit_embeddings(encoder, model, [captions[i] for i in chosen], grad=True)
        loss = torch.nn.functional.cross_entropy(head(embeddings) * LOGIT_SCALE, labels[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    label = f"top {args.layers} layers trained, {steps} steps ({time.time() - started:.0f} s), loss {loss.item():.3f}"
    report(label, encoder, model, head, index)


if __name__ == "__main__":
    main()
