"""The KMS keys bakery.yaml and the recipes name: an alias resolved to the key it points at."""

from __future__ import annotations

from collections.abc import Iterable

from bakery.aws.session import Gateway, calling


def is_alias(key: str) -> bool:
    """Whether `key` names a KMS key by alias (`alias/x` or an alias ARN)."""
    return key.startswith("alias/") or (key.startswith("arn:") and ":alias/" in key)


def resolve_key_aliases(
    gateway: Gateway, keys: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Return (region, key) pairs with every alias replaced by the ARN of its key today.

    A key named by id or ARN is left as it is (no call is made for it).
    """
    found: set[tuple[str, str]] = set()
    for region, key in keys:
        if not is_alias(key):
            found.add((region, key))
            continue
        with calling("kms", "DescribeKey", region, key):
            answer = gateway.client("kms", region).describe_key(KeyId=key)
        found.add((region, str(answer["KeyMetadata"]["Arn"])))
    return tuple(sorted(found))
