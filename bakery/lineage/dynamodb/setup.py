"""Create the lineage table (`bakery state init`): on demand, three indexes, PITR on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling
from bakery.errors import BakeryError

INDEXES = ("GSI1", "GSI2", "GSI3")
WAIT_SECONDS = 600.0  # a new table is usually ACTIVE within a minute


@dataclass(frozen=True)
class TableSetup:
    """What `ensure_table` found or did."""

    table: str
    region: str
    created: bool
    point_in_time_recovery: bool


def ensure_table(
    gateway: Gateway,
    name: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TableSetup:
    """Create the lineage table unless it exists, wait until ACTIVE, turn on PITR."""
    client = gateway.client("dynamodb")
    region = gateway.region
    existing = _describe(client, name, region)
    created = existing is None
    if existing is None:
        try:
            with calling("dynamodb", "CreateTable", region, name):
                client.create_table(**table_definition(name))
        except AwsError as error:
            if error.code != "ResourceInUseException":  # created by someone else meanwhile
                raise
    deadline = clock() + WAIT_SECONDS
    while (found := _describe(client, name, region)) is None or found["TableStatus"] != "ACTIVE":
        if clock() > deadline:
            raise BakeryError(
                f"the lineage table {name} in {region} is not ACTIVE after {WAIT_SECONDS:.0f}s; "
                "check it in the DynamoDB console and run `bakery state init` again"
            )
        sleep(2.0)
    _check_shape(found, name, region)
    _enable_point_in_time_recovery(client, name, region, sleep, deadline, clock)
    return TableSetup(name, region, created, point_in_time_recovery=True)


def table_definition(name: str) -> dict[str, Any]:
    """Return the CreateTable parameters of the lineage table (see bakery/lineage/dynamodb.py)."""
    keys = ("PK", "SK", *(f"{index}{part}" for index in INDEXES for part in ("PK", "SK")))
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": _key_schema("PK", "SK"),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": _key_schema(f"{index}PK", f"{index}SK"),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
        "Tags": [{"Key": "bakery:purpose", "Value": "lineage"}],
    }


def _key_schema(partition: str, sort: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": partition, "KeyType": "HASH"},
        {"AttributeName": sort, "KeyType": "RANGE"},
    ]


def _describe(client: Any, name: str, region: str) -> dict[str, Any] | None:
    try:
        with calling("dynamodb", "DescribeTable", region, name):
            return dict(client.describe_table(TableName=name)["Table"])
    except AwsError as error:
        if error.code == "ResourceNotFoundException":
            return None
        raise


def _check_shape(table: dict[str, Any], name: str, region: str) -> None:
    keys = [k["AttributeName"] for k in table.get("KeySchema", ())]
    indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", ())}
    missing = [index for index in INDEXES if index not in indexes]
    if keys != ["PK", "SK"] or missing:
        raise BakeryError(
            f"the table {name} in {region} exists but is not a bakery lineage table "
            f"(keys {keys}, missing indexes {missing}); name another table in bakery.yaml"
        )


def _enable_point_in_time_recovery(
    client: Any,
    name: str,
    region: str,
    sleep: Callable[[float], None],
    deadline: float,
    clock: Callable[[], float],
) -> None:
    while True:
        try:
            with calling("dynamodb", "UpdateContinuousBackups", region, name):
                client.update_continuous_backups(
                    TableName=name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
            return
        except AwsError as error:
            # Right after CreateTable, backups are still being set up for a short while.
            if error.code != "ContinuousBackupsUnavailableException" or clock() > deadline:
                raise
            sleep(5.0)
