"""Channels in AWS: SSM parameters of data type aws:ec2:image, image tags, deprecation."""

from __future__ import annotations

from datetime import datetime

from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.tags import REVOKED_TAG

CHANNEL_PREFIX = "/bakery"


def parameter_name(recipe: str, channel: str) -> str:
    """Name the SSM parameter a channel of a recipe lives in: /bakery/<recipe>/<channel>."""
    return f"{CHANNEL_PREFIX}/{recipe}/{channel}"


def point_channel(gateway: Gateway, region: str, recipe: str, channel: str, ami_id: str) -> int:
    """Write the channel parameter (launch templates read it with resolve:ssm:); its version."""
    name = parameter_name(recipe, channel)
    with calling("ssm", "PutParameter", region, name):
        answer = gateway.client("ssm", region).put_parameter(
            Name=name,
            Value=ami_id,
            Type="String",
            DataType="aws:ec2:image",
            Overwrite=True,
            Description=f"bakery channel {channel} of {recipe}",
        )
    return int(answer["Version"])


def read_channel(gateway: Gateway, region: str, recipe: str, channel: str) -> str | None:
    """Return the AMI a channel parameter holds in a region, or None when there is none."""
    name = parameter_name(recipe, channel)
    ssm = gateway.client("ssm", region)
    with calling("ssm", "GetParameters", region, name):
        found = ssm.get_parameters(Names=[name])["Parameters"]
    return str(found[0]["Value"]) if found else None


def tag_channel(
    gateway: Gateway, region: str, ami_id: str, channel: str, at: str, previous: str | None
) -> None:
    """Tag the image `bakery:channel:<name>` and take the tag off the image it replaces."""
    ec2 = gateway.client("ec2", region)
    key = f"bakery:channel:{channel}"
    if previous and previous != ami_id:
        with calling("ec2", "DeleteTags", region, previous):
            ec2.delete_tags(Resources=[previous], Tags=[{"Key": key}])
    with calling("ec2", "CreateTags", region, ami_id):
        ec2.create_tags(Resources=[ami_id], Tags=[{"Key": key, "Value": at}])


def mark_revoked(gateway: Gateway, region: str, ami_id: str, reason: str) -> None:
    """Tag the image as revoked, with the reason."""
    with calling("ec2", "CreateTags", region, ami_id):
        gateway.client("ec2", region).create_tags(
            Resources=[ami_id], Tags=[{"Key": REVOKED_TAG, "Value": reason[:256]}]
        )


def deprecate(gateway: Gateway, region: str, ami_id: str, at: datetime) -> str | None:
    """Deprecate the image now; return a note when the endpoint does not implement the call."""
    ec2 = gateway.client("ec2", region)
    try:
        with calling("ec2", "EnableImageDeprecation", region, ami_id):
            ec2.enable_image_deprecation(ImageId=ami_id, DeprecateAt=at)
    except NotImplementedError:  # moto in-process
        return _UNSUPPORTED
    except AwsError:
        # The moto server answers an unimplemented call with a bare HTML 500 page, which is
        # indistinguishable from other failures; against the emulator, say so instead of failing.
        if gateway.settings.local:
            return _UNSUPPORTED
        raise
    return None


_UNSUPPORTED = (
    "this endpoint does not implement EnableImageDeprecation (the local emulator does not)"
)
