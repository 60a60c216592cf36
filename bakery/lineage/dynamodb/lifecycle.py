"""Promotions, smoke tests and shares in the DynamoDB store (mixed into DynamoStore)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bakery.aws.facts import CommandResult
from bakery.lineage.dynamodb import items
from bakery.lineage.dynamodb.table import Table
from bakery.lineage.records import Promotion, RegionImage, Share, SmokeTest

_COUNTER = items.key("COUNTER", "SEQ")


class LifecycleItems:
    """Promotions in one partition per recipe, smoke tests and shares beside their build."""

    table: Table

    def _next_seq(self) -> int:
        """Return the next number of the table's counter: the order of promotions and tests.

        An atomic counter, not the clock: runners on machines whose clocks disagree still
        record promotions in the order they happened.
        """
        answer = self.table.update(_COUNTER, "ADD #seq :one", one=1)
        return int(items.decode(answer["Attributes"]["seq"]))

    def add_promotion(self, promotion: Promotion) -> None:
        """Record that a channel now points to a build."""
        self.table.put(_promotion_item(promotion, self._next_seq()))

    def promotions(self, recipe: str | None = None, channel: str | None = None) -> list[Promotion]:
        """Return promotions of a recipe and/or channel, newest first."""
        values: dict[str, object] = {"promo": "PROMO#"}
        where = None
        if channel is not None:
            values["channel"] = channel
            where = "#channel = :channel"
        if recipe is not None:
            values["pk"] = f"PROMOS#{recipe}"
            found: Iterable[items.Item] = self.table.query(
                "PK = :pk AND begins_with(SK, :promo)", values, newest_first=True, where=where
            )
        else:  # every recipe: only `state migrate` asks, so a scan is fine
            values["promos"] = "PROMOS#"
            scope = "begins_with(PK, :promos) AND begins_with(SK, :promo)"
            found = self.table.scan(scope if where is None else f"{scope} AND {where}", values)
        return [_promotion(v) for v in _newest_first(found)]

    def add_smoke_test(self, result: SmokeTest) -> None:
        """Store the result of a smoke test with its build."""
        self.table.put(_smoke_test_item(result, self._next_seq()))

    def smoke_tests(self, build_id: str) -> list[SmokeTest]:
        """Return the smoke tests of a build, newest first."""
        found = self._of_build(build_id, "TEST#", newest_first=True)
        return [_smoke_test(v) for v in _newest_first(found)]

    def add_share(self, share: Share) -> None:
        """Record that an account may launch a build's images (or, removed, no longer may)."""
        self.table.put(_share_item(share))

    def shares(self, build_id: str) -> list[Share]:
        """Return the accounts a build's images are (or were, when removed) shared with."""
        found = (items.plain(i) for i in self._of_build(build_id, "SHARE#"))
        return [
            Share(
                v["build_id"],
                v["account"],
                v["at"],
                v["by"],
                v.get("removed_at"),
                v.get("removed_by"),
            )
            for v in found
        ]

    def _of_build(
        self, build_id: str, prefix: str, *, newest_first: bool = False
    ) -> Iterable[items.Item]:
        values = {"pk": items.build_pk(build_id), "prefix": prefix}
        condition = "PK = :pk AND begins_with(SK, :prefix)"
        return self.table.query(condition, values, newest_first=newest_first)


def _newest_first(found: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    return sorted((items.plain(i) for i in found), key=lambda v: int(v["seq"]), reverse=True)


def _promotion_item(promotion: Promotion, seq: int) -> items.Item:
    return items.item(
        PK=f"PROMOS#{promotion.recipe}",
        SK=f"PROMO#{seq:012d}",
        seq=seq,
        recipe=promotion.recipe,
        channel=promotion.channel,
        build_id=promotion.build_id,
        images=[[i.region, i.ami_id] for i in promotion.images],
        at=promotion.at,
        by=promotion.by,
        previous_build_id=promotion.previous_build_id,
        action=promotion.action,
        note=promotion.note,
    )


def _promotion(values: Mapping[str, Any]) -> Promotion:
    return Promotion(
        recipe=values["recipe"],
        channel=values["channel"],
        build_id=values["build_id"],
        images=tuple(RegionImage(region, ami) for region, ami in values["images"]),
        at=values["at"],
        by=values["by"],
        previous_build_id=values.get("previous_build_id"),
        action=values["action"],
        note=values.get("note", ""),
    )


def _smoke_test_item(result: SmokeTest, seq: int) -> items.Item:
    return items.item(
        PK=items.build_pk(result.build_id),
        SK=f"TEST#{seq:012d}",
        seq=seq,
        build_id=result.build_id,
        region=result.region,
        ami_id=result.ami_id,
        started_at=result.started_at,
        ended_at=result.ended_at,
        passed=result.passed,
        instance_id=result.instance_id,
        commands=[vars(c) for c in result.commands],
        error=result.error,
    )


def _smoke_test(values: Mapping[str, Any]) -> SmokeTest:
    commands: Sequence[Mapping[str, Any]] = values.get("commands", ())
    return SmokeTest(
        build_id=values["build_id"],
        region=values["region"],
        ami_id=values["ami_id"],
        started_at=values["started_at"],
        ended_at=values["ended_at"],
        passed=bool(values["passed"]),
        instance_id=values.get("instance_id"),
        commands=tuple(
            CommandResult(c["command"], c["status"], c.get("exit_code"), c.get("output", ""))
            for c in commands
        ),
        error=values.get("error"),
    )


def _share_item(share: Share) -> items.Item:
    return items.item(
        PK=items.build_pk(share.build_id),
        SK=f"SHARE#{share.account}",
        build_id=share.build_id,
        account=share.account,
        at=share.at,
        by=share.by,
        removed_at=share.removed_at,
        removed_by=share.removed_by,
    )
