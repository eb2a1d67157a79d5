"""Tests for agent-name matching (voicedesk.intents.names)."""

from __future__ import annotations

import pytest

from voicedesk.intents.names import (
    NameMatch,
    match_agent,
    normalise,
    phonetic_key,
    score,
    targets,
)

AGENTS = {
    "frontend": ["web", "ui"],
    "backend": ["api", "server"],
    "infra": ["ops"],
    "research": ["researcher"],
}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Front-End.", "frontend"),
        ("FrontEnd", "frontend"),
        ("A.P.I.", "api"),
        ("Infra,", "infra"),
        ("  research ", "research"),
        ("—", ""),
    ],
)
def test_normalise(text: str, key: str) -> None:
    """Normalising keeps only lower-case letters and digits."""
    assert normalise(text) == key


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("frontend", "PRNTNT"),
        ("front and", "PRNTNT"),
        ("backend", "PKNT"),
        ("back and", "PKNT"),
        ("infra", "ANPR"),
        ("research", "RKRK"),
        ("phront", "PRNT"),
        ("web", "WP"),
        ("", ""),
    ],
)
def test_phonetic_key(text: str, code: str) -> None:
    """The Soundex-like key keeps consonant classes at full length."""
    assert phonetic_key(text) == code


def test_score_rules() -> None:
    """Exact is 1.0; short targets are exact-only; first sounds must agree."""
    assert score("frontend", "frontend") == 1.0
    assert score("frontand", "frontend") == pytest.approx((0.875 + 1.0) / 2)
    assert score("ap", "api") == 0.0
    assert score("weresearch", "research") == 0.0
    assert score("", "infra") == 0.0
    assert 0.0 < score("andfor", "infra") < 0.75


def test_targets_lists_names_and_aliases() -> None:
    """Every name and alias appears, normalised, with its agent."""
    pairs = targets({"frontend": ["Web", "U.I."], "backend": []})
    assert pairs == [("frontend", "frontend"), ("backend", "backend"),
                     ("frontend", "web"), ("frontend", "ui")]


@pytest.mark.parametrize(
    ("text", "agent", "tokens"),
    [
        ("frontend", "frontend", 1),
        ("Frontend,", "frontend", 1),
        ("Front end", "frontend", 2),
        ("front-end", "frontend", 1),
        ("FrontEnd", "frontend", 1),
        ("FRONT END", "frontend", 2),
        ("back end", "backend", 2),
        ("Back-end", "backend", 1),
        ("API", "backend", 1),
        ("A.P.I.", "backend", 1),
        ("server", "backend", 1),
        ("Infra.", "infra", 1),
        ("ops", "infra", 1),
        ("web", "frontend", 1),
        ("UI", "frontend", 1),
        ("research compare things", "research", 1),
        ("re search", "research", 2),
        ("researcher", "research", 1),
        ("frontend and an art", "frontend", 1),
    ],
)
def test_exact_matches(text: str, agent: str, tokens: int) -> None:
    """Names and aliases match at 1.0 however they are split, joined or capitalised."""
    match = match_agent(text.split(), AGENTS)
    assert match == NameMatch(agent, 1.0, tokens, match.target if match else "")


@pytest.mark.parametrize(
    ("text", "agent", "low", "high"),
    [
        ("front and", "frontend", 0.9, 0.99),
        ("back and", "backend", 0.9, 0.99),
        ("Front And,", "frontend", 0.9, 0.99),
        ("backed", "backend", 0.75, 0.99),
        ("infer", "infra", 0.75, 0.99),
        ("front", "frontend", 0.75, 0.8),
        ("and for", "infra", 0.5, 0.6),
    ],
)
def test_fuzzy_matches_have_a_confidence_below_one(
    text: str, agent: str, low: float, high: float
) -> None:
    """Near misses resolve with a confidence in the documented range."""
    match = match_agent(text.split(), AGENTS)
    assert match is not None
    assert match.agent == agent
    assert low <= match.confidence <= high


@pytest.mark.parametrize(
    "text",
    ["database", "the weather", "dev server", "we", "you", "apple", "up", "bob", "", "—"],
)
def test_no_match_for_unrelated_words(text: str) -> None:
    """Words that resemble no name give no match instead of a wrong agent."""
    assert match_agent(text.split(), AGENTS) is None


def test_floor_filters_weak_matches() -> None:
    """A raised floor drops weak near misses."""
    assert match_agent(["and", "for"], AGENTS, floor=0.75) is None


def test_max_tokens_limits_the_span() -> None:
    """A name is not read across more tokens than allowed."""
    assert match_agent(["front", "end"], AGENTS, max_tokens=1) != NameMatch(
        "frontend", 1.0, 2, "frontend"
    )


def test_tie_between_two_agents_is_no_match() -> None:
    """Two agents equally close to a fuzzy name: refuse rather than guess."""
    agents = {"alpha": ["marta"], "beta": ["morta"]}
    assert match_agent(["merta"], agents) is None
    assert match_agent(["marta"], agents) == NameMatch("alpha", 1.0, 1, "marta")
