"""Speech out: Piper and espeak-ng synthesis, heard back by the real tiny.en model."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from voicedesk.config import SpeechSettings
from voicedesk.errors import SpeechError
from voicedesk.speech.espeak import EspeakSynthesizer, parse_wav
from voicedesk.speech.piper_voice import PiperSynthesizer, bundled_voice
from voicedesk.speech.speaker import Speaker
from voicedesk.speech.synth import (
    NoSpeech,
    Speech,
    make_synthesizer,
    resample,
    split_sentences,
)
from voicedesk.stt.whisper import WhisperTranscriber

REPLY = "Job 12, frontend: running for 4 minutes, last step: editing settings.tsx"
"""A status reply as the console would speak it."""

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    """The bundled joe voice at normal speed and volume, loaded once."""
    return PiperSynthesizer()


def to_16k(speech: Speech) -> bytes:
    """The speech resampled to 16 kHz mono s16le, as the transcriber takes it."""
    return resample(speech, 16000).pcm


def rms(speech: Speech) -> float:
    """Root mean square of the samples."""
    samples = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


def assert_heard_reply(text: str) -> None:
    """The key words of REPLY are in what the model heard."""
    heard = text.lower().replace("-", " ")
    assert "12" in heard or "twelve" in heard, heard
    assert "frontend" in heard or "front end" in heard, heard
    assert "running" in heard, heard


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("", []),
        ("  ... !? ", []),
        ("Job 3 is done.", ["Job 3 is done."]),
        ("Done. Next one?  Yes!", ["Done.", "Next one?", "Yes!"]),
        ("Job 12, frontend: running", ["Job 12, frontend:", "running"]),
        ("edit settings.tsx now. ok", ["edit settings.tsx now.", "ok"]),
        ("took 4.5 minutes at 10:30", ["took 4.5 minutes at 10:30"]),
        ("one; two\nthree", ["one;", "two", "three"]),
        ('He said "stop." Then left.', ['He said "stop.', "Then left."]),
        ("Wait... what", ["Wait...", "what"]),
    ],
)
def test_split_sentences(text: str, pieces: list[str]) -> None:
    """Sentences and clauses are cut at their ends; dots inside words and numbers are not."""
    assert split_sentences(text) == pieces


def test_long_sentences_are_cut_at_commas() -> None:
    """A sentence over max_chars is cut at commas into pieces no longer than it allows."""
    text = "alpha beta, gamma delta, epsilon zeta, eta theta, iota kappa"
    pieces = split_sentences(text, max_chars=25)
    assert pieces == ["alpha beta, gamma delta,", "epsilon zeta, eta theta,", "iota kappa"]
    assert " ".join(pieces) == text


def test_speech_duration_and_resample() -> None:
    """Duration is samples over rate, for s16 mono; resampling keeps the duration."""
    tone = (np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 10000).astype("<i2")
    speech = Speech(tone.tobytes(), 22050)
    assert speech.duration == pytest.approx(1.0)
    down = resample(speech, 16000)
    assert down.sample_rate == 16000 and down.duration == pytest.approx(1.0, abs=0.01)
    assert rms(down) == pytest.approx(rms(speech), rel=0.05)
    assert resample(speech, 22050) == speech


@pytest.mark.model
def test_piper_reply_is_heard_back(
    piper: PiperSynthesizer, transcriber: WhisperTranscriber
) -> None:
    """The joe voice speaks a status reply that tiny.en transcribes with its key words."""
    speech = piper.synthesize(REPLY)
    assert speech.sample_rate == 22050
    assert 3.0 < speech.duration < 12.0
    assert_heard_reply(transcriber.transcribe(to_16k(speech)).text)


@needs_espeak
@pytest.mark.model
def test_espeak_reply_is_heard_back(transcriber: WhisperTranscriber) -> None:
    """espeak-ng speaks the same reply intelligibly enough for tiny.en."""
    speech = EspeakSynthesizer().synthesize(REPLY)
    assert_heard_reply(transcriber.transcribe(to_16k(speech)).text)


def test_piper_sentences_come_one_clause_at_a_time(piper: PiperSynthesizer) -> None:
    """sentences() yields one chunk per clause, which together last as long as the whole."""
    chunks = list(piper.sentences(REPLY))
    assert len(chunks) == len(split_sentences(REPLY)) == 3
    whole = piper.synthesize(REPLY)
    assert sum(c.duration for c in chunks) == pytest.approx(whole.duration, rel=0.15)


def test_piper_speed_and_volume() -> None:
    """Speed 2.0 gives about half the audio; volume 0.5 gives about half the RMS."""
    normal = PiperSynthesizer().synthesize(REPLY)
    fast = PiperSynthesizer(speed=2.0).synthesize(REPLY)
    quiet = PiperSynthesizer(volume=0.5).synthesize(REPLY)
    assert fast.duration < 0.7 * normal.duration
    assert 0.3 < rms(quiet) / rms(normal) < 0.7


@needs_espeak
def test_espeak_speed_and_volume() -> None:
    """espeak-ng: speed 2.0 is shorter, volume 0.5 is quieter, volume 3.0 louder than 2.0."""
    normal = EspeakSynthesizer().synthesize(REPLY)
    fast = EspeakSynthesizer(speed=2.0).synthesize(REPLY)
    quiet = EspeakSynthesizer(volume=0.5).synthesize(REPLY)
    assert fast.duration < 0.7 * normal.duration
    assert rms(quiet) < 0.7 * rms(normal)
    assert rms(EspeakSynthesizer(volume=3.0).synthesize(REPLY)) > rms(
        EspeakSynthesizer(volume=2.0).synthesize(REPLY)
    )


@needs_espeak
def test_espeak_text_is_an_argument_not_a_shell_line(tmp_path: Path) -> None:
    """Text that looks like options or shell is spoken, never run."""
    marker = tmp_path / "ran"
    speech = EspeakSynthesizer().synthesize(f"-v xx $(touch {marker}); rm -rf {tmp_path}")
    assert speech.duration > 1.0
    assert not marker.exists() and tmp_path.is_dir()


def test_engine_none_is_silent() -> None:
    """engine none: no audio at all, and a Speaker over it does nothing."""
    synthesizer = make_synthesizer(SpeechSettings(engine="none"))
    assert isinstance(synthesizer, NoSpeech)
    assert synthesizer.synthesize(REPLY).pcm == b""
    assert list(synthesizer.sentences(REPLY)) == []
    speaker = Speaker(synthesizer, None)
    speaker.say(REPLY)
    assert speaker.silent and not speaker.busy() and speaker.wait_idle(0.1)
    speaker.close()


def test_default_engine_is_the_bundled_piper_voice() -> None:
    """With no voice configured, Piper speaks with the joe voice."""
    synthesizer = make_synthesizer(SpeechSettings())
    assert isinstance(synthesizer, PiperSynthesizer)
    assert synthesizer.voice_path == bundled_voice()[0]


@needs_espeak
def test_piper_unavailable_falls_back_to_espeak(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When piper cannot be imported the default voice falls back to espeak-ng, saying why.

    A broken piper install cannot be produced for real inside this venv, so the import is
    made to fail (sys.modules[name] = None makes `import piper` raise ImportError).
    """
    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.delitem(sys.modules, "voicedesk.speech.piper_voice", raising=False)
    with caplog.at_level(logging.WARNING, logger="voicedesk.speech.synth"):
        synthesizer = make_synthesizer(SpeechSettings(voice=None))
    assert isinstance(synthesizer, EspeakSynthesizer)
    assert "Piper is not available" in caplog.text and "espeak-ng instead" in caplog.text
    assert synthesizer.synthesize("job three is done").duration > 0.5


def test_no_piper_and_no_espeak_is_silent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without piper and without espeak-ng on PATH the default falls back to silence."""
    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.delitem(sys.modules, "voicedesk.speech.piper_voice", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="voicedesk.speech.synth"):
        synthesizer = make_synthesizer(SpeechSettings())
    assert isinstance(synthesizer, NoSpeech)
    assert "speech is off" in caplog.text and "espeak-ng is not on PATH" in caplog.text


def test_explicit_missing_voice_is_an_error(tmp_path: Path) -> None:
    """A Piper voice the user named must exist: one clear line, no silent fallback."""
    missing = tmp_path / "nobody.onnx"
    with pytest.raises(SpeechError) as caught:
        make_synthesizer(SpeechSettings(voice=str(missing)))
    assert str(caught.value) == f"Piper voice {str(missing)!r} does not exist"


def test_explicit_broken_voice_is_an_error(tmp_path: Path) -> None:
    """A named voice that is not a model is a SpeechError too, never espeak instead."""
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    with pytest.raises(SpeechError, match=r"no config broken\.onnx\.json"):
        make_synthesizer(SpeechSettings(voice=str(model)))
    shutil.copy(bundled_voice()[1], f"{model}.json")
    with pytest.raises(SpeechError, match=r"cannot load Piper voice broken\.onnx") as caught:
        make_synthesizer(SpeechSettings(voice=str(model)))
    assert "\n" not in str(caught.value)


@needs_espeak
def test_unknown_espeak_voice_is_an_error() -> None:
    """An espeak-ng voice name it does not know is a SpeechError at construction."""
    with pytest.raises(SpeechError, match="voice 'nosuchvoice'"):
        make_synthesizer(SpeechSettings(engine="espeak", voice="nosuchvoice"))


def test_parse_wav_rejects_what_is_not_a_wav() -> None:
    """parse_wav needs RIFF/WAVE with a data chunk of 16-bit mono PCM."""
    with pytest.raises(SpeechError, match="not write a WAV"):
        parse_wav(b"hello")
    with pytest.raises(SpeechError, match="without audio"):
        parse_wav(b"RIFF\0\0\0\0WAVE")
