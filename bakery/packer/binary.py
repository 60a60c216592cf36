"""The Packer boundary: every call of the `packer` binary goes through here."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import PackerError
from bakery.render.build_folder import TemplateDialect

INSTALL_HINT = (
    "install it (`make packer`, Debian package packer) or set packer.binary in bakery.yaml"
)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
# Values that let `packer validate` check a template whose variables a build fills in.
PLACEHOLDER_VARIABLES: Mapping[str, str] = {
    "source_ami": "ami-0123456789abcdef0",
    "build_id": "00000000000000000000000000",
    "build_timestamp": "20000101000000",
    "build_date": "2000-01-01T00:00:00Z",
    "input_hash": "0" * 64,
    "source_ref": "ami:ami-0123456789abcdef0",
}


@dataclass(frozen=True)
class PackerResult:
    returncode: int
    stdout: str
    stderr: str


def run(
    binary: str, args: Sequence[str], cwd: Path | None = None, timeout: float = 120
) -> PackerResult:
    """Run `packer ARGS`; a missing binary or a hung command is a PackerError."""
    path = shutil.which(binary)
    if path is None:
        raise PackerError(f"{binary}: not found on PATH; {INSTALL_HINT}")
    try:
        done = subprocess.run(
            [path, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise PackerError(f"{binary} {' '.join(args)}: no answer after {timeout:.0f}s") from error
    except OSError as error:
        raise PackerError(f"{binary}: cannot run: {error}; {INSTALL_HINT}") from error
    return PackerResult(done.returncode, done.stdout, done.stderr)


def version(binary: str) -> tuple[int, int, int]:
    """Return the version `packer version` reports."""
    result = run(binary, ["version"], timeout=30)
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise PackerError(f"{binary} version: unexpected answer: {_tail(result)}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def dialect_of(packer_version: tuple[int, int, int]) -> TemplateDialect:
    """Packer before 1.7 rejects `required_plugins`; it gets the 1.6 dialect."""
    return "1.6" if packer_version < (1, 7, 0) else "1.7+"


def resolve_dialect(setting: str, binary: str) -> TemplateDialect:
    """Turn the `packer.dialect` setting into a dialect, asking Packer when it is `auto`."""
    if setting == "1.6":
        return "1.6"
    if setting == "1.7+":
        return "1.7+"
    return dialect_of(version(binary))


def validate(
    binary: str, template: Path, variables: Mapping[str, str] = PLACEHOLDER_VARIABLES
) -> None:
    """Run `packer validate` on a rendered template; raise PackerError with Packer's reason."""
    args = ["validate", *(f"-var={key}={value}" for key, value in variables.items()), template.name]
    result = run(binary, args, cwd=template.parent)
    if result.returncode != 0:
        raise PackerError(f"packer validate {template}: {_tail(result)}")


def fmt_check(binary: str, template: Path) -> None:
    """Run `packer fmt -check`; raise PackerError naming the file when it is not formatted."""
    result = run(binary, ["fmt", "-check", template.name], cwd=template.parent)
    if result.returncode != 0:
        raise PackerError(f"packer fmt -check {template}: not formatted ({_tail(result)})")


def _tail(result: PackerResult, lines: int = 6) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return (
        " | ".join(line.strip() for line in text[-lines:] if line.strip())
        or f"exit {result.returncode}"
    )


@dataclass(frozen=True)
class BuildRun:
    """How one `packer build` ended."""

    returncode: int
    cancelled: bool
    timed_out: bool
    seconds: float


def build(
    binary: str,
    template: Path,
    variables: Mapping[str, str],
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    cancel: threading.Event,
    timeout: float,
    grace: float,
) -> BuildRun:
    """Run `packer build -machine-readable` in the template's folder, line by line.

    Over `timeout`, or once `cancel` is set, Packer gets SIGINT so it removes its instance,
    key pair and security group; SIGTERM follows after `grace` seconds, SIGKILL after another.
    """
    path = shutil.which(binary)
    if path is None:
        raise PackerError(f"{binary}: not found on PATH; {INSTALL_HINT}")
    args = [path, "build", "-machine-readable", "-color=false"]
    args += [f"-var={key}={value}" for key, value in variables.items()]
    args.append(template.name)
    started = time.monotonic()
    try:
        # A session of its own: Ctrl-C in the terminal reaches bakery, which forwards it.
        process = subprocess.Popen(
            args,
            cwd=template.parent,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        raise PackerError(f"{binary}: cannot run: {error}; {INSTALL_HINT}") from error
    state = {"cancelled": False, "timed_out": False}
    watchdog = threading.Thread(
        target=_watch, args=(process, cancel, started + timeout, grace, state), daemon=True
    )
    watchdog.start()
    assert process.stdout is not None
    for line in process.stdout:
        on_line(line.rstrip("\n"))
    returncode = process.wait()
    if state["cancelled"] or state["timed_out"]:
        watchdog.join(timeout=5)  # it is stopping Packer; otherwise it ends at its next look

    return BuildRun(returncode, state["cancelled"], state["timed_out"], time.monotonic() - started)


def _watch(
    process: subprocess.Popen[str],
    cancel: threading.Event,
    deadline: float,
    grace: float,
    state: dict[str, bool],
) -> None:
    while process.poll() is None:
        if cancel.wait(0.1) or time.monotonic() > deadline:
            state["cancelled" if cancel.is_set() else "timed_out"] = True
            break
    else:
        return
    # Packer runs itself as a child that alone reacts to SIGINT: signal the whole group, until
    # all of it has ended (a process Packer started may outlive it, holding its output open).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while process.poll() is None or _group_runs(process.pid):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        else:
            return


def _group_runs(group: int) -> bool:
    """Tell whether a process of GROUP still runs; a zombie does not (orphans may stay ones)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return True  # no /proc (macOS): trust kill(2), which counts zombies too
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended meanwhile
        # state and process group follow the command name, which may hold spaces or ")"
        state, _, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            return True
    return False


def build_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """Return the environment for Packer: this process's, plus `extra` (never written to disk)."""
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PACKER_NO_COLOR", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")  # no version check over the network
    return env
