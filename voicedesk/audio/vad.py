"""The thin adapter between webrtcvad and the segmenter: a per-frame speech detector."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import webrtcvad

from voicedesk.audio.framing import frames
from voicedesk.audio.segmenter import Segmenter, SegmenterSettings, segment
from voicedesk.config import VadSettings
from voicedesk.types import Utterance

_VAD_RATES = (8000, 16000, 32000, 48000)
"""Sample rates webrtcvad accepts."""


def frame_dbfs(pcm: bytes) -> float:
    """RMS level of s16le PCM in dB relative to full scale (-inf for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    power = float(np.mean(samples * samples)) if samples.size else 0.0
    return 10.0 * math.log10(power / 32768.0**2) if power > 0 else -math.inf


def webrtc_detector(
    aggressiveness: int, sample_rate: int = 16000, energy_floor_dbfs: float = -math.inf
) -> Callable[[bytes], bool]:
    """A detector saying whether one 10, 20 or 30 ms frame of s16le mono PCM is speech.

    A frame quieter than `energy_floor_dbfs` is never speech, whatever webrtcvad says: its
    noise model calls faint steady hiss "speech" at aggressiveness 0-2.
    """
    if not 0 <= aggressiveness <= 3:
        raise ValueError(f"aggressiveness must be 0 to 3, got {aggressiveness}")
    if sample_rate not in _VAD_RATES:
        raise ValueError(f"webrtcvad cannot work at {sample_rate} Hz, only at {_VAD_RATES}")
    vad = webrtcvad.Vad(aggressiveness)

    def is_speech(pcm: bytes) -> bool:
        """Whether the frame is loud enough and webrtcvad hears speech in it."""
        if frame_dbfs(pcm) < energy_floor_dbfs:
            return False
        return bool(vad.is_speech(pcm, sample_rate))

    return is_speech


def utterances(pcm: bytes, settings: VadSettings | None = None) -> Iterator[Utterance]:
    """The utterances webrtcvad finds in a whole 16 kHz mono s16le recording."""
    settings = settings if settings is not None else VadSettings.model_validate({})
    segmenter = Segmenter(
        webrtc_detector(
            settings.aggressiveness, energy_floor_dbfs=settings.energy_floor_dbfs
        ),
        SegmenterSettings.from_vad(settings),
    )
    return segment(frames(pcm, settings.frame_ms), segmenter)
