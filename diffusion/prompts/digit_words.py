"""The words of the digit captions: how people ask for a handwritten digit, and the words its pixels make true.

A digit is named by its numeral or its word ("7", "seven"), alone or after a head word ("the digit seven",
"number 7", "the numeral seven"). Thickness and slant words are chosen from the image itself
(digit_attributes.py); the neutral words are true of every MNIST digit (handwritten, white on black).

A fixed fifth of the head words, templates and modifiers is held out: no training caption contains them, and
the evaluation asks for digits with them ("the figure seven", "scribble a 7") to measure phrasings the model
never saw. The numerals and number words themselves are never held out: they are what people type.
"""

from __future__ import annotations

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Before the name: "the digit seven", "a handwritten number 7".
HEADS = ["digit", "number", "numeral", "handwritten digit", "handwritten number", "single digit", "symbol", "character"]
HELD_OUT_HEADS = ["figure", "glyph"]

# Before the head or the name, true of every MNIST digit.
NEUTRAL_WORDS = ["handwritten", "hand-written", "hand-drawn", "white", "greyscale", "single", "plain"]
# After it, true of every MNIST digit.
NEUTRAL_PHRASES = ["written by hand", "drawn by hand", "on a black background", "in white on black", "in white ink"]

# Attribute words by value (digit_attributes: THIN, BOLD, UPRIGHT, SLANTED): before the name, and after it.
THIN_WORDS = ["thin", "thin-stroked", "fine", "skinny", "slender", "delicate", "narrow", "light-stroked"]
BOLD_WORDS = ["bold", "thick", "heavy", "fat", "thick-stroked", "heavy-stroked", "broad", "strong"]
UPRIGHT_WORDS = ["upright", "straight", "straight-up", "unslanted", "perpendicular", "erect"]
SLANTED_WORDS = ["slanted", "slanting", "leaning", "italic", "sloping", "oblique", "skewed", "inclined"]
THIN_PHRASES = ["with thin strokes", "with thin lines", "written with a fine pen", "in a thin pen"]
BOLD_PHRASES = ["with thick strokes", "with bold lines", "written with a thick marker", "in a heavy pen"]
UPRIGHT_PHRASES = ["standing straight", "standing upright", "with no slant", "written upright"]
SLANTED_PHRASES = ["leaning to the right", "slanted to the right", "written in italics", "at an angle"]

HELD_OUT_THIN = ["wispy", "spindly"]
HELD_OUT_BOLD = ["chunky", "hefty"]
HELD_OUT_UPRIGHT = ["vertical"]
HELD_OUT_SLANTED = ["tilted"]
HELD_OUT_NEUTRAL = ["scrawled", "pencilled"]

# {x}: the phrase with its article ("a thin 7", "the number seven"); {bare}: without it.
TEMPLATES = [
    "{x}", "{bare}", "a picture of {x}", "an image of {x}", "a photo of {x}", "a drawing of {x}", "a sketch of {x}",
    "a scan of {x}", "draw {x}", "write {x}", "show me {x}", "generate {x}", "make {x}", "I want {x}",
    "here is {x}", "this is {x}", "{x} on a plain background", "a close-up of {x}", "a handwriting sample of {x}",
    "{x}, handwritten", "a small picture of {x}", "an MNIST image of {x}", "a greyscale image of {x}",
]  # fmt: skip
HELD_OUT_TEMPLATES = ["scribble {x}", "jot down {x}", "a doodle of {x}"]

# The evaluation's held-out phrasings, one prompt each per digit: {digit} "7", {word} "seven", {a_digit} "a 7".
HELD_OUT_PHRASINGS = [
    "the figure {word}",
    "figure {digit}",
    "scribble {a_digit}",
    "jot down the number {word}",
    "a doodle of the glyph {digit}",
]

# The ways of asking that the training captions use, each judged by the evaluation: "7", "seven", ...
ASKING = ["{digit}", "{word}", "the digit {word}", "number {digit}", "the numeral {word}", "a handwritten {word}"]
