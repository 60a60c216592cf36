from __future__ import annotations

import json
import os
import shutil
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import REPO, ProjectFactory, packer_available


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the real home folder and from any real AWS account."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project: bakery.yaml text and {relative path: text} files; return its root."""

    def make(files: dict[str, str], project: str = "aws: {region: us-east-1}\n") -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "bakery.yaml").write_text(textwrap.dedent(project))
        (root / "recipes").mkdir(exist_ok=True)
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return root

    return make


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    """A copy of the repository's own project: bakery.yaml and the sample recipes."""
    root = tmp_path / "samples"
    root.mkdir()
    shutil.copy(REPO / "bakery.yaml", root / "bakery.yaml")
    shutil.copytree(REPO / "recipes", root / "recipes")
    return root


@pytest.fixture
def packer_binary() -> Iterator[str]:
    """The real packer; skipped where it is missing, except in CI where it must be present."""
    if not packer_available():
        if os.environ.get("BAKERY_REQUIRE_PACKER") == "1":
            pytest.fail("packer is required here (BAKERY_REQUIRE_PACKER=1); run `make packer`")
        pytest.skip("packer not installed; `make packer` installs it")
    yield "packer"


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One emulator for the session (per xdist worker), for the tests of sample projects."""
    from bakery.local import launcher

    root = tmp_path_factory.mktemp("shared-emulator")
    (root / "bakery.yaml").write_text("aws: {region: us-east-1}\n")
    # Not measured by coverage: this emulator answers most of the suite's AWS calls, and moto's
    # server under coverage's tracer made the whole suite about 40 % slower. The emulators that
    # tests/local starts for themselves are measured, so bakery/local/server.py still is.
    measured = os.environ.pop("COVERAGE_PROCESS_CONFIG", None)
    try:
        emulator = launcher.start(root)
    finally:
        if measured is not None:
            os.environ["COVERAGE_PROCESS_CONFIG"] = measured
    try:
        yield emulator
    finally:
        launcher.stop(root)


@pytest.fixture
def samples_on_emulator(sample_project: Path, shared_emulator: Any) -> Iterator[Path]:
    """The samples in a git repository, on the session's emulator, reset to a fresh start.

    Starting an emulator per test cost two seconds each; a reset and a new seed cost a tenth.
    Tests of starting, stopping and keeping state start emulators of their own.
    """
    from bakery.local import launcher
    from tests.support.emulator import reset
    from tests.support.project import commit_all

    commit_all(sample_project, "samples")
    reset(shared_emulator)
    launcher.adopt(sample_project, shared_emulator)
    yield sample_project


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Write `tests: N passed, N failed` to $BAKERY_TEST_SUMMARY, for `make test` to print last.

    The coverage report follows pytest's own summary there; this keeps the count the last line.
    """
    target = os.environ.get("BAKERY_TEST_SUMMARY")
    if not target or hasattr(config, "workerinput"):  # xdist workers report to the controller
        return
    stats = terminalreporter.stats
    passed = len([r for r in stats.get("passed", []) if getattr(r, "when", "call") == "call"])
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    skipped = len(stats.get("skipped", []))
    line = f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    Path(target).write_text(line + "\n", encoding="utf-8")
