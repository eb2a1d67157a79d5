"""The service's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Counters, gauges and histograms the routes and the transcription queue update."""

    def __init__(self) -> None:
        """Create every metric in a fresh registry."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "voicedesk_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "voicedesk_http_request_seconds", "HTTP request latency", ["route"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.transcriptions = Counter(
            "voicedesk_transcriptions", "Transcriptions finished", ["source"], registry=r
        )
        self.transcription_seconds = Histogram(
            "voicedesk_transcription_seconds", "Model time per transcription", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.queue_wait_seconds = Histogram(
            "voicedesk_transcription_queue_wait_seconds", "Time waiting for a free model worker",
            registry=r, buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.queued = Gauge(
            "voicedesk_transcriptions_queued", "Transcriptions waiting for a worker", registry=r
        )
        self.running = Gauge(
            "voicedesk_transcriptions_running", "Transcriptions running now", registry=r
        )
        self.ws_streams = Gauge("voicedesk_ws_streams", "Open audio WebSockets", registry=r)
        self.sse_clients = Gauge("voicedesk_sse_clients", "Open event streams", registry=r)
        self.rate_limited = Counter(
            "voicedesk_rate_limited", "Requests refused with 429", registry=r
        )
