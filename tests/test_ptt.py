"""Push-to-talk: the control socket over real Unix sockets, the state machine, terminal keys."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import tempfile
import termios
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from voicedesk.audio.control import (
    ControlServer,
    default_control_path,
    send_control,
    send_control_sync,
)
from voicedesk.audio.ptt import PushToTalk, TerminalKeys, control_handler, split_keys
from voicedesk.errors import VoicedeskError

T = TypeVar("T")


@pytest.fixture
def sock_path() -> Iterator[Path]:
    """A control socket path short enough for AF_UNIX (tmp_path can be too long)."""
    directory = Path(tempfile.mkdtemp(prefix="vd-", dir="/tmp"))
    try:
        yield directory / "run" / "control.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion with a hard timeout, so a hang fails the test."""

    async def bounded() -> T:
        async with asyncio.timeout(10):
            return await factory()

    return asyncio.run(bounded())


def echo(line: str) -> str:
    """A handler that repeats the command."""
    return f"ok {line}"


def raw_exchange(path: Path, payload: bytes) -> bytes:
    """Send raw bytes on a blocking socket and read the whole reply (blocking; use in a thread)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(path))
        client.sendall(payload)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = client.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


# --- the control path -------------------------------------------------------------------------


def test_default_control_path_uses_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert default_control_path() == Path("/run/user/1000/voicedesk/control.sock")


def test_default_control_path_falls_back_to_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert default_control_path() == Path(f"/tmp/voicedesk-{os.getuid()}/control.sock")


# --- the server ---------------------------------------------------------------------------------


def test_server_answers_many_clients_in_a_row(sock_path: Path) -> None:
    async def scenario() -> list[str]:
        async with ControlServer(sock_path, echo):
            return [await send_control(sock_path, f"ptt start {i}") for i in range(20)]

    assert run(scenario) == [f"ok ptt start {i}" for i in range(20)]


def test_server_answers_concurrent_clients(sock_path: Path) -> None:
    async def scenario() -> list[str]:
        async with ControlServer(sock_path, echo):
            return list(await asyncio.gather(*(send_control(sock_path, str(i)) for i in range(10))))

    assert run(scenario) == [f"ok {i}" for i in range(10)]


def test_socket_is_private_and_removed_on_close(sock_path: Path) -> None:
    async def scenario() -> tuple[int, int, bool]:
        server = ControlServer(sock_path, echo)
        await server.start()
        info = os.stat(sock_path)
        await server.close()
        return info.st_mode, os.stat(sock_path.parent).st_mode, sock_path.exists()

    mode, dir_mode, exists_after = run(scenario)
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(dir_mode) == 0o700
    assert not exists_after


def test_close_leaves_a_socket_that_is_no_longer_ours(sock_path: Path) -> None:
    async def scenario() -> bool:
        server = ControlServer(sock_path, echo)
        await server.start()
        sock_path.unlink()
        sock_path.write_text("someone else's")
        await server.close()
        return sock_path.exists()

    assert run(scenario)


def test_second_server_refuses_while_first_is_alive(sock_path: Path) -> None:
    async def scenario() -> tuple[str, str]:
        async with ControlServer(sock_path, echo):
            with pytest.raises(VoicedeskError) as refused:
                await ControlServer(sock_path, echo).start()
            return str(refused.value), await send_control(sock_path, "status")

    message, still_served = run(scenario)
    assert message == (
        f"another voicedesk listener is already running (control socket {sock_path})"
    )
    assert "\n" not in message
    assert still_served == "ok status"


def test_stale_bound_socket_is_replaced(sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    abandoned = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abandoned.bind(str(sock_path))  # bound but never listening: a crashed listener's leftover
    abandoned.close()
    assert sock_path.exists()

    async def scenario() -> str:
        async with ControlServer(sock_path, echo):
            return await send_control(sock_path, "status")

    assert run(scenario) == "ok status"


def test_stale_plain_file_is_replaced(sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    sock_path.write_text("leftover")

    async def scenario() -> tuple[str, bool]:
        async with ControlServer(sock_path, echo):
            reply = await send_control(sock_path, "status")
            return reply, stat.S_ISSOCK(os.stat(sock_path).st_mode)

    assert run(scenario) == ("ok status", True)


def test_handler_exception_is_an_error_reply_and_server_keeps_serving(sock_path: Path) -> None:
    def handler(line: str) -> str:
        if line == "boom":
            raise RuntimeError("the handler broke")
        return "ok fine"

    async def scenario() -> list[str]:
        async with ControlServer(sock_path, handler):
            return [await send_control(sock_path, c) for c in ("boom", "fine", "boom", "fine")]

    assert run(scenario) == ["error: the handler broke", "ok fine"] * 2


def test_oversize_input_is_rejected(sock_path: Path) -> None:
    calls: list[str] = []

    def handler(line: str) -> str:
        calls.append(line)
        return "ok"

    async def scenario() -> tuple[bytes, bytes, str]:
        async with ControlServer(sock_path, handler):
            big = await asyncio.to_thread(raw_exchange, sock_path, b"x" * 2048 + b"\n")
            unended = await asyncio.to_thread(raw_exchange, sock_path, b"y" * 1500)
            return big, unended, await send_control(sock_path, "status")

    big, unended, after = run(scenario)
    assert big == b"error: command longer than 1024 bytes\n"
    assert unended == b"error: command longer than 1024 bytes\n"
    assert after == "ok"
    assert calls == ["status"]


def test_bad_lines_are_error_replies(sock_path: Path) -> None:
    async def scenario() -> list[bytes]:
        async with ControlServer(sock_path, echo):
            return [
                await asyncio.to_thread(raw_exchange, sock_path, payload)
                for payload in (b"\n", b"\xff\xfe\n", b"  ptt  stop \r\n", b"x" * 1024 + b"\n")
            ]

    empty, not_utf8, crlf, longest = run(scenario)
    assert empty.startswith(b"error: empty command")
    assert not_utf8 == b"error: command is not UTF-8 text\n"
    assert crlf == b"ok ptt  stop\n"
    assert longest == b"ok " + b"x" * 1024 + b"\n"


def test_multiline_handler_reply_stays_one_line(sock_path: Path) -> None:
    async def scenario() -> str:
        async with ControlServer(sock_path, lambda line: "first\nsecond"):
            return await send_control(sock_path, "status")

    assert run(scenario) == "first second"


def test_close_drops_a_silent_client(sock_path: Path) -> None:
    async def scenario() -> bytes:
        server = ControlServer(sock_path, echo)
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(sock_path))
        await asyncio.sleep(0.05)
        await server.close()
        data = await reader.read()
        writer.close()
        return data

    assert run(scenario) == b""


# --- the client ---------------------------------------------------------------------------------


def test_send_control_without_a_server_is_one_line(sock_path: Path) -> None:
    with pytest.raises(VoicedeskError) as missing:
        send_control_sync(sock_path, "ptt start")
    assert str(missing.value) == (
        f"no voicedesk listener is running (no control socket at {sock_path})"
    )


def test_send_control_to_a_stale_socket_is_one_line(sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    abandoned = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abandoned.bind(str(sock_path))
    abandoned.close()
    with pytest.raises(VoicedeskError, match=r"^no voicedesk listener is running \(stale"):
        send_control_sync(sock_path, "ptt start")


def test_send_control_times_out_on_a_silent_server(sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(sock_path))
        mute.listen()  # accepts connections, never answers
        with pytest.raises(VoicedeskError, match=r"did not answer within 0.2 s"):
            send_control_sync(sock_path, "status", timeout=0.2)


def test_send_control_refuses_multiline_commands(sock_path: Path) -> None:
    with pytest.raises(VoicedeskError, match="single line"):
        send_control_sync(sock_path, "ptt start\nptt stop")


# --- the state machine --------------------------------------------------------------------------


def test_push_to_talk_reports_changes_in_order() -> None:
    changes: list[bool] = []
    ptt = PushToTalk(changes.append)
    assert ptt.talking is False
    assert ptt.press() is True
    assert ptt.press() is True  # already talking: no second change
    assert ptt.release() is False
    assert ptt.release() is False
    assert ptt.toggle() is True
    assert ptt.toggle() is False
    assert changes == [True, False, True, False]


def test_push_to_talk_commands() -> None:
    changes: list[bool] = []
    ptt = PushToTalk(changes.append)
    assert ptt.handle_command("status") == "ok idle"
    assert ptt.handle_command("ptt start") == "ok talking"
    assert ptt.talking
    assert ptt.handle_command("  PTT   Start ") == "ok talking"
    assert ptt.handle_command("status") == "ok talking"
    assert ptt.handle_command("ptt stop") == "ok idle"
    assert ptt.handle_command("ptt toggle") == "ok talking"
    assert ptt.handle_command("ptt toggle") == "ok idle"
    assert changes == [True, False, True, False]
    assert ptt.handle_command("x") == (
        "error: unknown command 'x'; try ptt start|stop|toggle or status"
    )
    assert changes == [True, False, True, False]


def test_push_to_talk_through_the_socket(sock_path: Path) -> None:
    changes: list[bool] = []
    ptt = PushToTalk(changes.append)

    async def scenario() -> list[str]:
        async with ControlServer(sock_path, ptt.handle_command):
            commands = ("ptt start", "status", "ptt stop", "ptt toggle", "ptt toggle", "nope")
            return [await send_control(sock_path, c) for c in commands]

    replies = run(scenario)
    assert replies[:5] == ["ok talking", "ok talking", "ok idle", "ok talking", "ok idle"]
    assert replies[5].startswith("error: unknown command 'nope'")
    assert changes == [True, False, True, False]


# --- terminal keys ------------------------------------------------------------------------------


def test_split_keys_keeps_escape_sequences_whole() -> None:
    assert split_keys(" q\n") == [" ", "q", "\n"]
    assert split_keys("\x1b[A \x1bOPq\x1b") == ["\x1b[A", " ", "\x1bOP", "q", "\x1b"]


def test_terminal_keys_on_a_pseudo_terminal() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        keys: list[str] = []

        async def scenario() -> list[int]:
            got_two = asyncio.Event()

            def on_key(key: str) -> None:
                keys.append(key)
                if len(keys) >= 3:
                    got_two.set()

            async with TerminalKeys(on_key, fd=slave):
                lflag = termios.tcgetattr(slave)[3]
                os.write(master, b" ")
                await asyncio.sleep(0.05)
                os.write(master, b"\rq")
                await got_two.wait()
            return [lflag & termios.ICANON, lflag & termios.ECHO]

        assert run(scenario) == [0, 0]
        assert keys[0] == " "
        assert keys[1] in ("\r", "\n")  # ICRNL stays on: enter arrives as "\n"
        assert keys[2] == "q"
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_keys_restore_settings_after_an_exception() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)

        async def scenario() -> None:
            async with TerminalKeys(lambda key: None, fd=slave):
                raise RuntimeError("listener crashed")

        with pytest.raises(RuntimeError, match="listener crashed"):
            run(scenario)
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_keys_refuse_a_pipe() -> None:
    read_end, write_end = os.pipe()
    try:

        async def scenario() -> None:
            async with TerminalKeys(lambda key: None, fd=read_end):
                pass

        with pytest.raises(VoicedeskError) as refused:
            run(scenario)
        assert str(refused.value) == (
            "--ptt needs a terminal; use `voicedesk ptt start|stop` from a shortcut instead"
        )
    finally:
        os.close(read_end)
        os.close(write_end)


def test_terminal_keys_report_hang_up() -> None:
    master, slave = os.openpty()
    hung_up: list[bool] = []

    async def scenario() -> None:
        done = asyncio.Event()

        def on_eof() -> None:
            hung_up.append(True)
            done.set()

        async with TerminalKeys(lambda key: None, fd=slave, on_eof=on_eof):
            os.close(master)
            await done.wait()

    try:
        run(scenario)
        assert hung_up == [True]
    finally:
        os.close(slave)


def test_control_handler_hushes_in_either_mode_and_refuses_ptt_hands_free() -> None:
    hushed: list[bool] = []
    changes: list[bool] = []
    ptt = PushToTalk(on_change=changes.append)
    hands_free = control_handler(ptt, False, lambda: hushed.append(True), "--ptt")
    assert hands_free(" HUSH \n") == "ok hushed" and hushed == [True]
    assert hands_free("ptt start") == "error: this listener is hands-free; start it with --ptt"
    assert changes == []
    held = control_handler(ptt, True, lambda: hushed.append(True), "--ptt")
    assert held("ptt start") == "ok talking" and changes == [True]
    assert held("hush") == "ok hushed" and hushed == [True, True]
