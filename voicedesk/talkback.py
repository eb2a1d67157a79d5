"""Talking back in a live session: replies at once, alerts when the user is not talking, the
microphone muted while the console speaks, and barge-in.

With `while_speaking = "mute"` (speakers) every frame captured while the voice is busy
(speaking, or within its echo tail) reaches the listener as silence, so the console never
hears itself; a push-to-talk press interrupts the voice and un-mutes at once. With
`"listen"` (headphones) nothing is muted and the user's voice itself interrupts: speech that
opens an utterance while the console speaks stops it. Replies and alerts due while the user
is talking wait until the utterance is over, so the console never talks over a command (nor,
muted, swallows one).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Literal, Protocol

from voicedesk.types import AudioFrame, Reply

PartStarted = Callable[[int, float], None]
"""Told (part index, monotonic time) when a reply's part begins to sound."""


class Voice(Protocol):
    """The speech-out seam the live listener talks through (voicedesk.speech.speaker)."""

    @property
    def speaking(self) -> bool:
        """Whether audio is playing now."""
        ...

    def say(self, text: str, on_start: Callable[[float], None] | None = None) -> None:
        """Queue one text; `on_start` gets the time its first sample went to the device."""
        ...

    def interrupt(self) -> None:
        """Stop at once and forget what is queued."""
        ...

    def busy(self, now: float) -> bool:
        """Speaking, or within the echo tail after the last sample."""
        ...


class Talkback:
    """Decides what the live listener says, when, and what the microphone may hear meanwhile."""

    def __init__(self, voice: Voice | None, while_speaking: Literal["mute", "listen"]) -> None:
        """Speak through `voice` (None: silent), muting the microphone per `while_speaking`."""
        self.voice = voice
        self.mute = while_speaking == "mute"
        self._deferred: deque[tuple[Reply, PartStarted | None]] = deque(maxlen=20)
        self.muted_frames = 0
        self.barge_ins = 0

    def reply(
        self, reply: Reply, user_talking: bool, on_part: PartStarted | None = None
    ) -> None:
        """Speak a reply (part by part when it has parts) now, or once the user stops talking."""
        if self.voice is None or not reply.text:
            return
        if user_talking:
            self._deferred.append((reply, on_part))
            return
        parts = reply.parts or (reply.text,)
        for index, part in enumerate(parts):
            self.voice.say(part, _starter(on_part, index))

    def hear(self, frame: AudioFrame, now: float, push_to_talk_held: bool) -> AudioFrame:
        """The frame the listener gets: silence while the console's own voice may be in it."""
        if self.voice is None or not self.mute:
            return frame
        held = push_to_talk_held and not self.voice.speaking
        if held or not self.voice.busy(now):
            return frame
        self.muted_frames += 1
        return AudioFrame(bytes(len(frame.pcm)), frame.start)

    def user_started(self) -> None:
        """The user began to talk (a push-to-talk press, or voice while unmuted): stop talking."""
        if self.voice is not None and self.voice.speaking:
            self.barge_ins += 1
            self.voice.interrupt()

    def tick(self, user_talking: bool) -> None:
        """Say what waited for the user to finish talking."""
        while self._deferred and not user_talking:
            reply, on_part = self._deferred.popleft()
            self.reply(reply, False, on_part)


def _starter(on_part: PartStarted | None, index: int) -> Callable[[float], None] | None:
    """The on_start callback for part `index`."""
    if on_part is None:
        return None

    def started(at: float) -> None:
        """Part `index` began to sound at `at`."""
        on_part(index, at)

    return started
