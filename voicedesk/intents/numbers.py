"""Spoken numbers to integers, as Whisper writes them ("12", "#12", "twelve", "twenty-three").

`parse_number` reads one number from the start of a token list and reports how many tokens it
used, so a caller can keep parsing after it. Accepted forms:

- digits, optionally with a leading ``#`` and trailing punctuation: ``12``, ``#12``, ``12.``,
  ``1,200`` (one token);
- number words from zero to 999 999, split by spaces or hyphens: ``twelve``,
  ``twenty-three``, ``twenty three``, ``one hundred and five``, ``a hundred``,
  ``two thousand twelve``. A word sequence must be well formed ("seven three" reads as 7 and
  stops, it is never 10).

Homophones (``homophones=True``, meant ONLY for a number slot such as the word after "job"):
Whisper often writes a lone small number as an ordinary word. When the whole number is a
single token from `HOMOPHONES` it reads as that digit. Homophones never combine with other
number words ("twenty for" is 20, leaving "for" unread) and are never used elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

UNITS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
"""Number words below twenty."""

TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
"""Multiples of ten from twenty to ninety (with Whisper's occasional "fourty")."""

HOMOPHONES: dict[str, int] = {
    "won": 1,
    "to": 2, "too": 2,
    "free": 3, "tree": 3,
    "for": 4, "fore": 4,
    "sex": 6, "sicks": 6,
    "ate": 8,
    "nein": 9,
    "tin": 10,
}
"""Words Whisper writes for a lone spoken digit; read as numbers only in a number slot."""

_STRIP = ".,;:!?\"'()[]"


def _clean(token: str) -> str:
    """Lower-case a token and drop surrounding punctuation (a leading '#' is kept)."""
    return token.strip().lower().strip(_STRIP)


def _digits(token: str) -> int | None:
    """The value of a digit token such as '12', '#12', '12.' or '1,200', else None."""
    text = _clean(token).lstrip("#").replace(",", "")
    return int(text) if text.isascii() and text.isdigit() else None


def _word_value(part: str) -> tuple[str, int] | None:
    """Classify one number word as ('unit'|'tens'|'hundred'|'thousand', value)."""
    if part in UNITS:
        return ("unit", UNITS[part])
    if part in TENS:
        return ("tens", TENS[part])
    if part == "hundred":
        return ("hundred", 100)
    if part == "thousand":
        return ("thousand", 1000)
    return None


class _WordNumber:
    """Accumulates number words left to right and refuses ill-formed sequences."""

    def __init__(self) -> None:
        """Start empty."""
        self.total = 0
        self.current = 0
        self.last = "start"
        self.seen_thousand = False

    def feed(self, part: str) -> bool:
        """Take one word; False (and no change) when it cannot continue the number."""
        kind_value = _word_value(part)
        if kind_value is None:
            return False
        kind, value = kind_value
        last = self.last
        if kind == "unit":
            if last in ("unit", "teen", "a") or (last == "tens" and value >= 10):
                return False
            self.current += value
            self.last = "teen" if value >= 10 else "unit"
        elif kind == "tens":
            if last not in ("start", "hundred", "and", "thousand"):
                return False
            self.current += value
        elif kind == "hundred":
            if last == "a":
                self.current = 1
            elif last not in ("unit", "teen") or not 0 < self.current < 100:
                return False
            self.current *= 100
        else:
            if self.seen_thousand or last in ("start", "and"):
                return False
            self.total += max(self.current, 1) * 1000
            self.current = 0
            self.seen_thousand = True
        if kind != "unit":
            self.last = kind
        return True

    @property
    def value(self) -> int:
        """The number read so far."""
        return self.total + self.current


def _parse_words(tokens: Sequence[str]) -> tuple[int, int] | None:
    """Read number words from the start of tokens: (value, tokens used) or None."""
    acc = _WordNumber()
    used = 0
    for index, token in enumerate(tokens):
        word = _clean(token)
        if word == "a" and index == 0:
            acc.last = "a"
            continue
        if word == "and" and acc.last in ("hundred", "thousand"):
            acc.last = "and"
            continue
        parts = [p for p in word.split("-") if p]
        if not parts or not all(_word_value(p) for p in parts):
            break
        snapshot = (acc.total, acc.current, acc.last, acc.seen_thousand)
        if not all(acc.feed(p) for p in parts):
            acc.total, acc.current, acc.last, acc.seen_thousand = snapshot
            break
        used = index + 1
    return (acc.value, used) if used else None


def parse_number(tokens: Sequence[str], *, homophones: bool = False) -> tuple[int, int] | None:
    """Read one number at the start of tokens: (value, tokens used), or None if there is none."""
    if not tokens:
        return None
    value = _digits(tokens[0])
    if value is not None:
        return (value, 1)
    words = _parse_words(tokens)
    if words is not None:
        return words
    if homophones:
        word = _clean(tokens[0])
        if word in HOMOPHONES:
            return (HOMOPHONES[word], 1)
    return None


def number_value(text: str, *, homophones: bool = False) -> int | None:
    """The value of a whole string that is exactly one number ("forty two"), else None."""
    tokens = text.split()
    parsed = parse_number(tokens, homophones=homophones)
    if parsed is None or parsed[1] != len(tokens):
        return None
    return parsed[0]
