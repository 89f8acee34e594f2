"""Captions made from each image's label and from its pixels.

A caption is a template filled with a name for the class and, for images that are clearly darker or
lighter than others of their class, the word "dark" or "light". Every caption the training can ever
produce is enumerated up front, so their text embeddings are computed once and cached.

Some names for each class are kept out of training (`HELD_OUT_NAMES`); prompts built from them measure
whether the model understands words it never saw, through the text encoder, rather than memorising.
"""

from __future__ import annotations

import itertools

import torch

# Names used in training captions, per dataset and class.
TRAIN_NAMES = {
    "fashion_mnist": [
        ["t-shirt", "top", "short-sleeved top"],
        ["pair of trousers", "pair of pants", "trousers"],
        ["pullover", "sweater", "long-sleeved pullover"],
        ["dress", "gown"],
        ["coat", "jacket"],
        ["sandal", "summer sandal"],
        ["shirt", "button-down shirt", "collared shirt"],
        ["sneaker", "trainer", "sports sneaker"],
        ["bag", "handbag"],
        ["ankle boot", "boot"],
    ],
    "mnist": [[f"digit {d}", f"number {d}", f"handwritten {d}"] for d in range(10)],
    "cifar10": [
        ["airplane", "plane", "aircraft"],
        ["car", "automobile"],
        ["bird"],
        ["cat", "kitten"],
        ["deer"],
        ["dog", "puppy"],
        ["frog"],
        ["horse"],
        ["ship", "boat"],
        ["truck", "lorry"],
    ],
}

# Other names for the same classes, whose words never appear in any training caption. They are common
# synonyms; words the frozen encoder itself places nearer another class (e.g. "jumper" near "sneaker",
# "parka" near "top", by nearest sentence embedding) were left out, so that held-out accuracy measures
# how well the diffusion model uses the encoder, not the gaps in the encoder's vocabulary.
HELD_OUT_NAMES = {
    "fashion_mnist": [
        ["tee", "undershirt"],
        ["pair of jeans", "pair of slacks"],
        ["sweatshirt", "cardigan"],
        ["sundress", "frock"],
        ["raincoat", "overcoat"],
        ["flip-flop", "espadrille"],
        ["blouse", "tunic"],
        ["running shoe", "tennis shoe"],
        ["purse", "backpack"],
        ["bootie", "cowboy boots"],
    ],
    "mnist": [
        [word, f"numeral {word}"]
        for word in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    ],
    "cifar10": [
        ["jet", "airliner"],
        ["sedan", "hatchback"],
        ["sparrow"],
        ["tabby"],
        ["stag"],
        ["terrier"],
        ["toad"],
        ["pony", "stallion"],
        ["freighter", "ferry"],
        ["pickup", "tractor-trailer"],
    ],
}

TEMPLATES = ["{name}", "a {name}", "a photo of a {name}", "a picture of a {name}", "an image of a {name}"]
ATTRIBUTES = ["", "dark", "light"]  # index 0 = no attribute; 1 and 2 from the image's brightness
ATTRIBUTE_NONE, ATTRIBUTE_DARK, ATTRIBUTE_LIGHT = 0, 1, 2


PLURAL_NOUNS = {"trousers", "pants", "jeans", "slacks", "boots"}  # the names' plurals: no article before them


def article(words: str) -> str:
    """ "a" or "an" before `words`; none before a plural ("trousers", but "a pair of trousers")."""
    if words.split()[-1] in PLURAL_NOUNS and "pair of" not in words:
        return ""
    return "an" if words[:1].lower() in "aeiou" else "a"


def caption(template: str, name: str, attribute: str = "") -> str:
    """Fill a template, putting the attribute before the name and fixing "a"/"an"."""
    phrase = f"{attribute} {name}" if attribute else name
    text = template.format(name=phrase)
    return text.replace(f"a {phrase}", f"{article(phrase)} {phrase}".lstrip())


def class_prompt(dataset: str, label: int, attribute: str = "") -> str:
    """The plain prompt for a class, e.g. "a sneaker" or "a dark pair of trousers"."""
    return caption("a {name}", TRAIN_NAMES[dataset][label][0], attribute)


def held_out_prompts(dataset: str) -> list[tuple[str, int]]:
    """(prompt, label) pairs built only from held-out names."""
    return [
        (caption("a photo of a {name}", name), label)
        for label, names in enumerate(HELD_OUT_NAMES[dataset])
        for name in names
    ]


class CaptionTable:
    """All training captions of a dataset, indexed by (class, name, template, attribute).

    `captions[i]` is the text and `labels[i]` its class; `sample(labels, attributes)` draws one caption
    index per image. Index 0 is the empty caption used for classifier-free guidance (label -1).
    """

    def __init__(self, dataset: str):
        names = TRAIN_NAMES[dataset]
        self.captions = [""]
        self.labels = [-1]
        self._index = {}
        for label, class_names in enumerate(names):
            for n, t, a in itertools.product(range(len(class_names)), range(len(TEMPLATES)), range(3)):
                self._index[label, n, t, a] = len(self.captions)
                self.captions.append(caption(TEMPLATES[t], class_names[n], ATTRIBUTES[a]))
                self.labels.append(label)
        self.names_per_class = torch.tensor([len(n) for n in names])
        lookup = torch.zeros(len(names), int(self.names_per_class.max()), len(TEMPLATES), 3, dtype=torch.long)
        for (label, n, t, a), index in self._index.items():
            lookup[label, n, t, a] = index
        self._lookup = lookup

    def __len__(self) -> int:
        return len(self.captions)

    def sample(
        self,
        labels: torch.Tensor,
        attributes: torch.Tensor,
        attribute_probability: float,
        dropout: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One caption index per image: random name and template; the attribute word with some
        probability (so plain prompts still cover the whole class); the empty caption with p=dropout."""
        n = len(labels)
        uniform = torch.rand(n, 4, generator=generator)
        name = (uniform[:, 0] * self.names_per_class[labels]).long()
        template = (uniform[:, 1] * len(TEMPLATES)).long()
        attribute = torch.where(uniform[:, 2] < attribute_probability, attributes, ATTRIBUTE_NONE)
        index = self._lookup[labels, name, template, attribute]
        return torch.where(uniform[:, 3] < dropout, 0, index)


def brightness_attributes(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """ATTRIBUTE_DARK for the darkest third of each class (by mean intensity), ATTRIBUTE_LIGHT for the
    lightest third, ATTRIBUTE_NONE between. Per class, because a dark sandal is lighter than a dark coat."""
    mean = images.float().flatten(1).mean(1)
    attributes = torch.full_like(labels, ATTRIBUTE_NONE)
    for label in range(num_classes):
        members = labels == label
        if not members.any():
            continue
        low, high = torch.quantile(mean[members], torch.tensor([1 / 3, 2 / 3]))
        attributes[members & (mean <= low)] = ATTRIBUTE_DARK
        attributes[members & (mean >= high)] = ATTRIBUTE_LIGHT
    return attributes
