"""Pure checks before an image moves: promotion gates, share refusals, where channels go back."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

from bakery.config.project import Channel
from bakery.config.schema import UNIT_ARN_PATTERN
from bakery.lineage.records import BuildRecord, Promotion, SmokeTest, Status


def promotion_problems(
    record: BuildRecord,
    channel: Channel,
    *,
    promoted_to: Collection[str],
    smoke_tests: Sequence[SmokeTest],
    default_region: str,
) -> list[str]:
    """Return why `record` may not be promoted to `channel` (empty when it may)."""
    ref = f"{record.recipe} {record.version} ({record.build_id})"
    if record.status is not Status.SUCCEEDED:
        return [f"{ref} did not succeed ({record.status}); only succeeded builds are promoted"]
    problems: list[str] = []
    if record.revoked:
        problems.append(f"{ref} is revoked ({record.revoked_reason}); promote a newer build")
    if channel.requires and channel.requires not in promoted_to:
        problems.append(
            f"channel {channel.name} requires {ref} to be promoted to {channel.requires} first; "
            f"run: bakery promote {record.build_id} --channel {channel.requires}"
        )
    if channel.smoke_test and not any(test.passed for test in smoke_tests):
        last = "its last smoke test failed" if smoke_tests else "it has no smoke test"
        problems.append(
            f"channel {channel.name} requires a passing smoke test and {last}; "
            f"run: bakery test {record.build_id}"
        )
    held = {image.region for image in record.images}
    for region in channel.regions or (default_region,):
        if region not in held:
            problems.append(
                f"channel {channel.name} serves {region}, where {ref} has no image; "
                f"run: bakery copy {record.build_id} --to {region}"
            )
    return problems


def share_problems(
    record: BuildRecord,
    ancestors: Sequence[BuildRecord],
    accounts: Sequence[str],
    allowlist: Collection[str],
    *,
    shareable: bool,
    image_product_codes: Sequence[str] = (),
) -> list[str]:
    """Return why `record`'s images may not be shared with `accounts` (empty when they may)."""
    problems = grant_problems(accounts, allowlist)
    if shareable:
        return problems
    carriers = [(record, tuple(image_product_codes) or record.source.product_codes)]
    carriers += [(ancestor, ancestor.source.product_codes) for ancestor in ancestors]
    for carrier, codes in carriers:
        if codes:
            through = "" if carrier is record else f" through its ancestor {carrier.recipe}"
            problems.append(
                f"{record.recipe} {record.version} carries AWS Marketplace product codes "
                f"{', '.join(codes)}{through}; sharing is refused unless the recipe says "
                "licensing: {shareable: true}"
            )
            break
    return problems


ACCOUNT_ID = re.compile(r"[0-9]{12}")
# An organization's or organizational unit's ARN (distribute.organizations, .organizational_units).
ORGANIZATION_ARN = re.compile(UNIT_ARN_PATTERN)
# What EC2 takes as "everyone": the launch permission group `all` (the image becomes public).
PUBLIC = frozenset({"all"})


def grant_problems(accounts: Sequence[str], allowlist: Collection[str]) -> list[str]:
    """Return why launch permission may not be given to `accounts` (empty when it may).

    Every grant goes through here: `bakery share`, the accounts, organizations and organizational
    units a bake shares with, the shares a copy carries to another region. None may be `all`:
    bakery never makes an image public.
    """
    problems: list[str] = []
    for account in accounts:
        shown = _printable(account)
        if account.strip().lower() in PUBLIC:
            problems.append(
                f"sharing with {shown} would make the image public; bakery never makes images "
                "public, name the accounts (listed in share_allowlist of bakery.yaml)"
            )
        elif not (ACCOUNT_ID.fullmatch(account) or ORGANIZATION_ARN.fullmatch(account)):
            problems.append(
                f"{shown} is not an AWS account id (12 digits) nor the ARN of an organization "
                "or organizational unit"
            )
        elif account not in allowlist:
            what = "account" if ACCOUNT_ID.fullmatch(account) else "organization"
            if ":ou/" in account:
                what = "organizational unit"
            problems.append(
                f"{what} {account} is not in share_allowlist of bakery.yaml; "
                "add it there to share with it"
            )
    return problems


def revoke_reason_problem(reason: str) -> str | None:
    """Return why `reason` cannot be recorded as the reason of a revocation (None when it can)."""
    if not reason.strip():
        return "the reason of a revocation must not be empty; say why, e.g. --reason CVE-2026-1234"
    if any(unicodedata.category(c).startswith("C") for c in reason):
        return (
            "the reason of a revocation must be one line of printable text "
            "(no control characters); it is recorded and tagged"
        )
    return None


def _printable(text: str) -> str:
    return repr(text) if not text.isprintable() or not text else text


def fallback(history: Sequence[Promotion], revoked: Collection[str]) -> Promotion | None:
    """Return the newest promotion of a channel, before its current one, whose build is usable.

    `history` is the channel's promotions, newest first; `revoked` the revoked build ids.
    """
    if not history:
        return None
    current = history[0].build_id
    for promotion in history[1:]:
        if promotion.build_id != current and promotion.build_id not in revoked:
            return promotion
    return None
