"""Tests for voicedesk.audio.files.load_audio on the fixtures and on files made at runtime."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from voicedesk.audio.files import load_audio
from voicedesk.errors import AudioDecodeError, AudioError

SPEECH = [
    "dispatch_frontend.wav",
    "status_job.wav",
    "cancel_job.wav",
    "experiment.wav",
    "results.wav",
    "multi_command.wav",
]


def seconds(pcm: bytes) -> float:
    """Duration of 16 kHz mono s16le PCM."""
    return len(pcm) / 32_000


def wav_bytes(path: Path) -> bytes:
    """The raw sample bytes of a WAV file, read with the standard library."""
    with wave.open(str(path)) as handle:
        return bytes(handle.readframes(handle.getnframes()))


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    """Write int16 samples (interleaved when stereo) as a plain PCM WAV."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())


def one_line_naming(exc: pytest.ExceptionInfo[AudioError], path: Path) -> bool:
    """Whether the error is a single line that names the file."""
    message = str(exc.value)
    return "\n" not in message and str(path) in message


@pytest.mark.parametrize("name", SPEECH)
def test_speech_fixtures_load_as_their_own_samples(fixtures_dir: Path, name: str) -> None:
    pcm = load_audio(fixtures_dir / name)
    assert pcm == wav_bytes(fixtures_dir / name)
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000


def test_8k_stereo_is_resampled_and_downmixed(fixtures_dir: Path) -> None:
    mono = load_audio(fixtures_dir / "dispatch_frontend.wav")
    stereo = load_audio(fixtures_dir / "dispatch_8k_stereo.wav")
    assert len(stereo) % 2 == 0
    assert seconds(stereo) == pytest.approx(seconds(mono), abs=0.02)
    loud = np.abs(np.frombuffer(stereo, "<i2").astype(np.int32))
    assert loud.max() > 1000


@pytest.mark.parametrize("name", ["silence.wav", "noise.wav"])
def test_no_speech_files_load_fine(fixtures_dir: Path, name: str) -> None:
    assert seconds(load_audio(fixtures_dir / name)) == pytest.approx(2.0)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    with pytest.raises(AudioError, match="not found") as exc:
        load_audio(path)
    assert type(exc.value) is AudioError
    assert one_line_naming(exc, path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory") as exc:
        load_audio(tmp_path)
    assert type(exc.value) is AudioError
    assert one_line_naming(exc, tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.wav"
    path.write_bytes(b"RIFF")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(AudioError, match="permission denied") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_text_file_is_not_audio(fixtures_dir: Path) -> None:
    path = fixtures_dir / "not_audio.wav"
    with pytest.raises(AudioDecodeError, match="cannot be decoded") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_random_bytes_are_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioDecodeError) as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_truncated_wav_says_how_much_is_missing(fixtures_dir: Path) -> None:
    path = fixtures_dir / "truncated.wav"
    with pytest.raises(AudioDecodeError, match=r"truncated.*\d+ bytes.* s of audio missing") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_wav_cut_inside_its_header(tmp_path: Path, fixtures_dir: Path) -> None:
    path = tmp_path / "header_only.wav"
    path.write_bytes((fixtures_dir / "cancel_job.wav").read_bytes()[:30])
    with pytest.raises(AudioDecodeError, match="truncated") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_empty_wav_has_no_samples(fixtures_dir: Path) -> None:
    path = fixtures_dir / "empty.wav"
    with pytest.raises(AudioDecodeError, match="has no audio samples") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty") as exc:
        load_audio(path)
    assert one_line_naming(exc, path)


def test_other_rates_are_resampled(tmp_path: Path) -> None:
    path = tmp_path / "tone44k.wav"
    t = np.arange(44_100) / 44_100
    write_wav(path, 8000 * np.sin(2 * np.pi * 440 * t), 44_100)
    pcm = load_audio(path)
    assert seconds(pcm) == pytest.approx(1.0, abs=0.01)
    assert np.abs(np.frombuffer(pcm, "<i2")).max() == pytest.approx(8000, rel=0.05)


def test_extra_chunks_and_streamed_sizes_are_read(tmp_path: Path, fixtures_dir: Path) -> None:
    original = (fixtures_dir / "cancel_job.wav").read_bytes()
    samples = wav_bytes(fixtures_dir / "cancel_job.wav")
    fmt = original[12:36]
    listing = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"
    streamed = b"data" + struct.pack("<I", 0xFFFFFFFF) + samples
    path = tmp_path / "streamed.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + fmt + listing + streamed)
    assert load_audio(path) == samples


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_non_wav_formats_decode(tmp_path: Path, fixtures_dir: Path, suffix: str) -> None:
    sox = shutil.which("sox")
    if sox is None:
        print("sox is not installed: cannot make a non-WAV file to decode")
        pytest.skip("sox is not installed: cannot make a non-WAV file to decode")
    source = fixtures_dir / "dispatch_frontend.wav"
    path = tmp_path / f"dispatch{suffix}"
    subprocess.run([sox, str(source), str(path)], check=True, capture_output=True)
    pcm = load_audio(path)
    assert seconds(pcm) == pytest.approx(seconds(wav_bytes(source)), abs=0.05)
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000
