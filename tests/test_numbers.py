"""Tests for spoken-number parsing (voicedesk.intents.numbers)."""

from __future__ import annotations

import pytest

from voicedesk.intents.numbers import HOMOPHONES, number_value, parse_number


@pytest.mark.parametrize(
    ("text", "value", "used"),
    [
        ("12", 12, 1),
        ("#12", 12, 1),
        ("12.", 12, 1),
        ("12?", 12, 1),
        ("#4", 4, 1),
        ("1,200", 1200, 1),
        ("0", 0, 1),
        ("zero", 0, 1),
        ("seven", 7, 1),
        ("Twelve.", 12, 1),
        ("nineteen?", 19, 1),
        ("sixty", 60, 1),
        ("twenty-three", 23, 1),
        ("Twenty-Three,", 23, 1),
        ("twenty three", 23, 2),
        ("forty two", 42, 2),
        ("forty-two", 42, 1),
        ("fourty two", 42, 2),
        ("ninety nine", 99, 2),
        ("one hundred", 100, 2),
        ("a hundred", 100, 2),
        ("one hundred and five", 105, 4),
        ("one hundred five", 105, 3),
        ("two hundred forty-two", 242, 3),
        ("twelve hundred", 1200, 2),
        ("a thousand and one", 1001, 4),
        ("two thousand five hundred and twelve", 2512, 6),
    ],
)
def test_parse_number_reads_whole_numbers(text: str, value: int, used: int) -> None:
    """Digits and number words give their value and the tokens they used."""
    assert parse_number(text.split()) == (value, used)


@pytest.mark.parametrize(
    ("text", "value", "used"),
    [
        ("12 status", 12, 1),
        ("twelve doing", 12, 1),
        ("twenty-three status", 23, 1),
        ("twenty three please", 23, 2),
        ("seven three", 7, 1),
        ("twelve two", 12, 1),
        ("twenty thirty", 20, 1),
        ("twenty twelve", 20, 1),
        ("one hundred and", 100, 2),
        ("one hundred and the", 100, 2),
        ("one hundred five hundred", 105, 3),
        ("twenty for", 20, 1),
    ],
)
def test_parse_number_stops_where_the_number_ends(text: str, value: int, used: int) -> None:
    """Parsing stops at the first word that cannot continue a well-formed number."""
    assert parse_number(text.split()) == (value, used)


@pytest.mark.parametrize(
    "text",
    ["", "job", "the", "hundred", "a", "a seven", "and five", "free", "for", "to", "#", "12a"],
)
def test_parse_number_finds_nothing(text: str) -> None:
    """Non-numbers (and homophones outside a number slot) give None."""
    assert parse_number(text.split()) is None


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("free", 3), ("Free.", 3), ("tree", 3), ("for", 4), ("fore", 4), ("to", 2),
        ("too", 2), ("won", 1), ("ate", 8), ("sex", 6), ("nein", 9),
    ],
)
def test_homophones_only_in_a_number_slot(word: str, value: int) -> None:
    """A lone homophone reads as its digit only when the caller asks for homophones."""
    assert parse_number([word], homophones=True) == (value, 1)
    assert parse_number([word]) is None


def test_real_numbers_win_over_homophones() -> None:
    """Homophone mode still reads proper numbers first, and never mixes the two."""
    assert parse_number(["twelve"], homophones=True) == (12, 1)
    assert parse_number(["twenty", "for"], homophones=True) == (20, 1)
    assert parse_number(["free", "three"], homophones=True) == (3, 1)


def test_homophone_table_stays_small_and_single_digit_like() -> None:
    """The documented table is short and maps only to small numbers."""
    assert len(HOMOPHONES) <= 15
    assert all(0 < value <= 10 for value in HOMOPHONES.values())


@pytest.mark.parametrize(
    ("text", "homophones", "value"),
    [
        ("forty two", False, 42),
        ("twenty-three", False, 23),
        ("#12", False, 12),
        ("free", True, 3),
        ("free", False, None),
        ("forty two things", False, None),
        ("", False, None),
    ],
)
def test_number_value_needs_the_whole_string(
    text: str, homophones: bool, value: int | None
) -> None:
    """number_value reads a string that is exactly one number."""
    assert number_value(text, homophones=homophones) == value
