"""`voicedesk listen --remote`: a file or the microphone streamed to a real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_process import LiveProcess, voicedesk, voicedesk_env
from pulse import VirtualMic
from serve_helpers import running_server, serve_settings

from voicedesk.errors import VoicedeskError
from voicedesk.remote import stream_url
from voicedesk.stt.whisper import WhisperTranscriber

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://host:8765", "ws://host:8765/ws/audio?mode=hands_free&partials=off"),
        ("https://host/", "wss://host/ws/audio?mode=hands_free&partials=off"),
        ("https://host/prefix", "wss://host/prefix/ws/audio?mode=hands_free&partials=off"),
        ("host:8765", "ws://host:8765/ws/audio?mode=hands_free&partials=off"),
        ("ws://host:1/ws/audio/", "ws://host:1/ws/audio?mode=hands_free&partials=off"),
        ("wss://host/custom", "wss://host/custom?mode=hands_free&partials=off"),
        ("ws://host/ws/audio?token=t&mode=x", "ws://host/ws/audio?token=t&mode=hands_free&partials=off"),
    ],
)
def test_stream_url(given: str, expected: str) -> None:
    assert stream_url(given, push_to_talk=False, partials=False) == expected


def test_stream_url_sets_the_mode_and_partials() -> None:
    url = stream_url("http://[::1]:8765", push_to_talk=True, partials=True)
    assert url == "ws://[::1]:8765/ws/audio?mode=push_to_talk&partials=on"


@pytest.mark.parametrize("bad", ["ftp://host", "http://", "http://host:port", "http://h:70000"])
def test_stream_url_refuses_what_is_no_server_address(bad: str) -> None:
    with pytest.raises(VoicedeskError, match="invalid --remote URL"):
        stream_url(bad, push_to_talk=False, partials=False)


def listen(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `voicedesk listen ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "voicedesk", "listen", *args],
        capture_output=True, text=True, timeout=120, env=voicedesk_env(home, **env),
        stdin=subprocess.DEVNULL,
    )


def messages(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON lines a `--json` run printed."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def finals(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The heard commands a `--json` run printed."""
    return [m for m in messages(result) if m.get("type") == "final"]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a run that failed with exit code 1."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


@pytest.fixture
def server(tmp_path: Path, transcriber: WhisperTranscriber) -> Iterator[str]:
    """A server with the default settings; its base URL."""
    with running_server(serve_settings(tmp_path / "server"), transcriber) as base:
        yield base


@pytest.mark.model
def test_a_file_streamed_fast_is_heard_and_queues_the_job(server: str, tmp_path: Path) -> None:
    wav = str(FIXTURES / "multi_command.wav")
    result = listen(tmp_path, "--remote", server, "--file", wav, "--json", "--fast")
    assert result.returncode == 0, result.stderr
    printed = messages(result)
    assert printed[0]["type"] == "ready"
    assert printed[-1] == {"type": "done", "code": 1000, "reason": "end of stream"}
    heard = [m["intent"] for m in finals(result)]
    transcripts = [m["transcript"] for m in finals(result)]
    assert [i["type"] for i in heard] == ["dispatch", "status", "experiment", "cancel"], transcripts
    assert (heard[0]["agent"], heard[1]["job"], heard[3]["job"]) == ("backend", 12, 3)
    assert "login test" in heard[0]["task"]
    jobs = httpx.get(f"{server}/jobs", timeout=10).json()
    assert [(j["agent"], j["status"]) for j in jobs] == [("backend", "queued")]
    assert "login test" in jobs[0]["task"]


@pytest.mark.model
def test_a_file_is_sent_at_real_time_by_default(server: str, tmp_path: Path) -> None:
    began = time.monotonic()
    result = listen(tmp_path, "--remote", server, "--file", str(FIXTURES / "dispatch_frontend.wav"))
    assert time.monotonic() - began >= 3.85  # the fixture's length
    assert result.returncode == 0, result.stderr
    assert "→ dispatch agent=frontend" in result.stdout, result.stdout
    assert "✔ Job 1 queued for frontend" in result.stdout


@pytest.mark.model
def test_a_file_in_push_to_talk_mode_is_one_turn(server: str, tmp_path: Path) -> None:
    wav = str(FIXTURES / "status_job.wav")
    result = listen(tmp_path, "--remote", server, "--ptt", "--file", wav, "--json", "--fast")
    assert result.returncode == 0, result.stderr
    kinds = [m["type"] for m in messages(result)]
    assert kinds == ["ready", "talking", "idle", "final", "reply", "done"], kinds
    [final] = finals(result)
    assert final["intent"] == {"type": "status", "agent": None, "job": 12, "task": None}
    assert final["end"] >= 3.0  # all of it: ptt_stop did not overtake the audio


@pytest.mark.model
def test_the_token_comes_from_the_environment_or_the_option(
    tmp_path: Path, transcriber: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOICEDESK_TOKEN", raising=False)
    settings = serve_settings(tmp_path / "server", serve={"token": "s3cret"})
    wav = str(FIXTURES / "status_job.wav")
    with running_server(settings, transcriber) as base:
        right = listen(tmp_path, "--remote", base, "--file", wav, "--json", "--fast",
                       VOICEDESK_TOKEN="s3cret")
        assert right.returncode == 0, right.stderr
        assert [m["intent"]["job"] for m in finals(right)] == [12]
        wrong = listen(tmp_path, "--remote", base, "--token", "nope", "--file", wav, "--json")
        assert one_line_error(wrong) == (
            "voicedesk: error: server closed the stream: 1008 missing or wrong token"
        )
        assert wrong.stdout == ""


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    result = listen(tmp_path, "--remote", f"http://127.0.0.1:{port}",
                    "--file", str(FIXTURES / "yes.wav"))
    assert one_line_error(result) == (
        f"voicedesk: error: cannot reach ws://127.0.0.1:{port}/ws/audio: connection refused"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--remote", "ftp://example.com"], "invalid --remote URL 'ftp://example.com'"),
        (["--remote", "http://127.0.0.1:99999"], "invalid --remote URL"),
        (["--remote", "http://127.0.0.1:1", "--dry-run"], "--dry-run cannot be used with --remote"),
        (["--token", "abc"], "--token and --fast only go with --remote"),
        (["--remote", "http://127.0.0.1:1", "--token", "a\nb"], "must be printable ASCII"),
    ],
)
def test_bad_switches_are_refused_in_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = listen(tmp_path, *args, "--file", str(FIXTURES / "yes.wav"))
    assert expected in one_line_error(result)


@pytest.mark.model
def test_an_http_rejection_is_one_line(server: str, tmp_path: Path) -> None:
    result = listen(tmp_path, "--remote", f"{server}/not-here", "--file", str(FIXTURES / "yes.wav"))
    assert one_line_error(result).endswith("/not-here/ws/audio refused the stream: HTTP 403")


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """A short directory for the control socket (AF_UNIX paths are limited to ~107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="vd-", dir="/tmp") as path:
        yield Path(path)


@pytest.mark.model
def test_push_to_talk_from_the_microphone(
    virtual_mic: VirtualMic, server: str, tmp_path: Path, control_dir: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[listen]\ndevice = "pulse"\ncontrol_socket = "{control_dir}/c.sock"\n')
    listener = LiveProcess(["--remote", server, "--ptt"], tmp_path, config)
    ready = listener.wait_for(lambda e: e.get("type") == "ready", timeout=60)
    assert ready["mode"] == "push_to_talk"
    assert voicedesk(["ptt", "start"], tmp_path, config).stdout.strip() == "talking"
    virtual_mic.play(FIXTURES / "dispatch_frontend.wav")
    assert voicedesk(["ptt", "stop"], tmp_path, config).stdout.strip() == "idle"
    final = listener.wait_for(lambda e: e.get("type") == "final")
    assert final["intent"]["type"] == "dispatch" and final["intent"]["agent"] == "frontend"
    virtual_mic.play(FIXTURES / "cancel_job.wav")  # nobody holds the key: not heard
    assert listener.stop() == 0, listener.stderr()
    kinds = [e["type"] for e in listener.events]
    assert kinds.index("talking") < kinds.index("idle") < kinds.index("final")
    assert kinds.count("final") == 1 and kinds[-1] == "done", kinds
    assert [j["agent"] for j in httpx.get(f"{server}/jobs", timeout=10).json()] == ["frontend"]
