"""PortAudio devices, for recording and for playing: loading sounddevice, listing, resolving.

Shared by microphone capture (audio/capture.py) and playback (speech/player.py); each
raises its own error class. sounddevice is imported only inside `sounddevice_module`, so
importing voicedesk never needs libportaudio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from voicedesk.errors import VoicedeskError

Direction = Literal["input", "output"]
"""Recording (input) or playing (output)."""


@dataclass(frozen=True)
class Device:
    """A PortAudio device that can record or play (one direction), as PortAudio describes it."""

    index: int
    name: str
    channels: int
    default_rate: float
    is_default: bool


def sounddevice_module(error: type[VoicedeskError]) -> ModuleType:
    """The sounddevice module, or `error` when PortAudio cannot be loaded."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise error(f"PortAudio is not available: {exc}") from None
    module: ModuleType = sounddevice
    return module


def devices_of(
    infos: Iterable[dict[str, Any]], default: int, direction: Direction
) -> list[Device]:
    """The devices in `sd.query_devices()` output that have `direction` channels."""
    key = f"max_{direction}_channels"
    return [
        Device(
            index=int(info["index"]), name=str(info["name"]), channels=int(info[key]),
            default_rate=float(info["default_samplerate"]),
            is_default=int(info["index"]) == default,
        )
        for info in infos
        if int(info[key]) > 0
    ]


def match_devices(devices: Sequence[Device], spec: str | None) -> list[Device]:
    """The devices `spec` could mean (None the default, digits an index, else a name or a part
    of one); exactly one is a successful resolution."""
    if spec is None:
        defaults = [d for d in devices if d.is_default]
        return defaults or list(devices[:1])
    text = spec.strip()
    if text.isdigit():
        return [d for d in devices if d.index == int(text)]
    exact = [d for d in devices if d.name.lower() == text.lower()]
    return exact or [d for d in devices if text.lower() in d.name.lower()]


def unresolved(
    devices: Sequence[Device], spec: str | None, matches: Sequence[Device], direction: Direction
) -> str:
    """Why `spec` named no single device, with the devices there are."""
    listing = ", ".join(f"{d.index} {d.name}" for d in devices) or "none"
    if spec is None:
        problem = f"no default {direction} device"
    elif matches:
        problem = f"{direction} device {spec!r} is ambiguous"
    else:
        problem = f"no {direction} device matches {spec!r}"
    return f"{problem}; {direction} devices: {listing}"
