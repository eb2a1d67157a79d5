"""A real uvicorn server on 127.0.0.1 for tests, running the app in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from voicedesk.api.app import create_app
from voicedesk.api.server import bind
from voicedesk.config import Settings
from voicedesk.stt.protocol import Transcriber


def serve_settings(tmp_path: Path, **sections: Any) -> Settings:
    """Settings with the default agents, a store under tmp_path and any section overrides."""
    return Settings(store={"data_dir": tmp_path / "data"}, **sections)


@contextmanager
def running_server(
    settings: Settings, transcriber: Transcriber, run_jobs: bool = False
) -> Iterator[str]:
    """Serve the app on a free loopback port; yields its base URL, e.g. http://127.0.0.1:PORT."""
    sock = bind("127.0.0.1", 0)  # as `voicedesk serve` binds (TCP_NODELAY for clients)
    port = sock.getsockname()[1]
    app = create_app(settings, transcriber, run_jobs=run_jobs)
    config = uvicorn.Config(
        app, log_level="warning", ws="websockets-sansio", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
