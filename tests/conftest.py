"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_process import stop_leftovers
from pulse import VirtualMic, pulse_unavailable_reason

from voicedesk.config import Settings
from voicedesk.stt.vocabulary import build_vocabulary
from voicedesk.stt.whisper import WhisperTranscriber, command_reader

FIXTURES_DIR = Path(__file__).parent / "fixtures"
"""The committed audio fixtures that scripts/make_fixtures.sh writes."""


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of committed audio fixtures."""
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    """The real tiny.en model with the default agents' vocabulary and the n-best reader, as
    `load_transcriber` builds it, loaded once per session."""
    settings = Settings()
    return WhisperTranscriber(
        settings.stt, build_vocabulary(settings.agent_aliases(), settings.stt.vocabulary),
        reader=command_reader(settings),
    )


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[VirtualMic]:
    """A PulseAudio virtual microphone behind PortAudio's "pulse" device; skips without one."""
    reason = pulse_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    mic = VirtualMic()
    mic.start()
    try:
        yield mic
    finally:
        mic.stop()


@pytest.fixture(autouse=True)
def no_leftover_listeners() -> Iterator[None]:
    """After each test, no `voicedesk listen` it started is still running."""
    yield
    stop_leftovers()
