"""The Packer boundary: every call of the `packer` binary goes through here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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

    @property
    def signal(self) -> int | None:
        """The signal that ended Packer (the guard exits 128+N then), if one did."""
        return self.returncode - 128 if 128 < self.returncode < 160 else None


def build(
    binary: str,
    template: Path,
    variables: Mapping[str, str],
    *,
    env: Mapping[str, str],
    log: Path,
    on_line: Callable[[str], None],
    cancel: threading.Event,
    timeout: float,
    grace: float,
    abort: threading.Event | None = None,
) -> BuildRun:
    """Run `packer build -machine-readable` in the template's folder under its guard.

    The guard (`bakery.packer.guard`) writes each line to `log` as it comes and passes it to
    `on_line`. Over `timeout`, or once `cancel` is set, Packer gets SIGINT so it removes its
    instance, key pair and security group; SIGTERM follows after `grace` seconds, SIGKILL after
    another, or at once when `abort` is set. If bakery dies, the guard stops Packer itself.
    """
    from bakery.packer import guard

    path = shutil.which(binary)
    if path is None:
        raise PackerError(f"{binary}: not found on PATH; {INSTALL_HINT}")
    args = [path, "build", "-machine-readable", "-color=false"]
    args += [f"-var={key}={value}" for key, value in variables.items()]
    args.append(template.name)
    started = time.monotonic()
    command = [sys.executable, "-I", guard.__file__, "--log", str(log), "--grace", str(grace)]
    try:
        # Sessions of their own: Ctrl-C in the terminal, or a signal to bakery's process
        # group, reaches bakery, which orders the guard; the guard outlives a killed bakery.
        process = subprocess.Popen(
            [*command, "--", *args],
            cwd=template.parent,
            env=dict(env),
            stdin=subprocess.PIPE,
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
        target=_watch,
        args=(process, cancel, abort or threading.Event(), started + timeout, state),
        daemon=True,
    )
    watchdog.start()
    assert process.stdout is not None
    try:
        for line in process.stdout:
            on_line(line.rstrip("\n"))
    except BaseException:
        _order(process, guard.KILL if abort is not None and abort.is_set() else guard.STOP)
        raise
    returncode = process.wait()
    watchdog.join(timeout=5)
    if process.stdin is not None:
        process.stdin.close()
    return BuildRun(returncode, state["cancelled"], state["timed_out"], time.monotonic() - started)


def _order(process: subprocess.Popen[str], what: str) -> None:
    """Give the guard an order; a guard that has ended needs none."""
    try:
        assert process.stdin is not None
        process.stdin.write(what + "\n")
        process.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _watch(
    process: subprocess.Popen[str],
    cancel: threading.Event,
    abort: threading.Event,
    deadline: float,
    state: dict[str, bool],
) -> None:
    from bakery.packer import guard

    while process.poll() is None:
        if cancel.wait(0.1) or time.monotonic() > deadline:
            state["cancelled" if cancel.is_set() else "timed_out"] = True
            _order(process, guard.STOP)
            break
    while process.poll() is None:
        if abort.wait(0.1):
            _order(process, guard.KILL)
            return


def build_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """Return the environment for Packer: this process's, plus `extra` (never written to disk)."""
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PACKER_NO_COLOR", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")  # no version check over the network
    return env
