"""Grounding rare garment words before the encoder reads them: what is rewritten and what is not, the
embeddings of every other prompt unchanged, and the note on the web page and in the CLI."""

from __future__ import annotations

import pytest
import torch

from diffusion.common.folders import SHIPPED_PIPELINE
from diffusion.evaluation.prompt_sets import class_prompt_set, free_form_set
from diffusion.model.text import shared_text_encoder
from diffusion.prompts.grounding import ground
from diffusion.prompts.nearest_caption import CaptionIndex
from diffusion.prompts.prompt_notes import notes_for
from diffusion.sampling.pipeline import TextToImagePipeline
from diffusion.sampling.sample import main as sample_main

SHIPPED = SHIPPED_PIPELINE


@pytest.fixture(scope="module")
def pipe() -> TextToImagePipeline:
    return TextToImagePipeline.from_pretrained(SHIPPED, device="cpu")


def read(prompt: str) -> str:
    return ground(prompt, "fashion_mnist").prompt


def test_an_unseen_garment_word_is_explained_by_its_class():
    assert read("a photo of espadrilles") == "a photo of espadrilles, a kind of sandal"
    assert read("Mule") == "Mule, a kind of sandal"  # the slipper, not the animal
    assert read("a black kaftan with long sleeves") == "a black kaftan, a kind of dress, with long sleeves"
    assert read("a pair of galoshes") == "a pair of galoshes, a kind of boot"
    assert [g.entry.lemma for g in ground("a zori and a satchel", "fashion_mnist").explained] == ["zori", "satchel"]


def test_quotes_and_possessives_keep_the_word_and_the_explanation_whole():
    assert read("a pair of 'espadrilles'") == "a pair of 'espadrilles', a kind of sandal"
    assert read('a "kaftan" with long sleeves') == 'a "kaftan", a kind of dress, with long sleeves'
    assert read("espadrilles' straps") == "espadrilles', a kind of sandal, straps"
    assert read("my sister's espadrilles") == "my sister's espadrilles, a kind of sandal"


def test_a_possessive_is_read_as_its_noun():
    # A training noun's possessive is that noun: nothing to explain, the prompt reaches the encoder as typed.
    for prompt in ("a coat's collar", "a sandal\u2019s strap", "a men's parka"):
        assert read(prompt) == prompt, prompt
    # A rare noun's is explained from WordNet, not guessed at as a misspelling; straight or curly apostrophe.
    for prompt, lemma in (("a kaftan's belt", "kaftan"), ("a zori\u2019s strap", "zori")):
        explained = ground(prompt, "fashion_mnist").explained
        assert [g.entry.lemma for g in explained] == [lemma], prompt
        assert "from WordNet" in explained[0].note(), explained[0].note()


def test_known_words_ambiguous_words_and_modifiers_are_left_alone():
    for prompt in (
        "a sneaker",  # a training noun
        "a pair of cowboy boots",  # a training noun of two words, with its plural
        "a photo of a jumper",  # a training noun that WordNet finds ambiguous anyway
        "a pair of sabots",  # WordNet: a clog (Sandal) and a wooden shoe (Sneaker)
        "a tweed jacket",  # tweed is trousers to WordNet, but here it says what the jacket is made of
        "a photo of a henley",  # not in WordNet, and no clipping of a garment noun
        "a cat",
    ):
        assert read(prompt) == prompt, prompt
    assert ground("a photo of a cat", "cifar10").prompt == "a photo of a cat"  # no lexicon for CIFAR-10


def test_a_clipped_word_is_read_as_the_garment_it_shortens():
    assert read("muddy wellies") == "muddy wellies, a kind of boot"  # well|ies: Wellington boots
    assert read("a pair of tennies") == "a pair of tennies, a kind of sneaker"  # tenn|ies: tennis shoes
    assert read("grey trackies for lounging") == "grey trackies, a kind of trousers, for lounging"
    assert read("my welly") == "my welly, a kind of boot"
    notes = [g.note() for g in ground("muddy wellies", "fashion_mnist").explained]
    assert notes == ["wellies: a kind of boot, read as short for wellington"]
    for prompt in (
        "a pair of wells",  # WordNet's well, plural: the lookalikes file
        "a pocket square",  # WordNet's pocket, not a pocketbook
        "something to carry my books",  # carry: no carrier bag
        "rainy day boots",
        "what should I wear",  # a word the encoder reads whole (should: no shoulder bag)
        "a sporty look",  # sport coat, sport shirt, sport sandals: several classes
        "a pair of wels",  # keeps 3 letters of wellington, fewer than a clipping needs
    ):
        assert read(prompt) == prompt, prompt


def test_a_closed_compound_is_read_by_its_parts():
    # Its last part a class's kind word: English compounds are headed by their last word.
    assert read("a flannel overshirt") == "a flannel overshirt, a kind of shirt"
    assert read("overtrousers for hiking") == "overtrousers, a kind of trousers, for hiking"
    # A training noun written closed up takes that noun's class, not its last word's ("muscle shirt" is a top).
    assert read("red rainboots") == "red rainboots, a kind of boot"
    assert read("a muscleshirt") == "a muscleshirt, a kind of top"
    notes = [g.note() for g in ground("an overshirt and a minidress", "fashion_mnist").explained]
    assert notes == [
        "overshirt: a kind of shirt, read as over + shirt",
        "minidress: a kind of dress, read as mini dress",
    ]
    for prompt in (
        "a laptop",  # a word of the captions ("laptop bag"): never read as a compound
        "a desktop",  # WordNet knows it: a computer, not a top (the lookalikes file)
        "a headdress",  # WordNet knows it: a garment, but none of the ten classes
        "a turncoat",
        "a tshirt",  # a training word already
        "an abag",  # two letters before "bag" make no compound
    ):
        assert read(prompt) == prompt, prompt
    assert read("a kaftan overshirt") == "a kaftan overshirt, a kind of shirt"  # kaftan modifies the garment


def test_a_misspelt_garment_word_is_read_as_the_word_meant():
    assert read("a pair of snekers") == "a pair of snekers, a kind of sneaker"  # a letter left out
    assert read("a cardigen for autumn") == "a cardigen, a kind of sweater, for autumn"  # a letter changed
    assert read("a tshrit") == "a tshrit, a kind of top"  # two letters swapped
    assert read("a pair of trousres") == "a pair of trousres, a kind of trousers"  # two errors in a long word
    notes = [g.note() for g in ground("white snekers", "fashion_mnist").explained]
    assert notes == ["snekers: a kind of sneaker, read as a misspelling of sneaker"]
    for prompt in (
        "a pair of boats",  # a word the encoder and WordNet know, a letter from boots (the lookalikes file)
        "the costs of a coat",  # costs: a letter from coats, but a word the encoder knows
        "a photo of a blouson",  # seven letters two errors from blouse: too far for a misspelling
        "a pair of kets",  # four letters: too short to tell a misspelling from another word
        "a xhirt",  # a first letter typed wrong makes another word, not a misspelling
        "a pair of t-shrits",  # a hyphenated word is read whole: no misspelt "shirts" in it
        "a cardigen-style top",  # the first part of a hyphenated modifier
        "a kaftan-style top",  # as for a WordNet word: no explanation splits a hyphenated word
    ):
        assert read(prompt) == prompt, prompt


def test_prompts_without_lexicon_words_encode_exactly_as_before(pipe):
    prompts = class_prompt_set("fashion_mnist").prompts + free_form_set("fashion_mnist").prompts
    untouched = [p for p in prompts if read(p) == p]
    assert len(untouched) > 80
    typed = shared_text_encoder("cpu").encode(untouched)
    encoded = pipe.encode_prompt(untouched)
    assert torch.equal(encoded.tokens, typed.tokens) and torch.equal(encoded.pooled, typed.pooled)
    assert torch.equal(encoded.mask, typed.mask)


def test_grounding_reaches_the_pipeline_and_can_be_switched_off(pipe):
    prompt = "a photo of espadrilles"
    grounded = pipe.encode_prompt([prompt]).pooled
    assert torch.equal(grounded, shared_text_encoder("cpu").encode([read(prompt)]).pooled)
    pipe.ground_words = False
    try:
        assert torch.equal(pipe.encode_prompt([prompt]).pooled, shared_text_encoder("cpu").encode([prompt]).pooled)
    finally:
        pipe.ground_words = True
    tokens = pipe(prompt, num_inference_steps=1, seed=0, return_attention=True).tokens
    assert tokens[-6:] == ["a", "kind", "of", "sand", "##al", "[SEP]"]  # the maps are of the prompt as read


def test_the_note_says_what_the_word_was_read_as():
    index = CaptionIndex.load(SHIPPED, "fashion_mnist")
    notes = notes_for(index, "a photo of espadrilles")
    assert notes.sentences[0].startswith("espadrille: a kind of sandal, from WordNet")
    assert notes.grounding.prompt == "a photo of espadrilles, a kind of sandal"
    assert notes.nearest.label == 5  # Sandal
    assert not any("WordNet" in s for s in notes_for(index, "a photo of espadrilles", ground=False).sentences)
    assert not any("WordNet" in s for s in notes_for(index, "a sneaker").sentences)


def test_the_cli_prints_the_note(tmp_path, capsys):
    args = ["--checkpoint", str(SHIPPED), "--prompt", "a pair of espadrilles", "--num-images", "1", "--steps", "1"]
    sample_main([*args, "--seed", "0", "--out", str(tmp_path)])
    assert "note: espadrille: a kind of sandal, from WordNet" in capsys.readouterr().err
