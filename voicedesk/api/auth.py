"""Who may call: a bearer token compared in constant time, and a rate limit per caller."""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import time
from dataclasses import dataclass, field

from voicedesk.config import Settings
from voicedesk.errors import ConfigError

TOKEN_ENV = "VOICEDESK_TOKEN"
"""Environment variable holding the service token; it wins over `[serve] token`."""

COOKIE = "voicedesk_token"
"""The cookie the web page's requests carry the token in."""


def service_token(settings: Settings) -> str | None:
    """The token callers must present: $VOICEDESK_TOKEN, else `[serve] token`, else none."""
    token = os.environ.get(TOKEN_ENV, "").strip() or (settings.serve.token or "").strip()
    return token or None


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or name (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a token: set {TOKEN_ENV} or [serve] token "
            "(only loopback addresses may go without)"
        )


def token_matches(presented: str | None, expected: str | None) -> bool:
    """True when no token is required, or `presented` equals it (constant-time compare)."""
    if expected is None:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


@dataclass
class _Bucket:
    """One caller's token bucket."""

    tokens: float
    at: float


@dataclass
class RateLimiter:
    """A token bucket per caller: `per_minute` steady, up to `burst` at once."""

    per_minute: int
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def retry_after(self, caller: str, now: float | None = None) -> int | None:
        """Take one request for `caller`: None if allowed, else seconds to wait (≥ 1)."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(caller) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        self._buckets[caller] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
