"""The fake Anthropic server, checked with the real `anthropic` client, sync and async."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from typing import Any

import anthropic
import pytest
from anthropic.types import TextBlock, ToolUseBlock
from fake_anthropic import Fail, FakeAnthropic, Hang, Reply, sequence, text, tool_use

MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


def _sync(fake: FakeAnthropic, **options: Any) -> anthropic.Anthropic:
    """A real sync client pointed at the fake."""
    return anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, **options)


def _async(fake: FakeAnthropic, **options: Any) -> anthropic.AsyncAnthropic:
    """A real async client pointed at the fake."""
    return anthropic.AsyncAnthropic(api_key="test-key", base_url=fake.base_url, **options)


def _post(fake: FakeAnthropic, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST raw bytes to the fake; the status and the parsed JSON answer."""
    connection = http.client.HTTPConnection(fake.base_url.removeprefix("http://"), timeout=5)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_sync_text_reply() -> None:
    """A text reply arrives as a Message with a TextBlock, usage and a generated id."""
    with FakeAnthropic(sequence(text("hi there"))) as fake:
        message = _sync(fake).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    assert isinstance(message.content[0], TextBlock)
    assert message.content[0].text == "hi there"
    assert message.stop_reason == "end_turn"
    assert message.id == "msg_fake_1"
    assert message.usage.input_tokens == 10 and message.usage.output_tokens == 5
    assert fake.requests[0]["messages"] == MESSAGES
    assert fake.requests[0]["model"] == "m"


def test_sync_stream_text_and_tool_use() -> None:
    """A streamed reply with text and a tool_use accumulates into the same Message."""
    reply = Reply(
        [{"type": "text", "text": "let me look"},
         {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x", "n": 2}}],
        stop_reason="tool_use", usage={"input_tokens": 7, "output_tokens": 9},
    )
    with FakeAnthropic(sequence(reply)) as fake, _sync(fake).messages.stream(
        model="m", max_tokens=50, messages=MESSAGES
    ) as stream:
        texts = list(stream.text_stream)
        message = stream.get_final_message()
    assert texts == ["let me look"]
    block = message.content[1]
    assert isinstance(block, ToolUseBlock)
    assert (block.id, block.name, block.input) == ("toolu_1", "lookup", {"q": "x", "n": 2})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 9)
    assert fake.requests[0]["stream"] is True


def test_sync_raw_stream_events() -> None:
    """create(stream=True) yields the raw events in the API's order."""
    with FakeAnthropic(sequence(text("ok"))) as fake:
        events = _sync(fake).messages.create(
            model="m", max_tokens=50, messages=MESSAGES, stream=True
        )
        kinds = [event.type for event in events]
    assert kinds == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]


def test_async_tool_use_reply() -> None:
    """A tool_use reply parses into a ToolUseBlock with its input (async, not streamed)."""

    async def go() -> anthropic.types.Message:
        """Ask once."""
        with FakeAnthropic(sequence(tool_use("finish", {"summary": "done"}, id="t1"))) as fake:
            async with _async(fake) as client:
                return await client.messages.create(model="m", max_tokens=50, messages=MESSAGES)

    message = asyncio.run(go())
    block = message.content[0]
    assert isinstance(block, ToolUseBlock)
    assert (block.id, block.name, block.input) == ("t1", "finish", {"summary": "done"})
    assert message.stop_reason == "tool_use"


def test_async_stream_tool_use() -> None:
    """A streamed tool_use reply parses its input from input_json_delta (async)."""

    async def go() -> anthropic.types.Message:
        """Stream once."""
        with FakeAnthropic(sequence(tool_use("propose", {"description": "lr 3e-4"}))) as fake:
            async with _async(fake) as client, client.messages.stream(
                model="m", max_tokens=50, messages=MESSAGES
            ) as stream:
                return await stream.get_final_message()

    message = asyncio.run(go())
    block = message.content[0]
    assert isinstance(block, ToolUseBlock)
    assert block.input == {"description": "lr 3e-4"}
    assert block.id.startswith("toolu_fake_")


def test_rate_limit_then_success_is_retried_once() -> None:
    """A 429 with retry-after is retried once by the client; the fake sees two requests."""
    script = sequence(Fail(429, headers={"retry-after": "0", "retry-after-ms": "1"}), text("ok"))
    with FakeAnthropic(script) as fake:
        message = _sync(fake, max_retries=1).messages.create(
            model="m", max_tokens=50, messages=MESSAGES
        )
    assert isinstance(message.content[0], TextBlock) and message.content[0].text == "ok"
    assert len(fake.requests) == 2


def test_fail_raises_status_error_with_message() -> None:
    """A Fail becomes the client's status error carrying the status and message."""
    script = sequence(Fail(400, "bad model", "invalid_request_error"))
    with FakeAnthropic(script) as fake, pytest.raises(anthropic.BadRequestError) as caught:
        _sync(fake, max_retries=0).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert caught.value.status_code == 400
    assert "bad model" in caught.value.message


def test_async_rate_limit_exhausts_retries() -> None:
    """Only 429s: the async client gives up after max_retries + 1 requests."""

    async def go(fake: FakeAnthropic) -> None:
        """Ask once."""
        async with _async(fake, max_retries=1) as client:
            await client.messages.create(model="m", max_tokens=5, messages=MESSAGES)

    script = sequence(Fail(429, headers={"retry-after-ms": "1"}))
    with FakeAnthropic(script) as fake, pytest.raises(anthropic.RateLimitError):
        asyncio.run(go(fake))
    assert len(fake.requests) == 2


def test_hang_times_out_and_stop_does_not_hang() -> None:
    """A Hang makes a client with timeout=1 raise APITimeoutError; stopping is quick."""
    fake = FakeAnthropic(sequence(Hang(30.0))).start()
    try:
        with pytest.raises(anthropic.APITimeoutError):
            _sync(fake, timeout=1, max_retries=0).messages.create(
                model="m", max_tokens=5, messages=MESSAGES
            )
    finally:
        started = time.monotonic()
        fake.stop()
    assert time.monotonic() - started < 2.0
    assert len(fake.requests) == 1


def test_count_tokens_and_unknown_path() -> None:
    """count_tokens answers 100; other paths are 404 and recorded; query strings are ignored."""
    with FakeAnthropic(sequence(text("x"))) as fake:
        count = _sync(fake).messages.count_tokens(model="m", messages=MESSAGES)
        with pytest.raises(anthropic.NotFoundError):
            _sync(fake).models.list()
        status, _ = _post(fake, "/v1/messages?beta=true", json.dumps({"messages": []}).encode())
    assert count.input_tokens == 100
    assert status == 200
    assert any(path.startswith("/v1/models") for path in fake.paths)
    assert "/v1/messages?beta=true" in fake.paths
    assert len(fake.requests) == 1


def test_bad_json_is_400() -> None:
    """A body that is not a JSON object is a 400 in the API's error shape."""
    with FakeAnthropic(sequence(text("x"))) as fake:
        status, body = _post(fake, "/v1/messages", b"{not json")
    assert status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert fake.requests == []


def test_script_error_is_a_500_not_a_hang() -> None:
    """A script that raises answers 500 with the exception named, and is not retried."""

    def broken(body: dict[str, Any]) -> Reply:
        """Always fails."""
        raise KeyError("oops")

    with FakeAnthropic(broken) as fake, pytest.raises(anthropic.InternalServerError) as caught:
        _sync(fake, max_retries=2).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert "KeyError" in caught.value.message
    assert len(fake.requests) == 1


def test_chunked_request_body_is_read() -> None:
    """A chunked request body is decoded like one with Content-Length."""
    with FakeAnthropic(sequence(text("chunked ok"))) as fake:
        connection = http.client.HTTPConnection(fake.base_url.removeprefix("http://"), timeout=5)
        body = [b'{"messages": ', b'[], "model": "m"}']
        connection.request("POST", "/v1/messages", iter(body), encode_chunked=True,
                           headers={"Content-Type": "application/json"})
        answer = json.loads(connection.getresponse().read())
        connection.close()
    assert answer["content"] == [{"type": "text", "text": "chunked ok"}]
    assert fake.requests == [{"messages": [], "model": "m"}]
