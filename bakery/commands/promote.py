"""`bakery promote REF --channel NAME`: point a channel at a build's images."""

from __future__ import annotations

import argparse

from bakery.commands import gateway_of, print_promotion, project_of, warn, writable_store_of


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import promote
    from bakery.lifecycle.refs import resolve_image_ref

    project = project_of(args)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref, warn)
        promotion = promote(
            gateway,
            store,
            project,
            record,
            args.channel,
            lambda account: gateway.assume(account, project.role_arns),
        )
    print_promotion(promotion, args.json)
    return 0
