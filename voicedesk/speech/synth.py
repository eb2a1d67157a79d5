"""Text to speech: the Synthesizer protocol, sentence splitting, and choosing an engine.

`make_synthesizer` picks the configured engine. The default, Piper with the bundled joe
voice, falls back to espeak-ng and then to silence when it cannot load, with a warning that
says why; a voice the user named explicitly never falls back: it loads or is a SpeechError.
Backends are imported only when chosen, so importing this module needs neither piper nor
onnxruntime.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from voicedesk.errors import SpeechError

if TYPE_CHECKING:
    from voicedesk.config import SpeechSettings

log = logging.getLogger(__name__)

SAMPLE_WIDTH = 2
"""Bytes per sample of Speech.pcm (s16le)."""

MAX_CLAUSE_CHARS = 120
"""A sentence longer than this is also cut at its commas, so its first audio comes early."""

_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|\n+")
_COMMA = re.compile(r"(?<=,)\s+")
_SPEAKABLE = re.compile(r"\w")


@dataclass(frozen=True)
class Speech:
    """Synthesized audio: mono s16le samples at `sample_rate`."""

    pcm: bytes
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.pcm) / (SAMPLE_WIDTH * self.sample_rate)


class Synthesizer(Protocol):
    """Something that turns text into Speech."""

    name: str

    def synthesize(self, text: str) -> Speech:
        """All of `text` as one Speech."""
        ...

    def sentences(self, text: str) -> Iterator[Speech]:
        """`text` one sentence or clause at a time, so the first audio is ready early."""
        ...


def join_speech(chunks: Iterable[Speech], sample_rate: int) -> Speech:
    """The chunks played one after another (all must have `sample_rate`)."""
    parts = []
    for chunk in chunks:
        if chunk.sample_rate != sample_rate:
            raise ValueError(f"cannot join {chunk.sample_rate} Hz speech to {sample_rate} Hz")
        parts.append(chunk.pcm)
    return Speech(b"".join(parts), sample_rate)


def resample(speech: Speech, rate: int) -> Speech:
    """The speech at `rate` Hz (itself when it already is), through libswresample."""
    if speech.sample_rate == rate or not speech.pcm:
        return Speech(speech.pcm, rate)
    import av
    import numpy as np

    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    samples = np.frombuffer(speech.pcm, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = speech.sample_rate
    out = [*resampler.resample(frame), *resampler.resample(None)]
    return Speech(b"".join(f.to_ndarray().tobytes() for f in out), rate)


def split_sentences(text: str, max_chars: int = MAX_CLAUSE_CHARS) -> list[str]:
    """`text` cut at sentence and clause ends (. ! ? ; : and newlines), long ones at commas."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not _SPEAKABLE.search(sentence):
            continue
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        current = ""
        for clause in _COMMA.split(sentence):
            if current and len(current) + 1 + len(clause) > max_chars:
                pieces.append(current)
                current = clause
            else:
                current = f"{current} {clause}" if current else clause
        pieces.append(current)
    return pieces


class NoSpeech:
    """The silent synthesizer: `[speech] engine = "none"`, or nothing could load."""

    name = "none"
    sample_rate = 22050

    def synthesize(self, text: str) -> Speech:
        """No audio at all."""
        return Speech(b"", self.sample_rate)

    def sentences(self, text: str) -> Iterator[Speech]:
        """Nothing to play."""
        return iter(())


def make_synthesizer(settings: SpeechSettings) -> Synthesizer:
    """The configured engine; the default Piper voice falls back to espeak-ng, then silence."""
    if settings.engine == "none":
        return NoSpeech()
    if settings.engine == "espeak":
        return _espeak(settings)
    if settings.voice is not None:
        path = Path(settings.voice).expanduser()
        if not path.is_file():
            raise SpeechError(f"Piper voice {settings.voice!r} does not exist")
        return _piper(settings, path)
    try:
        return _piper(settings, None)
    except SpeechError as exc:
        reason = str(exc)
    if shutil.which("espeak-ng") is None:
        log.warning("speech is off: %s, and espeak-ng is not on PATH", reason)
        return NoSpeech()
    log.warning("%s; speaking with espeak-ng instead", reason)
    return _espeak(settings.model_copy(update={"voice": None}))


def _piper(settings: SpeechSettings, voice: Path | None) -> Synthesizer:
    """A PiperSynthesizer, or a SpeechError saying why Piper cannot load."""
    try:
        from voicedesk.speech.piper_voice import PiperSynthesizer
    except ImportError as exc:
        raise SpeechError(f"Piper is not available ({exc})") from None
    return PiperSynthesizer(voice, speed=settings.speed, volume=settings.volume)


def _espeak(settings: SpeechSettings) -> Synthesizer:
    """An EspeakSynthesizer for the configured voice (None: en-us)."""
    from voicedesk.speech.espeak import EspeakSynthesizer

    return EspeakSynthesizer(settings.voice, speed=settings.speed, volume=settings.volume)
