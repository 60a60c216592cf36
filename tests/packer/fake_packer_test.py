"""The fake packer in tests/support/ speaks the formats bakery reads from the real one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bakery.packer.output import classify_failure, cross_check, parse_output, read_manifest
from tests.support.project import FAKE_PACKER

FAKE = FAKE_PACKER


def fake_env(tmp_path: Path, plan: dict[str, Any], **extra: str) -> dict[str, str]:
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return {
        **os.environ,
        "BAKERY_FAKE_PACKER_PLAN": str(tmp_path / "plan.json"),
        "BAKERY_FAKE_PACKER_LOG": str(tmp_path / "log.jsonl"),
        **extra,
    }


def build(tmp_path: Path, env: dict[str, str], recipe: str, *variables: str) -> Any:
    (tmp_path / f"{recipe}.pkr.hcl").touch()
    args = [str(FAKE), "build", "-machine-readable"]
    for variable in variables:
        args += ["-var", variable]
    return subprocess.run(
        [*args, f"{recipe}.pkr.hcl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def events(tmp_path: Path) -> list[dict[str, Any]]:
    text = (tmp_path / "log.jsonl").read_text()
    complete = text[: text.rfind("\n") + 1]  # the fake may be writing the last line
    return [json.loads(line) for line in complete.splitlines()]


def test_fake_reports_the_packer_version_bakery_supports() -> None:
    done = subprocess.run([str(FAKE), "version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "Packer v1.6.6"


def test_fake_build_output_and_manifest_parse_like_real_packer(tmp_path: Path) -> None:
    plan = {"web": {"duration": 0.2, "regions": ["us-east-1", "eu-west-1"]}}
    env = fake_env(tmp_path, plan)
    variables = ("manifest_path=out/manifest.json", "build_id=B1", "source_ami=ami-0abc")
    (tmp_path / "out").mkdir()
    done = build(tmp_path, env, "web", *variables, "input_hash=" + "f" * 64)

    assert done.returncode == 0
    state = parse_output(done.stdout)
    assert state.succeeded
    assert sorted(state.amis) == ["eu-west-1", "us-east-1"]
    assert all(re.fullmatch(r"ami-[0-9a-f]{17}", ami) for ami in state.amis.values())
    assert len(state.artifact_ids) == 1 and state.artifact_count == 2
    entry = read_manifest(tmp_path / "out" / "manifest.json")
    assert cross_check(entry.amis, state.amis) == []
    assert entry.custom_data == {"build_id": "B1", "input_hash": "f" * 64, "recipe": "web"}
    start, end = events(tmp_path)
    assert (start["event"], end["event"], end["result"]) == ("start", "end", "success")
    assert end["time"] - start["time"] >= 0.2
    assert start["vars"]["source_ami"] == "ami-0abc"


def test_fake_appends_runs_to_an_existing_manifest(tmp_path: Path) -> None:
    env = fake_env(tmp_path, {})
    first = build(tmp_path, env, "base", "manifest_path=m.json")
    second = build(tmp_path, env, "base", "manifest_path=m.json")

    document = json.loads((tmp_path / "m.json").read_text())
    assert len(document["builds"]) == 2
    assert read_manifest(tmp_path / "m.json").amis == parse_output(second.stdout).amis
    assert parse_output(first.stdout).amis != parse_output(second.stdout).amis


def test_fake_failure_is_an_errored_build(tmp_path: Path) -> None:
    done = build(tmp_path, fake_env(tmp_path, {"*": {"result": "fail"}}), "base")

    assert done.returncode == 1
    state = parse_output(done.stdout)
    assert state.errored_builds == ["amazon-ebs.base"] and state.no_artifacts
    assert classify_failure("\n".join(state.errors)) is None


def test_fake_transient_failure_happens_once_per_recipe(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    plan = {"*": {"result": "transient"}}
    env = fake_env(tmp_path, plan, BAKERY_FAKE_PACKER_TRANSIENT_ONCE_DIR=str(markers))

    first = build(tmp_path, env, "base")
    second = build(tmp_path, env, "base")

    assert first.returncode == 1
    assert classify_failure("\n".join(parse_output(first.stdout).errors)) == "transient"
    assert second.returncode == 0
    assert parse_output(second.stdout).succeeded


def test_fake_cancels_cleanly_on_sigint(tmp_path: Path) -> None:
    env = fake_env(tmp_path, {"slow": {"result": "hang"}})
    (tmp_path / "slow.pkr.hcl").touch()
    proc = subprocess.Popen(
        [str(FAKE), "build", "-machine-readable", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_for_event(tmp_path, "start")
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=10)

    assert proc.returncode == 1
    assert parse_output(stdout).cancelled
    assert [event["event"] for event in events(tmp_path)] == ["start", "cancelled"]


def test_fake_exits_at_once_on_sigterm(tmp_path: Path) -> None:
    env = fake_env(tmp_path, {"slow": {"result": "hang"}})
    (tmp_path / "slow.pkr.hcl").touch()
    proc = subprocess.Popen(
        [str(FAKE), "build", "-machine-readable", "slow.pkr.hcl"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_for_event(tmp_path, "start")
    proc.terminate()

    assert proc.wait(timeout=10) == 143


def wait_for_event(tmp_path: Path, event: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = tmp_path / "log.jsonl"
        if log.exists() and any(e["event"] == event for e in events(tmp_path)):
            return
        time.sleep(0.02)
    raise AssertionError(f"the fake never logged {event!r}")
