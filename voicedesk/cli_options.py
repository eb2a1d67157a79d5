"""Command-line options and openers shared by the CLI modules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from voicedesk.config import Settings
    from voicedesk.store import Store

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: $VOICEDESK_CONFIG).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Report intents; change nothing.")]
NoRunOption = Annotated[
    bool, typer.Option("--no-run", help="Only queue jobs; leave them to `voicedesk run`.")
]


def open_store(settings: Settings) -> Store:
    """Open the store in the configured data directory."""
    from voicedesk.store import Store

    return Store.in_dir(settings.data_dir())


def control_path(settings: Settings) -> Path:
    """Where the listener's control socket is: the configured path or the default."""
    from voicedesk.audio.control import default_control_path

    return settings.listen.control_socket or default_control_path()
