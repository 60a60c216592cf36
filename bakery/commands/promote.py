"""`bakery promote REF --channel NAME` and `bakery rollback NAME --channel NAME`."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bakery.commands import gateway_of, print_json, project_of, store_of
from bakery.lineage.records import Promotion


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import promote
    from bakery.lifecycle.refs import resolve_image_ref

    project = project_of(args)
    gateway = gateway_of(args, project)
    with store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref)
        promotion = promote(
            gateway,
            store,
            project,
            record,
            args.channel,
            lambda account: gateway.assume(account, project.role_arns),
        )
    report(promotion, args.json)
    return 0


def report(promotion: Promotion, as_json: bool) -> None:
    if as_json:
        print_json(asdict(promotion))
        return
    images = " ".join(f"{i.region}:{i.ami_id}" for i in promotion.images)
    before = f" (was {promotion.previous_build_id})" if promotion.previous_build_id else ""
    print(f"{promotion.recipe} channel {promotion.channel} → {promotion.build_id} {images}{before}")
