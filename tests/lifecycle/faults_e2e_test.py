"""Faults during copies and promotions, with the real Packer and the emulator behind a proxy.

The proxy (tests/support/fault_proxy.py) sits where bakery.yaml's `aws.endpoint_url` points: it
loses CopyImage answers, fails CreateTags in one region, and holds a channel's PutParameter so
that the other promotions of the channel must wait for its writer.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bakery.lineage.records import BuildRecord
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.emulator import emulator_client
from tests.support.fault_proxy import Fault, FaultProxy, proxied_project
from tests.support.processes import DEADLINE, wait_for
from tests.support.project import call_bakery, run_bakery, start_bakery

pytestmark = [pytest.mark.packer, pytest.mark.usefixtures("packer_binary")]

TARGET = "eu-west-1"
DENIED = Fault(403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
BAKERY_TAGS = ("bakery:recipe", "bakery:build-id", "bakery:input-hash", "bakery:managed")


@pytest.fixture
def project(samples_on_emulator: Path) -> Iterator[tuple[Path, FaultProxy]]:
    with proxied_project(samples_on_emulator) as proxy:
        yield samples_on_emulator, proxy


BASE = "al2023-base"  # one build to copy: the copy tests need no chain


def bake_base(root: Path) -> str:
    """Bake the base recipe alone; return its build id."""
    done = run_bakery(root, "bake", BASE, "--json")
    return str(json.loads(done.stdout)[0]["build_id"])


def bake_web(root: Path) -> str:
    """Bake web (and the chain below it); return the build id of web."""
    done = run_bakery(root, "bake", "web", "--json")
    return str(next(o["build_id"] for o in json.loads(done.stdout) if o["recipe"] == "web"))


def record(root: Path, build_id: str) -> BuildRecord:
    with SqliteStore(root / ".bakery/lineage.db") as store:
        found = store.get(build_id)
    assert found is not None
    return found


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def images_in(root: Path, region: str) -> list[dict[str, Any]]:
    """The images of this account in `region` that still exist, as the emulator has them."""
    found = emulator_client(root, "ec2", region).describe_images(Owners=["self"])["Images"]
    return [image for image in found if image["State"] not in ("deregistered", "failed")]


def assert_complete_copy(root: Path, build_id: str, region: str) -> str:
    """Check a build's copy in `region`: tagged as the build's image, snapshots too, recorded
    with its snapshots, the one image there; return its AMI id."""
    home = record(root, build_id).image_in("us-east-1")
    assert home is not None
    ec2 = emulator_client(root, "ec2")
    expected = tags(ec2.describe_images(ImageIds=[home.ami_id])["Images"][0])
    there = images_in(root, region)
    assert len(there) == 1, f"{region} holds {[(i['ImageId'], i['Name'], tags(i)) for i in there]}"
    [image] = there
    assert tags(image) == expected
    assert all(key in expected for key in BAKERY_TAGS)
    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshots
    described = emulator_client(root, "ec2", region).describe_snapshots(SnapshotIds=snapshots)
    for snapshot in described["Snapshots"]:
        assert tags(snapshot)["bakery:build-id"] == build_id
    recorded = record(root, build_id).image_in(region)
    assert recorded is not None and recorded.ami_id == image["ImageId"]
    assert list(recorded.snapshot_ids) == snapshots
    return str(image["ImageId"])


def test_a_lost_copy_image_answer_makes_one_copy_and_a_rerun_nothing_new(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    base = bake_base(root)
    proxy.drop("CopyImage", region=TARGET)  # the request went through, its answer is lost
    [copied] = json.loads(call_bakery(root, "copy", BASE, "--to", TARGET, "--json").stdout)
    assert copied["copied"] is True and copied["error"] == ""
    assert proxy.seen("CopyImage", TARGET) >= 1
    assert assert_complete_copy(root, base, TARGET) == copied["ami_id"]
    there = {image["ImageId"] for image in images_in(root, TARGET)}
    calls = proxy.seen("CopyImage", TARGET)
    again = call_bakery(root, "copy", BASE, "--to", TARGET).stdout
    assert f"already in {TARGET} as {copied['ami_id']}" in again
    assert proxy.seen("CopyImage", TARGET) == calls
    assert {image["ImageId"] for image in images_in(root, TARGET)} == there
    recorded = record(root, base).image_in(TARGET)
    assert recorded is not None and recorded.ami_id == copied["ami_id"]


def test_a_copy_whose_tags_fail_in_one_region_is_reported_and_a_rerun_finishes_it(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    base = bake_base(root)
    other = "ap-southeast-2"
    proxy.fail("CreateTags", times=1, fault=DENIED, region=TARGET)
    text = call_bakery(root, "copy", BASE, "--to", TARGET, other, check=False)
    assert text.returncode == 1, text.stderr
    [made] = images_in(root, TARGET)
    assert (
        f"bakery: error: copy to {TARGET} failed (the copy {made['ImageId']} is recorded): "
        in text.stderr
    )
    assert "UnauthorizedOperation" in text.stderr and "rerun the same command" in text.stderr
    assert f"copied to {other} as " in text.stdout and TARGET not in text.stdout
    recorded = record(root, base).image_in(TARGET)
    assert recorded is not None and recorded.ami_id == made["ImageId"]

    proxy.fail("CreateTags", times=1, fault=DENIED, region=TARGET)
    as_json = call_bakery(root, "copy", BASE, "--to", TARGET, other, "--json", check=False)
    assert as_json.returncode == 1
    by_region = {result["region"]: result for result in json.loads(as_json.stdout)}
    assert by_region[TARGET]["ami_id"] == made["ImageId"]
    assert "UnauthorizedOperation" in by_region[TARGET]["error"]
    assert by_region[other]["error"] == "" and by_region[other]["copied"] is False

    rerun = call_bakery(root, "copy", BASE, "--to", TARGET, other)
    assert f"already in {TARGET} as {made['ImageId']}" in rerun.stdout
    assert assert_complete_copy(root, base, TARGET) == made["ImageId"]
    assert_complete_copy(root, base, other)
    plan = json.loads(call_bakery(root, "prune", "--keep", "0", "--json").stdout)
    seen = {(d["region"], d["ami_id"]): d for d in plan["decisions"]}
    copy = seen[(TARGET, made["ImageId"])]
    finished = record(root, base).image_in(TARGET)
    assert finished is not None and finished.snapshot_ids
    assert copy["recipe"] == BASE and copy["snapshot_ids"] == list(finished.snapshot_ids)


class Promoter:
    """A `bakery promote` process whose stderr is read as it comes."""

    def __init__(self, root: Path, build_id: str) -> None:
        self.build_id = build_id
        self.process = start_bakery(root, "promote", build_id, "--channel", "dev", "--json")
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def waits(self) -> bool:
        return any("waiting for it" in line for line in list(self.lines))

    def finish(self) -> subprocess.CompletedProcess[str]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout=DEADLINE)
        self.reader.join(timeout=DEADLINE)
        return subprocess.CompletedProcess([], code, out, "".join(self.lines))


def assert_channel_agrees(root: Path, build_id: str) -> None:
    """Store, SSM parameter and channel tag all say the dev channel of web holds `build_id`."""
    with SqliteStore(root / ".bakery/lineage.db") as store:
        history = store.promotions("web", "dev")
    assert history[0].build_id == build_id
    for newer, older in itertools.pairwise(history):
        assert newer.previous_build_id == older.build_id  # a chain, newest first
    assert history[-1].previous_build_id is None
    image = record(root, build_id).image_in("us-east-1")
    assert image is not None
    parameter = emulator_client(root, "ssm").get_parameter(Name="/bakery/web/dev")["Parameter"]
    assert parameter["Value"] == image.ami_id
    tagged = emulator_client(root, "ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["bakery:channel:dev"]}]
    )["Images"]
    assert [i["ImageId"] for i in tagged] == [image.ami_id]
    [row] = json.loads(call_bakery(root, "channels", "web", "--json").stdout)
    assert row["channel"] == "dev" and row["build_id"] == build_id and row["drift"] is False


def test_four_concurrent_promotions_leave_store_parameter_and_tags_in_step(
    project: tuple[Path, FaultProxy],
) -> None:
    root, proxy = project
    first = bake_web(root)
    script = root / "recipes/scripts/web/install-nginx.sh"
    script.write_text(script.read_text() + "# a second build\n")
    second = bake_web(root)
    assert first != second
    # The first writer to take the channel's lease is held at its PutParameter until the
    # three others have said they wait for it: all four contend for the one channel.
    hold = proxy.hold("PutParameter", times=1)
    promoters = [Promoter(root, build) for build in (first, second, first, second)]
    try:
        assert hold.wait_arrived(1, DEADLINE), [p.lines for p in promoters]
        wait_for(
            lambda: sum(p.waits for p in promoters) == 3, "three promotions waiting for the lease"
        )
    finally:
        hold.release()
    done = [promoter.finish() for promoter in promoters]
    assert [d.returncode for d in done] == [0, 0, 0, 0], [d.stderr for d in done]
    assert all("Traceback" not in d.stderr for d in done)
    with SqliteStore(root / ".bakery/lineage.db") as store:
        current = store.promotions("web", "dev")[0]
        assert store.lease("web channel dev") is None
    assert proxy.seen("PutParameter") == 4  # each writer pointed the channel itself
    assert_channel_agrees(root, current.build_id)

    back = json.loads(call_bakery(root, "rollback", "web", "--channel", "dev", "--json").stdout)
    assert back["build_id"] == current.previous_build_id
    assert_channel_agrees(root, back["build_id"])
