"""The live listener in-process: real audio and VAD, frames fed as fast as they come."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from voicedesk.audio.files import load_audio
from voicedesk.audio.framing import frames
from voicedesk.config import Settings
from voicedesk.errors import TranscriptionError
from voicedesk.live import LiveEvent, LiveListener
from voicedesk.types import AudioFrame, Transcript


class FailsOnce:
    """A transcriber whose first call fails, as a broken model would; then it hears `text`."""

    def __init__(self, text: str) -> None:
        """Answer `text` after the first failure."""
        self.text, self.calls = text, 0

    def transcribe(self, pcm: bytes) -> Transcript:
        """Fail the first time, then return the fixed text."""
        self.calls += 1
        if self.calls == 1:
            raise TranscriptionError("transcription failed: out of memory")
        return Transcript(self.text)


async def stream(pcm: bytes) -> AsyncIterator[AudioFrame]:
    """The frames of a recording, yielding to the loop between them."""
    for frame in frames(pcm, 30):
        yield frame
        await asyncio.sleep(0)


def test_a_failed_transcription_is_a_notice_and_listening_goes_on(fixtures_dir: Path) -> None:
    events: list[LiveEvent] = []
    listener = LiveListener(Settings(), FailsOnce("show me the leaderboard"), None, events.append)
    pcm = load_audio(fixtures_dir / "multi_command.wav")
    asyncio.run(listener.run(stream(pcm)))
    kinds = [event.kind for event in events]
    assert kinds == ["notice", "heard", "heard", "heard"]
    assert "out of memory" in events[0].text
    assert all(e.heard is not None and e.heard.intent.type == "results" for e in events[1:])
