"""Build logs as the guard writes them: Packer 1.6.6's machine-readable lines, for reap's tests.

The lines are those of a real amazon-ebs build against moto (`.bakery/logs/BUILD_ID.log`): the
source image it found, the temporary key pair and security group it created, the builder
instance, the image and the snapshot it tagged. `write_build_log` writes them where a record's
`log_path` says, under the project root.
"""

from __future__ import annotations

from pathlib import Path

from bakery.lineage.records import BuildRecord


def packer_lines(
    builder: str = "amazon-ebs.base",
    *,
    source_ami: str = "ami-0b5eea76982371e91",
    key_pair: str | None = None,
    security_group: str | None = None,
    instance: str | None = None,
    ami: str | None = None,
    snapshot: str | None = None,
    at: int = 1704103200,
) -> list[str]:
    """Return the log lines of a build that got as far as the resources given."""

    def say(text: str) -> str:
        return f"{at},,ui,say,==> {builder}: {text}"

    def message(text: str) -> str:
        return f"{at},,ui,message,    {builder}: {text}"

    lines = [
        say("Prevalidating any provided VPC information"),
        message(f"Found Image ID: {source_ami}"),
    ]
    if key_pair:
        lines.append(say(f"Creating temporary keypair: {key_pair}"))
    if security_group:
        lines.append(say(f"Creating temporary security group for this instance: {security_group}"))
    if instance:
        lines += [say("Launching a source AWS instance..."), message(f"Instance ID: {instance}")]
    if ami:
        lines += [say(f"Creating AMI mdaVInA from instance {instance}"), message(f"AMI: {ami}")]
    if snapshot:
        lines.append(say(f"Tagging snapshot: {snapshot}"))
    return lines


def write_build_log(root: Path, record: BuildRecord, lines: list[str]) -> Path:
    """Write `lines` as the build log of `record` (its project-relative `log_path`)."""
    assert record.log_path is not None
    path = root / record.log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
