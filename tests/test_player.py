"""Playback (voicedesk.speech.player, .speaker) into a real PulseAudio null sink, recorded back.

The private daemon of tests/pulse.py has one sink, the null sink `voicedesk_test_sink`, which
the fixture makes sure is the default sink; PortAudio's "pulse" device plays into it. A
parec on the sink's monitor records what was played, block by block, each block stamped
with time.monotonic() as it arrives.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from pulse import SINK, VirtualMic

from voicedesk.errors import SpeechError
from voicedesk.speech.piper_voice import PiperSynthesizer
from voicedesk.speech.player import Player, list_output_devices
from voicedesk.speech.speaker import Speaker
from voicedesk.stt.whisper import WhisperTranscriber

RATE = 16000
"""The recording's rate: the null sink's own, so nothing is resampled on the way back."""

WINDOW = 160
"""10 ms of the recording: the unit in which loudness is judged."""

LOUD = 300.0
"""RMS (of 32768) above which a 10 ms window counts as sound: about -40 dBFS."""

REPLY = "Job 12, frontend: running for 4 minutes, last step: editing settings.tsx"
LONG_REPLY = (
    "Job 7, backend, is still running. It has been editing the login handler for eleven "
    "minutes, and it has run the test suite three times. The last run had two failures in "
    "the session tests, and it is now reading the logs to find out why they fail."
)


@dataclass
class Recorder:
    """parec on the sink's monitor: 16 kHz mono blocks, each stamped when it arrived."""

    mic: VirtualMic
    blocks: list[tuple[float, bytes]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        """Start recording and wait for the first block."""
        self.process = subprocess.Popen(
            ["parec", "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1",
             f"--device={SINK}.monitor", "--latency-msec=5"],
            env={**os.environ, "PULSE_SERVER": self.mic.server}, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 5
        while not self.blocks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.blocks, "the sink monitor gave no audio"

    def _read(self) -> None:
        """Reader thread: small reads, stamped on arrival."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while chunk := os.read(fd, 320):
            self.blocks.append((time.monotonic(), chunk))

    def stop(self) -> None:
        """Stop parec and the reader."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        if self.thread is not None:
            self.thread.join(5)

    @property
    def pcm(self) -> bytes:
        """Everything recorded."""
        return b"".join(chunk for _, chunk in self.blocks)

    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(end time, RMS) of every 10 ms window, its time from its block's arrival stamp."""
        data = np.frombuffer(self.pcm[: len(self.pcm) // 2 * 2], dtype="<i2")
        arrived_at = np.empty(len(data))
        end = 0
        for stamp, chunk in self.blocks:  # sample k of a block arrived (n - k) samples early
            n = len(chunk) // 2
            arrived_at[end : end + n] = stamp - (n - 1 - np.arange(n)) / RATE
            end += n
        count = len(data) // WINDOW
        frames = data[: count * WINDOW].reshape(count, WINDOW).astype(np.float64)
        levels = np.sqrt(np.mean(frames**2, axis=1))
        return arrived_at[WINDOW - 1 :: WINDOW][:count], levels


def _pactl(mic: VirtualMic, *args: str) -> str:
    """Run pactl against the rig's daemon; its stdout."""
    done = subprocess.run(
        ["pactl", *args], env={**os.environ, "PULSE_SERVER": mic.server},
        capture_output=True, text=True, timeout=10, check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def sink(virtual_mic: VirtualMic) -> Iterator[VirtualMic]:
    """The rig, with the null sink as its default sink (what PortAudio's "pulse" plays to)."""
    if _pactl(virtual_mic, "get-default-sink") != SINK:
        _pactl(virtual_mic, "set-default-sink", SINK)
    assert _pactl(virtual_mic, "get-default-sink") == SINK
    yield virtual_mic


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    """The bundled joe voice."""
    return PiperSynthesizer()


@pytest.fixture
def recorder(sink: VirtualMic) -> Iterator[Recorder]:
    """A running recording of the sink."""
    rec = Recorder(sink)
    rec.start()
    yield rec
    rec.stop()


def test_unknown_output_device_lists_the_devices(sink: VirtualMic) -> None:
    """A device that does not exist is one SpeechError line naming the devices there are."""
    with pytest.raises(SpeechError) as caught:
        Player("no such speaker")
    message = str(caught.value)
    assert message.startswith("no output device matches 'no such speaker'; output devices: ")
    assert "pulse" in message and "\n" not in message
    assert any(d.name == "pulse" for d in list_output_devices())


@pytest.mark.model
def test_played_reply_is_heard_back(
    recorder: Recorder, piper: PiperSynthesizer, transcriber: WhisperTranscriber
) -> None:
    """A Piper reply played through Player reaches the sink and transcribes back."""
    speech = piper.synthesize(REPLY)
    began = time.monotonic()
    with Player("pulse") as player:
        assert player.play(speech)
        assert player.speaking or player.last_sample_at is not None
    time.sleep(0.2)
    recorder.stop()
    assert player.first_sample_at is not None and player.last_sample_at is not None
    assert 0 <= player.first_sample_at - began < 0.5
    assert player.output_latency is not None and 0 < player.output_latency < 0.5
    played_for = player.last_sample_at - player.first_sample_at
    assert played_for == pytest.approx(speech.duration, abs=0.2)
    assert not player.speaking
    text = transcriber.transcribe(recorder.pcm).text.lower().replace("-", " ")
    assert "12" in text or "twelve" in text, text
    assert "frontend" in text or "front end" in text, text
    assert "running" in text, text


def test_barge_in_silences_the_sink_within_100_ms(
    recorder: Recorder, piper: PiperSynthesizer, record_property: pytest.RecordProperty
) -> None:
    """interrupt() at t0 stops the sound in the sink within 100 ms of t0.

    Method: parec records the sink's monitor in 5 ms blocks; each block is stamped with
    time.monotonic() when the reader gets it, and each sample's time is its block's stamp
    less the samples after it. The last 10 ms window louder than -40 dBFS is the end of the
    sound; its time minus t0 is the stop time. Recording latency only makes sound seem to
    arrive later, so the figure is an upper bound on the real stop time. The reply must have
    been sounding just before t0 (so it was cut mid-speech), and the sink must stay quiet for
    a second after (so it was stopped, not merely between words).
    """
    speaker = Speaker(piper, Player("pulse"), echo_tail_s=0.25)
    started = threading.Event()
    speaker.say(LONG_REPLY, on_start=lambda at: started.set())
    assert started.wait(10), "the reply never started"
    time.sleep(3.0)  # about a second into the long second sentence: mid-speech, not a pause
    t0 = time.monotonic()
    speaker.interrupt()
    assert speaker.busy(t0)  # within the echo tail, at least
    assert speaker.wait_idle(2.0)
    time.sleep(1.2)
    recorder.stop()
    assert speaker.player is not None and speaker.player.last_sample_at is not None
    stopped_at = speaker.player.last_sample_at
    assert not speaker.busy(stopped_at + 0.3) and speaker.busy(stopped_at + 0.1)
    speaker.close()
    times, levels = recorder.windows()
    loud = levels > LOUD
    assert loud[(times > t0 - 0.5) & (times <= t0)].any(), "the reply was not playing at t0"
    assert times[-1] > t0 + 1.0
    stop_s = float(times[loud].max() - t0)
    record_property("barge_in_stop_ms", round(stop_s * 1000, 1))
    print(f"\nbarge-in: the sink went quiet {stop_s * 1000:.1f} ms after interrupt()")
    assert stop_s < 0.100


def test_speaker_plays_sentences_in_order_and_reports_the_start(
    recorder: Recorder, piper: PiperSynthesizer
) -> None:
    """say() returns at once; on_start gets the first sample's time; wait_idle sees the end."""
    speaker = Speaker(piper, Player("pulse"))
    starts: list[float] = []
    said = time.monotonic()
    speaker.say("Job 3 is done. Job 4 failed.", on_start=starts.append)
    assert time.monotonic() - said < 0.05
    deadline = time.monotonic() + 10
    while not starts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert speaker.speaking and speaker.busy(time.monotonic())
    assert speaker.wait_idle(15)
    assert not speaker.speaking
    recorder.stop()
    speaker.close()
    assert len(starts) == 1 and 0 < starts[0] - said < 2.0
    times, levels = recorder.windows()
    sound = times[levels > LOUD]
    assert sound.size and sound.min() >= starts[0] - 0.05
    heard_for = sound.max() - sound.min()
    expected = sum(s.duration for s in piper.sentences("Job 3 is done. Job 4 failed."))
    assert heard_for == pytest.approx(expected, abs=0.5)


def test_worker_errors_are_logged_not_raised(
    sink: VirtualMic, caplog: pytest.LogCaptureFixture
) -> None:
    """A synthesizer that fails (espeak-ng gone from its path) is logged; the speaker goes on."""
    from voicedesk.speech.espeak import EspeakSynthesizer

    synthesizer = EspeakSynthesizer()
    speaker = Speaker(synthesizer, Player("pulse"))
    program, synthesizer.program = synthesizer.program, "/nonexistent/espeak-ng"
    speaker.say("this cannot be spoken")
    assert speaker.wait_idle(5)
    assert "cannot synthesize" in caplog.text
    synthesizer.program = program
    starts: list[float] = []
    speaker.say("but this can", on_start=starts.append)
    assert speaker.wait_idle(10) and starts
    speaker.close()
