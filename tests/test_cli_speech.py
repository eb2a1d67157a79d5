"""`voicedesk speak`: the command of voicedesk.cli_speech, run in a real process.

The command is registered on voicedesk.cli's app here when cli.py does not register it yet,
so the test runs it through cli.main's real error handling either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

RUNNER = """
import sys
import time
from voicedesk import cli
from voicedesk.cli_speech import speak
if not any(c.callback is speak for c in cli.app.registered_commands):
    cli.app.command("speak")(speak)
sys.argv = ["voicedesk", "speak", *sys.argv[1:]]
cli.main()
"""


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run `voicedesk speak ARGS` in its own process, with HOME and config kept in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEDESK_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"))
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=120,
        env=env, stdin=subprocess.DEVNULL, cwd=home,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    """Exit 1 and exactly one stderr line, which says `needle`."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("voicedesk: error: ") and needle in lines[0], lines[0]


def read_wav(path: Path) -> tuple[int, int, int, float]:
    """(channels, sample width, rate, seconds) of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnchannels(), wav.getsampwidth(), rate, wav.getnframes() / rate


def test_speak_writes_a_wav_that_reads_back(tmp_path: Path) -> None:
    """--out writes 16-bit mono Piper audio of a plausible length and says where."""
    out = tmp_path / "reply.wav"
    result = run(["Job 12 is running.", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    channels, width, rate, seconds = read_wav(out)
    assert (channels, width, rate) == (1, 2, 22050)
    assert 0.8 < seconds < 5.0
    assert f"wrote {out}" in result.stdout and "piper" in result.stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")
def test_speak_engine_override(tmp_path: Path) -> None:
    """--engine espeak speaks with espeak-ng instead of the configured Piper."""
    out = tmp_path / "reply.wav"
    result = run(["Job 12 is running.", "--engine", "espeak", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "espeak" in result.stdout and read_wav(out)[3] > 0.5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["  "], "speak needs some text"),
        (["hello", "--engine", "festival"], "unknown engine 'festival'"),
        (["hello", "--out", "/nonexistent/dir/x.wav"], "folder /nonexistent/dir does not exist"),
        (["hello", "--out", "."], "it is a folder"),
        (["hello", "--engine", "none", "--out", "x.wav"], "engine 'none' makes no audio"),
    ],
)
def test_speak_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    """Bad input is one line on stderr and exit 1."""
    assert_one_line_error(run(args, tmp_path), needle)


def test_speak_into_a_read_only_folder(tmp_path: Path) -> None:
    """An --out the user may not write is refused before anything is synthesized."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert_one_line_error(run(["hi", "--out", str(folder / "x.wav")], tmp_path), "denied")
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_speak_where_not_even_root_may_write(tmp_path: Path) -> None:
    """A write that fails (sysfs takes no new files, even from root) is one line too."""
    assert_one_line_error(run(["hi", "--out", "/sys/voicedesk.wav"], tmp_path), "cannot write")


def test_speak_missing_voice_is_one_line(tmp_path: Path) -> None:
    """A configured Piper voice that does not exist is one clear line."""
    config = tmp_path / "voicedesk.toml"
    config.write_text('[speech]\nvoice = "/nowhere/voice.onnx"\n')
    options = ["--config", str(config), "--out", str(tmp_path / "x.wav")]
    result = run(["hello", *options], tmp_path)
    assert_one_line_error(result, "Piper voice '/nowhere/voice.onnx' does not exist")


def test_speak_plays_on_the_configured_device(tmp_path: Path, virtual_mic: object) -> None:
    """Without --out it plays (into the PulseAudio rig) and returns once it has been heard."""
    config = tmp_path / "voicedesk.toml"
    config.write_text('[speech]\nengine = "espeak"\noutput_device = "pulse"\n')
    wav = tmp_path / "same.wav"
    text = "Job three is done. Job four failed."
    assert run([text, "--config", str(config), "--out", str(wav)], tmp_path).returncode == 0
    began = time.monotonic()
    result = run([text, "--config", str(config)], tmp_path)
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert took > read_wav(wav)[3]


def test_speak_missing_output_device_lists_devices(tmp_path: Path, virtual_mic: object) -> None:
    """An output device that does not exist is one line naming the devices there are."""
    config = tmp_path / "voicedesk.toml"
    config.write_text('[speech]\nengine = "espeak"\noutput_device = "no such speaker"\n')
    result = run(["hello", "--config", str(config)], tmp_path)
    assert_one_line_error(result, "no output device matches 'no such speaker'; output devices:")
    assert "pulse" in result.stderr
