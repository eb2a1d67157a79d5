"""One live session: microphone, control socket, terminal keys and signals around a LiveListener."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicedesk.agents.runner import Runner
from voicedesk.alerts.policy import Routing
from voicedesk.alerts.watcher import AlertWatcher
from voicedesk.audio.capture import InputDevice, MicrophoneSource
from voicedesk.audio.control import ControlServer
from voicedesk.audio.ptt import PTT_KEYS, PushToTalk, TerminalKeys, control_handler
from voicedesk.config import Settings
from voicedesk.live import LiveEvent, LiveListener
from voicedesk.speech.speaker import make_speaker
from voicedesk.store import Store
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Alert, AudioFrame


@dataclass(frozen=True)
class SessionOptions:
    """How this session listens."""

    device: InputDevice
    push_to_talk: bool
    partials: bool
    control_path: Path
    run_jobs: bool = True
    speak: bool = True


async def until_stopped(
    frames: AsyncIterator[AudioFrame], stop: asyncio.Event
) -> AsyncIterator[AudioFrame]:
    """The frames of `frames` until `stop` is set (Ctrl-C, SIGTERM, `q`)."""
    source = frames.__aiter__()
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            following = asyncio.ensure_future(source.__anext__())
            await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                return
            try:
                yield following.result()
            except StopAsyncIteration:
                return
    finally:
        stopping.cancel()


def _alerts(settings: Settings, store: Store, listener: LiveListener) -> AlertWatcher:
    """A watcher that tells the listener's user about alerts, on screen and aloud."""

    def told(alert: Alert, routing: Routing) -> None:
        """Show and speak one alert as its routing says."""
        listener.alert(alert.text, show=routing.show, speak=routing.speak)

    return AlertWatcher(store.path, settings.alerts, told)


async def _until_set(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> AsyncIterator[None]:
    """Run `work` (which ends once `stop` is set) while the caller's block runs; then stop it."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        stop.set()
        await task


async def run_session(
    settings: Settings,
    transcriber: Transcriber,
    store: Store | None,
    options: SessionOptions,
    emit: Callable[[LiveEvent], None],
) -> LiveListener:
    """Listen until stopped; returns the listener (for its timings). Errors propagate."""
    device = options.device
    voice = make_speaker(settings.speech) if options.speak else None
    listener = LiveListener(
        settings, transcriber, store, emit, options.push_to_talk, options.partials,
        voice=voice if voice is not None and not voice.silent else None,
    )
    ptt = PushToTalk(on_change=listener.set_talking)
    hush = listener.talkback.user_started
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def on_key(key: str) -> None:
        """Space or enter toggles talking (hands-free: hushes the voice); q stops the session."""
        if key in PTT_KEYS:
            ptt.toggle() if options.push_to_talk else hush()
        elif key.lower() == "q":
            stop.set()

    try:
        async with AsyncExitStack() as stack:
            if voice is not None:
                stack.callback(voice.close)
            handler = control_handler(ptt, options.push_to_talk, hush, "`voicedesk listen --ptt`")
            await stack.enter_async_context(ControlServer(options.control_path, handler))
            mic = await stack.enter_async_context(
                MicrophoneSource(device, settings.vad.frame_ms)
            )
            if sys.stdin.isatty():
                await stack.enter_async_context(TerminalKeys(on_key))
            mode = "push-to-talk" if options.push_to_talk else "hands-free"
            emit(LiveEvent("ready", f"{mode} on {device.name}; control {options.control_path}"))
            background = asynccontextmanager(_until_set)
            if store is not None and options.run_jobs:
                runner = Runner(settings, Store(store.path))
                await stack.enter_async_context(background(runner.run(stop), stop))
            if store is not None:
                watcher = _alerts(settings, store, listener)
                await stack.enter_async_context(background(watcher.run(stop), stop))
            await listener.run(until_stopped(mic, stop))
            if mic.dropped_frames or mic.input_overflows:
                emit(LiveEvent("notice", f"audio overflow: {mic.overflow_report()}"))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return listener
