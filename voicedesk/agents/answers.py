"""What a spoken answer to an agent's question means: allow or deny a tool, pick an option.

Pure: text in, decisions out. Only a plain yes (yes / allow / go ahead / sure / approve / do
it) allows; a no is a denial carrying the user's words; anything else is an instruction,
passed back as a denial so the agent adapts ("The user answered: use the staging database").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ALLOW_STARTS = frozenset({
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "allow", "approve", "approved", "go",
    "do", "proceed", "fine", "alright", "run", "absolutely", "certainly",
})
"""Words a plain yes starts with."""

ALLOW_WORDS = ALLOW_STARTS | frozenset({
    "allowed", "allow", "it", "that", "this", "please", "ahead", "for", "and", "then", "just",
    "of", "course", "all", "right", "you", "may", "can", "let", "them", "him", "her",
})
"""Every word a plain yes may consist of ("yes, allow it", "sure, go ahead")."""

NEGATIONS = frozenset({
    "no", "nope", "nah", "not", "don't", "dont", "never", "deny", "denied", "stop", "refuse",
    "reject", "rejected",
})
"""Words that make an answer a no."""

ORDINALS = {"first": 0, "one": 0, "1": 0, "second": 1, "two": 1, "2": 1, "third": 2,
            "three": 2, "3": 2, "fourth": 3, "four": 3, "4": 3}
"""Spoken ways to pick an option by its place ("the second one", "option 2")."""


@dataclass(frozen=True)
class Decision:
    """Whether the user allowed a tool call, and what to tell the agent when they did not."""

    allow: bool
    message: str = ""


def words(text: str) -> list[str]:
    """Lower-case words with apostrophes kept ("Don't!" → ["don't"])."""
    flat = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", flat)


def _is_no(tokens: Sequence[str]) -> bool:
    """A no: it starts with a negation, or it is only yes-words and negations ("please don't")."""
    if tokens[0] in NEGATIONS or tokens[:2] == ["do", "not"]:
        return True
    negated = any(token in NEGATIONS for token in tokens)
    return negated and all(token in ALLOW_WORDS or token in NEGATIONS for token in tokens)


def _is_yes(tokens: Sequence[str]) -> bool:
    """A plain yes: a yes-word first and nothing but yes-words after."""
    return tokens[0] in ALLOW_STARTS and all(token in ALLOW_WORDS for token in tokens)


def permission_decision(text: str) -> Decision:
    """Allow on a plain yes; deny with the user's words on a no; otherwise deny with
    "The user answered: <text>" so the agent takes the answer as its instruction."""
    said = " ".join(text.split())
    tokens = words(said)
    if not tokens:
        return Decision(False, "The user gave no answer.")
    if _is_no(tokens):
        return Decision(False, said)
    if _is_yes(tokens):
        return Decision(True)
    return Decision(False, f"The user answered: {said}")


def choose_option(text: str, labels: Sequence[str]) -> str:
    """The option label the answer names (by its words or its place), else the answer itself."""
    said = " ".join(text.split())
    tokens = words(said)
    heard = f" {' '.join(tokens)} "
    named = [label for label in labels if words(label) and f" {' '.join(words(label))} " in heard]
    if len(named) == 1:
        return named[0]
    places = {ORDINALS[t] for t in tokens if t in ORDINALS and t != "one"}
    if not places and "one" in tokens:
        places = {0}
    filler = {"the", "option", "one", "number", "please", "pick", "choose", "take"}
    if len(places) == 1 and all(t in filler or t in ORDINALS for t in tokens):
        place = places.pop()
        if place < len(labels):
            return labels[place]
    return said


def question_prompt(question: str, labels: Sequence[str]) -> str:
    """A question to speak, with its options: 'Which database: staging or production?'."""
    asked = " ".join(question.split()).rstrip(" ?")
    if not labels:
        return f"{asked}?"
    if len(labels) == 1:
        return f"{asked}: {labels[0]}?"
    return f"{asked}: {', '.join(labels[:-1])} or {labels[-1]}?"
