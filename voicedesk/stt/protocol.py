"""The Transcriber seam: 16 kHz mono s16le PCM in, a Transcript out."""

from __future__ import annotations

from typing import Protocol

from voicedesk.types import Transcript


class Transcriber(Protocol):
    """Anything that turns one utterance's PCM into text."""

    def transcribe(self, pcm: bytes) -> Transcript:
        """Transcribe 16 kHz mono s16le PCM; an empty text means nothing was heard."""
        ...
