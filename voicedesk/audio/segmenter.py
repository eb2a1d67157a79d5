"""Cut a stream of frames into utterances, given a per-frame speech detector (pure logic).

How a stream is cut, with the default settings (30 ms frames):

* Start: the segmenter keeps a ring buffer of the last `trigger_ms` (240 ms, 8 frames) of
  detector decisions and opens an utterance once at least `trigger_ratio` (60 %, so 5 of
  the 8 frames) are voiced. A click of one or two voiced frames therefore never starts one.
* Pre-roll: the utterance begins `pre_roll_ms` before the first voiced frame of that
  window, so soft onsets the detector missed are kept.
* End: after `hangover_ms` of continuous non-speech (rounded up to whole frames) the
  utterance closes (closed_by="silence"). Shorter pauses, such as a comma, stay inside.
  The audio keeps `min(tail_ms, hangover_ms)` of that trailing non-speech; the rest of it
  becomes history that the next utterance's pre-roll may use, so no sample is emitted twice.
* Length: an utterance that reaches `max_utterance_s` is cut there (closed_by="max_length")
  and the next frame starts a new one at once, so no audio is lost.
* Drop: an utterance whose voiced frames add up to less than `min_speech_ms` is discarded
  (except the rest of a cut one, kept if it has any voiced frame at all).
* End of stream: `flush` closes an open utterance with closed_by="end_of_stream".

Work per frame is constant apart from appending to the open utterance's list of chunks,
which are joined once when it is emitted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from voicedesk.audio.framing import frame_bytes
from voicedesk.config import VadSettings
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame, Utterance

ClosedBy = Literal["silence", "max_length", "end_of_stream"]
"""Why the segmenter closed an utterance."""

_BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH


@dataclass(frozen=True)
class SegmenterSettings:
    """Timing rules for cutting utterances; every length is in milliseconds unless named _s."""

    frame_ms: int = 30
    pre_roll_ms: int = 300
    hangover_ms: int = 500
    min_speech_ms: int = 200
    max_utterance_s: float = 20.0
    trigger_ms: int = 240
    trigger_ratio: float = 0.6
    tail_ms: int = 300

    def __post_init__(self) -> None:
        """Reject settings that cannot describe a segmenter."""
        frame_bytes(self.frame_ms)
        if min(self.pre_roll_ms, self.min_speech_ms, self.tail_ms) < 0:
            raise ValueError("pre_roll_ms, min_speech_ms and tail_ms must not be negative")
        if self.hangover_ms <= 0 or self.trigger_ms <= 0:
            raise ValueError("hangover_ms and trigger_ms must be positive")
        if self.max_utterance_s * 1000 < self.frame_ms:
            raise ValueError("max_utterance_s must be at least one frame long")
        if not 0.0 < self.trigger_ratio <= 1.0:
            raise ValueError(f"trigger_ratio must be in (0, 1], got {self.trigger_ratio}")

    @classmethod
    def from_vad(cls, settings: VadSettings) -> SegmenterSettings:
        """The segmenter settings named by the `[vad]` config table."""
        return cls(
            frame_ms=settings.frame_ms,
            pre_roll_ms=settings.pre_roll_ms,
            hangover_ms=settings.hangover_ms,
            min_speech_ms=settings.min_speech_ms,
            max_utterance_s=settings.max_utterance_s,
        )

    @property
    def pre_roll_frames(self) -> int:
        """Frames kept before the first voiced frame."""
        return round(self.pre_roll_ms / self.frame_ms)

    @property
    def trigger_frames(self) -> int:
        """Frames in the start trigger's ring buffer."""
        return max(1, round(self.trigger_ms / self.frame_ms))

    @property
    def trigger_voiced(self) -> int:
        """Voiced frames within the ring buffer that start an utterance."""
        return max(1, math.ceil(self.trigger_ratio * self.trigger_frames - 1e-9))

    @property
    def hangover_frames(self) -> int:
        """Consecutive non-speech frames that close an utterance."""
        return math.ceil(self.hangover_ms / self.frame_ms - 1e-9)

    @property
    def tail_frames(self) -> int:
        """Trailing non-speech frames kept in a closed utterance's audio."""
        return min(round(self.tail_ms / self.frame_ms), self.hangover_frames)

    @property
    def max_frames(self) -> int:
        """Frames at which an utterance is cut for length."""
        return max(1, math.floor(self.max_utterance_s * 1000 / self.frame_ms + 1e-9))


@dataclass
class _Open:
    """The utterance being collected."""

    start: float
    speech_end: float
    chunks: list[bytes] = field(default_factory=list)
    frames: int = 0
    voiced: int = 0
    pending: list[AudioFrame] = field(default_factory=list)
    continued: bool = False


class Segmenter:
    """Turns frames into utterances using a speech detector passed in (see the module doc)."""

    def __init__(
        self, is_speech: Callable[[bytes], bool], settings: SegmenterSettings | None = None
    ) -> None:
        """Use `is_speech` to judge each frame's PCM, cutting by `settings` (or the defaults)."""
        self.settings = settings if settings is not None else SegmenterSettings()
        self._is_speech = is_speech
        self._frame_size = frame_bytes(self.settings.frame_ms)
        limit = self.settings.pre_roll_frames + self.settings.trigger_frames
        self._history: deque[tuple[AudioFrame, bool]] = deque(maxlen=limit)
        self._window: deque[bool] = deque(maxlen=self.settings.trigger_frames)
        self._window_voiced = 0
        self._open: _Open | None = None

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is open right now."""
        return self._open is not None

    def pending_audio(self) -> bytes:
        """The audio of the open utterance so far (for partial transcripts); empty when idle."""
        if self._open is None:
            return b""
        return b"".join([*self._open.chunks, *(f.pcm for f in self._open.pending)])

    def feed(self, frame: AudioFrame) -> list[Utterance]:
        """Take the next frame; return any utterances it completes (usually none)."""
        if len(frame.pcm) != self._frame_size:
            raise ValueError(
                f"frame of {len(frame.pcm)} bytes, expected {self._frame_size} "
                f"({self.settings.frame_ms} ms of 16 kHz s16le)"
            )
        voiced = bool(self._is_speech(frame.pcm))
        if self._open is None:
            self._remember(frame, voiced)
            if self._window_voiced < self.settings.trigger_voiced:
                return []
            self._open = self._open_from_history(frame)
            return self._cut_if_long(self._open, frame)
        return self._extend(self._open, frame, voiced)

    def flush(self) -> list[Utterance]:
        """End of stream: return the open utterance, if any, and forget all state."""
        current, self._open = self._open, None
        self._forget()
        if current is None:
            return []
        tail = current.pending[: self.settings.tail_frames]
        return self._emit(current, [*current.chunks, *(f.pcm for f in tail)], "end_of_stream")

    def _remember(self, frame: AudioFrame, voiced: bool) -> None:
        """Push a frame into the idle history and the start trigger's ring buffer."""
        self._history.append((frame, voiced))
        if len(self._window) == self._window.maxlen:
            self._window_voiced -= self._window[0]
        self._window.append(voiced)
        self._window_voiced += voiced

    def _forget(self) -> None:
        """Empty the idle history and the ring buffer."""
        self._history.clear()
        self._window.clear()
        self._window_voiced = 0

    def _open_from_history(self, frame: AudioFrame) -> _Open:
        """Start an utterance at the pre-roll before the trigger window's first voiced frame."""
        items = list(self._history)
        window_start = max(0, len(items) - self.settings.trigger_frames)
        first_voiced = next(i for i in range(window_start, len(items)) if items[i][1])
        kept = items[max(0, first_voiced - self.settings.pre_roll_frames) :]
        self._forget()
        return _Open(
            start=kept[0][0].start,
            speech_end=frame.start + frame.duration,
            chunks=[f.pcm for f, _ in kept],
            frames=len(kept),
            voiced=sum(v for _, v in kept),
        )

    def _extend(self, current: _Open, frame: AudioFrame, voiced: bool) -> list[Utterance]:
        """Add a frame to the open utterance, closing it after the hangover."""
        if not voiced:
            current.pending.append(frame)
            if len(current.pending) >= self.settings.hangover_frames:
                return self._close_on_silence(current)
            return self._cut_if_long(current, frame)
        current.chunks.extend(f.pcm for f in current.pending)
        current.frames += len(current.pending) + 1
        current.pending.clear()
        current.chunks.append(frame.pcm)
        current.voiced += 1
        current.speech_end = frame.start + frame.duration
        return self._cut_if_long(current, frame)

    def _close_on_silence(self, current: _Open) -> list[Utterance]:
        """Close after the hangover, keeping a short tail; the rest becomes idle history."""
        self._open = None
        tail_frames = self.settings.tail_frames
        tail, rest = current.pending[:tail_frames], current.pending[tail_frames:]
        for frame in rest:
            self._remember(frame, False)
        return self._emit(current, [*current.chunks, *(f.pcm for f in tail)], "silence")

    def _cut_if_long(self, current: _Open, frame: AudioFrame) -> list[Utterance]:
        """At max length, emit everything so far and continue in a new utterance at once."""
        if current.frames + len(current.pending) < self.settings.max_frames:
            return []
        next_start = frame.start + frame.duration
        self._open = _Open(start=next_start, speech_end=next_start, continued=True)
        chunks = [*current.chunks, *(f.pcm for f in current.pending)]
        return self._emit(current, chunks, "max_length")

    def _emit(self, current: _Open, chunks: list[bytes], closed_by: ClosedBy) -> list[Utterance]:
        """The utterance as a one-item list, or none when it holds too little speech.

        The rest of a cut utterance is kept whenever it holds any speech at all, since it
        continues speech that was long enough.
        """
        too_short = current.voiced * self.settings.frame_ms < self.settings.min_speech_ms
        if current.voiced == 0 or (too_short and not current.continued):
            return []
        pcm = b"".join(chunks)
        end = current.start + len(pcm) / _BYTES_PER_SECOND
        return [Utterance(pcm, current.start, end, current.speech_end, closed_by)]


def segment(frames: Iterable[AudioFrame], segmenter: Segmenter) -> Iterator[Utterance]:
    """Feed every frame through `segmenter`, then flush it: the utterances of a whole stream."""
    for frame in frames:
        yield from segmenter.feed(frame)
    yield from segmenter.flush()
