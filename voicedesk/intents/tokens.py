"""Tokens of one transcript: Whisper's words, their bare forms and the pauses between them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PAUSE = re.compile(r"[,.;:!?\u2026\u2013\u2014]['\")\]]*$")
_OUTER = ".,;:!?\u2026\u2013\u2014-\"'()[]{}*"
_FILLERS = frozenset({"um", "uh", "uhm", "umm", "erm", "er", "hmm", "ok", "okay", "hey", "so",
                      "alright", "please", "well", "oh"})
_POLITE = (("can", "you"), ("could", "you"), ("would", "you"), ("will", "you"), ("let's",),
           ("lets",), ("go", "ahead", "and"), ("i", "want", "you", "to"))


@dataclass(frozen=True)
class Token:
    """One word as Whisper wrote it, its bare lower-case form, and whether a pause follows."""

    raw: str
    word: str
    pause: bool


def tokenize(text: str) -> list[Token]:
    """Split text into tokens; punctuation-only pieces become a pause on the token before."""
    text = text.replace("\u2019", "'")
    text = re.sub(r"([,;:!?])(?=[A-Za-z])", r"\1 ", text)
    tokens: list[Token] = []
    for raw in text.split():
        word = raw.lower().strip(_OUTER)
        if word:
            tokens.append(Token(raw, word, bool(_PAUSE.search(raw))))
        elif tokens:
            tokens[-1] = Token(tokens[-1].raw, tokens[-1].word, True)
    return tokens


def strip_fillers(tokens: list[Token]) -> list[Token]:
    """Drop leading fillers and polite prefixes, keeping at least one token."""
    while len(tokens) > 1:
        words = tuple(t.word for t in tokens)
        cut = next((len(p) for p in _POLITE if words[: len(p)] == p and len(words) > len(p)), 0)
        cut = 1 if words[0] in _FILLERS else cut
        if not cut:
            break
        tokens = tokens[cut:]
    return tokens
