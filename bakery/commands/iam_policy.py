"""`bakery iam-policy [--for bake|rebuild|plan|prune|promote|lifecycle|reap|all]`."""

from __future__ import annotations

import argparse

from bakery.commands import print_json, project_of


def run(args: argparse.Namespace) -> int:
    from bakery.aws.iam_policy import policy

    project = project_of(args)
    table = None
    if project.state.startswith("dynamodb://"):
        table = project.state.removeprefix("dynamodb://").split("?", 1)[0]
    print_json(policy(args.for_ or ["all"], table=table, sns_topic=project.notify_sns_topic))
    return 0
