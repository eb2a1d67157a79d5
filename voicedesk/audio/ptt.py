"""Push-to-talk for the live listener: the talking state machine and terminal keys.

Two ways to talk:

* Terminal: `TerminalKeys` puts the terminal in cbreak mode and hands every key to the
  listener (space or enter toggle talking, `q` may quit). Terminals deliver no key-release
  events, so terminal push-to-talk is a toggle: press to start, press again to stop.
* Anywhere: `voicedesk ptt start|stop|toggle` sends one line to the running listener's
  `ControlServer`. True hold-to-talk comes from desktop bindings that fire on press and on
  release and call `voicedesk ptt start` / `voicedesk ptt stop`: sway `bindsym` plus
  `bindsym --release`, Hyprland `bind` plus `bindr`, sxhkd `key` plus `@key`. GNOME custom
  shortcuts fire on press only, so bind `voicedesk ptt toggle` there.

The control socket itself lives in `voicedesk.audio.control`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import sys
import termios
from collections.abc import Callable
from typing import Any

from voicedesk.errors import VoicedeskError

PTT_KEYS = frozenset({" ", "\n", "\r"})
"""Keys that toggle talking in the terminal (enter arrives as "\\n" in cbreak mode)."""

_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)
"""An escape sequence (arrow or function key, Alt+key) delivered as one key."""

_NO_TTY = "--ptt needs a terminal; use `voicedesk ptt start|stop` from a shortcut instead"

class PushToTalk:
    """Whether the user is talking; `on_change` hears every change, in order, at once."""

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        """Start idle; `on_change(talking)` is called only when the state really changes."""
        self._talking = False
        self._on_change = on_change

    @property
    def talking(self) -> bool:
        """True between a press (or ptt start) and the next release (or ptt stop)."""
        return self._talking

    def _set(self, talking: bool) -> bool:
        """Move to `talking`, telling `on_change` if that is a change; return the state."""
        if talking != self._talking:
            self._talking = talking
            if self._on_change is not None:
                self._on_change(talking)
        return self._talking

    def press(self) -> bool:
        """Start talking (no change if already talking); return the new state."""
        return self._set(True)

    def release(self) -> bool:
        """Stop talking (no change if idle); return the new state."""
        return self._set(False)

    def toggle(self) -> bool:
        """Flip between talking and idle; return the new state."""
        return self._set(not self._talking)

    def handle_command(self, line: str) -> str:
        """Act on a control line (ptt start|stop|toggle, status) and reply `ok talking|idle`."""
        command = " ".join(line.lower().split())
        actions: dict[str, Callable[[], bool]] = {
            "ptt start": self.press,
            "ptt stop": self.release,
            "ptt toggle": self.toggle,
            "status": lambda: self._talking,
        }
        action = actions.get(command)
        if action is None:
            return f"error: unknown command {line.strip()!r}; try ptt start|stop|toggle or status"
        return "ok talking" if action() else "ok idle"


def control_handler(
    ptt: PushToTalk, push_to_talk: bool, hush: Callable[[], None], restart_hint: str
) -> Callable[[str], str]:
    """What a listener's control socket does with one line: push-to-talk commands (refused,
    naming `restart_hint`, when it is hands-free) and `hush` (stop speaking) in either mode."""

    def handle(line: str) -> str:
        """One control line, answered."""
        command = line.strip().lower()
        if command == "hush":
            hush()
            return "ok hushed"
        if not push_to_talk and command.startswith("ptt"):
            return f"error: this listener is hands-free; start it with {restart_hint}"
        return ptt.handle_command(line)

    return handle


def split_keys(text: str) -> list[str]:
    """Cut typed text into keys: single characters, escape sequences kept whole."""
    keys: list[str] = []
    pos = 0
    while pos < len(text):
        match = _ESCAPE.match(text, pos) if text[pos] == "\x1b" else None
        key = match.group() if match else text[pos]
        keys.append(key)
        pos += len(key)
    return keys


class TerminalKeys:
    """`async with`: the terminal in cbreak mode, each key passed to `on_key`, then restored."""

    def __init__(
        self,
        on_key: Callable[[str], None],
        fd: int | None = None,
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        """Read keys from `fd` (default stdin), which must be a terminal."""
        try:
            self.fd = sys.stdin.fileno() if fd is None else fd
            is_tty = os.isatty(self.fd)
        except (OSError, ValueError):
            is_tty = False
        if not is_tty:
            raise VoicedeskError(_NO_TTY)
        self._on_key = on_key
        self._on_eof = on_eof
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    async def __aenter__(self) -> TerminalKeys:
        """Save the terminal settings, switch to cbreak (no echo, no line buffering), listen."""
        try:
            self._saved = termios.tcgetattr(self.fd)
        except termios.error:
            raise VoicedeskError(_NO_TTY) from None
        mode = termios.tcgetattr(self.fd)  # a fresh copy to change
        mode[3] &= ~(termios.ECHO | termios.ICANON)
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        try:
            termios.tcsetattr(self.fd, termios.TCSANOW, mode)
            termios.tcflush(self.fd, termios.TCIFLUSH)  # keys typed before now are not commands
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self.fd, self._readable)
        except BaseException:
            self._restore()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop reading and put the saved terminal settings back, whatever happened."""
        self._restore()

    def _restore(self) -> None:
        """Remove the reader and restore the terminal settings saved on entry."""
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
            self._saved = None

    def _readable(self) -> None:
        """Read what the terminal has and deliver it key by key; stop at hang-up."""
        try:
            data = os.read(self.fd, 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the terminal hung up
        if not data:
            if self._loop is not None:
                self._loop.remove_reader(self.fd)
            if self._on_eof is not None:
                self._on_eof()
            return
        for key in split_keys(self._decoder.decode(data)):
            self._on_key(key)
