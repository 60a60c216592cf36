from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.commands import smoke as command
from bakery.config.project import SmokeTestSettings
from bakery.config.recipe import Recipe, Source
from bakery.errors import BakeryError
from bakery.lifecycle.smoke import CANCELLED, SmokeTestError, smoke_test
from bakery.lineage.records import BuildRecord, RegionImage, SmokeTest, Status, new_build_id
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.amis import make_ami
from tests.support.records import ami_source, make_record, succeeded

STARTED = datetime(2024, 6, 1, 10, 0, tzinfo=UTC).timestamp()
BUILD_ID = new_build_id(STARTED)
SOURCE_AMI = "ami-0123456789abcdef0"
TESTS = ("systemctl is-active nginx", "curl -fsS http://localhost/")
ClientWrapper = Callable[[Any], Any]


class SeamGateway(Gateway):
    """A moto Gateway whose clients of some services are replaced by fakes wrapping them."""

    def __init__(self, **wrappers: ClientWrapper) -> None:
        super().__init__(AwsSettings("us-east-1"))
        self.wrappers = wrappers

    def client(self, service: str, region: str | None = None) -> Any:
        real = super().client(service, region)
        wrap = self.wrappers.get(service)
        return wrap(real) if wrap else real


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "from the test"}}, operation)


class FakeSsm:
    """Plays SSM Run Command: each sent command gets the invocation the script gives it."""

    def __init__(
        self,
        script: Callable[[str], dict[str, Any]],
        not_yet: int = 0,
        refuse: Callable[[int], str | None] = lambda _: None,
    ) -> None:
        self.script = script
        self.not_yet = not_yet  # GetCommandInvocation answers InvocationDoesNotExist so often
        self.refuse = refuse  # the error code SendCommand answers to the n-th command, if any
        self.sent: list[str] = []

    def send_command(self, **request: Any) -> dict[str, Any]:
        assert request["DocumentName"] == "AWS-RunShellScript"
        code = self.refuse(len(self.sent))
        if code:
            raise client_error(code, "SendCommand")
        self.sent.extend(request["Parameters"]["commands"])
        return {"Command": {"CommandId": str(len(self.sent) - 1)}}

    def get_command_invocation(self, **request: Any) -> dict[str, Any]:
        if self.not_yet:
            self.not_yet -= 1
            raise client_error("InvocationDoesNotExist", "GetCommandInvocation")
        return self.script(self.sent[int(request["CommandId"])])


def invocation(status: str, code: int, out: str = "", err: str = "") -> dict[str, Any]:
    return {
        "Status": status,
        "ResponseCode": code,
        "StandardOutputContent": out,
        "StandardErrorContent": err,
    }


class Ec2With:
    """The moto EC2 client with one operation replaced: by `instead`, or by a failure."""

    def __init__(self, real: Any, operation: str, instead: Callable[..., Any] | None = None):
        self.real, self.operation, self.instead = real, operation, instead

    def __getattr__(self, name: str) -> Any:
        if name != self.operation:
            return getattr(self.real, name)
        if self.instead is not None:
            return self.instead

        def fail(**_: Any) -> Any:
            raise client_error("UnauthorizedOperation", "DescribeInstanceStatus")

        return fail


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "db") as opened:
        yield opened


def bake_image(gateway: Gateway) -> str:
    """Make an AMI in moto the way a build does: from an instance of an Amazon image."""
    return make_ami("web-1.0.0", gateway=gateway, from_instance=True)


def build(ami: str, status: Status = Status.SUCCEEDED, **changes: Any) -> BuildRecord:
    """The build of web 1.0.0 that made `ami`, from 10:00 to 10:20 on 2024-06-01."""
    fields = {"build_id": BUILD_ID, "version": "1.0.0", "source": ami_source(SOURCE_AMI)}
    started = make_record("web", STARTED, **(fields | changes))
    return replace(succeeded(started, RegionImage("us-east-1", ami), after=1200), status=status)


def recipe(tests: tuple[str, ...] = TESTS) -> Recipe:
    source = Source("ami", SOURCE_AMI)
    return Recipe("web", "app", "1.0.0", source, "recipes/web.yaml", "us-east-1", tests=tests)


def run_on_new_image(
    gateway: Gateway,
    store: SqliteStore,
    settings: SmokeTestSettings | None = None,
    cancel: threading.Event | None = None,
) -> SmokeTest:
    """Bake an image in moto and smoke test its build with the two TESTS."""
    record = build(bake_image(gateway))
    return smoke_test(
        gateway,
        store,
        record,
        recipe(),
        settings or SmokeTestSettings(),
        cancel or threading.Event(),
    )


def smoke_instances(gateway: Gateway) -> list[dict[str, Any]]:
    pages = gateway.client("ec2").describe_instances(
        Filters=[{"Name": "tag:bakery:purpose", "Values": ["smoke-test"]}]
    )["Reservations"]
    return [instance for page in pages for instance in page["Instances"]]


def all_terminated(gateway: Gateway) -> bool:
    instances = smoke_instances(gateway)
    return bool(instances) and all(i["State"]["Name"] == "terminated" for i in instances)


def test_passing_run_stores_one_result_per_command_and_terminates(
    aws: None, store: SqliteStore
) -> None:
    launched: list[dict[str, Any]] = []

    def recording(real: Any) -> Ec2With:
        def run_instances(**request: Any) -> Any:
            launched.append(request)
            return real.run_instances(**request)

        return Ec2With(real, "run_instances", run_instances)

    gateway = SeamGateway(ec2=recording)
    ami = bake_image(gateway)
    ec2 = gateway.client("ec2")
    gateway.client("iam").create_instance_profile(InstanceProfileName="bakery-smoke")
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.create_security_group(GroupName="smoke", Description="x", VpcId=subnet["VpcId"])
    settings = SmokeTestSettings(
        subnet["SubnetId"], "t3.small", "bakery-smoke", (group["GroupId"],), "5m"
    )
    result = smoke_test(gateway, store, build(ami), recipe(), settings, threading.Event())
    assert result.passed and result.error is None
    assert [(c.command, c.status, c.exit_code) for c in result.commands] == [
        (TESTS[0], "Success", 0),
        (TESTS[1], "Success", 0),
    ]
    assert store.smoke_tests(BUILD_ID) == [result]
    [instance] = smoke_instances(gateway)
    assert instance["InstanceId"] == result.instance_id
    assert instance["State"]["Name"] == "terminated"
    assert (instance["ImageId"], instance["InstanceType"]) == (ami, "t3.small")
    assert instance["SubnetId"] == subnet["SubnetId"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]
    # moto drops the profile association on termination; the request shows it was given.
    assert launched[-1]["IamInstanceProfile"] == {"Name": "bakery-smoke"}
    assert "KeyName" not in launched[-1]
    assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {
        "Name": f"bakery smoke test {BUILD_ID}",
        "bakery:build-id": BUILD_ID,
        "bakery:purpose": "smoke-test",
    }


def test_failing_command_stores_failed_result_with_its_output(
    aws: None, store: SqliteStore
) -> None:
    def script(command: str) -> dict[str, Any]:
        if command.startswith("curl"):
            return invocation("Failed", 7, err="curl: (7) Failed to connect")
        return invocation("Success", 0, out="active\n")

    ssm = FakeSsm(script, not_yet=1)  # SSM does not know an invocation just after sending
    gateway = SeamGateway(ssm=lambda _: ssm)
    result = run_on_new_image(gateway, store)
    assert not result.passed and result.error is None
    assert [(c.status, c.exit_code, c.output) for c in result.commands] == [
        ("Success", 0, "active\n"),
        ("Failed", 7, "curl: (7) Failed to connect"),
    ]
    assert store.smoke_tests(BUILD_ID) == [result]
    assert all_terminated(gateway)


def test_output_joins_stdout_and_stderr_and_keeps_the_end_of_long_output(
    aws: None, store: SqliteStore
) -> None:
    ssm = FakeSsm(lambda _: invocation("Success", 0, out="x" * 5000 + "out", err="err"))
    gateway = SeamGateway(ssm=lambda _: ssm)
    result = run_on_new_image(gateway, store)
    output = result.commands[0].output
    assert len(output) == 4000
    assert output.startswith("[... truncated]\n") and output.endswith("xout\nerr")


def test_instance_is_terminated_when_status_checks_cannot_be_read(
    aws: None, store: SqliteStore
) -> None:
    gateway = SeamGateway(ec2=lambda real: Ec2With(real, "describe_instance_status"))
    with pytest.raises(SmokeTestError) as raised:
        run_on_new_image(gateway, store)
    [stored] = store.smoke_tests(BUILD_ID)
    assert stored == raised.value.result
    assert not stored.passed and stored.commands == ()
    assert stored.error is not None and "DescribeInstanceStatus" in stored.error
    assert str(raised.value) == f"smoke test of {BUILD_ID} failed: {stored.error}"
    assert all_terminated(gateway)


def test_instance_is_terminated_when_a_command_cannot_be_sent(
    aws: None, store: SqliteStore
) -> None:
    ssm = FakeSsm(
        lambda _: invocation("Success", 0), refuse=lambda n: "AccessDeniedException" if n else None
    )
    gateway = SeamGateway(ssm=lambda _: ssm)
    with pytest.raises(SmokeTestError, match=r"SendCommand.*AccessDeniedException"):
        run_on_new_image(gateway, store)
    [stored] = store.smoke_tests(BUILD_ID)
    assert [c.command for c in stored.commands] == [TESTS[0]]  # the first result is kept
    assert not stored.passed
    assert all_terminated(gateway)


def test_instance_that_never_registers_with_ssm_times_out_with_a_hint(
    aws: None, store: SqliteStore
) -> None:
    # What SendCommand answers until the instance's SSM agent has registered.
    ssm = FakeSsm(lambda _: invocation("Success", 0), refuse=lambda _: "InvalidInstanceId")
    gateway = SeamGateway(ssm=lambda _: ssm)
    settings = SmokeTestSettings(timeout="1s")
    with pytest.raises(SmokeTestError, match="AmazonSSMManagedInstanceCore"):
        run_on_new_image(gateway, store, settings)
    assert all_terminated(gateway)


def test_cancel_during_the_tests_stops_them_and_terminates(aws: None, store: SqliteStore) -> None:
    cancel = threading.Event()

    def script(command: str) -> dict[str, Any]:
        cancel.set()  # Ctrl-C while the first command runs
        return invocation("Success", 0)

    ssm = FakeSsm(script)
    gateway = SeamGateway(ssm=lambda _: ssm)
    result = run_on_new_image(gateway, store, cancel=cancel)
    assert ssm.sent == [TESTS[0]]
    assert not result.passed and result.error == CANCELLED
    assert store.smoke_tests(BUILD_ID) == [result]
    assert all_terminated(gateway)


def test_cancel_during_the_wait_runs_no_command_and_terminates(
    aws: None, store: SqliteStore
) -> None:
    cancel = threading.Event()

    def starting(**_: Any) -> dict[str, Any]:
        cancel.set()
        return {"InstanceStatuses": []}  # status checks not yet reported

    ssm = FakeSsm(lambda _: invocation("Success", 0))
    gateway = SeamGateway(
        ec2=lambda real: Ec2With(real, "describe_instance_status", starting),
        ssm=lambda _: ssm,
    )
    result = run_on_new_image(gateway, store, cancel=cancel)
    assert ssm.sent == [] and result.commands == ()
    assert result.error == CANCELLED
    assert all_terminated(gateway)


def test_keyboard_interrupt_terminates_records_and_propagates(
    aws: None, store: SqliteStore
) -> None:
    def interrupted(command: str) -> dict[str, Any]:
        raise KeyboardInterrupt

    gateway = SeamGateway(ssm=lambda _: FakeSsm(interrupted))
    with pytest.raises(KeyboardInterrupt):
        run_on_new_image(gateway, store)
    [stored] = store.smoke_tests(BUILD_ID)
    assert stored.error == CANCELLED and not stored.passed
    assert all_terminated(gateway)


@pytest.mark.parametrize(
    ("changes", "tests", "message"),
    [
        (
            {"status": Status.FAILED},
            TESTS,
            f"build {BUILD_ID} of web 1.0.0 is failed, not succeeded; "
            "only a succeeded build can be tested",
        ),
        (
            {"revoked": True, "revoked_reason": "CVE-2024-1234"},
            TESTS,
            f"build {BUILD_ID} of web 1.0.0 is revoked (CVE-2024-1234); test a newer build",
        ),
        (
            {},
            (),
            "recipe web has no tests; add a tests: list of shell commands "
            "to recipes/web.yaml to smoke test its images",
        ),
    ],
    ids=["failed", "revoked", "no-tests"],  # the messages hold a build id, new each run
)
def test_refusals_launch_nothing_and_store_nothing(
    aws: None,
    store: SqliteStore,
    changes: dict[str, Any],
    tests: tuple[str, ...],
    message: str,
) -> None:
    gateway = Gateway(AwsSettings("us-east-1"))
    record = build(bake_image(gateway), **changes)
    with pytest.raises(BakeryError) as raised:
        smoke_test(gateway, store, record, recipe(tests), SmokeTestSettings(), threading.Event())
    assert str(raised.value) == message
    assert smoke_instances(gateway) == []
    assert store.smoke_tests(BUILD_ID) == []


WEB_RECIPE = """\
name: web
layer: app
version: 1.0.0
source:
  ami: ami-0123456789abcdef0
tests:
  - systemctl is-active nginx
  - curl -fsS http://localhost/
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_command_tests_name_at_version_and_prints_each_command(
    aws: None,
    make_project: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    root = make_project({"recipes/web.yaml": WEB_RECIPE})
    ami = bake_image(Gateway(AwsSettings("us-east-1")))
    with SqliteStore(root / ".bakery/lineage.db") as lineage:
        lineage.put(build(ami))
        lineage.put(build(ami, build_id=new_build_id(STARTED - 86400), version="0.9.0"))
    args = argparse.Namespace(
        ref="web@1.0.0", json=as_json, local=False, project=str(root), debug=False
    )
    before = signal.getsignal(signal.SIGINT)
    assert command.run(args) == 0
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C handling is given back
    out = capsys.readouterr().out
    if as_json:
        data = json.loads(out)
        assert data["build_id"] == BUILD_ID and data["passed"] is True
        assert [c["command"] for c in data["commands"]] == list(TESTS)
    else:
        assert f"PASS  {TESTS[0]}\n" in out and f"PASS  {TESTS[1]}\n" in out
        assert out.endswith("passed: 2 of 2 commands passed\n")
