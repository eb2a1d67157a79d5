"""Server-sent events: one in-process fan-out of job changes, transcripts and replies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from voicedesk.api.schemas import JobOut
from voicedesk.store import Store

log = logging.getLogger(__name__)

QUEUE_SIZE = 512
"""Events kept for one slow subscriber before the oldest are dropped."""


class EventBroker:
    """Publishes named events to every subscriber's queue; slow subscribers lose the oldest."""

    def __init__(self) -> None:
        """No subscribers yet."""
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        """A new queue that receives every event from now on."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        """Stop sending to `queue`."""
        self._subscribers.discard(queue)

    def publish(self, name: str, data: dict[str, Any]) -> None:
        """Send one event to every subscriber (never blocks)."""
        for queue in self._subscribers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((name, data))

    async def watch_store(self, store: Store, poll_s: float = 0.25) -> None:
        """Publish job events as they are stored, by any process, until cancelled."""
        last = store.last_event_id()
        while True:
            await asyncio.sleep(poll_s)
            try:
                events = store.events_since(last)
            except Exception as exc:  # a busy or broken store must not end the watcher
                log.warning("cannot read job events: %s", exc)
                continue
            for event in events:
                last = event.id
                self.publish("job_event", {"job": event.job_id, "at": event.at,
                                           "kind": event.kind, "message": event.message})
                job = store.job(event.job_id) if event.kind == "status" else None
                if job is not None:  # the status as of this event, though the job moved on
                    status = event.message.split(":")[0].split(" ")[0]
                    self.publish("job", {**JobOut.of(job).model_dump(), "status": status})


def sse_format(name: str, data: dict[str, Any]) -> str:
    """One event in the text/event-stream format."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
