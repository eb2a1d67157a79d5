"""The alert watcher: every poll_s, collect new alerts from the store off the event loop, route
each (speak, show) to a callback and hand it to the webhooks; a store error waits a tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from voicedesk.alerts.feed import AlertFeed
from voicedesk.alerts.policy import Routing, local_time, route
from voicedesk.alerts.webhooks import WebhookSender
from voicedesk.config import AlertSettings
from voicedesk.errors import VoicedeskError
from voicedesk.store import Store
from voicedesk.types import Alert

log = logging.getLogger(__name__)

OnAlert = Callable[[Alert, Routing], None]
"""What the watcher calls, on the event loop, for each new alert: speak and/or show it."""


class AlertWatcher:
    """Polls the store for alerts and delivers each one once: callback and webhooks."""

    def __init__(
        self,
        store: Store | Path,
        settings: AlertSettings,
        on_alert: OnAlert,
        clock: Callable[[], float] = time.time,
        sender: WebhookSender | None = None,
        drain_s: float = 5.0,
    ) -> None:
        """Watch the store file (a Store's own connection is never used: the watcher opens its
        own on its one worker thread); `sender` (owned: started and closed by run()) defaults
        to the settings' webhooks."""
        self.path = store.path if isinstance(store, Store) else Path(store)
        self.settings, self.on_alert, self.clock, self.drain_s = settings, on_alert, clock, drain_s
        if sender is None and settings.webhooks:
            sender = WebhookSender.from_settings(settings)
        self.sender = sender
        self.errors = 0
        self._feed: AlertFeed | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")

    async def run(self, stop: asyncio.Event) -> None:
        """Collect and deliver every poll_s until `stop` is set, and once more after (what ended
        just before the stop is still told); then drain the webhooks."""
        if self.sender is not None:
            self.sender.start()
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_s)
            await self.tick()
        finally:
            if self.sender is not None:
                await self.sender.aclose(self.drain_s)
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_feed)
            self._thread.shutdown(wait=False)

    async def tick(self) -> list[Alert]:
        """One round: the alerts this process collected, already delivered."""
        loop = asyncio.get_running_loop()
        try:
            alerts = await loop.run_in_executor(self._thread, self._collect)
        except (VoicedeskError, sqlite3.Error, OSError) as exc:
            await self._failed(loop)
            log.warning("cannot collect alerts from %s (trying again): %s", self.path, exc)
            return []
        except Exception:  # a watcher must outlive a bug in one round
            await self._failed(loop)
            log.exception("collecting alerts from %s failed", self.path)
            return []
        for alert in alerts:
            self.deliver(alert)
        return alerts

    def deliver(self, alert: Alert) -> None:
        """Route one alert: the callback (unless neither spoken nor shown), then the webhooks."""
        routing = route(self.settings, alert.kind, local_time(self.clock()))
        if routing.speak or routing.show:
            try:
                self.on_alert(alert, routing)
            except Exception:
                log.exception("the alert callback failed on %s", alert.key)
        if self.sender is not None and alert.kind in self.settings.webhook_kinds:
            self.sender.send(alert)

    def _collect(self) -> list[Alert]:
        """On the watcher's thread: open the store once, collect."""
        if self._feed is None:
            self._feed = AlertFeed(Store(self.path))
        return self._feed.collect()

    async def _failed(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count a failed round and reopen the store next time."""
        self.errors += 1
        await loop.run_in_executor(self._thread, self._close_feed)

    def _close_feed(self) -> None:
        """On the watcher's thread: close its store connection, if open."""
        if self._feed is not None:
            with contextlib.suppress(sqlite3.Error):
                self._feed.store.close()
            self._feed = None
