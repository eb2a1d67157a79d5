"""The wake word gate on transcripts, with Whisper's renderings of it."""

from __future__ import annotations

import pytest

from voicedesk.intents.wake import strip_wake_word


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("Desk, status.", "status."),
        ("desk — what is running?", "what is running?"),
        ("Desk. Cancel job 3.", "Cancel job 3."),
        ("DESK status", "status"),
        ("Hey desk, status", "status"),
        ("okay desk show me the leaderboard", "show me the leaderboard"),
        ("Disk, status", "status"),  # a phonetic near miss still wakes
        ("Desk.", ""),  # the wake word alone: awake, but no command
    ],
)
def test_utterances_that_start_with_the_wake_word(text: str, command: str) -> None:
    assert strip_wake_word(text, "desk") == command


@pytest.mark.parametrize(
    "text",
    ["Status report.", "What is running on my desk?", "desktop status", "Mask, status", "", "hey"],
)
def test_utterances_without_it_do_not_count(text: str) -> None:
    assert strip_wake_word(text, "desk") is None


def test_a_two_word_wake_word() -> None:
    assert strip_wake_word("Voice desk, status", "voice desk") == "status"
    assert strip_wake_word("voicedesk status", "voice desk") == "status"
