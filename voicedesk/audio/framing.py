"""Cut 16 kHz mono s16le PCM into fixed-length, timestamped frames."""

from __future__ import annotations

from collections.abc import Iterator

from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame


def frame_bytes(frame_ms: int) -> int:
    """Bytes in one frame of `frame_ms` milliseconds of 16 kHz mono s16le PCM."""
    samples, remainder = divmod(SAMPLE_RATE * frame_ms, 1000)
    if frame_ms <= 0 or remainder:
        raise ValueError(f"frame_ms must be a positive whole number of samples, got {frame_ms}")
    return samples * SAMPLE_WIDTH


def frames(pcm: bytes, frame_ms: int = 30, start: float = 0.0) -> Iterator[AudioFrame]:
    """Consecutive `frame_ms` frames of `pcm` timed from `start`; the last one is zero-padded."""
    return _frames(pcm, frame_bytes(frame_ms), frame_ms, start)


def _frames(pcm: bytes, size: int, frame_ms: int, start: float) -> Iterator[AudioFrame]:
    """The generator behind `frames`, once the frame size is known to be valid."""
    view = memoryview(pcm)
    for index, offset in enumerate(range(0, len(pcm), size)):
        chunk = bytes(view[offset : offset + size])
        if len(chunk) < size:
            chunk += bytes(size - len(chunk))
        yield AudioFrame(pcm=chunk, start=start + index * frame_ms / 1000)
