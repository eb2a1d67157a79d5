"""The Speaker: replies spoken in the background, sentence by sentence, cut off on barge-in.

Two daemon threads share the work: one synthesizes each queued text a sentence at a time
(up to two sentences ahead of the device), the other plays those chunks through the Player.
say() only queues; interrupt() cancels everything queued and silences the device within one
block. Nothing the threads meet is raised into the caller: it is logged and they carry on.

While `busy(now)` is true (audio playing, or less than the echo tail since its last sample)
a live listener mutes its microphone so that it does not transcribe the console's own voice.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from voicedesk.config import SpeechSettings
from voicedesk.errors import SpeechError
from voicedesk.speech.player import Player
from voicedesk.speech.synth import NoSpeech, Speech, Synthesizer, make_synthesizer

log = logging.getLogger(__name__)

_AHEAD = 2
"""Sentences synthesized ahead of the one playing."""

_JOIN_S = 5.0


@dataclass
class _Item:
    """One say(): its text, who to tell when it starts, and the cancel it belongs to."""

    text: str
    on_start: Callable[[float], None] | None
    cancelled: threading.Event
    started: bool = False
    failed: bool = field(default=False)


_Chunk = tuple[_Item, Speech | None]
"""A sentence of an item's audio; None marks the end of the item."""


class Speaker:
    """Speaks texts in the background; `clock` must tell time.monotonic()'s time."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        player: Player | None,
        clock: Callable[[], float] = time.monotonic,
        echo_tail_s: float = 0.25,
    ) -> None:
        """Start the worker threads (none when the synthesizer or the player is silent)."""
        self.synthesizer = synthesizer
        self.player = player
        self.echo_tail_s = echo_tail_s
        self._clock = clock
        self._silent = player is None or isinstance(synthesizer, NoSpeech)
        self._texts: queue.Queue[_Item | None] = queue.Queue()
        self._audio: queue.Queue[_Chunk | None] = queue.Queue(maxsize=_AHEAD)
        self._cancel = threading.Event()
        self._cond = threading.Condition()
        self._pending = 0  # items said and not yet finished, plus 1 while the device drains
        self._threads: list[threading.Thread] = []
        if not self._silent:
            for target, name in ((self._synthesize, "synth"), (self._play, "play")):
                thread = threading.Thread(target=target, name=f"voicedesk-speech-{name}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    @property
    def silent(self) -> bool:
        """Whether say() does nothing (engine none, or no output device)."""
        return self._silent

    @property
    def speaking(self) -> bool:
        """Whether audio is playing now (or still on its way out of the device)."""
        return self.player is not None and self.player.speaking

    def say(self, text: str, on_start: Callable[[float], None] | None = None) -> None:
        """Queue `text`; `on_start(t)` gets the monotonic time its first sample was played."""
        if self._silent or not text.strip():
            return
        with self._cond:
            self._pending += 1
            item = _Item(text, on_start, self._cancel)
        self._texts.put(item)

    def interrupt(self) -> None:
        """Barge-in: drop everything queued and stop the current playback at once."""
        with self._cond:
            cancel, self._cancel = self._cancel, threading.Event()
        cancel.set()
        if self.player is not None:
            self.player.stop()

    def busy(self, now: float | None = None) -> bool:
        """Whether audio is playing, or its last sample was less than the echo tail ago."""
        if self.player is None:
            return False
        if self.player.speaking:
            return True
        last = self.player.last_sample_at
        moment = self._clock() if now is None else now
        return last is not None and moment < last + self.echo_tail_s

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything said has been played out; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop speaking, end the worker threads and release the device."""
        self.interrupt()
        if self._threads:
            self._texts.put(None)
            for thread in self._threads:
                thread.join(_JOIN_S)
            self._threads.clear()
        if self.player is not None:
            with contextlib.suppress(Exception):
                self.player.close()

    def _synthesize(self) -> None:
        """Synthesis thread: each queued text a sentence at a time, then its end marker."""
        while (item := self._texts.get()) is not None:
            try:
                for speech in self.synthesizer.sentences(item.text):
                    if item.cancelled.is_set():
                        break
                    self._audio.put((item, speech))
            except Exception as exc:
                log.warning("speech: cannot synthesize %r: %s", item.text[:60], exc)
            finally:
                self._audio.put((item, None))
        self._audio.put(None)

    def _play(self) -> None:
        """Playback thread: play each chunk unless its item was cancelled; close when idle."""
        while (chunk := self._audio.get()) is not None:
            item, speech = chunk
            if speech is None:
                self._finish(item)
            elif not (item.cancelled.is_set() or item.failed):
                self._play_one(item, speech)

    def _play_one(self, item: _Item, speech: Speech) -> None:
        """Play one chunk of `item`, telling its on_start when its first sample goes out."""
        assert self.player is not None
        on_start = None if item.started else self._starter(item)
        try:
            self.player.play(speech, item.cancelled, on_start)
        except SpeechError as exc:
            item.failed = True
            log.warning("speech: %s", exc)
        except Exception:
            item.failed = True
            log.exception("speech: playback failed")

    def _starter(self, item: _Item) -> Callable[[float], None]:
        """The on_start for the first chunk of `item`: marks it started, calls its callback."""

        def started(at: float) -> None:
            """Playback thread: the item's first sample went to the device at `at`."""
            item.started = True
            if item.on_start is not None:
                try:
                    item.on_start(at)
                except Exception:
                    log.exception("speech: on_start callback failed")

        return started

    def _finish(self, item: _Item) -> None:
        """One item is done; when it was the last, let the device drain and release it."""
        with self._cond:
            last = self._pending == 1 and self._texts.empty() and self._audio.empty()
        if last and self.player is not None:
            with contextlib.suppress(Exception):
                self.player.close()
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()


def make_speaker(settings: SpeechSettings) -> Speaker:
    """The Speaker `[speech]` describes; silent when no voice or no default device exists."""
    synthesizer = make_synthesizer(settings)
    player: Player | None = None
    if not isinstance(synthesizer, NoSpeech):
        try:
            player = Player(settings.output_device)
        except SpeechError as exc:
            if settings.output_device is not None:
                raise
            log.warning("speech is off: %s", exc)
    return Speaker(synthesizer, player, echo_tail_s=settings.echo_tail_ms / 1000)
