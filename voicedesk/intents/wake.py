"""The wake word: only utterances that start with it count, and it is cut off before parsing.

Whisper writes a spoken wake word many ways ("Desk.", "desk —", "Desk,", "Hey desk"). The
first words of the transcript, after an optional "hey" / "ok" / "okay", are matched with the
same rule as agent names (`names.match_agent`: exact after normalisation, or a fuzzy and
phonetic near miss scoring at least `min_score`), so "Desk." and "disk" both wake "desk".
"""

from __future__ import annotations

from voicedesk.intents.names import match_agent
from voicedesk.intents.tokens import tokenize

_GREETINGS = frozenset({"hey", "hi", "ok", "okay", "oh"})


def strip_wake_word(text: str, wake_word: str, min_score: float = 0.8) -> str | None:
    """The command after the wake word, or None when the text does not start with it."""
    tokens = tokenize(text)
    if len(tokens) > 1 and tokens[0].word in _GREETINGS and not tokens[0].pause:
        tokens = tokens[1:]
    match = match_agent([t.word for t in tokens], {wake_word.lower(): ()})
    if match is None or match.confidence < min_score:
        return None
    return " ".join(token.raw for token in tokens[match.tokens :]).lstrip(" ,.;:-\u2014\u2013")


def command_text(text: str, wake_word: str | None) -> str | None:
    """The text to parse: all of it, or with a wake word what follows it; None: no command."""
    if not text or not wake_word:
        return text or None
    return strip_wake_word(text, wake_word)
