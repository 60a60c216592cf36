"""A record made from an image's `bakery:` tags (`bakery state import`)."""

from __future__ import annotations

import pytest

from bakery.aws.images import Image
from bakery.lineage.tag_import import parameters_of, record_from_tags


def tagged(**tags: str) -> Image:
    """An image as DescribeImages reports it, with `tags`."""
    base = {"bakery:build-id": "01HBUILD", "bakery:recipe": "web"}
    return {
        "ImageId": "ami-1",
        "CreationDate": "2024-01-01T10:05:00.000Z",
        "Tags": [{"Key": k, "Value": v} for k, v in {**base, **tags}.items()],
    }


def test_the_parameters_tag_is_imported_sorted_by_name() -> None:
    record = record_from_tags(tagged(**{"bakery:parameters": "arch=arm64,accel=nvidia"}), "r")
    assert record is not None
    assert record.parameters == (("accel", "nvidia"), ("arch", "arm64"))


def test_an_image_without_the_parameters_tag_imports_none() -> None:
    record = record_from_tags(tagged(), "us-east-1")
    assert record is not None and record.parameters == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("arch=arm64", (("arch", "arm64"),)),
        ("arch=arm64,,disk=20,", (("arch", "arm64"), ("disk", "20"))),
        ("arch,disk=20", (("disk", "20"),)),  # no `=`
        ("=arm64,disk=20", (("disk", "20"),)),  # no name
        ("a=b=c,disk=20", (("disk", "20"),)),  # a value holding `=`
        ("label=,disk=20", (("disk", "20"), ("label", ""))),  # an empty value is a value
        ("arch=x86_64,arch=arm64", (("arch", "arm64"),)),  # the last one wins
    ],
)
def test_the_parameters_tag_is_read_leniently_skipping_malformed_parts(
    value: str, expected: tuple[tuple[str, str], ...]
) -> None:
    assert parameters_of(value) == expected
