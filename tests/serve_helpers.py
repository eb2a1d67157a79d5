"""A real uvicorn server on 127.0.0.1 for tests, running the app in a background thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voicedesk.api.app import create_app
from voicedesk.api.server import server_url, serving_in_thread
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
    app = create_app(settings, transcriber, run_jobs=run_jobs)
    with serving_in_thread(app) as server:
        yield server_url(server)
