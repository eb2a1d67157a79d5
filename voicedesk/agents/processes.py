"""Process groups: the one way a shell job or a training run is stopped, children included."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def kill_group(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the process's group, then SIGKILL it if it lingers past `grace_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        signal_group(process.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), grace_s)
            return
        except TimeoutError:
            continue
