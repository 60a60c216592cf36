"""`bakery rollback NAME --channel NAME`: back to the build before the current promotion."""

from __future__ import annotations

import argparse

from bakery.commands import gateway_of, print_promotion, project_of, writable_store_of


def run(args: argparse.Namespace) -> int:
    from bakery.lifecycle.channels import rollback

    project = project_of(args)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        promotion = rollback(
            gateway,
            store,
            project,
            args.name,
            args.channel,
            store.get,
            lambda account: gateway.assume(account, project.role_arns),
        )
    print_promotion(promotion, args.json)
    return 0
