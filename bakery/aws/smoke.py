"""Smoke-test instances: launch one from an image, wait for it, run commands through SSM, end it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bakery.aws.facts import CommandResult
from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.project import SmokeTestSettings

BUILD_TAG = "bakery:build-id"
PURPOSE_TAG = "bakery:purpose"
PURPOSE = "smoke-test"
OUTPUT_LIMIT = 4000
TERMINATE_TIMEOUT = 600.0
FIRST_POLL, MAX_POLL = 0.5, 5.0
TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
NOT_FOUND = "InvalidInstanceID.NotFound"
GONE = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
SSM_HINT = (
    "give the instance an instance profile with the AmazonSSMManagedInstanceCore policy "
    "(test.iam_instance_profile in bakery.yaml), a route from test.subnet_id to the SSM "
    "endpoints, and make sure the image runs the SSM agent"
)


def launch_test_instance(
    gateway: Gateway, region: str, ami_id: str, settings: SmokeTestSettings, build_id: str
) -> str:
    """Launch one tagged instance from `ami_id` with the test settings; return its id."""
    tags = [
        {"Key": "Name", "Value": f"bakery smoke test {build_id}"},
        {"Key": BUILD_TAG, "Value": build_id},
        {"Key": PURPOSE_TAG, "Value": PURPOSE},
    ]
    request: dict[str, Any] = {
        "ImageId": ami_id,
        "InstanceType": settings.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        # The same token on botocore's retries keeps a lost response from launching twice.
        "ClientToken": uuid.uuid4().hex,
        # A test command that shuts the machine down must not leave a stopped instance behind.
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume")
        ],
    }
    if settings.subnet_id:
        request["SubnetId"] = settings.subnet_id
    if settings.security_group_ids:
        request["SecurityGroupIds"] = list(settings.security_group_ids)
    if settings.iam_instance_profile:
        profile = settings.iam_instance_profile
        key = "Arn" if profile.startswith("arn:") else "Name"
        request["IamInstanceProfile"] = {key: profile}
    with calling("ec2", "RunInstances", region, ami_id):
        response = gateway.client("ec2", region).run_instances(**request)
    return str(response["Instances"][0]["InstanceId"])


def wait_ready(
    gateway: Gateway,
    region: str,
    instance_id: str,
    timeout: float,
    *,
    cancel: threading.Event | None = None,
) -> bool:
    """Wait until the instance runs and passes both status checks; False if cancelled."""
    ec2 = gateway.client("ec2", region)

    def running() -> bool:
        instance = _describe(ec2, region, instance_id)
        if instance is None:
            return False
        state = instance["State"]["Name"]
        if state in GONE:
            reason = instance.get("StateReason", {}).get("Message", "no reason given")
            raise AwsError(f"test instance {instance_id} in {region} is {state}: {reason}")
        return bool(state == "running")

    def checks_ok() -> bool:
        try:
            with calling("ec2", "DescribeInstanceStatus", region, instance_id):
                statuses = ec2.describe_instance_status(
                    InstanceIds=[instance_id], IncludeAllInstances=True
                )["InstanceStatuses"]
        except AwsError as error:
            if error.code == NOT_FOUND:
                return False
            raise
        if not statuses:
            return False
        system = statuses[0].get("SystemStatus", {}).get("Status")
        own = statuses[0].get("InstanceStatus", {}).get("Status")
        if "impaired" in (system, own):
            raise AwsError(
                f"test instance {instance_id} in {region} failed its status checks "
                f"(system {system}, instance {own}); see the instance's console output"
            )
        return bool(system == "ok" and own == "ok")

    deadline = time.monotonic() + timeout
    for check, what in ((running, "running"), (checks_ok, "passing its status checks")):
        if not _poll(check, deadline, cancel):
            if cancel is not None and cancel.is_set():
                return False
            raise AwsError(
                f"test instance {instance_id} in {region} was not {what} after {timeout:.0f}s"
            )
    return True


def run_commands(
    gateway: Gateway,
    region: str,
    instance_id: str,
    commands: Sequence[str],
    timeout: float,
    *,
    cancel: threading.Event | None = None,
    on_result: Callable[[CommandResult], object] | None = None,
) -> list[CommandResult]:
    """Run each command as its own SSM invocation, in order; stop early when cancelled."""
    deadline = time.monotonic() + timeout
    results: list[CommandResult] = []
    for command in commands:
        if cancel is not None and cancel.is_set():
            break
        result = _run_command(gateway, region, instance_id, command, deadline, cancel)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def terminate(gateway: Gateway, region: str, instance_id: str) -> None:
    """Terminate the instance and wait until it is terminated (ignores cancellation)."""
    ec2 = gateway.client("ec2", region)
    deadline = time.monotonic() + TERMINATE_TIMEOUT

    def asked() -> bool:
        try:
            with calling("ec2", "TerminateInstances", region, instance_id):
                ec2.terminate_instances(InstanceIds=[instance_id])
        except AwsError as error:
            if error.code == NOT_FOUND and time.monotonic() < deadline:
                return False
            raise
        return True

    def terminated() -> bool:
        instance = _describe(ec2, region, instance_id)
        return instance is not None and bool(instance["State"]["Name"] == "terminated")

    if not (_poll(asked, deadline, None) and _poll(terminated, deadline, None)):
        raise AwsError(
            f"test instance {instance_id} in {region} is not terminated after "
            f"{TERMINATE_TIMEOUT:.0f}s; check it in the EC2 console"
        )


def _run_command(
    gateway: Gateway,
    region: str,
    instance_id: str,
    command: str,
    deadline: float,
    cancel: threading.Event | None,
) -> CommandResult:
    ssm = gateway.client("ssm", region)
    command_id = _send(ssm, region, instance_id, command, deadline, cancel)
    if command_id is None:
        return CommandResult(command, "Cancelled", None)
    found: dict[str, Any] = {}

    def finished() -> bool:
        try:
            with calling("ssm", "GetCommandInvocation", region, f"{command_id} on {instance_id}"):
                found.update(
                    ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
                )
        except AwsError as error:
            # SSM answers this for a short while after SendCommand: not yet, not a failure.
            if error.code == "InvocationDoesNotExist":
                return False
            raise
        return found.get("Status") in TERMINAL

    if not _poll(finished, deadline, cancel):
        status = "Cancelled" if cancel is not None and cancel.is_set() else "TimedOut"
        return CommandResult(command, status, None, _output(found))
    code = found.get("ResponseCode")
    exit_code = None if code is None or code < 0 else int(code)  # -1: the command never ran
    return CommandResult(command, str(found["Status"]), exit_code, _output(found))


def _send(
    ssm: Any,
    region: str,
    instance_id: str,
    command: str,
    deadline: float,
    cancel: threading.Event | None,
) -> str | None:
    sent: list[str] = []

    def send() -> bool:
        left = max(1, int(deadline - time.monotonic()))
        try:
            with calling("ssm", "SendCommand", region, instance_id):
                response = ssm.send_command(
                    InstanceIds=[instance_id],
                    DocumentName="AWS-RunShellScript",
                    Comment="bakery smoke test",
                    TimeoutSeconds=max(30, min(left, 2592000)),
                    Parameters={
                        "commands": [command],
                        "executionTimeout": [str(min(left, 172800))],
                    },
                )
        except AwsError as error:
            # Until its agent has registered with SSM, a fresh instance is an InvalidInstanceId.
            if error.code == "InvalidInstanceId":
                return False
            raise
        sent.append(str(response["Command"]["CommandId"]))
        return True

    if _poll(send, deadline, cancel):
        return sent[0]
    if cancel is not None and cancel.is_set():
        return None
    raise AwsError(
        f"ssm SendCommand in {region} for {instance_id}: the instance did not register with "
        f"Systems Manager in time; {SSM_HINT}",
        "InvalidInstanceId",
    )


def _describe(ec2: Any, region: str, instance_id: str) -> dict[str, Any] | None:
    """Return the instance, or None while EC2 does not know its id yet (eventual consistency)."""
    try:
        with calling("ec2", "DescribeInstances", region, instance_id):
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except AwsError as error:
        if error.code == NOT_FOUND:
            return None
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


def _poll(check: Callable[[], bool], deadline: float, cancel: threading.Event | None) -> bool:
    """Call `check` with growing pauses until true (True), the deadline or a cancel (False)."""
    pause = FIRST_POLL
    while True:
        if check():
            return True
        if cancel is not None and cancel.is_set():
            return False
        end = min(time.monotonic() + pause, deadline)
        if time.monotonic() >= deadline:
            return False
        # Short sleeps, not cancel.wait(): a SIGINT handler that sets the event must never find
        # the event's lock held by the thread it interrupted.
        while time.monotonic() < end and not (cancel is not None and cancel.is_set()):
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
        pause = min(pause * 2, MAX_POLL)


def _output(invocation: dict[str, Any]) -> str:
    out = str(invocation.get("StandardOutputContent") or "")
    err = str(invocation.get("StandardErrorContent") or "")
    if out and err and not out.endswith("\n"):
        out += "\n"
    text = out + err
    if len(text) <= OUTPUT_LIMIT:
        return text
    # The end of the output is where a failing command says why.
    return "[... truncated]\n" + text[-(OUTPUT_LIMIT - 16) :]
