"""The words of the web UI: example prompts, control hints and the "how it works" panel."""

from __future__ import annotations

import re
from pathlib import Path

from ..data.datasets import CLASS_NAMES, kind

DOC_PATH = "docs/how-it-works.md"

# Names from training captions, attributes, and names the model never saw (through the text encoder only).
EXAMPLE_PROMPTS = [
    "a sneaker",
    "an ankle boot",
    "a dark coat",
    "a light pair of trousers",
    "a photo of a handbag",
    "a picture of a dress",
    "a short-sleeved top",
    "a photo of a running shoe",
    "a pair of jeans",
    "a purse",
]

# The digits model's: numerals, number words, phrasings, and the thickness and slant words.
DIGIT_EXAMPLE_PROMPTS = [
    "7",
    "seven",
    "the digit three",
    "number 5",
    "a handwritten 2",
    "the numeral nine",
    "a bold 8",
    "a thin slanted 4",
    "an upright one",
    "draw a zero with thick strokes",
]
EXAMPLES = {"fashion_mnist": EXAMPLE_PROMPTS, "mnist": DIGIT_EXAMPLE_PROMPTS}  # by kind of data (datasets.kind)
DATA_DESCRIPTIONS = {
    "fashion_mnist": "Fashion-MNIST (28×28 pictures of clothes)",
    "mnist": "MNIST (28×28 handwritten digits)",
}


def example_prompts(dataset: str | None) -> list[str]:
    """The example prompts for a model trained on `dataset` (the clothes' where it is not known)."""
    return EXAMPLES.get(kind(dataset or ""), EXAMPLE_PROMPTS)


def data_description(dataset: str | None) -> str:
    return DATA_DESCRIPTIONS.get(kind(dataset or ""), DATA_DESCRIPTIONS["fashion_mnist"])


INTERPOLATION_EXAMPLES = [
    ["a sneaker", "an ankle boot"],
    ["a t-shirt", "a pullover"],
    ["a dress", "a coat"],
    ["a sandal", "a bag"],
]

HINTS = {
    "prompt": "What to draw. The text encoder turns each word into a vector; the network reads them through "
    "cross-attention at every step.",
    "negative": "What to steer away from. Guidance pushes away from this text instead of from the empty prompt.",
    "steps": "How many denoising steps from pure noise to the image. More steps: smaller moves, more time.",
    "guidance": "Classifier-free guidance: 1 = the plain text-conditioned model; higher follows the text more "
    "closely but varies less. 0 ignores the text.",
    "scheduler": "The sampler: how each step turns the network's prediction into a slightly less noisy image. "
    "Same model, different numerical recipe.",
    "seed": "The starting noise. The same seed and settings give the same images; -1: a new random seed every run.",
    "images": "How many images at once; image k uses seed + k - 1.",
    "strength": "How much noise is put on the sketch before denoising: low keeps your drawing, 1 starts "
    "from pure noise and keeps nothing of it.",
    "model": "The default model shows every denoising step. The fast one, distilled to a few steps with "
    'guidance built in, draws in a fraction of a second but takes no negative prompt. "Trained here" is the '
    "Train tab's run, as its newest checkpoint left it.",
    "live": "Fast model only: four images redrawn as you type, at the model's own steps and the current seed.",
    "frames": "How many blends from the first prompt (left) to the second (right), all from the same noise.",
}

QUEUED = "Queued: waiting for a free turn on the server (other visitors' runs go first); Stop cancels it."

FAST_SETTINGS_NOTE = "Set by the fast model: it was distilled to sample exactly so (other settings spoil its pictures)."


def drawable_kinds(dataset: str | None) -> str:
    """The kinds of thing the model can draw, named where a visitor reads first (the page's header)."""
    names = CLASS_NAMES.get(dataset or "")
    if not names:
        return ""
    return f"**It draws {len(names)} kinds of thing and nothing else:** {', '.join(names)}."


def plural(count: int, noun: str) -> str:
    """ "1 step", "5 steps"."""
    return f"{count} {noun}{'s' * (count != 1)}"


def as_text(text: str) -> str:
    """A visitor's words for a Markdown line (the status), shown exactly as typed: every character but
    letters, digits and spaces as an HTML character reference, which Markdown never reads as formatting,
    so no bold, no links (nor bare addresses made into links), no pictures fetched from elsewhere, no HTML."""
    return "".join(c if c.isalnum() or c == " " else f"&#{ord(c)};" for c in str(text))


HOW_IT_WORKS = """
**The model draws by removing noise.** Training took real pictures, added random noise of every strength,
and taught a network (a UNet) to tell what the clean picture was. To make a new picture, we start from pure
noise and ask the network again and again: each step removes a little of the noise.

- **Live preview.** The left half is the noisy image *x_t* after each step; the right half is the network's
  current guess of the finished image *x0*. Early guesses are blurry averages; they sharpen as the noise
  level σ falls towards 0.
- **Prompt.** A frozen text encoder (MiniLM) turns the words into vectors. Inside the UNet, every image
  position asks "which words matter here?": that is *cross-attention*. The **attention** panel shows the
  answer for each word, averaged over all steps.
- **Guidance scale.** At every step the network predicts twice, with your prompt and with an empty one (or
  the **negative prompt**); the difference between the two is stretched by the guidance scale.
- **Steps and scheduler.** The scheduler decides how far to move at each step. Fewer steps are faster;
  too few leave the picture rough.
- **Seed.** The random starting noise. Keep it to change one setting at a time and compare.
- **Interpolation.** The two prompts' vectors are blended (0%, 25%, ... 100%) and drawn from the same noise,
  so you see the model move from one idea to the other.
- **Train.** One training step: a batch of pictures gets noise of random strength, the network guesses it
  (the forward pass), the **loss** says how wrong the guess is, backpropagation gives every weight its
  **gradient**, and the optimizer moves the weights a little against it, as far as the **learning rate**
  says; an EMA copy averages the weights over the last steps. The views: the loss of each batch; the
  **loss by noise level**, the same errors sorted by how much noise each picture had (nearly clean pictures
  and pure noise are learnt at different speeds); the **gradient norm**, the size of the whole push, and
  **by block**, which part of the UNet the step pushes hardest; the **sample strip**, drawn with the EMA
  copy; and **what the network sees**: one training picture noised four times, the noise that was added,
  the noise the network thinks was added, and the clean picture it guesses. Too high a learning rate
  makes the loss explode: the run stops.
- **Sketch to image.** Your drawing is shrunk to 28×28, noised to the chosen strength (as in training)
  and then denoised with the prompt: the prompt fills in what the noise erased.

- **Compare settings.** The same prompt and seed at several values of one setting (or two), side by side
  in one grid: the way to see what guidance, steps or a sampler change, everything else held still.

Each PNG you download carries its settings inside (prompt, seed, steps, ...), so it can be made again:
drop it on "Settings from a PNG" in the text tab and they fill the form.
Below: the full walk-through of one training step and one sampling step, with the files and functions
that do them (`docs/how-it-works.md` in the project folder).

---
"""


def file_url(path: Path) -> str:
    """The address at which the Gradio server serves a file from one of its allowed paths."""
    return f"/gradio_api/file={Path(path).resolve()}"


def walkthrough(docs: Path) -> str | None:
    """docs/how-it-works.md for showing inside the page: its pictures' relative paths made into file URLs.
    None when the file is missing."""
    path = Path(docs) / Path(DOC_PATH).name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return re.sub(
        r"(!?\[[^\]]*\]\()(?!https?:|/|#)([^)\s]+)\)",
        lambda match: f"{match.group(1)}{file_url(path.parent / match.group(2))})",
        text,
    )
