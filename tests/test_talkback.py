"""The talk-back policy: muting while the console speaks, barge-in, and waiting for the user.

The voice here is a recorder standing in for the Speaker seam (tests/test_player.py and
tests/test_hands_free.py play real audio through PulseAudio); what is tested is the policy,
alone and inside a LiveListener fed a real recording through the real VAD and model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from voicedesk.audio.files import load_audio
from voicedesk.audio.framing import frames
from voicedesk.config import Settings
from voicedesk.live import LiveEvent, LiveListener
from voicedesk.stt.whisper import WhisperTranscriber
from voicedesk.talkback import Talkback
from voicedesk.types import AudioFrame, Reply

LOUD = AudioFrame(b"\x10\x27" * 480, 1.0)


class RecordingVoice:
    """Records what it is asked to say; `speaking` and the echo tail are set by the test."""

    def __init__(self) -> None:
        """Silent, with nothing said yet."""
        self.said: list[str] = []
        self.starters: list[Callable[[float], None] | None] = []
        self.interrupts = 0
        self.speaking = False
        self.tail_until = 0.0

    def say(self, text: str, on_start: Callable[[float], None] | None = None) -> None:
        """Record one text."""
        self.said.append(text)
        self.starters.append(on_start)

    def interrupt(self) -> None:
        """Record a barge-in."""
        self.interrupts += 1
        self.speaking = False

    def busy(self, now: float) -> bool:
        """Speaking or in the tail."""
        return self.speaking or now < self.tail_until


def test_mute_silences_frames_while_speaking_and_in_the_tail() -> None:
    voice = RecordingVoice()
    talk = Talkback(voice, "mute")
    assert talk.hear(LOUD, 0.0, False) is LOUD
    voice.speaking = True
    muted = talk.hear(LOUD, 0.0, False)
    assert muted.pcm == bytes(len(LOUD.pcm)) and muted.start == LOUD.start
    voice.speaking, voice.tail_until = False, 5.0
    assert talk.hear(LOUD, 4.9, False).pcm != LOUD.pcm
    assert talk.hear(LOUD, 5.0, False) is LOUD
    assert talk.muted_frames == 2


def test_listen_mode_never_mutes() -> None:
    voice = RecordingVoice()
    voice.speaking = True
    assert Talkback(voice, "listen").hear(LOUD, 0.0, False) is LOUD


def test_a_press_interrupts_and_unmutes_at_once_despite_the_tail() -> None:
    voice = RecordingVoice()
    talk = Talkback(voice, "mute")
    voice.speaking, voice.tail_until = True, 10.0
    talk.user_started()
    assert voice.interrupts == 1 and talk.barge_ins == 1
    assert talk.hear(LOUD, 1.0, push_to_talk_held=True) is LOUD
    talk.user_started()  # nothing playing any more: no second interrupt
    assert voice.interrupts == 1


def test_replies_wait_while_the_user_talks_then_come_in_order() -> None:
    voice = RecordingVoice()
    talk = Talkback(voice, "mute")
    talk.reply(Reply("Job 3 queued for frontend."), user_talking=True)
    talk.reply(Reply("Job 3, frontend, finished.", "notice"), user_talking=True)
    assert voice.said == []
    talk.tick(user_talking=True)
    assert voice.said == []
    talk.tick(user_talking=False)
    assert voice.said == ["Job 3 queued for frontend.", "Job 3, frontend, finished."]


def test_parts_are_said_one_by_one_and_report_their_start() -> None:
    voice = RecordingVoice()
    talk = Talkback(voice, "mute")
    started: list[tuple[int, float]] = []
    reply = Reply("Two things. One. Two.", parts=("Two things.", "One.", "Two."))
    talk.reply(reply, False, lambda index, at: started.append((index, at)))
    assert voice.said == ["Two things.", "One.", "Two."]
    for at, starter in enumerate(voice.starters):
        assert starter is not None
        starter(float(at))
    assert started == [(0, 0.0), (1, 1.0), (2, 2.0)]


def test_no_voice_is_silent_and_hears_everything() -> None:
    talk = Talkback(None, "mute")
    talk.reply(Reply("anything"), False)
    talk.user_started()
    assert talk.hear(LOUD, 0.0, False) is LOUD


async def _stream(pcm: bytes) -> AsyncIterator[AudioFrame]:
    """The frames of a recording, yielding to the loop between them."""
    for frame in frames(pcm, 30):
        yield frame
        await asyncio.sleep(0)


@pytest.mark.model
def test_a_muted_listener_does_not_hear_speech_while_the_console_speaks(
    transcriber: WhisperTranscriber, fixtures_dir: Path
) -> None:
    voice = RecordingVoice()
    voice.speaking = True  # the console talks all through the recording
    events: list[LiveEvent] = []
    listener = LiveListener(Settings(), transcriber, None, events.append, voice=voice)
    asyncio.run(listener.run(_stream(load_audio(fixtures_dir / "multi_command.wav"))))
    assert [e for e in events if e.kind == "heard"] == []
    assert listener.talkback.muted_frames > 400


@pytest.mark.model
def test_with_headphones_the_users_voice_stops_the_console_and_is_heard(
    transcriber: WhisperTranscriber, fixtures_dir: Path
) -> None:
    voice = RecordingVoice()
    voice.speaking = True
    events: list[LiveEvent] = []
    settings = Settings(speech={"while_speaking": "listen"})
    listener = LiveListener(settings, transcriber, None, events.append, voice=voice)
    asyncio.run(listener.run(_stream(load_audio(fixtures_dir / "status_job.wav"))))
    assert voice.interrupts == 1 and listener.talkback.barge_ins == 1
    [heard] = [e for e in events if e.kind == "heard"]
    assert heard.heard is not None and heard.heard.intent.job == 12
