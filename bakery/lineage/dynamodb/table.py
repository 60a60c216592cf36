"""The calls the DynamoDB store makes on its one table: paginated reads, conditional writes."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling
from bakery.errors import BakeryError
from bakery.lineage.dynamodb.items import Item, encode

TRANSACTION_LIMIT = 100  # items per TransactWriteItems call
CONFLICT_ATTEMPTS = 8


class ConditionFailed(BakeryError):
    """A conditional write found the item in another state; `index` is the failing operation."""

    def __init__(self, table: str, index: int = 0) -> None:
        super().__init__(f"a conditional write to the lineage table {table} was refused")
        self.index = index


class Table:
    """One DynamoDB table reached through the gateway; keeps no state of its own."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway = gateway
        self.name = name

    @property
    def region(self) -> str:
        return self.gateway.region

    @property
    def url(self) -> str:
        return f"dynamodb://{self.name}?region={self.region}"

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call a DynamoDB operation (CamelCase name) on this table; map the errors we expect."""
        method = getattr(self.gateway.client("dynamodb"), _snake(operation))
        if operation != "TransactWriteItems":
            params["TableName"] = self.name
        try:
            with calling("dynamodb", operation, self.region, self.name):
                return dict(method(**params))
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                raise ConditionFailed(self.name) from error
            if error.code == "ResourceNotFoundException":
                raise BakeryError(
                    f"the lineage table {self.name} does not exist in {self.region}; "
                    "create it with `bakery state init`"
                ) from error
            raise

    def get(self, key: Item) -> Item | None:
        """Return an item read with strong consistency, or None."""
        found = self.call("GetItem", Key=key, ConsistentRead=True).get("Item")
        return None if found is None else dict(found)

    def query(
        self,
        condition: str,
        values: Mapping[str, object],
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        where: str | None = None,
    ) -> Iterator[Item]:
        """Yield the items a key condition (and filter) selects, page after page."""
        # Strongly consistent on the table; an index is only ever eventually consistent.
        params = expressions(values, KeyConditionExpression=condition, FilterExpression=where)
        params["ScanIndexForward"] = not newest_first
        if index is None:
            params["ConsistentRead"] = True
        else:
            params["IndexName"] = index
        if limit is not None:
            params["Limit"] = limit
        yield from self._pages("Query", params, limit)

    def scan(self, where: str, values: Mapping[str, object]) -> Iterator[Item]:
        """Yield every item a filter keeps, reading the whole table with strong consistency."""
        params = expressions(values, FilterExpression=where)
        params["ConsistentRead"] = True
        yield from self._pages("Scan", params, None)

    def _pages(self, operation: str, params: dict[str, Any], limit: int | None) -> Iterator[Item]:
        seen = 0
        while True:
            page = self.call(operation, **params)
            for found in page.get("Items", ()):
                yield dict(found)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def put(self, found: Item, condition: str | None = None, **values: object) -> None:
        """Write an item; raise ConditionFailed when `condition` does not hold."""
        self.call("PutItem", **put_op(found, condition, **values)["Put"])

    def update(
        self, key: Item, expression: str, condition: str | None = None, **values: object
    ) -> dict[str, Any]:
        """Update an item; raise ConditionFailed when `condition` does not hold."""
        params = update_op(key, expression, condition, **values)["Update"]
        return self.call("UpdateItem", ReturnValues="ALL_NEW", **params)

    def delete(self, key: Item, condition: str | None = None, **values: object) -> None:
        """Delete an item; raise ConditionFailed when `condition` does not hold."""
        self.call("DeleteItem", **delete_op(key, condition, **values)["Delete"])

    def transact(self, operations: Sequence[Mapping[str, Any]]) -> None:
        """Write operations ({"Put": {...}} etc.) all or none, `TRANSACTION_LIMIT` at a time.

        Only the first batch may carry conditions that can fail; a build has far fewer
        images than fit in one batch, so in practice every write is a single transaction.
        """
        for start in range(0, len(operations), TRANSACTION_LIMIT):
            batch = [_with_table(op, self.name) for op in operations[start:][:TRANSACTION_LIMIT]]
            self._transact(batch, start)

    def _transact(self, batch: list[dict[str, Any]], offset: int) -> None:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.call("TransactWriteItems", TransactItems=batch)
                return
            except AwsError as error:
                if error.code != "TransactionCanceledException":
                    raise
                reasons = _reasons(error)
                if "ConditionalCheckFailed" in reasons:
                    index = reasons.index("ConditionalCheckFailed")
                    raise ConditionFailed(self.name, offset + index) from error
                # Another transaction touched the same items at the same moment: try again.
                if "TransactionConflict" not in reasons or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))


def expressions(values: Mapping[str, object], **given: str | None) -> dict[str, Any]:
    """Return the parameters of expressions that write attributes `#name`, values `:name`."""
    params: dict[str, Any] = {kind: text for kind, text in given.items() if text is not None}
    names = {name for text in params.values() for name in re.findall(r"#(\w+)", text)}
    if names:
        params["ExpressionAttributeNames"] = {f"#{name}": name for name in sorted(names)}
    if values:
        params["ExpressionAttributeValues"] = {f":{k}": encode(v) for k, v in values.items()}
    return params


def put_op(found: Item, condition: str | None = None, **values: object) -> dict[str, Any]:
    """Return a transaction operation that writes an item (if `condition` holds)."""
    return {"Put": {"Item": found, **expressions(values, ConditionExpression=condition)}}


def update_op(
    key: Item, expression: str, condition: str | None = None, **values: object
) -> dict[str, Any]:
    """Return a transaction operation that updates an item (if `condition` holds)."""
    params = expressions(values, UpdateExpression=expression, ConditionExpression=condition)
    return {"Update": {"Key": key, **params}}


def delete_op(key: Item, condition: str | None = None, **values: object) -> dict[str, Any]:
    """Return a transaction operation that deletes an item (if `condition` holds)."""
    return {"Delete": {"Key": key, **expressions(values, ConditionExpression=condition)}}


def check_op(key: Item, condition: str, **values: object) -> dict[str, Any]:
    """Return a transaction operation that only checks a condition on an item."""
    return {"ConditionCheck": {"Key": key, **expressions(values, ConditionExpression=condition)}}


def _with_table(operation: Mapping[str, Any], table: str) -> dict[str, Any]:
    ((kind, body),) = operation.items()
    return {kind: {**body, "TableName": table}}


def _reasons(error: AwsError) -> list[str]:
    response = getattr(error.__cause__, "response", None) or {}
    return [str(r.get("Code") or "None") for r in response.get("CancellationReasons", ())]


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
