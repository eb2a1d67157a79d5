"""The live listener: microphone frames → VAD or push-to-talk → transcriber → dialogue, live.

One asyncio loop. Frames arrive from the capture source; hands-free, the segmenter closes an
utterance after its hangover; with push-to-talk, the release closes it at once. Closed
utterances go through a queue to one worker, which transcribes off the loop
(`asyncio.to_thread`), parses, acts through the dialogue and reports. A ticker re-transcribes
the growing utterance for partial transcripts while nothing else holds the model, and drops
read-back questions whose time is up. Every time is on one monotonic clock; the voice's end
is placed on it from the frame that carried it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from voicedesk.audio.gate import PushToTalkGate
from voicedesk.audio.segmenter import Segmenter, SegmenterSettings
from voicedesk.audio.vad import webrtc_detector
from voicedesk.config import Settings
from voicedesk.context import LiveContext
from voicedesk.errors import VoicedeskError
from voicedesk.listener import Heard, Responder, ms
from voicedesk.store import Store
from voicedesk.stt.protocol import Transcriber
from voicedesk.talkback import Talkback, Voice
from voicedesk.types import AudioFrame, Reply, Transcript, Utterance

AsyncTranscribe = Callable[[bytes], Awaitable[Transcript]]
"""Runs the model on one utterance's PCM without blocking the loop."""

EventKind = Literal[
    "ready", "talking", "idle", "partial", "heard", "ignored", "notice", "alert", "speaking",
    "quiet",
]


@dataclass(frozen=True)
class LiveEvent:
    """Something the user should see: a state change, a partial, a command heard, a notice."""

    kind: EventKind
    text: str = ""
    heard: Heard | None = None
    reply: Reply | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class _Closed:
    """A closed utterance on its way to the worker, with its wall-clock times."""

    utterance: Utterance
    speech_end: float
    closed: float


class LiveListener:
    """Listens to a live stream of frames and acts on every command in it."""

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber,
        store: Store | None,
        emit: Callable[[LiveEvent], None],
        push_to_talk: bool = False,
        partials: bool = False,
        clock: Callable[[], float] = time.monotonic,
        transcribe: AsyncTranscribe | None = None,
        voice: Voice | None = None,
    ) -> None:
        """Act against `store` (None: a dry run), reporting to `emit`; `transcribe` runs the
        model (default: `transcriber` in a thread; a service passes its shared queue);
        replies and alerts are spoken through `voice` (None: silent)."""
        vad = settings.vad
        detector = webrtc_detector(vad.aggressiveness, energy_floor_dbfs=vad.energy_floor_dbfs)
        self.settings, self.transcriber, self.emit, self.clock = settings, transcriber, emit, clock
        self.responder = Responder(settings, store)
        self.context = LiveContext(settings, store)
        self.push_to_talk, self.partials = push_to_talk, partials
        self.segmenter = Segmenter(detector, SegmenterSettings.from_vad(vad))
        self.gate = PushToTalkGate(detector, vad.frame_ms, vad.pre_roll_ms)
        self.talkback = Talkback(voice, settings.speech.while_speaking)
        self.timings: list[dict[str, float]] = []
        self._queue: asyncio.Queue[_Closed | None] = asyncio.Queue()
        self._model = asyncio.Lock()
        self._anchor = (0.0, clock())  # (stream seconds, wall clock) of the newest frame's end
        self._last_partial = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._was_busy = False
        self._run_model = transcribe or (lambda pcm: asyncio.to_thread(transcriber.transcribe, pcm))

    def set_talking(self, talking: bool) -> None:
        """Push-to-talk pressed (True) or released (False); a release closes the utterance now."""
        if talking:
            self.talkback.user_started()
            self.gate.press()
            self.emit(LiveEvent("talking"))
            return
        utterance = self.gate.release()
        self.emit(LiveEvent("idle"))
        if utterance is not None:
            self._enqueue(utterance, closed=self.clock())

    async def run(self, frames: AsyncIterator[AudioFrame]) -> None:
        """Listen until the frames end (or fail); finish what is in flight before returning."""
        self._loop = asyncio.get_running_loop()
        worker = asyncio.create_task(self._work())
        ticker = asyncio.create_task(self._tick())
        try:
            async for frame in frames:
                self._on_frame(frame)
        finally:
            self._close_open_utterance()
            self._queue.put_nowait(None)
            await worker
            ticker.cancel()

    def _on_frame(self, frame: AudioFrame) -> None:
        """Route one frame to the gate or the segmenter."""
        now = self.clock()
        self._anchor = (frame.start + frame.duration, now)
        frame = self.talkback.hear(frame, now, self.push_to_talk and self.gate.talking)
        if self.push_to_talk:
            self.gate.feed(frame)
            return
        for utterance in self.segmenter.feed(frame):
            self._enqueue(utterance, closed=now)
        if self.segmenter.in_speech:
            self.talkback.user_started()

    @property
    def user_talking(self) -> bool:
        """Whether the user is talking now (push-to-talk held, or an utterance open)."""
        return self.gate.talking if self.push_to_talk else self.segmenter.in_speech

    def alert(self, text: str, show: bool = True, speak: bool = True) -> None:
        """Tell the user about something that happened (an alert), on screen and aloud."""
        if show:
            self.emit(LiveEvent("alert", text))
        if speak:
            self._speak(Reply(text, "notice"))

    def _close_open_utterance(self) -> None:
        """At shutdown, the utterance in progress is finished rather than lost."""
        if self.push_to_talk:
            utterance = self.gate.release()
            pending = [utterance] if utterance is not None else []
        else:
            pending = self.segmenter.flush()
        for item in pending:
            self._enqueue(item, closed=self.clock())

    def _enqueue(self, utterance: Utterance, closed: float) -> None:
        """Hand a closed utterance to the worker, placing its voice's end on the wall clock."""
        stream_now, wall_now = self._anchor
        speech_end = min(closed, wall_now - (stream_now - utterance.speech_end))
        self._queue.put_nowait(_Closed(utterance, speech_end, closed))

    async def _work(self) -> None:
        """Transcribe and act on closed utterances, one at a time, in order; never crash."""
        while (item := await self._queue.get()) is not None:
            try:
                await self._handle(item, await self._transcribe(item))
            except VoicedeskError as exc:  # one bad utterance must not end the session
                self.emit(LiveEvent("notice", f"could not handle what was said: {exc}"))

    async def _transcribe(self, item: _Closed) -> tuple[Transcript, float, float]:
        """(transcript, when the model was free, when the transcript was ready)."""
        async with self._model:
            self.context.refresh(self.transcriber)
            began = self.clock()
            transcript = await self._run_model(item.utterance.pcm)
            return transcript, began, self.clock()

    async def _handle(self, item: _Closed, transcribed: tuple[Transcript, float, float]) -> None:
        """Wake-word check, parse (off the loop: the LLM fallback may call out), act, report."""
        transcript, began, ready = transcribed
        command = self.responder.command_text(transcript.text)
        if not command:
            if transcript.text:
                self.emit(LiveEvent("ignored", transcript.text))
            return
        timings = {
            "segment_close": ms(item.closed - item.speech_end),
            "queued": ms(began - item.closed),
            "transcribe": ms(ready - began),
        }
        intent = await asyncio.to_thread(self.responder.parse, command)
        timings["parse"] = ms(self.clock() - ready)
        heard = self.responder.conclude(
            "microphone", item.utterance, transcript, command, ready, timings, self.clock, intent
        )
        timings["closed_to_stored"] = ms(self.clock() - item.closed)
        self.timings.append(timings)
        for notice in heard.notices:
            self._say(LiveEvent("notice", notice.reply, reply=notice.as_reply()))
        reply = heard.outcome.as_reply() if heard.outcome is not None else None
        self._say(LiveEvent("heard", transcript.text, heard=heard, reply=reply), item, timings)

    def _say(
        self, event: LiveEvent, item: _Closed | None = None, timings: dict[str, float] | None = None
    ) -> None:
        """Report an event and speak its reply, timing the first sound from the voice's end."""
        self.emit(event)
        if event.reply is not None:
            self._speak(event.reply, item, timings)

    def _speak(
        self, reply: Reply, item: _Closed | None = None, timings: dict[str, float] | None = None
    ) -> None:
        """Speak a reply; report each part as it starts, and time the first from the voice."""
        console, loop = self.responder.console, self._loop
        parts = reply.parts or (reply.text,)

        def started(index: int, at: float) -> None:
            """A part of the reply began to sound (called from the voice's thread)."""
            latency = None
            if index == 0 and item is not None and timings is not None:
                latency = timings["speech_end_to_audio"] = ms(at - item.speech_end)
            if console is not None and reply.parts:
                console.spoken_part(index)
            event = LiveEvent("speaking", parts[index], latency_ms=latency)
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self.emit, event)

        self.talkback.reply(reply, self.user_talking, started)

    async def _tick(self, period: float = 0.1) -> None:
        """Partial transcripts while speech goes on; read-back questions that time out."""
        while True:
            await asyncio.sleep(period)
            now = self.clock()
            self.talkback.tick(self.user_talking)
            self._report_quiet(now)
            notice = self.responder.expire(now, "timer")
            if notice is not None:
                self._say(LiveEvent("notice", notice.reply, reply=notice.as_reply()))
            if (
                self.partials
                and now - self._last_partial >= self.settings.listen.partial_interval_s
            ):
                await self._partial(now)

    def _report_quiet(self, now: float) -> None:
        """Say when the console has finished speaking (and its echo tail is over)."""
        voice = self.talkback.voice
        busy = voice is not None and voice.busy(now)
        if self._was_busy and not busy:
            self.emit(LiveEvent("quiet"))
        self._was_busy = busy

    async def _partial(self, now: float) -> None:
        """Re-transcribe the open utterance if the model is free and there is enough of it."""
        pcm = self.gate.pending_audio() if self.push_to_talk else self.segmenter.pending_audio()
        if len(pcm) < 16_000 or self._model.locked() or not self._queue.empty():
            return  # under half a second of audio, or the final transcript has priority
        self._last_partial = now
        async with self._model:
            transcript = await self._run_model(pcm)
        if transcript.text:
            self.emit(LiveEvent("partial", transcript.text))
