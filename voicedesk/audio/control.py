"""The listener's local control socket: one line in, one line back (`voicedesk ptt ...`).

Protocol: a client connects, sends one line of UTF-8 (`ptt start`, `ptt stop`, `ptt toggle`,
`status`; at most 1 KiB) and reads one line back: the handler's reply or `error: ...`. A
second server on a live socket refuses to start; a stale socket file is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from voicedesk.errors import VoicedeskError

MAX_COMMAND_BYTES = 1024
"""The longest command line the control server accepts, newline excluded."""

_READ_TIMEOUT = 5.0
"""Seconds the server waits for a connected client to send its command line."""

_MAX_UNIX_PATH = 107
"""The longest AF_UNIX socket path Linux accepts, in bytes."""

log = logging.getLogger(__name__)


def default_control_path() -> Path:
    """The listener's control socket: under $XDG_RUNTIME_DIR, else /tmp/voicedesk-<uid>."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "voicedesk" / "control.sock"
    return Path(f"/tmp/voicedesk-{os.getuid()}") / "control.sock"


def _check_path_length(path: Path) -> None:
    """Refuse a socket path longer than AF_UNIX allows, with one line."""
    if len(os.fsencode(path)) > _MAX_UNIX_PATH:
        raise VoicedeskError(f"control socket path is too long for a Unix socket: {path}")


def _prepare_directory(directory: Path) -> None:
    """Create the socket's directory with mode 0700, or check an existing one is ours."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = directory.stat().st_uid
    except OSError as exc:
        raise VoicedeskError(f"cannot create control directory {directory}: {exc}") from None
    if owner != os.getuid():
        raise VoicedeskError(f"control directory {directory} belongs to another user")


async def _answers(path: Path) -> bool:
    """Whether something accepts connections on the socket file at `path`."""
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_unix_connection(str(path))
    except TimeoutError:
        return True  # a full backlog: a listener is there, just busy
    except PermissionError:
        raise VoicedeskError(f"control socket {path} belongs to another user") from None
    except OSError:
        return False  # refused (a stale socket or a plain file) or already gone
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ControlServer:
    """A Unix-socket server answering one command line per connection with `handler`."""

    def __init__(self, path: Path, handler: Callable[[str], str]) -> None:
        """Serve at `path`; `handler` maps a command line to a one-line reply."""
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._identity: tuple[int, int] | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _busy_error(self) -> VoicedeskError:
        """The one-line error for a socket another listener owns."""
        return VoicedeskError(
            f"another voicedesk listener is already running (control socket {self.path})"
        )

    async def start(self) -> None:
        """Bind the socket (replacing a stale one) and start serving; refuse a live one."""
        if self._server is not None:
            raise RuntimeError("ControlServer already started")
        _check_path_length(self.path)
        _prepare_directory(self.path.parent)
        if os.path.lexists(self.path):
            if await _answers(self.path):
                raise self._busy_error()
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise VoicedeskError(
                    f"cannot remove stale control socket {self.path}: {exc}"
                ) from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))  # fails if another listener bound it meanwhile
            os.chmod(self.path, 0o600)
            info = os.stat(self.path)
            self._identity = (info.st_dev, info.st_ino)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise self._busy_error() from None
            raise VoicedeskError(f"cannot open control socket {self.path}: {exc}") from None

    async def close(self) -> None:
        """Stop serving, drop open connections and remove the socket file if it is still ours."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await server.wait_closed()
        with contextlib.suppress(OSError):
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        """Start serving for the body of an `async with`."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on leaving the `async with`."""
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection: read a line, reply a line, close; never raise."""
        self._writers.add(writer)
        try:
            reply = await self._reply(reader)
            if reply is not None:
                writer.write(" ".join(reply.splitlines()).encode() + b"\n")
                await writer.drain()
        except Exception:  # a client that vanished must not take the server down
            log.debug("control connection failed", exc_info=True)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _reply(self, reader: asyncio.StreamReader) -> str | None:
        """The reply to the command on `reader`, or None when the client sent nothing."""
        data = b""
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                while b"\n" not in data and len(data) <= MAX_COMMAND_BYTES:
                    chunk = await reader.read(MAX_COMMAND_BYTES + 1 - len(data))
                    if not chunk:
                        break
                    data += chunk
        except TimeoutError:
            return f"error: no command line within {_READ_TIMEOUT:g} s"
        line = data.split(b"\n", 1)[0].rstrip(b"\r")
        if len(line) > MAX_COMMAND_BYTES:
            return f"error: command longer than {MAX_COMMAND_BYTES} bytes"
        if not data:
            return None  # a liveness probe: connect and hang up
        try:
            command = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            return "error: command is not UTF-8 text"
        if not command:
            return "error: empty command; try ptt start|stop|toggle or status"
        try:
            return str(self._handler(command))
        except Exception as exc:
            log.warning("control command %r failed", command, exc_info=True)
            return f"error: {exc or type(exc).__name__}"


async def send_control(path: Path, command: str, timeout: float = 2.0) -> str:
    """Send one command line to the listener at `path` and return its one-line reply."""
    if "\n" in command or "\r" in command:
        raise VoicedeskError("a control command must be a single line")
    _check_path_length(path)
    absent = f"no voicedesk listener is running (no control socket at {path})"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(path))
            try:
                writer.write(command.encode() + b"\n")
                await writer.drain()
                reply = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        raise VoicedeskError(
            f"the voicedesk listener did not answer within {timeout:g} s (control socket {path})"
        ) from None
    except FileNotFoundError:
        raise VoicedeskError(absent) from None
    except ConnectionRefusedError:
        raise VoicedeskError(
            f"no voicedesk listener is running (stale control socket {path})"
        ) from None
    except (OSError, ValueError) as exc:
        raise VoicedeskError(f"cannot talk to the voicedesk listener at {path}: {exc}") from None
    if not reply:
        raise VoicedeskError(f"the voicedesk listener at {path} hung up without answering")
    return reply.decode("utf-8", "replace").strip()


def send_control_sync(path: Path, command: str, timeout: float = 2.0) -> str:
    """`send_control` for code without a running event loop (the `voicedesk ptt` command)."""
    return asyncio.run(send_control(path, command, timeout))
