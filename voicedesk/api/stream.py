"""One remote microphone: PCM and control messages over a WebSocket, through a LiveListener.

The client sends 16 kHz mono s16le PCM as binary messages (any length up to the cap, an even
number of bytes) and JSON text messages: `{"type": "ptt_start"}`, `{"type": "ptt_stop"}`
(push-to-talk mode), `{"type": "end"}` (finish what was said, then close). The server sends
JSON: ready, talking, idle, partial, final (a heard command: the JSON contract plus action
and reply), reply (also for notices the console raised, such as a read-back that timed out),
alert (the service's alerts, with `text`, `kind`, `show` and `speak`), ignored, notice,
error, and done before it closes.

With push-to-talk, send all of a take's audio before `ptt_stop`: the release closes the
utterance at once, and audio after it starts the silence before the next take. A partial
being transcribed at the release is finished first, so the final may follow `idle` by up to
one partial's transcription time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.websockets import WebSocket

from voicedesk.api.deps import Services
from voicedesk.live import LiveEvent, LiveListener
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame

log = logging.getLogger(__name__)

MAX_BACKLOG_FRAMES = 20_000
"""Frames (10 minutes at 30 ms) a stream may have waiting before it is closed as a flood."""

Close = tuple[int, str]
"""A WebSocket close code and its reason."""


class AudioStream:
    """Feeds one WebSocket's audio to its own listener and sends back what it hears."""

    def __init__(
        self, svc: Services, websocket: WebSocket, push_to_talk: bool, partials: bool
    ) -> None:
        """A stream on an accepted WebSocket."""
        self.svc, self.websocket, self.push_to_talk = svc, websocket, push_to_talk
        self.listener = LiveListener(
            svc.settings, svc.pool.transcriber, svc.store, self._emit,
            push_to_talk=push_to_talk, partials=partials, transcribe=svc.pool.transcribe,
        )
        self.frame_bytes = svc.settings.vad.frame_ms * SAMPLE_RATE * SAMPLE_WIDTH // 1000
        self._frames: asyncio.Queue[AudioFrame | bool | None] = asyncio.Queue()
        self._outgoing: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._buffer = bytearray()
        self._samples = 0

    async def run(self) -> None:
        """Receive until the client ends or breaks the stream; finish; say done; close."""
        sender = asyncio.create_task(self._send())
        alerts = asyncio.create_task(self._forward_alerts())
        listening = asyncio.create_task(self.listener.run(self._frame_source()))
        mode = "push_to_talk" if self.push_to_talk else "hands_free"
        self._outgoing.put_nowait({"type": "ready", "mode": mode, "sample_rate": SAMPLE_RATE,
                                   "max_frame_bytes": self.svc.settings.serve.max_ws_frame_bytes})
        closing: Close | None = None
        try:
            closing = await self._receive()
        finally:
            self._frames.put_nowait(None)
            try:
                await listening
            except Exception as exc:  # a bug in one stream must not leave its tasks hanging
                log.exception("audio stream failed")
                closing = (1011, f"internal error: {type(exc).__name__}")
            alerts.cancel()
            if closing is not None:
                code, reason = closing
                self._outgoing.put_nowait({"type": "done", "code": code, "reason": reason})
            self._outgoing.put_nowait(None)
            await sender
        if closing is not None:
            with contextlib.suppress(Exception):  # the client left first
                await self.websocket.close(code=closing[0], reason=closing[1])

    async def _frame_source(self) -> AsyncIterator[AudioFrame]:
        """Frames as they are cut from what the client sent; a push-to-talk press or release
        takes effect in its place among them, after all audio sent before it."""
        while (item := await self._frames.get()) is not None:
            if isinstance(item, bool):
                self.listener.set_talking(item)
            else:
                yield item

    async def _receive(self) -> Close | None:
        """Handle messages until the stream should close (None: the client went away)."""
        cap = self.svc.settings.serve.max_ws_frame_bytes
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("bytes")
            if data is not None:
                if len(data) > cap:
                    return 1009, f"audio message of {len(data)} bytes is over the {cap}-byte cap"
                if len(data) % SAMPLE_WIDTH:
                    return 1007, f"odd byte count ({len(data)}): send 16-bit s16le samples"
                if self._frames.qsize() > MAX_BACKLOG_FRAMES:
                    return 1008, "audio is arriving far faster than real time; slow down"
                self._feed(data)
            elif (closing := self._control(message.get("text") or "")) is not None:
                return closing

    def _control(self, text: str) -> Close | None:
        """Act on one JSON control message; errors are reported, not fatal."""
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            self._error(f"not a JSON object: {text[:80]!r}")
            return None
        if kind == "end":
            return 1000, "end of stream"
        if kind in ("ptt_start", "ptt_stop"):
            if not self.push_to_talk:
                self._error("this stream is hands-free; connect with ?mode=push_to_talk")
            else:
                self._frames.put_nowait(kind == "ptt_start")
            return None
        self._error(f"unknown message type {kind!r}: use ptt_start, ptt_stop or end")
        return None

    def _error(self, message: str) -> None:
        """Tell the client what was wrong with its message."""
        self._outgoing.put_nowait({"type": "error", "message": message})

    def _feed(self, data: bytes) -> None:
        """Cut the received PCM into frames for the listener."""
        self._buffer += data
        while len(self._buffer) >= self.frame_bytes:
            pcm = bytes(self._buffer[: self.frame_bytes])
            del self._buffer[: self.frame_bytes]
            self._frames.put_nowait(AudioFrame(pcm, self._samples / SAMPLE_RATE))
            self._samples += self.frame_bytes // SAMPLE_WIDTH

    def _emit(self, event: LiveEvent) -> None:
        """Send a listener event to the client, and transcripts and replies to /events."""
        broker = self.svc.broker
        if event.kind == "heard" and event.heard is not None:
            self._outgoing.put_nowait({"type": "final", **event.heard.to_json()})
            broker.publish("transcript", {"text": event.text, "final": True, "source": "ws"})
        elif event.kind == "notice" and event.reply is None:
            self._outgoing.put_nowait({"type": "notice", "text": event.text})
        elif event.kind in ("partial", "ignored"):
            self._outgoing.put_nowait({"type": event.kind, "text": event.text})
            if event.kind == "partial":
                broker.publish("transcript", {"text": event.text, "final": False,
                                              "source": "ws"})
        elif event.kind in ("talking", "idle"):
            self._outgoing.put_nowait({"type": event.kind})
        if event.reply is not None:
            reply = {"text": event.reply.text, "kind": event.reply.kind}
            self._outgoing.put_nowait({"type": "reply", **reply})
            broker.publish("reply", {**reply, "source": "ws"})

    async def _forward_alerts(self) -> None:
        """Pass the service's alerts to this client (a remote microphone speaks them)."""
        queue = self.svc.broker.subscribe()
        try:
            while True:
                name, data = await queue.get()
                if name == "alert":
                    self._outgoing.put_nowait({**data, "type": "alert"})
        finally:
            self.svc.broker.unsubscribe(queue)

    async def _send(self) -> None:
        """Send queued messages in order until told to stop; a gone client is not an error."""
        while (message := await self._outgoing.get()) is not None:
            with contextlib.suppress(Exception):  # the client left: nothing to tell it
                await self.websocket.send_json(message)
