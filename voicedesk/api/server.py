"""`voicedesk serve`: check the address and token, load the model, then run uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from voicedesk.api.app import create_app
from voicedesk.api.auth import check_bind, service_token
from voicedesk.config import Settings
from voicedesk.errors import ConfigError
from voicedesk.stt.protocol import Transcriber


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line error saying why not.

    The protocol is named so that asyncio sets TCP_NODELAY on accepted connections: without
    it, Nagle's algorithm and delayed ACKs add ~40 ms to every keep-alive response."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio then sets
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TCP_NODELAY on each client
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def uvicorn_config(app: FastAPI, log_level: str = "info") -> uvicorn.Config:
    """How voicedesk runs uvicorn: websockets-sansio, 16 MiB messages, a 2 s shutdown."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        ws="websockets-sansio",
        ws_max_size=16 * 2**20,
        timeout_graceful_shutdown=2,  # an open /events stream must not hold up Ctrl-C
    )


@contextmanager
def serving_in_thread(app: FastAPI, host: str = "127.0.0.1") -> Iterator[uvicorn.Server]:
    """Serve `app` on a free port of `host` from a background thread (tests, benchmarks)."""
    sock = bind(host, 0)
    server = uvicorn.Server(uvicorn_config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def server_url(server: uvicorn.Server) -> str:
    """The http:// address a started server listens on."""
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


def serve(
    settings: Settings, transcriber: Transcriber, run_jobs: bool, log_level: str = "info"
) -> None:
    """Serve until Ctrl-C or SIGTERM on the configured address."""
    host, port = settings.serve.host, settings.serve.port
    check_bind(host, service_token(settings))
    sock = bind(host, port)
    app = create_app(settings, transcriber, run_jobs=run_jobs)
    uvicorn.Server(uvicorn_config(app, log_level)).run(sockets=[sock])
