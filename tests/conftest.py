"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.config import Settings
from voicedesk.stt.vocabulary import build_vocabulary
from voicedesk.stt.whisper import WhisperTranscriber

FIXTURES_DIR = Path(__file__).parent / "fixtures"
"""The committed audio fixtures that scripts/make_fixtures.sh writes."""


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of committed audio fixtures."""
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    """The real tiny.en model with the default agents' vocabulary, loaded once per session."""
    settings = Settings()
    return WhisperTranscriber(
        settings.stt, build_vocabulary(settings.agent_aliases(), settings.stt.vocabulary)
    )
