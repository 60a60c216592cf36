"""Seed the emulator with what the sample recipes need, over HTTP like any client."""

from __future__ import annotations

from typing import Any

from bakery.errors import BakeryError

SEED_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
# moto refuses writes under /aws/, so a base that should move later points at a demo parameter.
DEMO_PARAMETER = "/bakery-demo/al2023"
DEMO_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def session() -> Any:
    """Return a boto3 session with dummy credentials, blind to the user's AWS config."""
    import boto3

    return boto3.session.Session(**DUMMY_CREDENTIALS)


def ensure_default_subnets(ec2: Any) -> None:
    """Create the default VPC unless moto already serves default subnets in the region."""
    found = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    if not found["Subnets"]:
        ec2.create_default_vpc()


def public_al2023_image(ssm: Any, ec2: Any) -> str:
    """Return the available image the public AL2023 parameter names; moto must serve both."""
    region = ssm.meta.region_name
    try:
        image_id = str(ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound as error:
        raise BakeryError(f"moto serves no {AL2023_PARAMETER} in {region}") from error
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    if not images or images[0]["State"] != "available":
        raise BakeryError(f"{AL2023_PARAMETER} in {region} names {image_id}, not available")
    return image_id


def put_demo_parameter(ssm: Any, image_id: str) -> None:
    """Point the demo-owned parameter at IMAGE_ID unless it already exists."""
    try:
        ssm.get_parameter(Name=DEMO_PARAMETER)
    except ssm.exceptions.ParameterNotFound:
        ssm.put_parameter(
            Name=DEMO_PARAMETER, Type="String", DataType="aws:ec2:image", Value=image_id
        )


def seed(endpoint_url: str) -> None:
    """Check what moto serves by itself in each seed region and create only what is missing."""
    boto = session()
    for region in SEED_REGIONS:
        ec2 = boto.client("ec2", region_name=region, endpoint_url=endpoint_url)
        ssm = boto.client("ssm", region_name=region, endpoint_url=endpoint_url)
        ensure_default_subnets(ec2)
        image_id = public_al2023_image(ssm, ec2)
        if region == DEMO_REGION:
            put_demo_parameter(ssm, image_id)
