"""Start, find and stop a project's local emulator: the API behind `bakery local`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bakery
from bakery.errors import BakeryError

START_TIMEOUT = 20.0
STOP_GRACE = 5.0
# After SIGTERM the server pickles moto's state (well under a second for a demo) before it
# exits; SIGKILL only after this, so a slow disk does not lose the state.
SAVE_GRACE = 15.0
STATE_FILE = "state.pickle"
DUMMY_KEY = "testing"
LOOPBACK = "127.0.0.1"
MIN_PORT, MAX_PORT = 1, 65535
_SERVER_MODULE = "bakery.local.server"
# Servers this process started, so they are reaped when they end and never linger as zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class LocalEmulator:
    """A running emulator: its process, its port on 127.0.0.1 and when it started."""

    pid: int
    port: int
    started_at: datetime

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def state_dir(root: Path) -> Path:
    """Return the folder holding the emulator's state file, ready file and log."""
    return root / ".bakery" / "local"


def state_file(root: Path) -> Path:
    """Return the file where ROOT's emulator keeps moto's state between runs."""
    return state_dir(root) / STATE_FILE


def loopback_proxy_bypass(environ: Mapping[str, str]) -> dict[str, str]:
    """Return NO_PROXY values that keep calls to 127.0.0.1 away from any HTTP proxy."""
    current = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    hosts = [host for host in current.split(",") if host.strip()]
    hosts += [host for host in (LOOPBACK, "localhost") if host not in hosts]
    value = ",".join(hosts)
    return {"NO_PROXY": value, "no_proxy": value}


def local_environment(emulator: LocalEmulator, region: str) -> dict[str, str]:
    """Return the variables Packer and boto3 need to reach EMULATOR with dummy credentials.

    Apply them over the environment of a child process (never write them to a file) and leave
    out AWS_PROFILE there, so no real profile is consulted.
    """
    return {
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
        **loopback_proxy_bypass(os.environ),
    }


def status(root: Path) -> LocalEmulator | None:
    """Return the emulator running for ROOT, or None when none runs or it does not answer."""
    emulator = _read_state(root)
    if emulator is None or not _is_server(emulator.pid) or not _answers(emulator.port):
        return None
    return emulator


def start(root: Path, port: int | None = None, fresh: bool = False) -> LocalEmulator:
    """Start the emulator for ROOT on PORT (any free port when None) or return the running one.

    It restores what the last run saved; FRESH stops a running one and forgets that state.
    """
    if port is not None and not MIN_PORT <= port <= MAX_PORT:
        raise BakeryError(
            f"port {port} is not a TCP port; give one from {MIN_PORT} to {MAX_PORT}, "
            "or none for a free one"
        )
    running = status(root)
    if running is not None and not fresh:
        if port is not None and running.port != port:
            raise BakeryError(
                f"the local emulator already runs at {running.endpoint_url}, not on port {port}; "
                "stop it first (`bakery local stop`) or start it without --port"
            )
        return running
    stop(root)  # a process that is alive but no longer answers, or a stale state file
    if fresh:
        state_file(root).unlink(missing_ok=True)
    directory = state_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    chosen = port if port is not None else free_port()
    ready = directory / "ready"
    ready.unlink(missing_ok=True)
    log = directory / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                _SERVER_MODULE,
                *_server_args(chosen, ready.resolve(), state_file(root).resolve()),
            ],
            cwd=directory,
            env=_server_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: a Ctrl-C in the starting shell leaves it running
        )
    _children[process.pid] = process
    emulator = LocalEmulator(process.pid, chosen, datetime.now(UTC))
    _write_state(root, emulator)
    deadline = time.monotonic() + START_TIMEOUT
    why = ""
    while time.monotonic() < deadline and process.poll() is None:
        listening = _ready_port(ready)
        if listening is not None and listening != chosen:
            why = f"it listens on port {listening} instead"
            break
        if listening is not None and _answers(chosen):
            return emulator
        time.sleep(0.05)
    why = why or (
        f"no answer within {START_TIMEOUT:.0f}s"
        if process.returncode is None
        else f"it exited with code {process.returncode}"
    )
    stop(root)
    raise BakeryError(
        f"the local emulator did not start on {LOOPBACK}:{chosen} ({why}); "
        f"end of {log}:\n{_tail(log)}"
    )


def _ready_port(ready: Path) -> int | None:
    """Return the port the server wrote to its ready file, or None until it has."""
    try:
        return int(ready.read_text().strip())
    except (OSError, ValueError):
        return None


def stop(root: Path) -> bool:
    """Stop ROOT's emulator and let it save its state; False if none ran.

    SIGTERM makes the server save and exit; SIGKILL follows only if it is still there after
    SAVE_GRACE seconds.
    """
    emulator = _read_state(root)
    stopped = False
    if emulator is not None and _is_server(emulator.pid):
        with contextlib.suppress(ProcessLookupError):  # it may end by itself meanwhile
            os.kill(emulator.pid, signal.SIGTERM)
            if not _wait_gone(emulator.pid, SAVE_GRACE):
                os.kill(emulator.pid, signal.SIGKILL)
                _wait_gone(emulator.pid, STOP_GRACE)
        stopped = True
    if emulator is not None:
        _children.pop(emulator.pid, None)
    (state_dir(root) / "emulator.json").unlink(missing_ok=True)
    (state_dir(root) / "ready").unlink(missing_ok=True)
    return stopped


def free_port() -> int:
    """Return a port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _server_args(port: int, ready: Path, state: Path) -> list[str]:
    return ["--port", str(port), "--ready-file", str(ready), "--state-file", str(state)]


def _server_environment() -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
    }
    # The server imports the very bakery this process runs, wherever it is installed.
    package_parent = str(Path(bakery.__file__).resolve().parent.parent)
    environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (package_parent, environ.get("PYTHONPATH", "")) if part
    )
    return {**environ, **loopback_proxy_bypass(environ)}


def adopt(root: Path, emulator: LocalEmulator) -> None:
    """Make ROOT use EMULATOR, which runs for another project, as if started for ROOT.

    `status(ROOT)` then finds it; `stop(ROOT)` would stop it. The test suite shares one emulator
    among its sample projects this way, reset between tests.
    """
    state_dir(root).mkdir(parents=True, exist_ok=True)
    _write_state(root, emulator)


def _read_state(root: Path) -> LocalEmulator | None:
    try:
        data = json.loads((state_dir(root) / "emulator.json").read_text())
        return LocalEmulator(
            int(data["pid"]), int(data["port"]), datetime.fromisoformat(data["started_at"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(root: Path, emulator: LocalEmulator) -> None:
    data = {
        "pid": emulator.pid,
        "port": emulator.port,
        "started_at": emulator.started_at.isoformat(),
    }
    path = state_dir(root) / "emulator.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)


def _is_server(pid: int) -> bool:
    """Tell whether PID is alive and, where /proc shows it, is an emulator server."""
    if pid in _children:
        return _children[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process took the number
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here (macOS): trust the pid and the port check
    return _SERVER_MODULE.encode() in command


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_server(pid):
            return True
        time.sleep(0.05)
    return not _is_server(pid)


def _answers(port: int) -> bool:
    """Tell whether a moto server answers on PORT, asking it directly, never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{LOOPBACK}:{port}/moto-api/config", timeout=1.0) as reply:
            return int(reply.status) < 300
    except OSError:
        return False


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
