"""Pure checks before an image moves: promotion gates, share refusals, where channels go back."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bakery.config.project import Channel
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
    problems = [
        f"account {account} is not in share_allowlist of bakery.yaml; add it there to share with it"
        for account in accounts
        if account not in allowlist
    ]
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
