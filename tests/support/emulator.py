"""The emulator of a test project, reached directly (not through bakery), and a base that moves.

The samples take their base from moto's public AL2023 parameter, which cannot be written; a test
that needs the base to move points the base recipe at the emulator's demo parameter first
(`use_demo_base`), then points that parameter at another public AL2023 image (`move_base`), as a
new release of the base would.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import boto3

from bakery.local import launcher
from bakery.local.seed import AL2023_PARAMETER, DEMO_PARAMETER, DUMMY_CREDENTIALS, seed

BASE_RECIPE = "recipes/base/al2023-base.yaml"


def reset(emulator: launcher.LocalEmulator) -> None:
    """Make a running emulator as a fresh start leaves it: moto forgets everything, then the
    seed runs again. bakery's corrections of moto are code in the server and stay."""
    request = urllib.request.Request(f"{emulator.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200, answer.status
    seed(emulator.endpoint_url)


def emulator_client(root: Path, service: str, region: str = "us-east-1") -> Any:
    """Return a boto3 client of the emulator running for the project at `root`."""
    emulator = launcher.status(root)
    assert emulator is not None, f"no emulator runs for {root}"
    return boto3.client(
        service, region_name=region, endpoint_url=emulator.endpoint_url, **DUMMY_CREDENTIALS
    )


def use_demo_base(root: Path) -> None:
    """Make the samples' base recipe read the demo parameter, which `move_base` can move."""
    base = root / BASE_RECIPE
    base.write_text(base.read_text().replace(AL2023_PARAMETER, DEMO_PARAMETER))


def move_base(root: Path) -> str:
    """Point the demo parameter at another public AL2023 image with an EBS root; return it."""
    ssm, ec2 = emulator_client(root, "ssm"), emulator_client(root, "ec2")
    current = ssm.get_parameter(Name=DEMO_PARAMETER)["Parameter"]["Value"]
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[
            {"Name": "name", "Values": ["al2023-ami-2023*"]},
            {"Name": "root-device-type", "Values": ["ebs"]},
        ],
    )["Images"]
    newer = str(next(i["ImageId"] for i in images if i["ImageId"] != current))
    ssm.put_parameter(
        Name=DEMO_PARAMETER, Value=newer, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    return newer
