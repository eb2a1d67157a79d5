"""Live capture (voicedesk.audio.capture) recorded from a PulseAudio virtual microphone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pulse import VirtualMic

from voicedesk.audio import capture
from voicedesk.audio.capture import (
    InputDevice,
    MicrophoneSource,
    list_input_devices,
    resolve_device,
)
from voicedesk.audio.files import load_audio
from voicedesk.audio.vad import frame_dbfs, utterances
from voicedesk.errors import AudioError
from voicedesk.stt.whisper import WhisperTranscriber
from voicedesk.types import AudioFrame

SPEECH = Path(__file__).parent / "fixtures" / "status_job.wav"
"""3.05 s: "What is the status of job twelve?" with silence around it."""

FRAME_BYTES = 960
"""30 ms of 16 kHz mono s16le."""


@dataclass
class Recording:
    """What a MicrophoneSource yielded while the fixture played, and how long it took."""

    frames: list[AudioFrame]
    seconds: float
    source: MicrophoneSource

    @property
    def pcm(self) -> bytes:
        """All the frames' audio joined."""
        return b"".join(frame.pcm for frame in self.frames)


async def record(mic: VirtualMic, source: MicrophoneSource, frame_count: int) -> Recording:
    """Start capture, play the speech fixture, and keep at least `frame_count` frames: more
    while the player is still playing (on a loaded machine paplay can start late), then 5."""
    frames: list[AudioFrame] = []
    began = time.monotonic()
    async with source:
        player = mic.play(SPEECH, wait=False)
        assert player is not None
        after_end = 0
        async for frame in source:
            frames.append(frame)
            after_end += player.poll() is not None
            if len(frames) >= frame_count and after_end > 5:
                break
        seconds = time.monotonic() - began
    await asyncio.to_thread(player.wait, 30)
    return Recording(frames, seconds, source)


def loudest_dbfs(pcm: bytes) -> float:
    """The level of the loudest 30 ms frame."""
    return max(frame_dbfs(pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES))


def similarity(heard: bytes, played: bytes) -> float:
    """Normalised correlation of `played` with the part of `heard` it lines up with best."""
    a = np.frombuffer(heard, dtype="<i2").astype(np.float64)
    b = np.frombuffer(played, dtype="<i2").astype(np.float64)
    n = len(a) + len(b)
    lags = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lag = int(np.argmax(lags[: len(a)]))  # the playback starts after the recording
    part = a[lag : lag + len(b)]
    b = b[: len(part)]
    return float(part @ b / np.sqrt((part @ part) * (b @ b)))


def assert_carries_the_speech(pcm: bytes) -> None:
    """The played fixture, waveform and level: one utterance, as long and as loud as its own."""
    played = load_audio(SPEECH)
    assert similarity(pcm, played) > 0.9
    [expected] = list(utterances(played))
    [heard] = list(utterances(pcm))
    assert abs(heard.duration - expected.duration) < 0.3
    assert abs(loudest_dbfs(heard.pcm) - loudest_dbfs(played)) < 3.0


def assert_timeline(frames: list[AudioFrame]) -> None:
    """Frames of exactly 30 ms whose starts step by exactly 30 ms from 0."""
    assert {len(frame.pcm) for frame in frames} == {FRAME_BYTES}
    assert [frame.start for frame in frames] == pytest.approx(
        [0.03 * i for i in range(len(frames))], abs=1e-9
    )


@pytest.fixture(scope="module")
def device(virtual_mic: VirtualMic) -> InputDevice:
    """The PortAudio device that records the virtual microphone."""
    return resolve_device(virtual_mic.device_spec)


@pytest.fixture(scope="module")
def recording(virtual_mic: VirtualMic, device: InputDevice) -> Recording:
    """3.6 s captured at 16 kHz while status_job.wav plays."""
    return asyncio.run(record(virtual_mic, MicrophoneSource(device), 120))


def test_importing_capture_does_not_load_portaudio() -> None:
    code = "import sys, voicedesk.audio.capture; assert 'sounddevice' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_portaudio_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(AudioError) as caught:
        resolve_device("usb")
    message = str(caught.value)
    assert message.startswith("no input device matches 'usb'; input devices: none (PortAudio ")
    assert "\n" not in message


def test_lists_the_virtual_microphone(virtual_mic: VirtualMic) -> None:
    devices = list_input_devices()
    assert virtual_mic.device_spec in [d.name for d in devices]
    assert all(d.channels > 0 and d.default_rate > 0 for d in devices)
    assert sum(d.is_default for d in devices) <= 1


def test_resolves_default_index_and_name(virtual_mic: VirtualMic, device: InputDevice) -> None:
    default = resolve_device(None)
    assert default.channels > 0
    assert resolve_device(str(device.index)) == device
    assert resolve_device("PULSE") == device  # case-insensitive; the exact name wins


@pytest.mark.parametrize("spec", ["no-such-device-xyz", "999"])
def test_unknown_device_lists_the_devices(virtual_mic: VirtualMic, spec: str) -> None:
    with pytest.raises(AudioError) as caught:
        resolve_device(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"no input device matches '{spec}'; input devices: ")
    assert f"{resolve_device('pulse').index} pulse" in message


def test_records_the_played_speech_in_exact_frames(recording: Recording) -> None:
    assert_timeline(recording.frames)
    assert not recording.source.resampling
    assert recording.source.dropped_frames == 0
    assert recording.source.overflow_report() == "0 frames dropped, 0 input overflows"
    assert 2.5 < recording.seconds < 8.0  # 3.6 s of audio arrives in about real time
    assert_carries_the_speech(recording.pcm)


@pytest.mark.model
def test_captured_speech_transcribes(recording: Recording, transcriber: WhisperTranscriber) -> None:
    [heard] = list(utterances(recording.pcm))
    words = transcriber.transcribe(heard.pcm).text.lower()
    assert "status" in words and ("twelve" in words or "12" in words)


def test_iteration_ends_after_the_stream_closes(recording: Recording) -> None:
    async def after_close() -> list[AudioFrame]:
        return [frame async for frame in recording.source]

    assert asyncio.run(after_close()) == []


def test_slow_consumer_drops_frames_without_failing(device: InputDevice) -> None:
    async def slow() -> tuple[MicrophoneSource, list[AudioFrame]]:
        source = MicrophoneSource(device, max_buffered_frames=5)
        kept: list[AudioFrame] = []
        async with source:
            async for frame in source:
                kept.append(frame)
                await asyncio.sleep(0.1)  # a consumer three times slower than real time
                if len(kept) == 15:
                    break
        return source, kept

    source, kept = asyncio.run(slow())
    assert source.dropped_frames > 10
    assert source.overflow_report().startswith(f"{source.dropped_frames} frames dropped, ")
    starts = [frame.start for frame in kept]
    assert starts == sorted(starts)
    assert starts[-1] > 0.03 * (len(kept) - 1) + 0.1  # the timeline skips what was dropped
    assert all(round(start / 0.03, 6).is_integer() for start in starts)


def test_resamples_a_device_opened_at_44100(virtual_mic: VirtualMic, device: InputDevice) -> None:
    source = MicrophoneSource(device, device_rate=44100)
    result = asyncio.run(record(virtual_mic, source, 120))
    assert source.resampling and source.device_rate == 44100
    assert_timeline(result.frames)
    assert_carries_the_speech(result.pcm)


def test_falls_back_to_the_default_rate_in_stereo(
    virtual_mic: VirtualMic, device: InputDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    sd = capture._sounddevice()
    check = sd.check_input_settings

    def stereo_only(**settings: object) -> None:
        if settings.get("channels") == 1:
            raise sd.PortAudioError("Invalid number of channels")
        check(**settings)

    monkeypatch.setattr(sd, "check_input_settings", stereo_only)
    source = MicrophoneSource(device)
    result = asyncio.run(record(virtual_mic, source, 120))
    assert source.resampling and source.device_rate == round(device.default_rate)
    assert_timeline(result.frames)
    assert_carries_the_speech(result.pcm)


def test_vanishing_device_yields_buffered_frames_then_fails(
    virtual_mic: VirtualMic, device: InputDevice
) -> None:
    async def vanish() -> tuple[int, float, AudioError]:
        source = MicrophoneSource(device)
        before = after = 0
        async with source:
            async for _ in source:
                before += 1
                if before == 10:
                    break
            await asyncio.sleep(0.5)  # about 16 frames pile up unread
            virtual_mic.vanish()
            killed = time.monotonic()
            try:
                async for _ in source:
                    after += 1
            except AudioError as exc:
                return after, time.monotonic() - killed, exc
        raise AssertionError("the iterator ended without an AudioError")

    try:
        after, seconds, error = asyncio.run(vanish())
    finally:
        virtual_mic.start()
    assert after >= 10  # what was buffered before the kill still came out
    assert seconds < 5.0
    message = str(error)
    assert message.startswith("input device 'pulse' stopped: ") and "\n" not in message
    frames = asyncio.run(record(virtual_mic, MicrophoneSource(resolve_device("pulse")), 10)).frames
    assert len(frames) >= 10  # the rig is back for later tests


def test_hung_device_fails_after_the_stall_timeout(
    virtual_mic: VirtualMic, device: InputDevice
) -> None:
    async def hang() -> tuple[float, float, AudioError | None]:
        source = MicrophoneSource(device, stall_timeout_s=1.0)
        error = None
        async with source:
            async for _ in source:
                break
            virtual_mic.freeze()  # the stream stays open, but no more audio comes
            frozen = time.monotonic()
            try:
                async for _ in source:
                    pass
            except AudioError as exc:
                error = exc
            failed = time.monotonic()
        return failed - frozen, time.monotonic() - failed, error

    try:
        waited, closing, error = asyncio.run(hang())
    finally:
        virtual_mic.thaw()
    assert str(error) == "input device 'pulse' stopped: no audio for 1 s"
    assert 0.5 < waited < 4.0
    assert closing < 3.0  # leaving the context does not wait for the hung device
