"""Push-to-talk gate: the audio between a press and a release becomes one utterance (pure).

While idle the gate keeps the last `pre_roll_ms` of frames, since people start talking as
they press. On release the utterance closes at once (no hangover). `speech_end` is the end
of the last frame the detector called speech, so latency can be measured from the voice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from voicedesk.types import AudioFrame, Utterance


class PushToTalkGate:
    """Collects frames while the talk key is held and hands them over on release."""

    def __init__(
        self, is_speech: Callable[[bytes], bool], frame_ms: int = 30, pre_roll_ms: int = 300
    ) -> None:
        """Judge frames with `is_speech`; keep `pre_roll_ms` of audio from before the press."""
        self._is_speech = is_speech
        self._recent: deque[AudioFrame] = deque(maxlen=max(1, pre_roll_ms // frame_ms))
        self._frames: list[AudioFrame] = []
        self._voiced_end: float | None = None
        self.talking = False

    def press(self) -> None:
        """Start an utterance with the pre-roll frames."""
        if not self.talking:
            self.talking = True
            self._frames = list(self._recent)
            self._voiced_end = None

    def feed(self, frame: AudioFrame) -> None:
        """Take the next frame of the stream."""
        if not self.talking:
            self._recent.append(frame)
            return
        self._frames.append(frame)
        if self._is_speech(frame.pcm):
            self._voiced_end = frame.start + frame.duration

    def pending_audio(self) -> bytes:
        """The audio collected so far in the open utterance (for partial transcripts)."""
        return b"".join(frame.pcm for frame in self._frames)

    def release(self) -> Utterance | None:
        """Close the utterance now; None when nothing was said while the key was held."""
        if not self.talking:
            return None
        self.talking = False
        frames, self._frames = self._frames, []
        self._recent.clear()
        if not frames or self._voiced_end is None:
            return None
        pcm = b"".join(frame.pcm for frame in frames)
        end = frames[-1].start + frames[-1].duration
        return Utterance(pcm, frames[0].start, end, self._voiced_end, "push_to_talk")
