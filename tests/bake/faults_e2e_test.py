"""Faults during a bake, with the real Packer and the emulator behind a fault proxy.

The proxy (tests/support/fault_proxy.py) sits where bakery.yaml's `aws.endpoint_url` points, so
bakery's own calls and Packer's go through it: it throttles, fails, loses answers and holds
calls (a held call makes a Packer step last until the test lets it go, with no sleeping).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from bakery.lineage.leases import holder_gone
from bakery.lineage.records import BuildRecord, Status
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.disks import fill, small_disk
from tests.support.emulator import emulator_client
from tests.support.fault_proxy import (
    THROTTLING,
    UNAVAILABLE,
    Fault,
    FaultProxy,
    Hold,
    proxied_project,
)
from tests.support.processes import DEADLINE, wait_for
from tests.support.project import call_bakery, run_bakery, start_bakery

pytestmark = [pytest.mark.packer, pytest.mark.usefixtures("packer_binary")]

CAPACITY = Fault(
    400, "InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity."
)
INTERRUPTED = "Cancelling build after receiving interrupt"  # Packer's line on its SIGINT
BUILDER_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


@pytest.fixture
def project(samples_on_emulator: Path) -> Iterator[tuple[Path, FaultProxy]]:
    try:
        with proxied_project(samples_on_emulator) as proxy:
            yield samples_on_emulator, proxy
    finally:  # a test that failed midway leaves no bakery, guard or Packer of its own behind
        for pid in processes_of(samples_on_emulator):
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def bake_settings(root: Path, **settings: str) -> None:
    path = root / "bakery.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("bake", {}).update(settings)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def store(root: Path) -> SqliteStore:
    return SqliteStore(root / ".bakery/lineage.db")


def builds(root: Path, status: Status | None = None) -> list[BuildRecord]:
    with store(root) as opened:
        return opened.builds(status=status)


def build_log(root: Path, record: BuildRecord) -> str:
    assert record.log_path
    path = root / record.log_path
    return path.read_text(errors="replace") if path.exists() else ""


def images_of(root: Path, recipe: str) -> list[dict[str, Any]]:
    """Every image of `recipe` in the build region that still exists, as the emulator has it."""
    found = emulator_client(root, "ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:bakery:recipe", "Values": [recipe]}]
    )["Images"]
    return [image for image in found if image["State"] not in ("deregistered", "failed")]


def live_builders(root: Path, build_ids: list[str]) -> list[str]:
    reservations = emulator_client(root, "ec2").describe_instances(
        Filters=[
            {"Name": "tag:bakery:build-id", "Values": build_ids},
            {"Name": "instance-state-name", "Values": BUILDER_STATES},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def processes_of(root: Path) -> dict[int, str]:
    """The processes still at work for the project (bakery, guards, Packer, its plugins)."""
    found = {}
    for process in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        command = " ".join(info["cmdline"] or [])
        if str(root) in command or str(info["cwd"] or "").startswith(str(root)):
            found[int(info["pid"])] = command
    return found


def bake_json(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {item["recipe"]: item for item in json.loads(done.stdout)}


def results_of(out: str) -> dict[str, str]:
    return {item["recipe"]: item["result"] for item in json.loads(out)}


def test_packer_calls_throttled_or_unavailable_a_few_times_are_retried_by_its_sdk(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    proxy.fail("RunInstances", times=2, fault=THROTTLING)
    proxy.fail("CreateImage", times=2, fault=UNAVAILABLE)
    # Local mode comes from the endpoint in bakery.yaml alone, and signs with dummy keys
    # whatever keys the environment holds.
    process = start_bakery(
        root,
        "bake",
        "al2023-base",
        "--json",
        BAKERY_LOCAL="0",
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result = json.loads(out)[0]
    assert result["result"] == "succeeded"
    assert proxy.seen("RunInstances") == 3 and proxy.seen("CreateImage") == 3
    assert [image["ImageId"] for image in images_of(root, "al2023-base")] == [
        result["images"]["us-east-1"]
    ]
    [record] = builds(root)
    assert record.status is Status.SUCCEEDED
    assert "# bakery: attempt" not in build_log(root, record)  # Packer's SDK coped alone
    assert proxy.access_keys() == {"testing"}


def test_a_failure_packer_gives_up_on_is_retried_by_bakery_with_the_reason_logged(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    bake_settings(root, retry_delay="0s")
    proxy.fail("RunInstances", times=1, fault=CAPACITY)  # a 400: Packer's SDK does not retry
    result = bake_json(run_bakery(root, "bake", "al2023-base", "--json"))["al2023-base"]
    assert result["result"] == "succeeded"
    assert proxy.seen("RunInstances") == 2
    assert [image["ImageId"] for image in images_of(root, "al2023-base")] == [
        result["images"]["us-east-1"]
    ]
    [record] = builds(root)
    assert record.status is Status.SUCCEEDED and record.build_id == result["build_id"]
    notes = [line for line in build_log(root, record).splitlines() if line.startswith("# bakery")]
    assert len(notes) == 1, notes
    assert notes[0].startswith("# bakery: attempt 2 of 3 after a transient failure: ")
    assert "InsufficientInstanceCapacity" in notes[0]
    assert live_builders(root, [record.build_id]) == []


def test_a_lost_run_instances_answer_leaves_a_builder_that_reap_finds_and_removes(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    proxy.drop("RunInstances")  # the instance starts; Packer's SDK never hears of it, retries
    result = bake_json(run_bakery(root, "bake", "al2023-base", "--json"))["al2023-base"]
    assert result["result"] == "succeeded"
    assert proxy.seen("RunInstances") == 2
    assert len(images_of(root, "al2023-base")) == 1
    [lost] = live_builders(root, [result["build_id"]])
    listed = call_bakery(root, "reap").stdout
    assert f"would remove instance {lost} in us-east-1 (build {result['build_id']})" in listed
    call_bakery(root, "reap", "--apply")
    assert live_builders(root, [result["build_id"]]) == []


def start_held_bake(root: Path, proxy: FaultProxy) -> tuple[subprocess.Popen[str], Hold]:
    """Bake the chain below web and worker, then start `bake --all --jobs 2` and return it
    once both of their builds are held in StopInstances (after the build's instance ran)."""
    run_bakery(root, "bake", "cis-hardened")
    bake_settings(root, cancel_grace="5m")  # Packer is never hurried: it cleans up in full
    hold = proxy.hold("StopInstances", times=2)
    process = start_bakery(root, "bake", "--all", "--jobs", "2", "--json")
    if not hold.wait_arrived(2, DEADLINE):
        process.kill()
        pytest.fail(f"the two builds did not reach StopInstances: {process.communicate()}")
    return process, hold


def running_builds(root: Path) -> list[BuildRecord]:
    found = builds(root, Status.RUNNING)
    assert sorted(r.recipe for r in found) == ["web", "worker"]
    return found


def test_sigterm_cancels_the_held_builds_packer_cleans_up_and_bakery_exits_130(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    process, hold = start_held_bake(root, proxy)
    held = running_builds(root)
    process.send_signal(signal.SIGTERM)
    # bakery passes the stop on to each guard, which gives its Packer SIGINT; Packer says so
    # and goes on once its StopInstances is answered, to clean up instead of making an image.
    wait_for(lambda: all(INTERRUPTED in build_log(root, r) for r in held), "packer got SIGINT")
    assert live_builders(root, [r.build_id for r in held]) != []
    hold.release()
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    results = results_of(out)
    assert results == {
        "al2023-base": "up to date",
        "cis-hardened": "up to date",
        "web": "cancelled",
        "worker": "cancelled",
    }
    with store(root) as opened:
        assert {r.recipe: r.status for r in opened.builds() if r.recipe in ("web", "worker")} == {
            "web": Status.CANCELLED,
            "worker": Status.CANCELLED,
        }
        assert opened.lease("web") is None and opened.lease("worker") is None
    assert processes_of(root) == {}
    assert live_builders(root, [r.build_id for r in held]) == []
    assert proxy.seen("CreateImage") == 2  # of the chain below: the held builds made none
    assert images_of(root, "web") == [] and images_of(root, "worker") == []


def test_sigkill_of_bakery_the_guards_stop_packer_and_a_rerun_starts_at_once(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    process, hold = start_held_bake(root, proxy)
    held = running_builds(root)
    process.kill()  # SIGKILL: bakery does nothing more; the guards see it gone
    process.communicate(timeout=DEADLINE)
    wait_for(lambda: all(INTERRUPTED in build_log(root, r) for r in held), "packer got SIGINT")
    hold.release()
    wait_for(lambda: processes_of(root) == {}, "the guards and Packer to end")
    for record in held:
        assert "Cleanly cancelled builds after being interrupted" in build_log(root, record)
    assert live_builders(root, [r.build_id for r in held]) == []
    assert {r.recipe: r.status for r in builds(root, Status.RUNNING)} == {
        "web": Status.RUNNING,
        "worker": Status.RUNNING,
    }

    before = proxy.seen("RunInstances")
    rerun = start_bakery(root, "bake", "--all", "--jobs", "2", "--json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "waiting" not in err  # the dead runner's leases were taken over, not waited for
    assert err.count("at once: its process on this host has ended") == 2
    assert err.count("left running by a process that ended; recorded interrupted") == 2
    results = results_of(out)
    assert results["web"] == results["worker"] == "succeeded"
    assert proxy.seen("RunInstances") - before == 2  # each recipe built once
    with store(root) as opened:
        statuses = sorted(
            (r.recipe, r.status.value) for r in opened.builds() if r.recipe in ("web", "worker")
        )
        assert opened.lease("web") is None and opened.lease("worker") is None
    assert statuses == [
        ("web", "interrupted"),
        ("web", "succeeded"),
        ("worker", "interrupted"),
        ("worker", "succeeded"),
    ]
    assert len(images_of(root, "web")) == 1 and len(images_of(root, "worker")) == 1


def test_a_store_that_fills_up_mid_build_loses_no_image_and_a_rerun_records_it(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    settings = root / "bakery.yaml"
    settings.write_text(
        settings.read_text().replace(
            "state: sqlite:.bakery/lineage.db", "state: sqlite:.bakery/store/lineage.db"
        )
    )
    with small_disk(root / ".bakery" / "store", size="8m"):
        hold = proxy.hold("CreateImage")
        process = start_bakery(root, "bake", "al2023-base", "--json")
        assert hold.wait_arrived(1, DEADLINE), process.communicate()
        filler = fill(root / ".bakery" / "store")  # while Packer makes the image
        hold.release()
        out, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 1, err
        assert "Traceback" not in err
        result = json.loads(out)[0]
        ami = result["images"]["us-east-1"]
        assert result["result"] == "not recorded"
        assert f"succeeded with us-east-1:{ami}, but the lineage store" in result["detail"]
        assert "the disk is full" in result["detail"]
        assert [image["ImageId"] for image in images_of(root, "al2023-base")] == [ami]
        filler.unlink()  # the operator frees space and reruns
        rerun = run_bakery(root, "bake", "al2023-base", "--json")
        assert "recorded succeeded" in rerun.stderr
        assert bake_json(rerun)["al2023-base"]["result"] == "up to date"
        with SqliteStore(root / ".bakery/store/lineage.db") as opened:
            found = opened.find_by_ami(ami)
            assert found is not None and found.status is Status.SUCCEEDED
            assert found.build_id == result["build_id"]
            # the ended process's lease blocks nothing: the next build takes it over at once
            lease = opened.lease("al2023-base")
            assert lease is None or holder_gone(lease.holder)
        assert f"{ami}" in call_bakery(root, "lineage", ami).stdout


def test_a_log_folder_that_fills_up_mid_build_fails_nothing_and_keeps_the_log_so_far(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    with small_disk(root / ".bakery" / "logs", size="64k"):
        hold = proxy.hold("CreateImage")
        process = start_bakery(root, "bake", "al2023-base", "--json")
        assert hold.wait_arrived(1, DEADLINE), process.communicate()
        fill(root / ".bakery" / "logs")
        hold.release()
        _, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, err
        assert "cannot write its build log" in err
        [record] = builds(root)
        assert record.status is Status.SUCCEEDED and record.ami_ids
        assert "Prevalidating AMI Name" in build_log(root, record)  # written before the fill
