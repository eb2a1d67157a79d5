"""Pure phrasing shared by alerts and the digest: short clauses fit to be spoken."""

from __future__ import annotations

import re

SPOKEN_LIMIT = 120
"""Characters a spoken clause may have before it is cut at a word."""

DETAIL_LIMIT = 1500
"""Characters a details text keeps of one result, error or prompt."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TRAILING = ".;:,!- \t"


def _lower_first(text: str) -> str:
    """Lower-case a leading capitalised word ('Added' → 'added'), not 'API' or 'I'."""
    word = text.split(" ", 1)[0]
    if len(word) > 1 and word[0].isupper() and word[1:].islower():
        return text[0].lower() + text[1:]
    return text


def clause(text: str, limit: int = SPOKEN_LIMIT) -> str:
    """The first line and sentence of `text`, cut at a word within `limit`, no final stop."""
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    first = _SENTENCE_END.split(line, maxsplit=1)[0]
    if len(first) > limit:
        cut = first[:limit].rsplit(" ", 1)[0]
        first = cut if cut else first[:limit]
    return _lower_first(first.rstrip(_TRAILING))


def question(text: str, limit: int = SPOKEN_LIMIT) -> str:
    """A prompt as a spoken clause that keeps its question mark (or ends in a full stop)."""
    short = clause(text, limit)
    if short.endswith("?"):
        return short
    line = " ".join(text.split())
    rest = line[len(short):] if line.lower().startswith(short.lower()) else ""
    return (short or "what should it do") + ("?" if rest.startswith("?") or not short else ".")


def capped(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` with runs of whitespace joined, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def agent_title(agent: str) -> str:
    """An agent's name at the start of a sentence: 'frontend' → 'Frontend'."""
    return agent[:1].upper() + agent[1:]


def number(value: float) -> str:
    """A metric value as spoken and shown: 0.9405 → '0.9405', 12.0 → '12'."""
    return f"{value:g}"


def seconds(value: float) -> str:
    """A duration in words: '45 s', '3 min 5 s', '2 h 10 min'."""
    total = round(value)
    if total < 60:
        return f"{max(value, 0.0):.3g} s" if value < 10 else f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def count(n: int, singular: str, plural: str) -> str:
    """'1 failure', '2 failures'."""
    return f"{n} {singular if n == 1 else plural}"


def listed(items: list[str]) -> str:
    """'5', '5 and 6', '5, 6 and 7'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def needs_you(agent: str, job_id: int, prompt: str, kind: str = "question") -> str:
    """'Frontend needs your answer on job 12: may it run npm test?'"""
    what = "permission" if kind == "permission" else "answer"
    return f"{agent_title(agent)} needs your {what} on job {job_id}: {question(prompt)}"
