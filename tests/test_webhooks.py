"""Webhook delivery against real HTTP receivers on 127.0.0.1: once each with its key, retries
with backoff, no retry on 400, dead and hanging receivers that delay no one, bounded close."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from voicedesk.alerts.watcher import AlertWatcher
from voicedesk.alerts.webhooks import WebhookSender, retry_after
from voicedesk.config import AlertSettings
from voicedesk.store import JobOutcome, Store
from voicedesk.types import Alert


@dataclass(frozen=True)
class Hit:
    """One request a receiver got."""

    path: str
    at: float
    key: str | None
    body: dict[str, Any]


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: answers each path with its planned statuses in turn (then 200);
    '/hang' holds every request until released."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        """Listen on a free loopback port."""
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[Hit] = []
        self.plans: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.release = threading.Event()
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        """The URL of one of its paths."""
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def of(self, path: str) -> list[Hit]:
        """The requests that reached one path."""
        with self.lock:
            return [hit for hit in self.hits if hit.path == path]


class _Handler(BaseHTTPRequestHandler):
    """Record the request, then answer as planned."""

    server: Receiver

    def do_POST(self) -> None:
        """Record, maybe hang, answer."""
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.hits.append(Hit(self.path, time.monotonic(),
                                        self.headers.get("Idempotency-Key"), body))
            plan = self.server.plans.get(self.path, [])
            status, headers = plan.pop(0) if plan else (200, {})
        if self.path == "/hang":
            self.server.release.wait(30)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver serving on a thread."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"


def alert(n: int, kind: str = "job_done") -> Alert:
    """An alert as the feed would store it."""
    return Alert(n, f"job:{n}:done", 1000.0 + n, kind, f"Job {n}, infra, finished: ok.", n,
                 None, "infra", "details")


async def _until(check: Any, timeout: float = 10.0) -> float:
    """Wait until `check()` holds; the seconds it took."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, "timed out waiting"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


def test_each_alert_arrives_once_with_its_key(receiver: Receiver) -> None:
    async def main() -> WebhookSender:
        sender = WebhookSender([receiver.url("/ok")], timeout_s=2, attempts=3, backoff_s=0.05)
        sender.start()
        for n in (1, 2, 3):
            sender.send(alert(n))
        await sender.aclose(5)
        return sender

    sender = asyncio.run(main())
    hits = receiver.of("/ok")
    assert [h.key for h in hits] == ["job:1:done", "job:2:done", "job:3:done"]
    assert hits[0].body == {"event": "alert", "alert": alert(1).to_dict()}
    assert (sender.counters.delivered, sender.counters.failed, sender.counters.retries) == (3, 0, 0)


def test_500_twice_then_200_takes_three_tries_with_doubling_backoff(receiver: Receiver) -> None:
    receiver.plans["/flaky"] = [(500, {}), (503, {})]

    async def main() -> WebhookSender:
        sender = WebhookSender([receiver.url("/flaky")], timeout_s=2, attempts=4, backoff_s=0.2)
        sender.start()
        sender.send(alert(7))
        await _until(lambda: sender.counters.delivered == 1)
        await sender.aclose(1)
        return sender

    sender = asyncio.run(main())
    hits = receiver.of("/flaky")
    assert [h.key for h in hits] == ["job:7:done"] * 3
    first, second = hits[1].at - hits[0].at, hits[2].at - hits[1].at
    assert 0.19 <= first < 0.6, first
    assert 0.38 <= second < 0.9, second
    assert (sender.counters.delivered, sender.counters.retries, sender.counters.failed) == (1, 2, 0)


def test_400_is_not_retried_and_attempts_bound_the_5xx(receiver: Receiver) -> None:
    receiver.plans["/bad"] = [(400, {})] * 5
    receiver.plans["/down"] = [(500, {})] * 5

    async def main() -> WebhookSender:
        sender = WebhookSender([receiver.url("/bad"), receiver.url("/down")], timeout_s=2,
                               attempts=3, backoff_s=0.01)
        sender.start()
        sender.send(alert(1))
        await _until(lambda: sender.counters.failed == 2)
        await sender.aclose(1)
        return sender

    sender = asyncio.run(main())
    assert len(receiver.of("/bad")) == 1
    assert len(receiver.of("/down")) == 3
    assert (sender.counters.retries, sender.counters.delivered) == (2, 0)


def test_retry_after_is_honoured_up_to_the_cap(receiver: Receiver) -> None:
    receiver.plans["/busy"] = [(429, {"Retry-After": "1"})]
    receiver.plans["/slow"] = [(503, {"Retry-After": "100"})]

    async def main() -> None:
        sender = WebhookSender([receiver.url("/busy"), receiver.url("/slow")], timeout_s=2,
                               attempts=2, backoff_s=0.01, retry_after_cap_s=0.3)
        sender.start()
        sender.send(alert(1))
        await _until(lambda: sender.counters.delivered == 2)
        await sender.aclose(1)

    asyncio.run(main())
    busy, slow = receiver.of("/busy"), receiver.of("/slow")
    assert 0.28 <= busy[1].at - busy[0].at < 0.8  # Retry-After 1 s, capped at 0.3 s
    assert 0.28 <= slow[1].at - slow[0].at < 0.8
    assert retry_after("2", 60) == 2.0 and retry_after("100", 5) == 5
    assert retry_after(None, 60) is None and retry_after("soon", 60) is None
    later = retry_after(formatdate(time.time() + 30, usegmt=True), 60)
    assert later is not None and 28 <= later <= 31


def test_dead_and_hanging_receivers_do_not_delay_a_healthy_one(receiver: Receiver) -> None:
    urls = [free_port_url(), receiver.url("/hang"), receiver.url("/ok")]

    async def main() -> tuple[float, float, float, WebhookSender]:
        sender = WebhookSender(urls, timeout_s=5, attempts=5, backoff_s=0.5)
        sender.start()
        began = time.perf_counter()
        for n in range(1, 21):
            sender.send(alert(n))
        sent_s = time.perf_counter() - began
        arrived_s = await _until(lambda: len(receiver.of("/ok")) == 20, timeout=5)
        began = time.monotonic()
        await sender.aclose(0.5)
        return sent_s, arrived_s, time.monotonic() - began, sender

    sent_s, arrived_s, close_s, sender = asyncio.run(main())
    assert sent_s < 0.05, f"20 sends took {sent_s:.3f} s"
    assert arrived_s < 1.5, f"the healthy receiver waited {arrived_s:.2f} s"
    assert [h.key for h in receiver.of("/ok")] == [f"job:{n}:done" for n in range(1, 21)]
    assert len(receiver.of("/hang")) == 1  # one request held; the rest wait behind it
    assert close_s < 1.5, f"aclose took {close_s:.2f} s"
    assert sender.counters.delivered == 20
    assert sender.counters.failed == 40  # dead and hanging: 20 each undone at close
    sender.send(alert(99))  # after close: dropped, no error
    assert sender.counters.dropped == 3


def test_a_full_queue_drops_and_send_never_raises(receiver: Receiver) -> None:
    async def main() -> WebhookSender:
        sender = WebhookSender([receiver.url("/ok")], queue_size=2)
        for n in range(1, 6):
            sender.send(alert(n))  # not started yet: two wait, three are dropped
        sender.start()
        await sender.aclose(5)
        return sender

    sender = asyncio.run(main())
    assert (sender.counters.dropped, sender.counters.delivered) == (3, 2)
    assert [h.key for h in receiver.of("/ok")] == ["job:1:done", "job:2:done"]


def test_the_watcher_sends_the_configured_kinds(receiver: Receiver, tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    settings = AlertSettings(webhooks=[receiver.url("/ok")], webhook_kinds=["job_failed"],
                             speak=[], show=[], poll_s=0.05)
    heard: list[str] = []
    watcher = AlertWatcher(store, settings, lambda a, r: heard.append(a.key))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        for status in ("done", "failed"):
            job = store.create_job("infra", status)
            assert store.claim_job("t", 60, ["infra"]) is not None
            store.finish_job(job.id, "t", JobOutcome(status, result="ok", error="boom"))
        await _until(lambda: len(receiver.of("/ok")) == 1)
        await asyncio.sleep(0.2)  # a second (wrong) delivery would arrive by now
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    hits = receiver.of("/ok")
    assert [(h.key, h.body["alert"]["kind"]) for h in hits] == [("job:2:failed", "job_failed")]
    assert heard == []  # neither spoken nor shown
