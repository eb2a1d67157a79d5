"""The push-to-talk gate on synthetic frames, with an energy detector standing in for the VAD."""

from __future__ import annotations

from voicedesk.audio.gate import PushToTalkGate
from voicedesk.types import AudioFrame

FRAME = 960  # 30 ms of 16 kHz s16le
LOUD, QUIET = b"\xff\x7f" * (FRAME // 2), bytes(FRAME)


def loud(pcm: bytes) -> bool:
    """A detector: the frame is speech when it is the loud one."""
    return pcm == LOUD


def stream(pattern: str, start: int = 0) -> list[AudioFrame]:
    """Frames from a pattern: 'x' loud, '.' quiet, 30 ms each."""
    return [
        AudioFrame(LOUD if c == "x" else QUIET, (start + i) * 0.03) for i, c in enumerate(pattern)
    ]


def test_release_closes_at_once_with_pre_roll() -> None:
    gate = PushToTalkGate(loud, frame_ms=30, pre_roll_ms=90)
    for frame in stream("....."):
        gate.feed(frame)
    gate.press()
    for frame in stream("xxxx..", start=5):
        gate.feed(frame)
    utterance = gate.release()
    assert utterance is not None and utterance.closed_by == "push_to_talk"
    assert round(utterance.start, 2) == 0.06  # three pre-roll frames before the press
    assert round(utterance.end, 2) == 0.33
    assert round(utterance.speech_end, 2) == 0.27  # end of the last loud frame
    assert len(utterance.pcm) == 9 * FRAME
    assert not gate.talking


def test_nothing_said_while_held_is_no_utterance() -> None:
    gate = PushToTalkGate(loud)
    gate.press()
    for frame in stream("......"):
        gate.feed(frame)
    assert gate.release() is None


def test_frames_outside_the_press_are_not_kept() -> None:
    gate = PushToTalkGate(loud, pre_roll_ms=0 + 30)
    for frame in stream("xxxx"):
        gate.feed(frame)
    assert gate.release() is None  # never pressed
    gate.press()
    assert len(gate.pending_audio()) == FRAME  # only the one pre-roll frame
    gate.feed(stream("x", start=4)[0])
    utterance = gate.release()
    assert utterance is not None and len(utterance.pcm) == 2 * FRAME
