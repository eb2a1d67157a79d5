"""A `voicedesk listen` process for the live tests: JSON events read as they come, then stopped."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

Event = dict[str, Any]

_RUNNING: weakref.WeakSet[LiveProcess] = weakref.WeakSet()
"""Listeners started and not yet stopped (a test that failed half-way leaves one)."""


def stop_leftovers() -> int:
    """Kill every listener a test left running (it would hear, and speak into, the next test's
    microphone); how many there were."""
    leftovers = [process for process in list(_RUNNING) if process.process.poll() is None]
    for leftover in leftovers:
        leftover.process.kill()
        leftover.process.wait(timeout=10)
    _RUNNING.clear()
    return len(leftovers)


def voicedesk_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a voicedesk process whose data and config live under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEDESK_", "ANTHROPIC_"))}
    env.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


def voicedesk(
    args: list[str], home: Path, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one short voicedesk command to completion."""
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [sys.executable, "-m", "voicedesk", *args, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=voicedesk_env(home),
        stdin=subprocess.DEVNULL,
    )


class LiveProcess:
    """`voicedesk listen --json` running in the background, its events collected by a thread."""

    def __init__(self, args: list[str], home: Path, config: Path, speak: bool = False) -> None:
        """Start the listener (`--silent` unless `speak`: its voice would reach the virtual
        microphone); call `wait_ready` before playing audio into the microphone."""
        command = [
            sys.executable,
            "-m",
            "voicedesk",
            "listen",
            "--json",
            "--config",
            str(config),
            *([] if speak else ["--silent"]),
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=voicedesk_env(home),
        )
        _RUNNING.add(self)
        self.events: list[Event] = []
        self._incoming: queue.Queue[Event] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        """Parse stdout lines into events."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self._incoming.put(json.loads(line))

    def wait_for(self, wanted: Callable[[Event], bool], timeout: float = 30.0) -> Event:
        """The first event (already seen or coming) that `wanted` accepts."""
        for event in self.events:
            if wanted(event):
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None and self._incoming.empty():
                break
            try:
                event = self._incoming.get(timeout=0.1)
            except queue.Empty:
                continue
            self.events.append(event)
            if wanted(event):
                return event
        raise AssertionError(f"no matching event; saw {self.events}; stderr: {self.stderr()}")

    def wait_index(
        self, wanted: Callable[[Event], bool], start: int = 0, timeout: float = 30.0
    ) -> int:
        """The position of the first event at or after `start` that `wanted` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(start, len(self.events)):
                if wanted(self.events[index]):
                    return index
            start = max(start, len(self.events))
            if time.monotonic() >= deadline or (
                self.process.poll() is not None and self._incoming.empty()
            ):
                raise AssertionError(f"no matching event; saw {self.events}")
            try:
                self.events.append(self._incoming.get(timeout=0.1))
            except queue.Empty:
                continue

    def wait_ready(self) -> Event:
        """Wait until the listener is capturing (the model load can take a few seconds)."""
        return self.wait_for(lambda e: e.get("event") == "ready", timeout=60.0)

    def utterances(self) -> list[Event]:
        """The utterance events seen so far."""
        return [e for e in self.events if e.get("event") == "utterance"]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the listener, wait for it to exit, collect the remaining events; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=60)
        time.sleep(0.1)
        while not self._incoming.empty():
            self.events.append(self._incoming.get())
        return code

    def stderr(self) -> str:
        """What the listener wrote on stderr (once it has exited)."""
        if self.process.poll() is None or self.process.stderr is None:
            return "<still running>"
        return self.process.stderr.read()
