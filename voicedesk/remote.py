"""`voicedesk listen --remote`: the microphone or a file streamed to a server's /ws/audio.

The server hears and acts; this client sends PCM and push-to-talk changes (terminal keys,
`voicedesk ptt ...`) in order and prints what comes back (protocol: voicedesk.api.stream).
From a microphone it also speaks the server's replies and alerts here, muting what it sends
while it speaks, as a local listener does (voicedesk.talkback).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
from asyncio import Task
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voicedesk.api.auth import TOKEN_ENV
from voicedesk.audio.capture import InputDevice, MicrophoneSource
from voicedesk.audio.framing import frame_bytes
from voicedesk.cli_display import err, show_event
from voicedesk.config import SpeechSettings
from voicedesk.errors import VoicedeskError
from voicedesk.live import LiveEvent
from voicedesk.remote_display import Display
from voicedesk.talkback import Talkback
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame, Reply

CHUNK_BYTES = frame_bytes(30)
"""A file goes in 30 ms messages (smaller where the server's cap is smaller)."""

OPEN_TIMEOUT_S = 10.0
"""How long connecting, and then the server's ready message, may take."""

DONE_TIMEOUT_S = 15.0
"""How long a microphone stream waits for the server's done after its end."""

PTT_START, PTT_STOP, END = (json.dumps({"type": t}) for t in ("ptt_start", "ptt_stop", "end"))
"""The control messages this client sends."""

BYTES_PER_S = SAMPLE_RATE * SAMPLE_WIDTH
"""Bytes of 16 kHz s16le PCM per second of audio."""



@dataclass(frozen=True)
class RemoteOptions:
    """What `listen --remote` streams, to where, and how it shows the answers."""

    url: str
    token: str | None
    file: Path | None
    fast: bool
    push_to_talk: bool
    partials: bool
    as_json: bool
    stats: bool
    control_path: Path
    speech: SpeechSettings | None = None


def refuse_local_only(dry_run: bool, no_run: bool, wake_word: str | None) -> None:
    """Refuse the `listen` switches that only a local listener can honour."""
    given = {"--dry-run": dry_run, "--no-run": no_run, "--wake-word": wake_word is not None}
    for name in (name for name, on in given.items() if on):
        raise VoicedeskError(f"{name} cannot be used with --remote: the server decides what is "
                             "done with what it hears (set that in the server's config)")


def stream_url(url: str, push_to_talk: bool, partials: bool) -> str:
    """The ws(s)://.../ws/audio URL for an http(s):// or ws(s):// `url`, with its query set."""
    url = url.strip()
    parts = urlsplit(url if "://" in url else f"http://{url}")  # HOST:PORT means http
    given = parts.scheme.lower()
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(given)
    try:
        if scheme is None or not parts.hostname:
            raise ValueError("give http(s)://HOST:PORT or ws(s)://HOST:PORT/ws/audio")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise VoicedeskError(f"invalid --remote URL {url!r}: {exc}") from None
    path = parts.path.rstrip("/")
    if not path.endswith("/ws/audio") and (given.startswith("http") or not path):
        path += "/ws/audio"
    query = dict(parse_qsl(parts.query))
    query.update(mode="push_to_talk" if push_to_talk else "hands_free",
                 partials="on" if partials else "off")
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


def _reason(exc: OSError) -> str:
    """Why a connection failed, in a few words."""
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if exc.errno == errno.ECONNREFUSED or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        return "connection refused"
    return str(exc.strerror or exc)


def _closed(ws: ClientConnection) -> str:
    """What the server said when it closed the stream."""
    code = ws.close_code
    if code is None or code == 1006:
        return "the connection to the server was lost (no close message)"
    return f"server closed the stream: {code} {ws.close_reason or '(no reason given)'}"


def _parse(data: str | bytes) -> dict[str, Any] | None:
    """One server message as a JSON object, or None if it is not one."""
    with contextlib.suppress(ValueError):
        message = json.loads(data)
        return message if isinstance(message, dict) else None
    return None


class RemoteClient:
    """One stream to a server: connect, send until the source ends or is stopped, finish."""

    def __init__(self, options: RemoteOptions, frame_ms: int) -> None:
        """Check the URL; `frame_ms` is the microphone's frame length."""
        self.options, self.frame_ms = options, frame_ms
        self.url = stream_url(options.url, options.push_to_talk, options.partials)
        self.shown_url = self.url.partition("?")[0]  # never the query: it may hold a token
        token = options.token or os.environ.get(TOKEN_ENV, "").strip()
        if not (token.isascii() and token.isprintable()):
            raise VoicedeskError(f"the token (--token or ${TOKEN_ENV}) must be printable ASCII")
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        self.display, self.stop = Display(options.as_json), asyncio.Event()
        self.cap, self.done_timeout = CHUNK_BYTES, DONE_TIMEOUT_S
        self.failure: VoicedeskError | None = None  # the microphone's, raised after done
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.talkback = Talkback(None, "mute")
        self._talking = False

    async def run(self, source: bytes | InputDevice) -> None:
        """Stream the PCM or the device to its end; every failure is a VoicedeskError."""
        loop, main = asyncio.get_running_loop(), asyncio.current_task()

        def on_signal() -> None:
            """The first Ctrl-C or SIGTERM ends the stream; a second stops waiting for done."""
            if self.stop.is_set() and main is not None:
                main.cancel()
            self.stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        try:
            async with AsyncExitStack() as stack:
                if isinstance(source, InputDevice):
                    await self._enter_controls(stack)
                    self._enter_voice(stack)
                ws = await self._connect()
                stack.push_async_callback(ws.close)
                ready = await self._ready(ws)
                producer = await self._start(stack, source)
                self._show_ready(ready, source)
                try:
                    await self._converse(ws)
                finally:
                    producer.cancel()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        if self.failure is not None:
            raise self.failure

    async def _connect(self) -> ClientConnection:
        """Open the WebSocket; every way that fails is one line."""
        where = self.shown_url
        try:
            return await connect(self.url, additional_headers=self.headers, compression=None,
                                 open_timeout=OPEN_TIMEOUT_S, close_timeout=2.0)
        except InvalidStatus as exc:
            body = " ".join((exc.response.body or b"").decode(errors="replace").split())[:120]
            raise VoicedeskError(f"{where} refused the stream: HTTP {exc.response.status_code}"
                                 + (f": {body}" if body else "")) from None
        except InvalidURI as exc:
            raise VoicedeskError(f"invalid --remote URL: {exc}") from None
        except InvalidHandshake as exc:
            raise VoicedeskError(f"{where} is not a voicedesk WebSocket: {exc}") from None
        except (TimeoutError, OSError) as exc:
            why = f"no answer in {OPEN_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError) else None
            raise VoicedeskError(f"cannot reach {where}: {why or _reason(exc)}") from None

    async def _ready(self, ws: ClientConnection) -> dict[str, Any]:
        """The server's ready message (which sets the size cap); a close instead is an error."""
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                data = await ws.recv()
        except ConnectionClosed:
            raise VoicedeskError(_closed(ws)) from None
        except TimeoutError:
            raise VoicedeskError(f"{self.shown_url} sent no ready message in "
                                 f"{OPEN_TIMEOUT_S:g} s") from None
        ready = _parse(data)
        if ready is None or ready.get("type") != "ready":
            raise VoicedeskError(f"{self.shown_url} did not start with ready: {data[:80]!r}")
        cap = int(ready.get("max_frame_bytes") or CHUNK_BYTES)
        self.cap = max(SAMPLE_WIDTH, cap - cap % SAMPLE_WIDTH)
        return ready

    async def _enter_controls(self, stack: AsyncExitStack) -> None:
        """The control socket and, for push-to-talk on a terminal, the keys."""
        from voicedesk.audio.control import ControlServer
        from voicedesk.audio.ptt import PTT_KEYS, PushToTalk, TerminalKeys, control_handler

        ptt = PushToTalk(self._set_talking)
        handle = control_handler(
            ptt, self.options.push_to_talk, lambda: self.talkback.user_started(), "--ptt"
        )

        def on_key(key: str) -> None:
            """Space or enter toggles talking; q stops."""
            if key in PTT_KEYS:
                ptt.toggle() if self.options.push_to_talk else self.talkback.user_started()
            elif key.lower() == "q":
                self.stop.set()

        await stack.enter_async_context(ControlServer(self.options.control_path, handle))
        if sys.stdin.isatty():
            await stack.enter_async_context(TerminalKeys(on_key))

    def _set_talking(self, talking: bool) -> None:
        """Push-to-talk pressed (stopping the voice) or released: tell the server, in order."""
        if talking:
            self.talkback.user_started()
        self._talking = talking
        self._queue.put_nowait(PTT_START if talking else PTT_STOP)

    def _enter_voice(self, stack: AsyncExitStack) -> None:
        """Speak replies and alerts here, if `[speech]` says so and a device can play."""
        speech = self.options.speech
        if speech is None:
            return
        from voicedesk.speech.speaker import make_speaker

        speaker = make_speaker(speech)
        stack.callback(speaker.close)
        if not speaker.silent:
            self.talkback = Talkback(speaker, speech.while_speaking)

    async def _start(self, stack: AsyncExitStack, source: bytes | InputDevice) -> Task[None]:
        """Start queueing the file's audio, or open the microphone and queue its frames."""
        if isinstance(source, bytes):
            self.done_timeout = 2 * DONE_TIMEOUT_S + len(source) / BYTES_PER_S
            return asyncio.create_task(self._play(source))
        mic = await stack.enter_async_context(MicrophoneSource(source, self.frame_ms))
        stack.callback(self._report_overflow, mic)
        return asyncio.create_task(self._record(mic))

    def _show_ready(self, ready: dict[str, Any], source: bytes | InputDevice) -> None:
        """Say that streaming starts (as JSON: the server's ready message)."""
        if self.options.as_json:
            self.display.show(ready)
            return
        mode = "push-to-talk" if self.options.push_to_talk else "hands-free"
        where = str(self.options.file)
        if isinstance(source, InputDevice):
            where = f"{source.name}; control {self.options.control_path}"
        show_event(LiveEvent("ready", f"{mode} to {self.shown_url} from {where}"), False)

    async def _play(self, pcm: bytes) -> None:
        """Queue the file in 30 ms pieces, at real time unless fast; one push-to-talk turn."""
        queue, loop = self._queue, asyncio.get_running_loop()
        if self.options.push_to_talk:
            queue.put_nowait(PTT_START)
        began = loop.time()
        for offset in range(0, len(pcm), CHUNK_BYTES):
            if self.stop.is_set():
                break
            piece = pcm[offset : offset + CHUNK_BYTES]
            if not self.options.fast:  # as a microphone would: each piece once it was heard
                await asyncio.sleep(began + (offset + len(piece)) / BYTES_PER_S - loop.time())
            queue.put_nowait(piece)
        if self.options.push_to_talk:  # the server acts on it after the audio sent before it
            queue.put_nowait(PTT_STOP)
        queue.put_nowait(None)

    async def _record(self, mic: MicrophoneSource) -> None:
        """Queue the microphone's frames until stopped; keep a device failure for the end."""
        from voicedesk.session import until_stopped

        try:
            async for frame in until_stopped(mic, self.stop):
                heard = self._hear(frame)
                self._queue.put_nowait(heard.pcm)
        except VoicedeskError as exc:
            self.failure = exc
        finally:
            self._queue.put_nowait(None)

    def _hear(self, frame: AudioFrame) -> AudioFrame:
        """What the server may hear of a frame: silence while this client's voice may be in it."""
        return self.talkback.hear(frame, asyncio.get_running_loop().time(), self._talking)

    def _speak(self, message: dict[str, Any]) -> None:
        """Speak a reply, or an alert the server says to speak; say when it starts to sound."""
        kind, text = message.get("type"), str(message.get("text", ""))
        if kind != "reply" and not (kind == "alert" and message.get("speak")):
            return
        loop = asyncio.get_running_loop()
        spoken = {"type": "speaking", "text": text, "local": True}

        def started(index: int, at: float) -> None:
            """The line began to sound (called from the voice's thread)."""
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.display.show, spoken)

        self.talkback.reply(Reply(text, "notice"), self._talking, started)

    def _report_overflow(self, mic: MicrophoneSource) -> None:
        """Say so if audio was lost before it could be sent."""
        if mic.dropped_frames or mic.input_overflows:
            report = f"audio overflow: {mic.overflow_report()}"
            self.display.show({"type": "notice", "text": report, "local": True})

    async def _converse(self, ws: ClientConnection) -> None:
        """Send and receive at once; after the end, wait a bounded time for done."""
        receiving = asyncio.create_task(self._receive(ws))
        sending = asyncio.create_task(self._send(ws))
        try:
            await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
            async with asyncio.timeout(self.done_timeout):
                await asyncio.shield(receiving)
        except TimeoutError:
            raise VoicedeskError(f"the server did not say done within {self.done_timeout:g} s "
                                 "of the end of the stream") from None
        finally:
            for task in (sending, receiving):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, VoicedeskError):
                    await task

    async def _send(self, ws: ClientConnection) -> None:
        """Send what is queued (audio cut to the server's cap), then end; stop if it closes."""
        with contextlib.suppress(ConnectionClosed):
            while (item := await self._queue.get()) is not None:
                if isinstance(item, str):
                    await ws.send(item)
                    continue
                for start in range(0, len(item), self.cap):
                    await ws.send(item[start : start + self.cap])
            await ws.send(END)

    async def _receive(self, ws: ClientConnection) -> None:
        """Show what the server sends; it must say done, then close normally."""
        done = False
        with contextlib.suppress(ConnectionClosed):
            async for data in ws:
                if (message := _parse(data)) is not None:
                    self.display.show(message)
                    self._speak(message)
                    done = done or message.get("type") == "done"
        if not done or ws.close_code not in (1000, 1006, None):  # 1006: lost after done
            raise VoicedeskError(_closed(ws))


def listen_remote(options: RemoteOptions, frame_ms: int, device_spec: str | None) -> int:
    """Stream the file or the microphone to the server until it is done; the exit code."""
    from voicedesk.audio.capture import resolve_device
    from voicedesk.audio.files import load_audio
    from voicedesk.stats import format_summary

    client = RemoteClient(options, frame_ms)  # the URL is checked first
    if options.fast and options.file is None:
        raise VoicedeskError("--fast only goes with --file: a microphone speaks at its own pace")
    source = load_audio(options.file) if options.file else resolve_device(device_spec)
    try:
        asyncio.run(client.run(source))
    except asyncio.CancelledError:
        err.print("voicedesk: interrupted before the server said done", markup=False)
        return 130
    if options.stats:
        for line in format_summary(client.display.timings) or ["no commands heard"]:
            err.print(line, markup=False)
    return 0
