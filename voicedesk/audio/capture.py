"""Live microphone capture through PortAudio: 16 kHz mono frames, timed by the samples heard.

The only module of voicedesk that imports sounddevice, and only inside functions, so that
importing voicedesk never needs libportaudio. PortAudio's callback thread does nothing but
hand each block of samples to the event loop; everything else (resampling, framing, the
bounded buffer, counting what was lost) happens on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from types import ModuleType
from typing import Any

import av
import numpy as np

from voicedesk.audio.devices import (
    Device,
    devices_of,
    match_devices,
    sounddevice_module,
    unresolved,
)
from voicedesk.audio.framing import frame_bytes
from voicedesk.errors import AudioError
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame

_CLOSE_TIMEOUT_S = 2.0
"""How long leaving the context waits for PortAudio to close a stream on a hung device."""

_open_streams = 0
"""Capture streams open in this process; PortAudio is only re-initialised while this is 0."""
_streams_lock = threading.Lock()


def _count_open(delta: int) -> None:
    """Add `delta` to the number of open capture streams (from any thread)."""
    global _open_streams
    with _streams_lock:
        _open_streams += delta


InputDevice = Device
"""A device that can record."""


def _sounddevice() -> ModuleType:
    """The sounddevice module, or an AudioError when PortAudio cannot be loaded."""
    return sounddevice_module(AudioError)


def list_input_devices() -> list[InputDevice]:
    """Every device that can record, re-reading PortAudio's list when no capture is open."""
    sd = _sounddevice()
    try:
        with _streams_lock:
            if _open_streams == 0:  # PortAudio only lists the devices present when it starts
                sd._terminate()
                sd._initialize()
        infos = sd.query_devices()
        default = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio input devices: {exc}") from None
    return devices_of(infos, default, "input")


def resolve_device(spec: str | None) -> InputDevice:
    """The input device `spec` names: None the default, digits an index, else a name substring."""
    why = ""
    try:
        devices = list_input_devices()
    except AudioError as exc:
        devices, why = [], f" ({exc})"
    matches = match_devices(devices, spec)
    if len(matches) == 1:
        return matches[0]
    raise AudioError(unresolved(devices, spec, matches, "input") + why)


class MicrophoneSource:
    """An async iterator of `frame_ms` AudioFrames recorded live from one input device."""

    def __init__(
        self,
        device: InputDevice,
        frame_ms: int = 30,
        max_buffered_frames: int = 200,
        *,
        stall_timeout_s: float = 2.0,
        start_timeout_s: float = 5.0,
        device_rate: int | None = None,
    ) -> None:
        """Prepare capture; `device_rate` forces that device rate (resampled to 16 kHz)."""
        if max_buffered_frames < 1 or min(stall_timeout_s, start_timeout_s) <= 0:
            raise ValueError("max_buffered_frames and the timeouts must be positive")
        self.device = device
        self.frame_ms = frame_ms
        self._frame_bytes = frame_bytes(frame_ms)
        self._max_frames = max_buffered_frames
        self._stall_timeout_s = stall_timeout_s
        self._start_timeout_s = max(stall_timeout_s, start_timeout_s)
        self._forced_rate = device_rate
        self._frames: deque[AudioFrame] = deque()
        self._pending = bytearray()
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._resampler: av.AudioResampler | None = None
        self._rate = SAMPLE_RATE
        self._channels = 1
        self._reset_counters()

    def _reset_counters(self) -> None:
        """Zero the per-stream counters and times."""
        self._sent = 0  # blocks posted by the callback thread (its only writer)
        self._skipped = 0  # blocks the callback thread dropped (its only writer)
        self._skipped_seen = 0  # the loop's copy of _skipped, to find gaps in the timeline
        self._received = 0  # blocks the loop took (the loop is its only writer)
        self._dropped = 0
        self._overflows = 0
        self._samples_out = 0
        self._last_data = 0.0
        self._failure: str | None = None
        self._closing = False

    @property
    def dropped_frames(self) -> int:
        """Frames lost because the consumer (or the event loop) fell too far behind."""
        return self._dropped + self._skipped

    @property
    def input_overflows(self) -> int:
        """Blocks that PortAudio flagged as having lost input before we saw them."""
        return self._overflows

    @property
    def device_rate(self) -> int:
        """The rate the device is (or will be) recorded at before resampling to 16 kHz."""
        return self._rate

    @property
    def resampling(self) -> bool:
        """Whether the device's audio is converted to 16 kHz mono on the event loop."""
        return self._resampler is not None

    def overflow_report(self) -> str:
        """One line saying how much audio was lost, e.g. '0 frames dropped, 0 input overflows'."""
        return f"{self.dropped_frames} frames dropped, {self.input_overflows} input overflows"

    async def __aenter__(self) -> MicrophoneSource:
        """Open and start the PortAudio stream."""
        if self._stream is not None:
            raise RuntimeError("MicrophoneSource is already open")
        sd = _sounddevice()
        self._loop = asyncio.get_running_loop()
        self._reset_counters()
        self._frames.clear()
        self._pending.clear()
        self._ready = asyncio.Event()
        self._rate, self._channels = self._choose_format(sd)
        convert = self._rate != SAMPLE_RATE or self._channels != 1
        self._resampler = (
            av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE) if convert else None
        )
        _count_open(1)
        try:
            self._stream = sd.RawInputStream(
                device=self.device.index, samplerate=self._rate, channels=self._channels,
                dtype="int16", blocksize=round(self._rate * self.frame_ms / 1000),
                callback=self._callback, finished_callback=self._finished,
            )
            self._last_data = self._loop.time()
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            if self._stream is None:
                _count_open(-1)
            await self._close()
            raise AudioError(f"cannot open input device {self.device.name!r}: {exc}") from None
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop and close the stream; buffered frames are discarded."""
        await self._close()

    def _choose_format(self, sd: ModuleType) -> tuple[int, int]:
        """The (rate, channels) to open: 16 kHz mono if the device can, else its default rate."""
        native = round(self.device.default_rate)
        if self._forced_rate is not None:
            candidates = [(self._forced_rate, 1), (self._forced_rate, 2)]
        else:
            candidates = [(SAMPLE_RATE, 1), (native, 1), (native, 2)]
        for rate, channels in candidates:
            if channels > self.device.channels:
                continue
            try:
                sd.check_input_settings(
                    device=self.device.index, channels=channels, dtype="int16", samplerate=rate
                )
            except (sd.PortAudioError, ValueError):
                continue
            return rate, channels
        tried = " or ".join(f"{r} Hz x{c}" for r, c in candidates)
        raise AudioError(f"input device {self.device.name!r} cannot record int16 at {tried}")

    async def _close(self) -> None:
        """Abort and close the stream in a daemon thread, waiting for it a bounded time."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        self._frames.clear()
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()

        def close() -> None:
            """Worker thread: PortAudio may block here for as long as a hung device does."""
            _abort_and_close(stream)
            _count_open(-1)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, closed)

        threading.Thread(target=close, name="voicedesk-capture-close", daemon=True).start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed, _CLOSE_TIMEOUT_S)

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio thread: hand the block to the event loop, or drop it if the loop lags."""
        loop = self._loop
        if loop is None or self._closing:
            return
        if self._sent - self._received >= self._max_frames:
            self._skipped += 1
            return
        self._sent += 1
        overflow = bool(status.input_overflow)
        with contextlib.suppress(RuntimeError):  # the loop closed under a running stream
            loop.call_soon_threadsafe(self._deliver, bytes(indata), overflow, self._skipped)

    def _finished(self) -> None:
        """PortAudio thread: the stream stopped; unexpected unless we are closing it."""
        loop = self._loop
        if loop is None or self._closing:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._fail, "the audio stream ended unexpectedly")

    def _fail(self, reason: str) -> None:
        """Event loop: remember the first reason the stream stopped and wake the consumer."""
        if self._failure is None and not self._closing:
            self._failure = reason
        self._ready.set()

    def _deliver(self, data: bytes, overflow: bool, skipped: int) -> None:
        """Event loop: convert one block to 16 kHz mono and cut it into whole frames."""
        self._received += 1
        if self._stream is None or self._loop is None:
            return
        self._last_data = self._loop.time()
        self._overflows += overflow
        if skipped > self._skipped_seen:  # blocks dropped in the callback: a gap in the audio
            gap = (skipped - self._skipped_seen) * self._frame_bytes // SAMPLE_WIDTH
            self._samples_out += len(self._pending) // SAMPLE_WIDTH + gap
            self._skipped_seen = skipped
            self._pending.clear()
        self._pending += self._convert(data)
        size = self._frame_bytes
        while len(self._pending) >= size:
            start = self._samples_out / SAMPLE_RATE
            frame = AudioFrame(pcm=bytes(self._pending[:size]), start=start)
            del self._pending[:size]
            self._samples_out += size // SAMPLE_WIDTH
            if len(self._frames) >= self._max_frames:
                self._dropped += 1
            else:
                self._frames.append(frame)
        self._ready.set()

    def _convert(self, data: bytes) -> bytes:
        """The block as 16 kHz mono s16le, through the stateful resampler when one is needed."""
        if self._resampler is None:
            return data
        samples = np.frombuffer(data, dtype="<i2").reshape(1, -1)
        layout = "mono" if self._channels == 1 else "stereo"
        block = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
        block.sample_rate = self._rate
        return b"".join(out.to_ndarray().tobytes() for out in self._resampler.resample(block))

    def __aiter__(self) -> MicrophoneSource:
        """The source is its own iterator."""
        return self

    async def __anext__(self) -> AudioFrame:
        """The next frame; buffered frames come first, then the reason the device stopped."""
        while not self._frames:
            if self._failure is not None:
                raise AudioError(f"input device {self.device.name!r} stopped: {self._failure}")
            if self._stream is None or self._loop is None:
                raise StopAsyncIteration
            self._ready.clear()
            limit = self._stall_timeout_s if self._received else self._start_timeout_s
            remaining = self._last_data + limit - self._loop.time()
            if remaining <= 0:
                self._fail(f"no audio for {limit:g} s" + ("" if self._received else " after start"))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), remaining)
        return self._frames.popleft()


def _resolve(future: asyncio.Future[None]) -> None:
    """Complete `future` unless it was already given up on."""
    if not future.done():
        future.set_result(None)


def _abort_and_close(stream: Any) -> None:
    """Worker thread: stop PortAudio's stream at once and release it, ignoring a dead device."""
    for step in (stream.abort, stream.close):
        with contextlib.suppress(Exception):  # a vanished device may fail either step
            step()
