"""`bakery local start|status|stop` as a user runs them: `python -m bakery` in the project."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bakery.local import launcher
from tests.support.processes import running
from tests.support.project import BASE_RECIPE, ProjectFactory, run_bakery


@pytest.fixture
def project(make_project: ProjectFactory) -> Iterator[Path]:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    try:
        yield root
    finally:
        launcher.stop(root)  # whatever the test left running


def answers(endpoint: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint}/moto-api/config", timeout=5) as reply:
            return int(reply.status) < 300
    except OSError:
        return False


def test_local_start_status_stop_keep_and_fresh_as_a_user_runs_them(project: Path) -> None:
    """One flow, so the emulator starts three times rather than five."""
    started = json.loads(run_bakery(project, "local", "start", "--json").stdout)
    assert set(started) == {"pid", "port", "endpoint_url"}
    assert started["endpoint_url"] == f"http://127.0.0.1:{started['port']}"
    assert answers(started["endpoint_url"])
    again = json.loads(run_bakery(project, "local", "start", "--json").stdout)
    assert again == started  # the running one, not a second server
    ssm(started["endpoint_url"]).put_parameter(Name="/test/kept", Value="yes", Type="String")

    status = run_bakery(project, "local", "status")
    assert status.stdout == (
        f"emulator running at {started['endpoint_url']} (pid {started['pid']})\n"
    )
    assert json.loads(run_bakery(project, "local", "status", "--json").stdout) == started

    assert run_bakery(project, "local", "stop").stdout == "emulator stopped\n"
    assert not answers(started["endpoint_url"])
    assert not running(started["pid"])

    gone = run_bakery(project, "local", "status", check=False)
    assert gone.returncode == 1
    assert gone.stdout == "emulator not running; start it with `bakery local start`\n"
    assert json.loads(run_bakery(project, "local", "status", "--json", check=False).stdout) is None
    assert run_bakery(project, "local", "stop").stdout == "no emulator was running\n"
    assert json.loads(run_bakery(project, "local", "stop", "--json").stdout) == {"stopped": False}

    # a restart keeps what the last run made; --fresh forgets it
    second = json.loads(run_bakery(project, "local", "start", "--json").stdout)
    assert parameter(second["endpoint_url"], "/test/kept") == "yes"
    fresh = json.loads(run_bakery(project, "local", "start", "--fresh", "--json").stdout)
    assert fresh["pid"] != second["pid"] and not running(second["pid"])
    assert parameter(fresh["endpoint_url"], "/test/kept") is None
    assert json.loads(run_bakery(project, "local", "stop", "--json").stdout) == {"stopped": True}


def ssm(endpoint: str) -> Any:
    return boto3.client("ssm", region_name="us-east-1", endpoint_url=endpoint)


def parameter(endpoint: str, name: str) -> str | None:
    client = ssm(endpoint)
    try:
        return str(client.get_parameter(Name=name)["Parameter"]["Value"])
    except client.exceptions.ParameterNotFound:
        return None
