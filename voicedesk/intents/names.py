"""Match a spoken agent name, however Whisper splits, joins, spells or punctuates it.

The config gives ``agents``: name -> aliases. A *target* is an agent name or one of its aliases.

Normalisation (`normalise`): lower-case and drop everything but ``a-z`` and ``0-9``, so
"Front end", "front-end", "FrontEnd", "A.P.I." and "Infra." become "frontend", "api", "infra".
A *spoken key* is 1 to 3 consecutive tokens from the start of the candidate, joined and
normalised.

Phonetic key (`phonetic_key`), a Soundex-like code kept at full length:
  1. digraphs first: "ph"->f, "ck"->k, "gh"->g, "qu"->k;
  2. letters map to classes: b f p v -> P; c g j k q s x z -> K; d t -> T; l -> L;
     m n -> N; r -> R; digits stay as they are;
  3. a, e, i, o, u, y, h, w are dropped, except as the first letter, where a vowel or
     y becomes "A" and h/w stay "H"/"W";
  4. after dropping, adjacent equal symbols collapse to one:
     "backend" -> PKNT, "front and" -> PRNTNT, "infra" -> ANPR.

Score of a spoken key ``s`` against a target ``t`` (`score`):
  - 1.0 when ``s == t`` (an exact match, the only way to reach 1.0);
  - 0.0 when ``t`` is shorter than 4 characters (short aliases such as "ui", "api", "ops"
    match exactly or not at all) or when the first phonetic symbols differ;
  - otherwise ``(text + sound) / 2`` where ``text = difflib.SequenceMatcher(None, s, t).ratio()``
    and ``sound`` is the same ratio on the two phonetic keys.
For example "front and" -> frontend scores (0.875 + 1.0) / 2 = 0.94 and "back and" -> backend
(0.857 + 1.0) / 2 = 0.93, while "and for" -> infra scores about 0.53.

`match_agent` tries every key length and every target and keeps the best score (ties: fewer
tokens). Scores under ``floor`` (default 0.5) give no match, and so does a tie between two
different agents: a name is never silently routed to an agent it does not clearly resemble.
The caller compares the confidence with its own threshold (the grammar's ``min_confidence``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

MAX_NAME_TOKENS = 3
"""The most tokens a spoken agent name may span ("the front end" is two after "the")."""

MIN_FUZZY_LENGTH = 4
"""Targets shorter than this many characters only ever match exactly."""

_CLASSES: dict[str, str] = {
    **dict.fromkeys("bfpv", "P"),
    **dict.fromkeys("cgjkqsxz", "K"),
    **dict.fromkeys("dt", "T"),
    "l": "L",
    **dict.fromkeys("mn", "N"),
    "r": "R",
}
_DIGRAPHS = (("ph", "f"), ("ck", "k"), ("gh", "g"), ("qu", "k"))
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class NameMatch:
    """The agent a spoken name resolves to, how sure, and how many tokens it used."""

    agent: str
    confidence: float
    tokens: int
    target: str


def normalise(text: str) -> str:
    """Lower-case and keep only a-z and 0-9 ("Front-End." -> "frontend")."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def phonetic_key(text: str) -> str:
    """The Soundex-like sound code described in the module docstring ("backend" -> "PKNT")."""
    word = normalise(text)
    for pair, single in _DIGRAPHS:
        word = word.replace(pair, single)
    if not word:
        return ""
    first = word[0]
    head = "A" if first in _VOWELS else first.upper() if first in "hw" else ""
    rest = word[1:] if head else word
    code = head
    for char in rest:
        symbol = _CLASSES.get(char, char if char.isdigit() else "")
        if symbol and not code.endswith(symbol):
            code += symbol
    return code


def score(spoken: str, target: str) -> float:
    """How well a normalised spoken key matches a normalised target, in [0, 1]."""
    if not spoken or not target:
        return 0.0
    if spoken == target:
        return 1.0
    if len(target) < MIN_FUZZY_LENGTH:
        return 0.0
    spoken_key, target_key = phonetic_key(spoken), phonetic_key(target)
    if spoken_key[:1] != target_key[:1]:
        return 0.0
    text = SequenceMatcher(None, spoken, target).ratio()
    sound = SequenceMatcher(None, spoken_key, target_key).ratio()
    return (text + sound) / 2


def targets(agents: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Every (agent, normalised name or alias) pair of the config, names first."""
    pairs = [(agent, normalise(agent)) for agent in agents]
    pairs += [(agent, normalise(alias)) for agent, aliases in agents.items() for alias in aliases]
    return [(agent, key) for agent, key in pairs if key]


def match_agent(
    tokens: Sequence[str],
    agents: Mapping[str, Sequence[str]],
    *,
    floor: float = 0.5,
    max_tokens: int = MAX_NAME_TOKENS,
) -> NameMatch | None:
    """The best agent for a name at the start of tokens, or None when nothing scores >= floor."""
    pairs = targets(agents)
    best: NameMatch | None = None
    rival: NameMatch | None = None
    for length in range(1, min(max_tokens, len(tokens)) + 1):
        spoken = normalise("".join(tokens[:length]))
        if not normalise(tokens[length - 1]):
            continue
        for agent, target in pairs:
            value = round(score(spoken, target), 6)
            if value < floor:
                continue
            found = NameMatch(agent, value, length, target)
            if best is None or value > best.confidence:
                best, rival = found, None
            elif value == best.confidence and agent != best.agent:
                rival = found
    if best is None or (rival is not None and best.confidence < 1.0):
        return None
    return best
