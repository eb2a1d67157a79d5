"""A fake Anthropic Messages API on 127.0.0.1 for tests: real HTTP, scripted answers.

Point the real `anthropic` client at `FakeAnthropic.base_url`; every POST /v1/messages body is
recorded in `requests` and answered by the script: a `Reply` (JSON, or an SSE stream when the
body asks for `stream`), a `Fail` (an HTTP error in the API's error shape) or a `Hang`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


def _default_usage() -> dict[str, int]:
    """The usage a reply reports unless told otherwise."""
    return {"input_tokens": 10, "output_tokens": 5}


@dataclass
class Reply:
    """One assistant message: Anthropic content blocks, why it stopped, and token usage."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    model: str = "claude-fake"
    usage: dict[str, int] = field(default_factory=_default_usage)


@dataclass
class Fail:
    """An HTTP error answer in the API's error shape, with extra response headers."""

    status: int
    message: str = "fake error"
    error_type: str = "rate_limit_error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """No answer: the server waits this long (or until stopped), then closes the connection."""

    seconds: float = 30.0


Answer = Reply | Fail | Hang
"""What the fake does with one request."""

Script = Callable[[dict[str, Any]], Answer]
"""Decides the answer to one parsed POST /v1/messages body."""


def text(s: str) -> Reply:
    """A reply with one text block that ends the turn."""
    return Reply([{"type": "text", "text": s}])


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> Reply:
    """A reply with one tool_use block (a fresh id unless given) that stops for the tool."""
    block_id = id if id is not None else f"toolu_fake_{uuid.uuid4().hex[:16]}"
    block = {"type": "tool_use", "id": block_id, "name": name, "input": input}
    return Reply([block], stop_reason="tool_use")


def sequence(*answers: Answer) -> Script:
    """A script giving the answers in order, one per request; the last one repeats."""
    if not answers:
        raise ValueError("sequence() needs at least one answer")
    lock = threading.Lock()
    position = itertools.count()

    def script(body: dict[str, Any]) -> Answer:
        """The next answer in the sequence."""
        with lock:
            index = next(position)
        return answers[min(index, len(answers) - 1)]

    return script


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    """The API's JSON error shape."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _sse_events(reply: Reply, message_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a streamed reply, in the API's order."""
    start_usage = {**reply.usage, "output_tokens": min(1, reply.usage.get("output_tokens", 0))}
    message: dict[str, Any] = {
        "id": message_id, "type": "message", "role": "assistant", "model": reply.model,
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage,
    }
    yield "message_start", {"type": "message_start", "message": message}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(reply.content):
        if block.get("type") == "tool_use":
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
        else:
            start = {**block, "text": ""}
            delta = {"type": "text_delta", "text": block.get("text", "")}
        yield "content_block_start", {"type": "content_block_start", "index": index,
                                      "content_block": start}
        yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                      "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": reply.usage.get("output_tokens", 0)},
    }
    yield "message_stop", {"type": "message_stop"}


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its fake and its open connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeAnthropic) -> None:
        """Bind a random free port on 127.0.0.1."""
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection so stopping can cut it."""
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection as it closes."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every open connection, waking handlers blocked on them."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests for the fake."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read `requests` and `paths` instead."""

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Send a JSON response with Content-Length."""
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:12]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_stream(self, reply: Reply, message_id: str) -> None:
        """Send a reply as a server-sent event stream, then close the connection."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event, data in _sse_events(reply, message_id):
            self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def _not_found(self) -> None:
        """Any path the fake does not serve: record it, answer 404."""
        self.server.fake._record(self.path)
        self._read_body()
        self._send_json(404, _error_body("not_found_error", f"no route {self.command} {self.path}"))

    do_GET = do_PUT = do_PATCH = do_DELETE = _not_found

    def do_POST(self) -> None:
        """Route a POST: messages, count_tokens, or 404."""
        fake = self.server.fake
        fake._record(self.path)
        route = urlsplit(self.path).path.rstrip("/")
        raw = self._read_body()
        if route not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._send_json(404, _error_body("not_found_error", f"no route POST {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_json(400, _error_body("invalid_request_error", "body is not a JSON object"))
            return
        if route.endswith("count_tokens"):
            self._send_json(200, {"input_tokens": 100})
            return
        fake._record(self.path, body)
        self._answer(body)

    def _answer(self, body: dict[str, Any]) -> None:
        """Ask the script and send what it says."""
        fake = self.server.fake
        try:
            answer = fake.script(body)
            if not isinstance(answer, Reply | Fail | Hang):
                raise TypeError(f"script returned {answer!r}, not a Reply, Fail or Hang")
        except Exception as exc:  # a broken script must show up in the test, not hang it
            message = f"fake script raised {exc!r}"
            self._send_json(500, _error_body("api_error", message), {"x-should-retry": "false"})
            return
        if isinstance(answer, Hang):
            fake._stopping.wait(answer.seconds)
            self.close_connection = True
        elif isinstance(answer, Fail):
            self._send_json(answer.status, _error_body(answer.error_type, answer.message),
                            answer.headers)
        elif body.get("stream"):
            self._send_stream(answer, fake._next_id())
        else:
            self._send_json(200, {"id": fake._next_id(), "type": "message", "role": "assistant",
                                  "model": answer.model, "content": answer.content,
                                  "stop_reason": answer.stop_reason, "stop_sequence": None,
                                  "usage": answer.usage})


class FakeAnthropic:
    """A fake Messages API server in a daemon thread; use it as a context manager."""

    def __init__(self, script: Script) -> None:
        """Bind a free port on 127.0.0.1; serving starts on `start()` or `with`."""
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server = _Server(self)
        self._thread: threading.Thread | None = None
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    def start(self) -> FakeAnthropic:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-anthropic", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any hanging answer and cut open connections; never blocks long."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        self._server.cut_connections()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    def _record(self, path: str, body: dict[str, Any] | None = None) -> None:
        """Append a request path and, for a messages request, its body."""
        with self._lock:
            if body is None:
                self.paths.append(path)
            else:
                self.requests.append(body)

    def _next_id(self) -> str:
        """A fresh message id."""
        with self._lock:
            return f"msg_fake_{next(self._ids)}"
