"""Build the garment lexicon from WordNet 3.0: every clothing, footwear and bag word with its
Fashion-MNIST class and its gloss, for `diffusion/prompts/lexicon.py` to explain rare words to the text encoder.

    apt-get install -y wordnet-base
    python scripts/build_lexicon.py            # writes diffusion/prompts/lexicon_fashion_mnist.tsv
                                               # and lexicon_fashion_mnist_lookalikes.txt
    python scripts/build_lexicon.py --unplaced # lists the garment synsets no anchor reaches

Run by hand when this file changes; the output is committed and never edited by hand, and nothing at run
time needs WordNet. It reads Debian's `wordnet-base` database files directly (data.noun, index.noun,
noun.exc): a line per synset with its lemmas, its pointers (`@` hypernym, `~` hyponym) and its gloss.

A synset's class is that of the nearest anchor above it (ANCHORS, below, the one place where WordNet's
tree meets the ten classes); an anchor mapped to None cuts a subtree out (an air bag is no handbag). A
synset whose hypernym paths meet anchors of two classes at the same distance (a turtleneck is both a
jersey and a sweater) gets both. A lemma's class is the union over its senses that have one, so senses
outside clothing, footwear and bags never count (cardigan the dog, mule the animal); a lemma with two
classes is written as ambiguous, and the prompt grounding leaves it alone.

Grounding also reads a closed compound the lexicon lacks by its last part ("overshirt": a kind of shirt),
a clipped word by the garment nouns it begins ("wellies": wellington boots) and a misspelt one by the noun
a typing error or two away ("snekers": sneakers). Beside the lexicon this writes the words WordNet knows
(any part of speech) that those rules would misread: words that end in a class's word but are no garment
of ours ("desktop", "turncoat", "headdress", "sleeping bag" as "sleepingbag"), words that begin garment
nouns ("pocket": pocketbook, "well": wellington) and words spelt nearly like one ("boats", "costs"), with
the text encoder's own whole words that the last two rules would misread ("should": shoulder bag; a word
the encoder keeps whole is one it reads, where "wellies" breaks into `well ##ies`). The rules leave these
lookalikes alone.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from diffusion.model.text import encoder_folder
from diffusion.prompts.grounding import training_vocabulary
from diffusion.prompts.lexicon import SHORTEST_PREFIX, Entry, Lexicon, lookalikes_path, words

WORDNET = Path("/usr/share/wordnet")
LICENCE = Path("/usr/share/doc/wordnet-base/copyright")
OUT = Path(__file__).resolve().parent.parent / "diffusion" / "prompts" / "lexicon_fashion_mnist.tsv"

# The word a grounded prompt uses for each class ("espadrilles, a kind of sandal"): the everyday noun
# of the class that its training captions use most.
KIND_WORDS = {
    "T-shirt/top": "top", "Trouser": "trousers", "Pullover": "sweater", "Dress": "dress", "Coat": "coat",
    "Sandal": "sandal", "Shirt": "shirt", "Sneaker": "sneaker", "Bag": "bag", "Ankle boot": "boot",
}  # fmt: skip

# (synset offset in WordNet 3.0's data.noun, its first lemma as a check) -> class, or None for "not ours".
# Decisions that are judgement rather than WordNet's own words:
#   * T-shirt/top takes jerseys/T-shirts, tank tops, women's tops, singlets, camisoles and leotards (in a
#     28-pixel picture a leotard is a sleeveless top), and so the garments worn on the torso alone that
#     WordNet files elsewhere: brassieres, body stockings and one-piece bathing suits; blouses go to
#     Shirt, as in Fashion-MNIST's labels.
#   * Nightwear goes by its shape: a nightgown ("a loose dress designed to be worn in bed") is a Dress and
#     a nightshirt a Shirt; pyjamas (a top and trousers) have no one class.
#   * Any other shoe is a Sneaker, the data set's only low closed shoe; slippers and clogs (backless,
#     slipped on) are Sandals; overshoes and ankle-high shoes (chukka, congress boot, gaiter) are Ankle boots.
#   * Cloaks, capes, robes, suits, skirts, hosiery, hats and the like have no class: they are left out.
ANCHORS = {
    ("03595614", "jersey"): "T-shirt/top",
    ("04390577", "tank_top"): "T-shirt/top",
    ("04453666", "top"): "T-shirt/top",
    ("04223299", "singlet"): "T-shirt/top",
    ("02944146", "camisole"): "T-shirt/top",
    ("03657511", "leotard"): "T-shirt/top",
    ("02892767", "brassiere"): "T-shirt/top",
    ("02863014", "body_stocking"): "T-shirt/top",
    ("03710721", "maillot"): "T-shirt/top",
    ("04489008", "trouser"): "Trouser",
    ("03863108", "overall"): "Trouser",
    ("04370048", "sweater"): "Pullover",
    ("03236735", "dress"): "Dress",
    ("03450230", "gown"): "Dress",
    ("03824381", "nightgown"): "Dress",
    ("03057021", "coat"): "Coat",
    ("04133789", "sandal"): "Sandal",
    ("04241394", "slipper"): "Sandal",
    ("03047690", "clog"): "Sandal",
    ("04197391", "shirt"): "Shirt",
    ("02854926", "blouse"): "Shirt",
    ("03824999", "nightshirt"): "Shirt",
    ("03380867", "footwear"): "Sneaker",  # its kinds; "footwear" itself is no sneaker (GENERAL)
    ("02872752", "boot"): "Ankle boot",
    ("03865949", "overshoe"): "Ankle boot",
    ("03027625", "chukka"): "Ankle boot",
    ("03090710", "congress_boot"): "Ankle boot",
    ("03411079", "gaiter"): "Ankle boot",
    ("02773037", "bag"): "Bag",
    ("02773838", "bag"): "Bag",
    ("02774152", "bag"): "Bag",
    ("02774630", "baggage"): "Bag",
    ("02900705", "briefcase"): "Bag",
    ("04548362", "wallet"): "Bag",
    # bags that are not carried as a bag is in Fashion-MNIST
    **{
        key: None
        for key in [
            ("02685365", "air_bag"), ("02816656", "beanbag"), ("02848118", "bladder"), ("02862770", "body_bag"),
            ("02922877", "burn_bag"), ("03258192", "dust_bag"), ("03291963", "envelope"), ("03557840", "ice_pack"),
            ("03831203", "nosebag"), ("03883524", "pannier"), ("04046091", "ragbag"), ("04110281", "rosin_bag"),
            ("04122685", "sachet"), ("04134008", "sandbag"), ("04212943", "sick_bag"), ("04230221", "skin"),
            ("04235860", "sleeping_bag"), ("04369485", "sweat_bag"), ("04396808", "tea_bag"),
            ("03972524", "pocket"),  # part of a garment, not a bag
        ]
    },
}  # fmt: skip

# Where `--unplaced` starts its walk: WordNet's "clothing" and the container "bag".
UNPLACED_ROOTS = ("03051540", "02773037")

# Anchors that name a whole family: their own lemmas ("footwear", "footgear") get no class of their own.
GENERAL = {"03380867"}

HEADER = """\
# Fashion-MNIST garment lexicon: generated by scripts/build_lexicon.py from WordNet 3.0; do not edit by hand.
# Columns: lemma, class (two or more joined by | when ambiguous), the kind word a grounded prompt uses,
# irregular plurals (WordNet's noun.exc), gloss of the lemma's first clothing, footwear or bag sense.
#
# This file contains data from WordNet 3.0, distributed under its licence:
"""


class Synset:
    def __init__(self, line: str):
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        count = int(fields[3], 16)
        self.offset = fields[0]
        self.lemmas = [fields[4 + 2 * i] for i in range(count)]
        at = 4 + 2 * count
        pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(int(fields[at]))]
        self.hypernyms = [offset for symbol, offset, pos, _ in pointers if symbol in ("@", "@i") and pos == "n"]
        # The definition without its quoted usage examples.
        self.gloss = re.split(r';\s*"', gloss.strip())[0].strip()


def read_synsets(folder: Path) -> dict[str, Synset]:
    synsets = {}
    with open(folder / "data.noun", encoding="utf-8") as file:
        for line in file:
            if not line.startswith(" "):  # the licence at the top is indented
                synset = Synset(line)
                synsets[synset.offset] = synset
    return synsets


def read_senses(folder: Path) -> dict[str, list[str]]:
    """Each lemma's synsets, most frequent sense first (index.noun's order)."""
    senses = {}
    with open(folder / "index.noun", encoding="utf-8") as file:
        for line in file:
            if not line.startswith(" "):
                fields = line.split()
                synset_count, pointer_count = int(fields[2]), int(fields[3])
                senses[fields[0]] = fields[6 + pointer_count : 6 + pointer_count + synset_count]
    return senses


def read_plurals(folder: Path) -> dict[str, list[str]]:
    """noun.exc: irregular inflected form -> base form; returned as base -> forms."""
    plurals = defaultdict(list)
    for line in (folder / "noun.exc").read_text(encoding="utf-8").splitlines():
        form, *bases = line.split()
        for base in bases:
            plurals[base].append(form)
    return plurals


def check_anchors(synsets: dict[str, Synset]) -> None:
    for offset, lemma in ANCHORS:
        if offset not in synsets or synsets[offset].lemmas[0].lower() != lemma.lower():
            raise SystemExit(f"anchor {offset} {lemma} is not in this WordNet; is it 3.0?")


def synset_classes(synsets: dict[str, Synset]) -> dict[str, set[str]]:
    """Each synset's classes: those of the nearest anchors on its hypernym paths (a breadth-first walk up)."""
    anchors = {offset: name for (offset, _), name in ANCHORS.items()}
    classes = {}
    for offset in synsets:
        frontier, seen, found = [offset], {offset}, set()
        while frontier and not found:
            hits = [o for o in frontier if o in anchors]
            if hits:
                found = {anchors[o] for o in hits}
                break
            frontier = [h for o in frontier for h in synsets[o].hypernyms if h not in seen]
            seen.update(frontier)
        found.discard(None)
        if found and offset not in GENERAL:
            classes[offset] = found
    return classes


def lexicon_rows(folder: Path) -> list[tuple[str, str, str, str, str]]:
    synsets, senses, plurals = read_synsets(folder), read_senses(folder), read_plurals(folder)
    check_anchors(synsets)
    classes = synset_classes(synsets)
    rows = []
    for key, offsets in sorted(senses.items()):
        ours = [o for o in offsets if o in classes]
        if not ours:
            continue
        names = sorted(set().union(*(classes[o] for o in ours)))
        first = synsets[ours[0]]
        lemma = next(name for name in first.lemmas if name.lower() == key)  # WordNet's capitals: "Loafer"
        kind = KIND_WORDS[names[0]] if len(names) == 1 else ""
        rows.append((lemma.replace("_", " "), "|".join(names), kind, ",".join(plurals.get(key, [])), first.gloss))
    return rows


def unplaced(folder: Path) -> list[str]:
    """The clothing, footwear and bag synsets that get no class, indented by depth under WordNet's
    "clothing" and "bag": what to read when deciding whether an anchor is missing."""
    synsets = read_synsets(folder)
    classes = synset_classes(synsets)
    hyponyms = defaultdict(list)
    for offset, synset in synsets.items():
        for hypernym in synset.hypernyms:
            hyponyms[hypernym].append(offset)
    lines = []

    def walk(offset: str, depth: int) -> None:
        synset = synsets[offset]
        if offset not in classes:
            lines.append(f"{'  ' * depth}{offset} {', '.join(synset.lemmas)}: {synset.gloss}")
        for child in hyponyms[offset]:
            walk(child, depth + 1)

    for root in UNPLACED_ROOTS:
        walk(root, 0)
    return lines


def lookalikes(folder: Path, rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    """WordNet's words, closed up ("sleeping bag" -> "sleepingbag"), that are not in the lexicon and that end
    in a kind word or its plural after at least SHORTEST_PREFIX letters, or (one-word lemmas) that the
    clipping or the misspelling rule would read as a garment; and the text encoder's whole-word tokens those
    two rules would misread."""
    lexicon = {closed(row[0]) for row in rows}
    endings = tuple(ending for kind in KIND_WORDS.values() for ending in (kind, kind + "s", kind + "es"))
    reader = Lexicon([Entry(row[0], tuple(row[1].split("|")), row[2], row[4]) for row in rows], {})
    vocabulary = training_vocabulary("fashion_mnist")  # its words never reach the rules
    training_nouns = vocabulary.classes
    found = set()
    for part in ("noun", "verb", "adj", "adv"):
        for line in (folder / f"index.{part}").read_text(encoding="utf-8").splitlines():
            if not line.startswith(" "):
                lemma = line.split()[0]
                word = closed(lemma)
                compound = any(word.endswith(e) and len(word) - len(e) >= SHORTEST_PREFIX for e in endings)
                if compound or (len(words(lemma)) == 1 and misread(reader, word, training_nouns)):
                    found.add(word)
    whole_words = (encoder_folder() / "vocab.txt").read_text(encoding="utf-8").split()
    found |= {w for w in whole_words if w.isalpha() and misread(reader, w, training_nouns)}
    return sorted(found - lexicon - vocabulary.words)


def misread(reader: Lexicon, word: str, training_nouns: dict[str, str]) -> bool:
    """Whether the clipping or the misspelling rule would read `word` as a garment."""
    return reader.clipping(word, training_nouns) is not None or reader.misspelling(word, training_nouns) is not None


def closed(lemma: str) -> str:
    """A lemma as one word, as grounding closes it: "sleeping_bag", "Sleeping bag" -> "sleepingbag"."""
    return "".join(words(lemma))


def licence_notice() -> str:
    """The WordNet section of Debian's copyright file, as comment lines."""
    text = LICENCE.read_text(encoding="utf-8")
    section = text[text.index("Files: *") : text.index("Files: debian/*")].strip()
    return "".join(f"# {line}".rstrip() + "\n" for line in section.splitlines())


LOOKALIKES_HEADER = """\
# Words that end or begin like a Fashion-MNIST garment, or are spelt nearly like one, but are none (desktop,
# turncoat, headdress; pocket, well; boats, costs): generated by scripts/build_lexicon.py from WordNet 3.0
# and the text encoder's vocabulary beside lexicon_fashion_mnist.tsv (whose licence notice covers this file
# too); do not edit by hand. Grounding's compound rule ("overshirt": a kind of shirt), clipping rule
# ("wellies": wellington boots) and misspelling rule ("snekers": sneakers) skip them.
"""


def build(folder: Path = WORDNET) -> tuple[str, str]:
    """The lexicon file's text and the lookalikes file's text."""
    rows = lexicon_rows(folder)
    body = "".join("\t".join(row) + "\n" for row in rows)
    return HEADER + licence_notice() + body, LOOKALIKES_HEADER + "".join(w + "\n" for w in lookalikes(folder, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet", type=Path, default=WORDNET, help="folder of WordNet's database files")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument(
        "--unplaced", action="store_true", help="print the garment and bag synsets that get no class, and write nothing"
    )
    args = parser.parse_args()
    if not (args.wordnet / "data.noun").is_file():
        raise SystemExit(f"no WordNet in {args.wordnet}; run `apt-get install -y wordnet-base`")
    if args.unplaced:
        print("\n".join(unplaced(args.wordnet)))
        return
    lexicon, others = build(args.wordnet)
    args.out.write_text(lexicon, encoding="utf-8")
    lookalikes_path(args.out).write_text(others, encoding="utf-8")
    print(f"wrote {args.out} and {lookalikes_path(args.out)}")


if __name__ == "__main__":
    main()
