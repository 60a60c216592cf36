from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import BakeryError
from bakery.lineage.sqlite.store import SqliteStore
from bakery.lineage.store import open_store


def test_open_store_puts_a_relative_sqlite_path_under_the_root(tmp_path: Path) -> None:
    with open_store("sqlite:.bakery/state/lineage.db", tmp_path) as store:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / ".bakery" / "state" / "lineage.db"
    assert store.path.is_file()


def test_open_store_keeps_an_absolute_sqlite_path(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "db.sqlite"
    with open_store(f"sqlite:{target}", tmp_path / "project") as store:
        assert isinstance(store, SqliteStore) and store.path == target


@pytest.mark.parametrize("url", ["sqlite:", "postgres://db", "lineage.db", ""])
def test_open_store_refuses_other_urls_with_the_expected_form(tmp_path: Path, url: str) -> None:
    with pytest.raises(BakeryError, match=r"not a lineage store URL; use sqlite:PATH"):
        open_store(url, tmp_path)
