from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import BakeryError
from bakery.packer.output import (
    MachineLine,
    ManifestError,
    OutputState,
    classify_failure,
    cross_check,
    parse_artifact_id,
    parse_line,
    parse_output,
    read_manifest,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "packer"
# The AMI ids moto handed out when the fixtures were recorded (README.md: update on re-record).
SINGLE = {"us-east-1": "ami-e2eff982fdbe69a3b"}
MULTI_REGION = {
    "eu-west-1": "ami-ae99ddca1db4967ff",
    "us-east-1": "ami-af6c23bcef189a2c5",
    "us-west-2": "ami-1fc9417bf2de04a56",
}
RERUN_FIRST = {"us-east-1": "ami-f160f3ea5055552f5"}
RERUN_SECOND = {"us-east-1": "ami-e3b733aaffa636f0f"}


def output(name: str) -> OutputState:
    return parse_output((FIXTURES / f"{name}.out").read_text())


def test_parse_line_splits_fields() -> None:
    line = "1795703911,amazon-ebs.single,artifact,0,id,us-east-1:ami-e2eff982fdbe69a3b\n"
    assert parse_line(line) == MachineLine(
        1795703911, "amazon-ebs.single", "artifact", ("0", "id", "us-east-1:ami-e2eff982fdbe69a3b")
    )


def test_parse_line_unescapes_comma_newline_and_carriage_return() -> None:
    parsed = parse_line(r"1,,ui,say,a%!(PACKER_COMMA) b\nc\rd")
    assert parsed is not None
    assert parsed.data == ("say", "a, b\nc\rd")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "2024/01/01 12:00:00 [INFO] Packer version: 1.6.6",
        "==> amazon-ebs.single: Launching a source AWS instance...",
        "not,a,machine,line",
        "1795703911,target,",
    ],
)
def test_parse_line_ignores_other_lines(line: str) -> None:
    assert parse_line(line) is None


def test_parse_artifact_id_reads_region_ami_pairs() -> None:
    assert parse_artifact_id("eu-west-1:ami-0a,us-east-1:ami-0b") == {
        "eu-west-1": "ami-0a",
        "us-east-1": "ami-0b",
    }
    with pytest.raises(ValueError, match="region:ami-id"):
        parse_artifact_id("us-east-1:snap-0a")


def test_single_region_build_reports_its_ami_once() -> None:
    state = output("single")
    assert state.amis == SINGLE
    # The manifest post-processor repeats the builder's artifact as artifact 1.
    assert state.artifact_count == 2
    assert state.artifact_ids == ["us-east-1:ami-e2eff982fdbe69a3b"]
    assert state.succeeded
    assert state.errors == []


def test_multi_region_build_reports_every_region() -> None:
    state = output("multi_region")
    assert state.amis == MULTI_REGION
    assert len(state.artifact_ids) == 1
    assert state.succeeded


def test_step_follows_the_latest_message_without_its_prefix() -> None:
    state = OutputState()
    steps = []
    for line in (FIXTURES / "single.out").read_text().splitlines():
        state.feed(line)
        steps.append(state.step)
    assert "Launching a source AWS instance..." in steps
    assert "Found Image ID: ami-0d27e0fb3bac4d724" in steps
    assert "Wait completed after 191 milliseconds 238 microseconds" not in steps
    assert all("==>" not in step and "\n" not in step for step in steps)
    assert state.step == "AMIs were created:"


def test_failing_provisioner_is_an_errored_build() -> None:
    state = output("failing")
    assert state.errored_builds == ["amazon-ebs.failing"]
    assert state.no_artifacts
    assert not state.succeeded
    assert state.amis == {}
    assert "Script exited with non-zero exit status: 3.Allowed exit codes are: [0]" in state.errors
    assert not any("Some builds didn't complete" in error for error in state.errors)
    assert classify_failure("\n".join(state.errors)) is None


def test_missing_source_ami_reports_the_aws_error_once() -> None:
    state = output("bad_source")
    assert state.errored_builds == ["amazon-ebs.bad_source"]
    assert not state.succeeded
    aws_errors = [e for e in state.errors if e.startswith("Error querying AMI")]
    assert len(aws_errors) == 1
    assert "InvalidAMIID.NotFound" in aws_errors[0]
    assert "status code: 400, request id" in aws_errors[0]
    assert classify_failure("\n".join(state.errors)) is None


def test_interrupted_build_is_cancelled() -> None:
    state = output("cancelled")
    assert state.cancelled
    assert not state.succeeded
    assert state.step == "Cleanly cancelled builds after being interrupted."


def test_cancelled_line_of_other_versions_is_recognised() -> None:
    state = OutputState()
    state.feed("1,,ui,say,==> amazon-ebs.web: Build was cancelled.")
    assert state.cancelled


def test_conflicting_artifacts_are_a_problem() -> None:
    state = OutputState()
    state.feed("1,amazon-ebs.web,artifact,0,id,us-east-1:ami-0a")
    state.feed("1,amazon-ebs.web,artifact,1,id,us-east-1:ami-0b")
    state.feed("1,amazon-ebs.web,artifact,2,id,ignored-by-us")
    assert state.amis == {"us-east-1": "ami-0a"}
    assert state.problems == [
        "amazon-ebs.web artifact 1: us-east-1 is ami-0b, an earlier artifact said ami-0a"
    ]
    assert not state.succeeded


def test_manifest_of_single_region_build() -> None:
    entry = read_manifest(FIXTURES / "single.manifest.json")
    assert entry.name == "single"
    assert entry.builder_type == "amazon-ebs"
    assert entry.amis == SINGLE
    assert entry.custom_data == {
        "build_id": "01HFIXTURESINGLE0000000000",
        "input_hash": "1" * 64,
        "recipe": "single",
    }


def test_manifest_of_multi_region_build() -> None:
    entry = read_manifest(FIXTURES / "multi_region.manifest.json")
    assert entry.amis == MULTI_REGION
    assert entry.artifact_id == ",".join(f"{r}:{a}" for r, a in sorted(MULTI_REGION.items()))


def test_manifest_picks_the_last_run_of_a_reused_file() -> None:
    entry = read_manifest(FIXTURES / "rerun.manifest.json")
    assert entry.amis == RERUN_SECOND
    assert entry.custom_data["build_id"] == "01HFIXTURERERUNSECOND00000"


@pytest.mark.parametrize(
    ("manifest", "out"),
    [("single", "single"), ("multi_region", "multi_region"), ("rerun", "rerun_second")],
)
def test_manifest_agrees_with_machine_output(manifest: str, out: str) -> None:
    entry = read_manifest(FIXTURES / f"{manifest}.manifest.json")
    assert cross_check(entry.amis, output(out).amis) == []


def test_cross_check_describes_each_mismatch() -> None:
    entry = read_manifest(FIXTURES / "rerun.manifest.json")
    assert cross_check(entry.amis, output("rerun_first").amis) == [
        "us-east-1: the manifest has ami-e3b733aaffa636f0f; "
        "Packer's output has ami-f160f3ea5055552f5"
    ]
    assert cross_check({"us-east-1": "ami-0a"}, {"us-west-2": "ami-0b"}) == [
        "us-east-1: the manifest has ami-0a; Packer's output has none",
        "us-west-2: Packer's output has ami-0b; the manifest has none",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "Packer wrote no manifest"),
        ("{not json", "cannot read"),
        ('{"builds": []}', "not a Packer manifest"),
        ('{"builds": [], "last_run_uuid": "u-1"}', "no entry for the last Packer run u-1"),
        (
            '{"builds": [{"packer_run_uuid": "u-1", "artifact_id": "x"}], "last_run_uuid": "u-1"}',
            "artifact_id 'x'",
        ),
    ],
)
def test_read_manifest_errors_say_what_is_wrong(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "manifest.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ManifestError, match=message) as caught:
        read_manifest(path)
    assert isinstance(caught.value, BakeryError)
    assert str(path) in str(caught.value)


def test_read_manifest_picks_a_named_build_of_a_multi_build_run(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    builds = ", ".join(
        f'{{"name": "{name}", "packer_run_uuid": "u-1", "artifact_id": "us-east-1:ami-0{i}"}}'
        for i, name in enumerate(["a", "b"])
    )
    path.write_text(f'{{"builds": [{builds}], "last_run_uuid": "u-1"}}')
    assert read_manifest(path, build_name="b").amis == {"us-east-1": "ami-01"}
    with pytest.raises(ManifestError, match="2 entries"):
        read_manifest(path)


@pytest.mark.parametrize(
    "text",
    [
        "Error launching source instance: RequestLimitExceeded: Request limit exceeded.",
        "Throttling: Rate exceeded",
        "ThrottlingException: slow down",
        "Error: Rate exceeded",
        "InsufficientInstanceCapacity: We currently do not have sufficient t3.micro capacity",
        "Timeout waiting for SSH.",
        "timeout while waiting for state to become 'running'",
        "Error waiting for instance to become ready: ResourceNotReady: exceeded wait attempts",
        "InternalError: An internal error has occurred",
        "ServiceUnavailable: The service is unavailable",
        "Unavailable: try again",
        # the AWS SDK for Go's network errors, as Packer prints them
        "Error creating AMI: RequestError: send request failed\ncaused by: Post "
        '"https://ec2.us-east-1.amazonaws.com/": read tcp 10.0.0.2:51234->52.94.0.1:443: '
        "read: connection reset by peer",
        'RequestError: send request failed caused by: Post "http://127.0.0.1:5000/": dial tcp '
        "127.0.0.1:5000: connect: connection refused",
        "dial tcp: lookup ec2.us-east-1.amazonaws.com: i/o timeout",
        "net/http: TLS handshake timeout",
    ],
)
def test_classify_failure_finds_transient_failures(text: str) -> None:
    assert classify_failure(text) == "transient"


@pytest.mark.parametrize(
    "text",
    [
        "InvalidAMIID.NotFound: The image id '[ami-0123456789abcdef0]' does not exist",
        "Script exited with non-zero exit status: 3.Allowed exit codes are: [0]",
        "UnauthorizedOperation: You are not authorized to perform this operation.",
        "Cleanly cancelled builds after being interrupted.",
    ],
)
def test_classify_failure_leaves_other_failures_alone(text: str) -> None:
    assert classify_failure(text) is None
