"""Interruptible playback of Speech through PortAudio (sounddevice), in small blocks.

The only module of voicedesk's speech out that imports sounddevice, and only inside
functions, so importing voicedesk never needs libportaudio. PortAudio's callback copies one
10 ms block at a time from the current playback, so stop() silences the output within one
block; the thread in play() then aborts the stream, which drops what PortAudio had buffered.
Between sentences the stream stays open (the callback writes silence) so that consecutive
chunks follow each other without reopening the device; close() releases it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from voicedesk.audio.devices import (
    Device,
    devices_of,
    match_devices,
    sounddevice_module,
    unresolved,
)
from voicedesk.errors import SpeechError
from voicedesk.speech.synth import Speech, resample

BLOCK_S = 0.010
"""The length of one PortAudio block: the most audio that plays after stop()."""


OutputDevice = Device
"""A device that can play."""


def _sounddevice() -> ModuleType:
    """The sounddevice module, or a SpeechError when PortAudio cannot be loaded."""
    return sounddevice_module(SpeechError)


def list_output_devices() -> list[OutputDevice]:
    """Every device PortAudio can play on (as listed when PortAudio started)."""
    sd = _sounddevice()
    try:
        infos = sd.query_devices()
        default = sd.default.device[1]
    except sd.PortAudioError as exc:
        raise SpeechError(f"cannot list audio output devices: {exc}") from None
    return devices_of(infos, default, "output")


def resolve_output_device(spec: str | None) -> OutputDevice:
    """The output device `spec` names: None the default, digits an index, else a name part."""
    devices = list_output_devices()
    matches = match_devices(devices, spec)
    if len(matches) == 1:
        return matches[0]
    raise SpeechError(unresolved(devices, spec, matches, "output"))


@dataclass
class _Playback:
    """One play() call: its samples (frames x channels) and what the callback has done."""

    samples: np.ndarray[Any, np.dtype[np.int16]]
    cancelled: threading.Event | None
    wake: threading.Event = field(default_factory=threading.Event)
    pos: int = 0
    stopped: bool = False
    done: bool = False
    first_at: float | None = None
    end_at: float | None = None


class Player:
    """Plays Speech on one output device; play() blocks, stop() may come from any thread."""

    def __init__(self, device: str | None = None) -> None:
        """Resolve the device now (SpeechError listing the devices if it does not exist)."""
        self._sd = _sounddevice()
        self.device = resolve_output_device(device)
        self._lock = threading.Lock()
        self._stream: Any = None
        self._format: tuple[int, int] | None = None  # (rate, channels) of the open stream
        self._formats: dict[int, tuple[int, int]] = {}  # speech rate -> what plays it here
        self._current: _Playback | None = None
        self._last_sample_at: float | None = None
        self._stopping = threading.Event()  # cuts close()'s wait for the tail to play out
        self.first_sample_at: float | None = None
        """When the first block of the latest play() was handed to PortAudio (monotonic)."""
        self.output_latency: float | None = None
        """The open stream's output latency as PortAudio reports it, in seconds."""

    @property
    def speaking(self) -> bool:
        """Whether audio is being played or is still on its way out of the device."""
        if self._current is not None:
            return True
        last = self._last_sample_at
        return last is not None and time.monotonic() < last

    @property
    def last_sample_at(self) -> float | None:
        """When the last sample played leaves the device (monotonic), for the echo tail."""
        return self._last_sample_at

    def play(
        self,
        speech: Speech,
        cancelled: threading.Event | None = None,
        on_start: Callable[[float], None] | None = None,
    ) -> bool:
        """Play `speech` until it is all handed to the device; False if stopped or cancelled.

        `on_start` is called on this thread with the time its first sample went to PortAudio.
        """
        if not speech.pcm:
            return True
        self._stopping.clear()
        with self._lock:
            if cancelled is not None and cancelled.is_set():
                return False
            rate, channels = self._open(speech.sample_rate)
            playback = _Playback(_samples(speech, rate, channels), cancelled)
            self._current = playback
        try:
            self._wait(playback, on_start)
        finally:
            with self._lock:
                self._current = None
                if playback.stopped:
                    self._last_sample_at = time.monotonic()
                    self._release()
                else:
                    self._last_sample_at = playback.end_at
        return not playback.stopped

    def _wait(self, playback: _Playback, on_start: Callable[[float], None] | None) -> None:
        """Wait for the callback to finish `playback`, telling `on_start` when it begins."""
        started = False
        while not playback.done:
            playback.wake.wait(0.5)
            playback.wake.clear()
            if playback.cancelled is not None and playback.cancelled.is_set():
                playback.stopped = playback.done = True
            if not started and playback.first_at is not None:
                started = True
                self.first_sample_at = playback.first_at
                if on_start is not None:
                    on_start(playback.first_at)
            if self._stream is None or not self._stream.active:
                playback.stopped = playback.done = True

    def stop(self) -> None:
        """Silence the current playback within one block (from any thread)."""
        self._stopping.set()
        playback = self._current
        if playback is not None:
            playback.stopped = playback.done = True
            playback.wake.set()

    def close(self) -> None:
        """Let what was played leave the device, then release it (a stop() cuts the wait)."""
        last = self._last_sample_at
        if last is not None:
            self._stopping.wait(max(0.0, min(2.0, last - time.monotonic())))
        with self._lock:
            self._release()
        if self._stopping.is_set() and last is not None and last > time.monotonic():
            self._last_sample_at = time.monotonic()

    def __enter__(self) -> Player:
        """The player; close() on leaving."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Release the device."""
        self.close()

    def _open(self, rate: int) -> tuple[int, int]:
        """Open (or keep) a stream that can play `rate` Hz; its (rate, channels). Locked."""
        wanted = self._choose_format(rate)
        if self._stream is not None and self._format == wanted and self._stream.active:
            return wanted
        self._release()
        sd = self._sd
        try:
            stream = sd.OutputStream(
                device=self.device.index, samplerate=wanted[0], channels=wanted[1],
                dtype="int16", blocksize=max(1, round(wanted[0] * BLOCK_S)), latency="low",
                callback=self._callback,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise SpeechError(f"cannot open output device {self.device.name!r}: {exc}") from None
        self._stream, self._format = stream, wanted
        self.output_latency = float(stream.latency)
        return wanted

    def _choose_format(self, rate: int) -> tuple[int, int]:
        """The (rate, channels) to play `rate` Hz speech at: as is if the device can."""
        if rate in self._formats:
            return self._formats[rate]
        native = round(self.device.default_rate)
        for candidate in ((rate, 1), (native, 1), (native, 2)):
            try:
                self._sd.check_output_settings(
                    device=self.device.index, channels=candidate[1], dtype="int16",
                    samplerate=candidate[0],
                )
            except (self._sd.PortAudioError, ValueError):
                continue
            self._formats[rate] = candidate
            return candidate
        raise SpeechError(f"output device {self.device.name!r} cannot play int16 at {rate} Hz")

    def _release(self) -> None:
        """Abort (dropping buffered audio) and close the stream, if one is open. Locked."""
        stream, self._stream, self._format = self._stream, None, None
        if stream is not None:
            for step in (stream.abort, stream.close):
                with contextlib.suppress(Exception):  # a vanished device may fail either step
                    step()

    def _callback(self, outdata: Any, frames: int, times: Any, status: Any) -> None:
        """PortAudio thread: copy the next block of the current playback, else silence."""
        playback = self._current
        if playback is not None and playback.cancelled is not None and playback.cancelled.is_set():
            playback.stopped = playback.done = True
            playback.wake.set()
        if playback is None or playback.done:
            outdata.fill(0)
            return
        start = playback.pos
        block = playback.samples[start : start + frames]
        count = len(block)
        outdata[:count] = block
        outdata[count:] = 0
        playback.pos = start + count
        now = time.monotonic()
        ahead = _ahead(times, self.output_latency)
        if start == 0 and count:  # when the first sample reaches the DAC, not the buffer
            playback.first_at = now + ahead
            playback.wake.set()
        if playback.pos >= len(playback.samples):
            rate = self._format[0] if self._format else 1
            playback.end_at = now + ahead + count / rate
            playback.done = True
            playback.wake.set()


def _ahead(times: Any, fallback: float | None) -> float:
    """How long until the block being written reaches the DAC, from PortAudio's times."""
    try:
        ahead = float(times.outputBufferDacTime - times.currentTime)
    except (AttributeError, TypeError):
        ahead = -1.0
    if 0.0 < ahead < 2.0:
        return ahead
    return fallback or 0.0


def _samples(speech: Speech, rate: int, channels: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    """The speech as an int16 (frames x channels) array at `rate`, resampled if it must be."""
    mono = np.frombuffer(resample(speech, rate).pcm, dtype="<i2")
    return np.repeat(mono.reshape(-1, 1), channels, axis=1).astype(np.int16)
