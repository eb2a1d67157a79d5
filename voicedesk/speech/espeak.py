"""espeak-ng text-to-speech through its command line: robotic, tiny, always there.

Runs `espeak-ng --stdout` with the text as one argument (never through a shell) and parses
the WAV it writes to stdout, whose RIFF sizes are placeholders because it streams.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Iterator

import numpy as np

from voicedesk.errors import SpeechError
from voicedesk.speech.synth import Speech, join_speech, split_sentences

DEFAULT_VOICE = "en-us"
"""The espeak-ng voice used when `[speech] voice` is not set."""

DEFAULT_WPM = 175
"""espeak-ng's own default rate, words per minute, which speed 1.0 means."""

_TIMEOUT_S = 30.0


def parse_wav(data: bytes) -> Speech:
    """The mono s16le audio of a WAV file's bytes (sizes of a streamed WAV are ignored)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not write a WAV file")
    pos, rate, fmt = 12, 0, (0, 0, 0)
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if kind == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
            fmt = (tag, channels, bits)
        elif kind == b"data":
            if fmt != (1, 1, 16):
                raise SpeechError(f"espeak-ng wrote WAV format {fmt}, not 16-bit mono PCM")
            pcm = data[body : body + size]
            return Speech(pcm[: len(pcm) // 2 * 2], rate)
        pos = body + size + (size & 1)
    raise SpeechError("espeak-ng wrote a WAV file without audio")


class EspeakSynthesizer:
    """Speech from the espeak-ng program; `voice` is an espeak-ng voice name."""

    name = "espeak"

    def __init__(self, voice: str | None = None, *, speed: float = 1.0, volume: float = 1.0):
        """Check that espeak-ng is on PATH and knows the voice; SpeechError if not."""
        program = shutil.which("espeak-ng")
        if program is None:
            raise SpeechError("espeak-ng is not on PATH (apt-get install espeak-ng)")
        self.program = program
        self.voice = voice or DEFAULT_VOICE
        self.wpm = max(80, min(450, round(DEFAULT_WPM * speed)))
        self.amplitude = max(0, min(200, round(100 * volume)))
        self._gain = volume * 100 / self.amplitude if self.amplitude else 0.0
        self.sample_rate = self._run("").sample_rate  # fails here on an unknown voice

    def synthesize(self, text: str) -> Speech:
        """All of `text` as one Speech."""
        return join_speech(self.sentences(text), self.sample_rate)

    def sentences(self, text: str) -> Iterator[Speech]:
        """One Speech per sentence or clause of `text`."""
        for piece in split_sentences(text):
            yield self._run(piece)

    def _run(self, text: str) -> Speech:
        """Speak one piece of text with espeak-ng."""
        command = [self.program, "--stdout", "-v", self.voice, "-s", str(self.wpm),
                   "-a", str(self.amplitude), "--", text]
        try:
            done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechError(f"espeak-ng failed: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise SpeechError(f"espeak-ng voice {self.voice!r}: {why}")
        speech = parse_wav(done.stdout)
        if self._gain in (0.0, 1.0):  # amplitude covers volumes up to 2.0 exactly
            return speech
        samples = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32) * self._gain
        pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
        return Speech(pcm, speech.sample_rate)
