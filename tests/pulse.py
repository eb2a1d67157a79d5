"""A PulseAudio virtual microphone for capture tests.

VirtualMic runs a private PulseAudio daemon (its own socket under a temporary directory, no
D-Bus, no hardware) and points this process at it through $PULSE_SERVER, which the ALSA
"pulse" plugin behind PortAudio's device "pulse" reads when a stream opens. A null sink
takes what paplay plays; a remap source over its monitor, made the default source, is the
microphone. Being private, the daemon can be killed to make the microphone vanish without
touching a desktop's own PulseAudio or another test run's.

A null sink with no stream renders in 2 s blocks, so the first recording on a fresh daemon
waits up to 2 s for data. start() therefore keeps a silent low-latency stream (pacat from
/dev/zero) playing into the sink and reads one block from the microphone before returning;
after that every recording gets its first block within tens of milliseconds.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

SINK = "voicedesk_test_sink"
"""The null sink that test audio is played into."""

SOURCE = "voicedesk_test_mic"
"""The remap source over the sink's monitor: the virtual microphone."""

_TOOLS = ("pulseaudio", "pactl", "paplay", "pacat", "parec")
_START_TIMEOUT_S = 10.0
_STARTED: weakref.WeakSet[VirtualMic] = weakref.WeakSet()
"""Rigs with a daemon running, stopped at exit so that no pulseaudio outlives the tests."""


class VirtualMic:
    """A private PulseAudio daemon whose default source plays back what play() is given."""

    device_spec = "pulse"
    """The PortAudio device (ALSA's PulseAudio plugin) that records the default source."""

    def __init__(self) -> None:
        """Nothing runs until start()."""
        self._dir: Path | None = None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._keepalive: subprocess.Popen[bytes] | None = None
        self._modules: list[str] = []
        self._saved_server: str | None = None
        self._env_set = False

    @property
    def server(self) -> str:
        """The daemon's address, as $PULSE_SERVER takes it."""
        if self._dir is None:
            raise RuntimeError("VirtualMic is not started")
        return f"unix:{self._dir / 'native'}"

    @property
    def running(self) -> bool:
        """Whether the private daemon is alive."""
        return self._daemon is not None and self._daemon.poll() is None

    def start(self, warm_up: bool = True) -> None:
        """Start the daemon if needed, load the sink and source unless loaded, make it default.

        `warm_up` also starts the keepalive stream and waits for the microphone's first audio.
        """
        if not self.running:
            _STARTED.add(self)
            self._start_daemon()
        if not self._env_set:
            self._saved_server = os.environ.get("PULSE_SERVER")
            self._env_set = True
        os.environ["PULSE_SERVER"] = self.server
        loaded = self._pactl("list", "short", "modules").stdout
        if f"sink_name={SINK}" not in loaded:
            # 16 kHz mono end to end: what is played is what the microphone hears, unresampled
            self._load("module-null-sink", f"sink_name={SINK}", "rate=16000", "channels=1")
        if f"source_name={SOURCE}" not in loaded:
            self._load(
                "module-remap-source", f"master={SINK}.monitor", f"source_name={SOURCE}",
                "rate=16000", "channels=1",
            )
        done = self._pactl("set-default-source", SOURCE)
        if done.returncode != 0:
            raise RuntimeError(f"pactl set-default-source {SOURCE} failed: {done.stderr.strip()}")
        if warm_up and (self._keepalive is None or self._keepalive.poll() is not None):
            self._keepalive = subprocess.Popen(
                ["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000",
                 "--channels=1", f"--device={SINK}", "--latency-msec=20", "/dev/zero"],
                env=self._client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            self._warm_up()

    def _warm_up(self) -> None:
        """Block until the microphone delivers audio, so later recordings start at once."""
        reader = subprocess.Popen(
            ["parec", "--raw", "--format=s16le", "--rate=16000", "--channels=1",
             f"--device={SOURCE}", "--latency-msec=20"],
            env=self._client_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:  # the first data comes after one 2 s block of the idle null sink at most
            assert reader.stdout is not None
            select.select([reader.stdout], [], [], 3.5)
        finally:
            reader.kill()
            reader.communicate()

    def stop(self) -> None:
        """Unload what start() loaded, stop the daemon, restore $PULSE_SERVER."""
        if self.running:
            for module in reversed(self._modules):
                self._pactl("unload-module", module)
        self._modules.clear()
        self._end_daemon(signal.SIGTERM)
        _STARTED.discard(self)
        if self._env_set:
            if self._saved_server is None:
                os.environ.pop("PULSE_SERVER", None)
            else:
                os.environ["PULSE_SERVER"] = self._saved_server
            self._env_set = False
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def vanish(self) -> None:
        """Kill the daemon as `pulseaudio --kill` would: the microphone disappears."""
        self._end_daemon(signal.SIGTERM)
        self._modules.clear()

    def freeze(self) -> None:
        """Stop the daemon (SIGSTOP) without closing anything: a microphone that hangs."""
        if self._daemon is not None:
            self._daemon.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen daemon run again (SIGCONT)."""
        if self._daemon is not None:
            self._daemon.send_signal(signal.SIGCONT)

    def play(self, path: Path, wait: bool = True) -> subprocess.Popen[bytes] | None:
        """Play an audio file into the virtual microphone; the running paplay when not waiting."""
        process = subprocess.Popen(
            ["paplay", f"--device={SINK}", str(path)],
            env=self._client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        if not wait:
            return process
        _, err = process.communicate(timeout=60)
        if process.returncode != 0:
            raise RuntimeError(f"paplay {path} failed: {err.decode(errors='replace').strip()}")
        return None

    def _start_daemon(self) -> None:
        """Launch `pulseaudio` on a fresh socket and wait until it answers."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="voicedesk-pulse-"))
        socket = self._dir / "native"
        socket.unlink(missing_ok=True)
        script = self._dir / "rig.pa"
        script.write_text(f"load-module module-native-protocol-unix socket={socket}\n")
        env = {**os.environ, "PULSE_RUNTIME_PATH": str(self._dir),
               "PULSE_STATE_PATH": str(self._dir)}
        env.pop("PULSE_SERVER", None)
        log = (self._dir / "daemon.log").open("wb")
        self._daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--use-pid-file=no",
             "--exit-idle-time=-1", "--realtime=no", "--high-priority=no",
             "--log-target=stderr"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._daemon.poll() is not None:
                break
            if self._pactl("info").returncode == 0:
                return
            time.sleep(0.05)
        self._end_daemon(signal.SIGKILL)
        lines = (self._dir / "daemon.log").read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if line.startswith("E:")] or lines
        detail = f": {errors[-1]}" if errors else ""
        raise RuntimeError(f"the PulseAudio daemon did not start{detail}")

    def _end_daemon(self, sig: signal.Signals) -> None:
        """Signal the daemon and wait for it to exit (killing it if it will not)."""
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.kill()
            keepalive.wait()
        daemon, self._daemon = self._daemon, None
        if daemon is None or daemon.poll() is not None:
            return
        daemon.send_signal(signal.SIGCONT)  # a frozen daemon cannot act on SIGTERM
        daemon.send_signal(sig)
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=5)

    def _client_env(self) -> dict[str, str]:
        """The environment for pactl and paplay: this daemon only, never autospawn."""
        return {**os.environ, "PULSE_SERVER": self.server}

    def _pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run pactl against the private daemon."""
        try:
            return subprocess.run(
                ["pactl", *args], env=self._client_env(), capture_output=True, text=True,
                timeout=10, check=False,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(["pactl", *args], 1, "", "pactl timed out")

    def _load(self, module: str, *args: str) -> None:
        """Load one PulseAudio module and remember its id for stop()."""
        done = self._pactl("load-module", module, *args)
        if done.returncode != 0:
            raise RuntimeError(f"pactl load-module {module} failed: {done.stderr.strip()}")
        self._modules.append(done.stdout.strip())


def pulse_unavailable_reason() -> str | None:
    """Why a VirtualMic cannot work here, or None when it can (tries one, then stops it)."""
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install pulseaudio pulseaudio-utils)"
    probe = VirtualMic()
    try:
        probe.start(warm_up=False)
        from voicedesk.audio.capture import list_input_devices

        names = [device.name for device in list_input_devices()]
    except Exception as exc:
        return f"no PulseAudio virtual microphone: {exc}"
    finally:
        probe.stop()
    if VirtualMic.device_spec not in names:
        return f"PortAudio lists no 'pulse' input device (libasound2-plugins?), only {names}"
    return None


@atexit.register
def _stop_all() -> None:
    """Stop every rig still running when the interpreter exits."""
    for mic in list(_STARTED):
        mic.stop()
