"""Spoken answers to an agent's question: allow or deny a tool call, pick an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.agents.answers import (
    Decision,
    choose_option,
    permission_decision,
    question_prompt,
)
from voicedesk.agents.permissions import permission_prompt

INSTEAD = "use the staging database instead"


@pytest.mark.parametrize(("said", "expected"), [
    ("yes", Decision(True)),
    ("Yes.", Decision(True)),
    ("yes, allow it", Decision(True)),
    ("allow", Decision(True)),
    ("go ahead", Decision(True)),
    ("Sure, go ahead!", Decision(True)),
    ("approve", Decision(True)),
    ("do it", Decision(True)),
    ("okay, do it please", Decision(True)),
    ("yeah", Decision(True)),
    ("no", Decision(False, "no")),
    ("No.", Decision(False, "No.")),
    ("no, don't", Decision(False, "no, don't")),
    ("deny", Decision(False, "deny")),
    ("don't", Decision(False, "don't")),
    ("Don\u2019t do it", Decision(False, "Don\u2019t do it")),
    ("do not allow it", Decision(False, "do not allow it")),
    ("please don't", Decision(False, "please don't")),
    ("yes, don't", Decision(False, "yes, don't")),
    ("stop", Decision(False, "stop")),
    ("never", Decision(False, "never")),
    ("no, use the staging database", Decision(False, "no, use the staging database")),
    (INSTEAD, Decision(False, f"The user answered: {INSTEAD}")),
    ("yes but run the unit tests only",
     Decision(False, "The user answered: yes but run the unit tests only")),
    ("  use   staging  ", Decision(False, "The user answered: use staging")),
    ("", Decision(False, "The user gave no answer.")),
    ("...", Decision(False, "The user gave no answer.")),
])
def test_permission_decision(said: str, expected: Decision) -> None:
    """Only a plain yes allows; a no carries the words; anything else is an instruction."""
    assert permission_decision(said) == expected


@pytest.mark.parametrize(("said", "expected"), [
    ("staging", "staging"),
    ("use Staging please", "staging"),
    ("the second one", "production"),
    ("option 1", "staging"),
    ("one", "staging"),
    ("the fifth one", "the fifth one"),
    ("staging or production", "staging or production"),
    ("whatever is cheapest", "whatever is cheapest"),
])
def test_choose_option(said: str, expected: str) -> None:
    """An answer naming one option (or its place) picks its label; else the words are kept."""
    assert choose_option(said, ["staging", "production"]) == expected


def test_question_prompt() -> None:
    """Questions are spoken with their options."""
    spoken = question_prompt("Which database?", ["staging", "prod"])
    assert spoken == "Which database: staging or prod?"
    assert question_prompt("Which one?", ["a", "b", "c"]) == "Which one: a, b or c?"
    assert question_prompt("Proceed", []) == "Proceed?"


def test_permission_prompt(tmp_path: Path) -> None:
    """Spoken permission prompts name the action and its main argument."""
    root = tmp_path
    assert permission_prompt("Bash", {"command": "npm test"}) == "may it run: npm test?"
    edit = {"file_path": str(root / "src" / "settings.tsx")}
    assert permission_prompt("Edit", edit, root) == "may it edit src/settings.tsx?"
    assert permission_prompt("Write", {"file_path": "/etc/x"}, root) == "may it write /etc/x?"
    assert permission_prompt("WebFetch", {"url": "https://x.org"}) == "may it fetch https://x.org?"
    assert permission_prompt("mcp__db__query", {}) == "may it use mcp__db__query?"
    long = permission_prompt("Bash", {"command": "x" * 500})
    assert long.startswith("may it run: x") and len(long) < 140
