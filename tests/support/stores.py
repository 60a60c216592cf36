"""Lineage stores for tests: a SQLite file, a DynamoDB table in moto, another runner's handle on
the same state, and threads released at once to race on a store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.lineage.dynamodb.setup import ensure_table
from bakery.lineage.dynamodb.store import DynamoStore
from bakery.lineage.sqlite.store import SqliteStore
from bakery.lineage.store import LineageStore

TABLE = "bakery-lineage"


def serialise_dynamodb_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's DynamoDB requests, as DynamoDB serialises the writes to one item.

    moto evaluates a ConditionExpression and then writes, with nothing keeping threads apart in
    between (moto/dynamodb/models/table.py, put_item), so two racing conditional writes could
    both pass there; on DynamoDB they cannot. The races test bakery's conditions, not that.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@contextmanager
def moto_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """Yield a gateway to moto in us-east-1, its DynamoDB requests serialised."""
    serialise_dynamodb_requests(monkeypatch)
    with mock_aws():
        yield Gateway(AwsSettings("us-east-1"))


def dynamodb_store(gateway: Gateway, table: str = TABLE) -> DynamoStore:
    """Create the lineage table (as `bakery state init` does) and open a store on it."""
    ensure_table(gateway, table)
    return DynamoStore(table, gateway)


def another_runner(store: LineageStore) -> LineageStore:
    """Open the state of `store` again, as another runner does: its own connection or session."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    if isinstance(store, DynamoStore):
        return DynamoStore(store.table.name, Gateway(store.table.gateway.settings))
    raise TypeError(f"no other runner for {type(store).__name__}")


def location(store: LineageStore) -> str:
    """Return where a store is, as its error messages name it: a file, or a table URL."""
    if isinstance(store, SqliteStore):
        return str(store.path)
    if isinstance(store, DynamoStore):
        return store.url
    raise TypeError(f"no location for {type(store).__name__}")


def race(count: int, attempt: Callable[[int], object]) -> tuple[list[object], list[Exception]]:
    """Run `attempt(i)` in `count` threads released at once; return results and errors."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[Exception] = []

    def run(index: int) -> None:
        barrier.wait(timeout=60)
        try:
            results.append(attempt(index))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def read_only_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every SQLite connection read-only, as a file or folder the user cannot write is.

    (chmod does not stop root, who runs some CI jobs; `query_only` fails writes with the same
    SQLITE_READONLY error a read-only file gives.)
    """
    connect = sqlite3.connect

    def read_only(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.execute("PRAGMA query_only = ON")
        return db

    monkeypatch.setattr(sqlite3, "connect", read_only)


def refuse_writable_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every SQLite connection but a read-only one (a `file:` URI), as a full disk or a
    read-only mount refuses a writer that must create its shared-memory file."""
    connect = sqlite3.connect

    def refuse(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if not kwargs.get("uri"):
            raise sqlite3.OperationalError("unable to open database file")
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", refuse)
