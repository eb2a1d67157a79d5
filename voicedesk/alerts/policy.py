"""Where an alert goes (pure): spoken (its kind in `speak`, outside quiet hours), shown (its kind
in `show`), sent to the webhooks (its kind in `webhook_kinds`, and webhooks configured)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time

from voicedesk.config import AlertSettings
from voicedesk.quiet import is_quiet, parse_quiet_hours


@dataclass(frozen=True)
class Routing:
    """What to do with one alert: speak it, show it, send it to the webhooks."""

    speak: bool
    show: bool
    webhook: bool


def local_time(timestamp: float) -> clock_time:
    """The local time of day of a Unix time."""
    return datetime.fromtimestamp(timestamp).time()


def quiet_now(settings: AlertSettings, now: clock_time) -> bool:
    """Whether `now` (local) falls in the configured quiet hours."""
    span = parse_quiet_hours(settings.quiet_hours) if settings.quiet_hours else None
    return is_quiet(span, now)


def spoken(settings: AlertSettings, kind: str, now: clock_time) -> bool:
    """Whether an alert of `kind` is spoken at local time `now`."""
    return kind in settings.speak and not quiet_now(settings, now)


def shown(settings: AlertSettings, kind: str) -> bool:
    """Whether an alert of `kind` is shown (listener lines, the web page)."""
    return kind in settings.show


def sent(settings: AlertSettings, kind: str) -> bool:
    """Whether an alert of `kind` is POSTed to the webhooks."""
    return bool(settings.webhooks) and kind in settings.webhook_kinds


def route(settings: AlertSettings, kind: str, now: clock_time) -> Routing:
    """Where an alert of `kind` goes at local time `now`."""
    return Routing(spoken(settings, kind, now), shown(settings, kind), sent(settings, kind))
