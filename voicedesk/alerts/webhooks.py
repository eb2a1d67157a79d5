"""Webhook delivery in the background: one bounded queue and one task per URL (a dead receiver
never delays a healthy one), POST JSON with an Idempotency-Key, retries with doubling backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from voicedesk.config import AlertSettings
from voicedesk.types import Alert

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
"""Alerts waiting per URL before send() drops new ones."""

RETRY_AFTER_CAP_S = 60.0
"""The longest a receiver's Retry-After is honoured for."""

Verdict = Literal["ok", "retry", "fatal"]


@dataclass
class WebhookCounters:
    """What the sender did, for metrics: per URL delivery, not per alert."""

    delivered: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0


def retry_after(value: str | None, cap_s: float, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (delta or HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        wait = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), cap_s)


class WebhookSender:
    """Delivers alerts to webhook URLs from background tasks on the running event loop."""

    def __init__(
        self,
        urls: Sequence[str],
        timeout_s: float = 5.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        *,
        queue_size: int = QUEUE_SIZE,
        retry_after_cap_s: float = RETRY_AFTER_CAP_S,
    ) -> None:
        """Send to `urls`; each try bounded by `timeout_s`, `attempts` tries in all."""
        self.urls = list(dict.fromkeys(urls))
        self.timeout_s, self.attempts, self.backoff_s = timeout_s, max(1, attempts), backoff_s
        self.retry_after_cap_s = retry_after_cap_s
        self.counters = WebhookCounters()
        self._queues: dict[str, asyncio.Queue[Alert]] = {
            url: asyncio.Queue(maxsize=queue_size) for url in self.urls
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> WebhookSender:
        """A sender for the `[alerts]` webhooks."""
        return cls(settings.webhooks, settings.webhook_timeout_s, settings.webhook_attempts,
                   settings.webhook_backoff_s)

    def start(self) -> None:
        """Start one delivery task per URL on the running loop (again: no-op)."""
        if self._tasks or self._closed:
            return
        self._tasks = [asyncio.create_task(self._worker(url, queue), name=f"webhook {url}")
                       for url, queue in self._queues.items()]

    def send(self, alert: Alert) -> None:
        """Queue `alert` for every URL; never blocks, never raises (a full queue drops it).
        Call it on the event loop's thread."""
        if self._closed:
            self.counters.dropped += len(self._queues)
            log.warning("webhooks closed: alert %s not sent", alert.key)
            return
        for url, queue in self._queues.items():
            try:
                queue.put_nowait(alert)
            except asyncio.QueueFull:
                self.counters.dropped += 1
                log.warning("webhook %s is %d alerts behind: dropped %s",
                            url, queue.qsize(), alert.key)

    def pending(self) -> int:
        """Deliveries queued and not yet begun, over all URLs."""
        return sum(queue.qsize() for queue in self._queues.values())

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop taking alerts, deliver what is queued within `timeout` seconds, then stop."""
        self._closed = True
        if self._tasks:
            joins = [asyncio.create_task(queue.join()) for queue in self._queues.values()]
            _, late = await asyncio.wait(joins, timeout=timeout)
            for task in (*late, *self._tasks):
                task.cancel()
            await asyncio.gather(*late, *self._tasks, return_exceptions=True)
        left = self.pending()
        if left:
            self.counters.failed += left
            log.warning("webhooks closed with %d deliveries undone", left)
        for queue in self._queues.values():
            while not queue.empty():
                queue.get_nowait()

    async def _worker(self, url: str, queue: asyncio.Queue[Alert]) -> None:
        """Deliver one URL's alerts in order, until cancelled."""
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                alert = await queue.get()
                try:
                    await self._deliver(client, url, alert)
                except asyncio.CancelledError:
                    self.counters.failed += 1
                    raise
                except Exception:  # a bug in one delivery must not end the URL's task
                    self.counters.failed += 1
                    log.exception("webhook %s: delivering %s failed", url, alert.key)
                finally:
                    queue.task_done()

    async def _deliver(self, client: httpx.AsyncClient, url: str, alert: Alert) -> None:
        """POST one alert, retrying what may pass later, until it lands or tries run out."""
        body = {"event": "alert", "alert": alert.to_dict()}
        headers = {"Idempotency-Key": alert.key, "User-Agent": "voicedesk-alerts"}
        why = ""
        for attempt in range(self.attempts):
            verdict, wait, why = await self._attempt(client, url, body, headers)
            if verdict == "ok":
                self.counters.delivered += 1
                return
            if verdict == "fatal":
                break
            if attempt + 1 < self.attempts:
                self.counters.retries += 1
                await asyncio.sleep(self.backoff_s * 2**attempt if wait is None else wait)
        self.counters.failed += 1
        log.warning("webhook %s: gave up on %s: %s", url, alert.key, why)

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Verdict, float | None, str]:
        """One POST: whether it landed, may be retried (and after how long), or never will."""
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await client.post(url, json=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return "fatal", None, f"bad URL: {exc}"
        except (httpx.TransportError, TimeoutError) as exc:
            return "retry", None, f"{type(exc).__name__}: {exc}".rstrip(": ")
        except httpx.HTTPError as exc:
            return "fatal", None, f"{type(exc).__name__}: {exc}"
        status = response.status_code
        if 200 <= status < 300:
            return "ok", None, ""
        if status == 429 or status >= 500:
            wait = retry_after(response.headers.get("Retry-After"), self.retry_after_cap_s)
            return "retry", wait, f"HTTP {status}"
        return "fatal", None, f"HTTP {status}"

