"""What every route shares: the services of the app, and the token and rate-limit checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from voicedesk.api.auth import COOKIE, RateLimiter, token_matches
from voicedesk.api.broker import EventBroker
from voicedesk.api.metrics import Metrics
from voicedesk.api.pool import TranscriptionPool
from voicedesk.config import Settings
from voicedesk.store import Store

if TYPE_CHECKING:
    from voicedesk.listener import Responder
    from voicedesk.speech.synth import Synthesizer
    from voicedesk.stt.whisper import WhisperTranscriber


@dataclass
class Services:
    """The parts one app serves from: settings, store, model queue, events, metrics, limits."""

    settings: Settings
    store: Store
    pool: TranscriptionPool
    broker: EventBroker
    metrics: Metrics
    limiter: RateLimiter
    token: str | None
    typed: Responder
    whisper: WhisperTranscriber | None = None
    synthesizer: Synthesizer | None = None


def services(connection: HTTPConnection) -> Services:
    """The app's services."""
    found: Services = connection.app.state.services
    return found


async def get_services(request: Request) -> Services:
    """The app's services, as a dependency (async: no worker thread per request)."""
    return services(request)


def presented_token(connection: HTTPConnection) -> str | None:
    """The token a caller sent: `Authorization: Bearer`, the page's cookie, or `?token=`."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(COOKIE) or connection.query_params.get("token") or None


class Refused(Exception):
    """A caller turned away: HTTP status (401 or 429), reason, and seconds to wait (429)."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        """Why the caller was refused."""
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


def check_token(connection: HTTPConnection) -> str | None:
    """The caller's token if it is the one required (None when none is), else Refused (401)."""
    token = presented_token(connection)
    if not token_matches(token, services(connection).token):
        raise Refused(401, "missing or wrong token" if token else "this service needs a token")
    return token


def admit(connection: HTTPConnection) -> str:
    """Check the caller's token and rate; the caller's identity, or Refused."""
    found = services(connection)
    token = check_token(connection)
    caller = f"token:{token}" if found.token else f"addr:{_address(connection)}"
    wait = found.limiter.retry_after(caller)
    if wait is not None:
        found.metrics.rate_limited.inc()
        raise Refused(429, f"too many requests: try again in {wait} s", wait)
    return caller


def _address(connection: HTTPConnection) -> str:
    """The client's address (or 'unknown')."""
    return connection.client.host if connection.client else "unknown"


async def authorize(request: Request) -> str:
    """The dependency on every HTTP route but /healthz: 401 or 429 with the reason."""
    try:
        return admit(request)
    except Refused as refused:
        raise http_error(refused) from None


def http_error(refused: Refused) -> HTTPException:
    """A refusal as the HTTP error a client gets: 401 with WWW-Authenticate, 429 Retry-After."""
    headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
    if refused.retry_after is not None:
        headers["Retry-After"] = str(refused.retry_after)
    return HTTPException(refused.status, refused.reason, headers=headers)
