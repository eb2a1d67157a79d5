"""The /ws/audio remote microphone, spoken to directly with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from serve_helpers import running_server, serve_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from voicedesk.audio.files import load_audio
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model

FIXTURES = Path(__file__).parent / "fixtures"
CHUNK = 960  # 30 ms of 16 kHz s16le, as a microphone would send it
Message = bytes | str | float
"""A binary or text message to send, or seconds to wait before the next."""


class Stream:
    """What one WebSocket conversation got back: the server's messages and its close."""

    def __init__(self, messages: list[dict[str, Any]], code: int | None, reason: str) -> None:
        """The messages in order, then the close code and reason."""
        self.messages, self.code, self.reason = messages, code, reason

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The messages of one type."""
        return [m for m in self.messages if m.get("type") == kind]

    def intents(self) -> list[dict[str, Any]]:
        """The intents of the finals."""
        return [m["intent"] for m in self.of_type("final")]


def audio(name: str) -> list[Message]:
    """A fixture's PCM in 30 ms messages."""
    pcm = load_audio(FIXTURES / name)
    return [pcm[i : i + CHUNK] for i in range(0, len(pcm), CHUNK)]


def control(kind: str) -> str:
    """A JSON control message."""
    return json.dumps({"type": kind})


def ws_url(base: str, **query: str) -> str:
    """The /ws/audio URL of a server, with a query."""
    return base.replace("http://", "ws://") + "/ws/audio" + (f"?{urlencode(query)}" * bool(query))


def converse(
    url: str, messages: list[Message], headers: dict[str, str] | None = None
) -> Stream:
    """Send `messages` as fast as possible (pausing at floats), then read until closed."""

    async def run() -> Stream:
        """One connection."""
        received: list[dict[str, Any]] = []
        async with connect(url, additional_headers=headers, open_timeout=10) as ws:
            with contextlib.suppress(ConnectionClosed):  # the server may close early
                for message in messages:
                    if isinstance(message, float):
                        await asyncio.sleep(message)
                    else:
                        await ws.send(message)
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(90):
                    async for data in ws:
                        received.append(json.loads(data))
            return Stream(received, ws.close_code, ws.close_reason or "")

    return asyncio.run(run())


def assert_healthy(base: str) -> None:
    """The server still answers other clients."""
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


@pytest.fixture
def server(tmp_path: Path, transcriber: WhisperTranscriber) -> Iterator[str]:
    """A server with the default settings; its base URL."""
    with running_server(serve_settings(tmp_path), transcriber) as base:
        yield base


def test_hands_free_hears_every_command_and_queues_the_job(server: str) -> None:
    stream = converse(ws_url(server), [*audio("multi_command.wav"), control("end")])
    assert stream.messages[0] == {
        "type": "ready", "mode": "hands_free", "sample_rate": 16000, "max_frame_bytes": 65536,
    }
    assert stream.messages[-1] == {"type": "done", "code": 1000, "reason": "end of stream"}
    assert (stream.code, stream.reason) == (1000, "end of stream")
    heard = stream.intents()
    transcripts = [m["transcript"] for m in stream.of_type("final")]
    assert [i["type"] for i in heard] == ["dispatch", "status", "experiment", "cancel"], transcripts
    assert (heard[0]["agent"], heard[1]["job"], heard[3]["job"]) == ("backend", 12, 3)
    assert "login test" in heard[0]["task"]
    assert stream.of_type("final")[0]["job_ids"] == [1]
    replies = [m["text"] for m in stream.of_type("reply")]
    assert replies == [m["reply"] for m in stream.of_type("final")]
    jobs = httpx.get(f"{server}/jobs", timeout=10).json()
    assert [(j["id"], j["agent"], j["status"]) for j in jobs] == [(1, "backend", "queued")]
    assert "login test" in jobs[0]["task"]
    assert_healthy(server)


def test_push_to_talk_hears_only_the_held_turn(server: str) -> None:
    messages = [
        control("ptt_start"), *audio("status_job.wav"), 0.3, control("ptt_stop"),
        *audio("cancel_job.wav"),  # nobody holds the key: not heard
        control("end"),
    ]
    stream = converse(ws_url(server, mode="push_to_talk"), messages)
    assert stream.messages[0]["mode"] == "push_to_talk"
    kinds = [m["type"] for m in stream.messages]
    assert kinds.index("talking") < kinds.index("idle") < kinds.index("final")
    assert stream.intents() == [{"type": "status", "agent": None, "job": 12, "task": None}]
    assert stream.code == 1000
    assert_healthy(server)


def test_ptt_stop_right_after_the_audio_keeps_all_of_it(server: str) -> None:
    pcm = load_audio(FIXTURES / "status_job.wav")
    halves: list[Message] = [pcm[: len(pcm) // 2], pcm[len(pcm) // 2 :]]  # each under the cap
    for _ in range(3):  # whether both messages arrive in one read varies: try a few times
        messages = [control("ptt_start"), *halves, control("ptt_stop"), control("end")]
        stream = converse(ws_url(server, mode="push_to_talk"), messages)
        assert [round(m["end"], 1) for m in stream.of_type("final")] == [3.0]


def test_an_odd_byte_count_closes_with_1007(server: str) -> None:
    stream = converse(ws_url(server), [b"\x00" * 960, b"\x00\x01\x02"])
    assert stream.code == 1007
    assert "odd byte count (3)" in stream.reason
    assert stream.messages[-1] == {"type": "done", "code": stream.code, "reason": stream.reason}
    assert_healthy(server)


def test_a_message_over_the_cap_closes_with_1009(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    settings = serve_settings(tmp_path, serve={"max_ws_frame_bytes": 1024})
    with running_server(settings, transcriber) as base:
        stream = converse(ws_url(base), [b"\x00" * 1024, b"\x00" * 1026])
        assert stream.messages[0]["max_frame_bytes"] == 1024
        assert stream.code == 1009
        assert "1026 bytes" in stream.reason and "1024-byte cap" in stream.reason
        assert_healthy(base)


def test_malformed_messages_are_errors_and_the_stream_goes_on(server: str) -> None:
    messages = [
        "{not json", "[1, 2]", json.dumps({"type": "shout"}),
        *audio("status_job.wav"), control("end"),
    ]
    stream = converse(ws_url(server), messages)
    errors = [m["message"] for m in stream.of_type("error")]
    assert len(errors) == 3, errors
    assert errors[0].startswith("not a JSON object") and "'shout'" in errors[2]
    assert [i["type"] for i in stream.intents()] == ["status"]
    assert (stream.code, stream.messages[-1]["type"]) == (1000, "done")
    assert_healthy(server)


def test_ptt_start_in_hands_free_mode_is_an_error(server: str) -> None:
    stream = converse(ws_url(server), [control("ptt_start"), control("end")])
    [error] = stream.of_type("error")
    assert "hands-free" in error["message"] and "mode=push_to_talk" in error["message"]
    assert stream.code == 1000
    assert_healthy(server)


def test_the_token_is_checked(tmp_path: Path, transcriber: WhisperTranscriber,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICEDESK_TOKEN", raising=False)
    settings = serve_settings(tmp_path, serve={"token": "s3cret"})
    with running_server(settings, transcriber) as base:
        wrong = converse(ws_url(base), [], {"Authorization": "Bearer nope"})
        assert (wrong.code, wrong.reason, wrong.messages) == (1008, "missing or wrong token", [])
        missing = converse(ws_url(base), [])
        assert (missing.code, missing.reason) == (1008, "this service needs a token")
        assert_healthy(base)
        right = converse(ws_url(base), [control("end")], {"Authorization": "Bearer s3cret"})
        assert [m["type"] for m in right.messages] == ["ready", "done"]
        by_query = converse(ws_url(base, token="s3cret"), [control("end")])
        assert by_query.code == 1000


def test_bad_query_parameters_close_the_stream(server: str) -> None:
    rate = converse(ws_url(server, rate="48000"), [])
    assert rate.code == 1003 and "'48000'" in rate.reason
    assert_healthy(server)
    mode = converse(ws_url(server, mode="walkie_talkie"), [])
    assert mode.code == 1008 and "hands_free or push_to_talk" in mode.reason
    assert_healthy(server)
