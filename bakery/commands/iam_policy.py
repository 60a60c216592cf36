"""`bakery iam-policy [--for bake|...|all] [--keys-by-alias] [--local]`."""

from __future__ import annotations

import argparse

from bakery.commands import gateway_of, print_json, project_of


def run(args: argparse.Namespace) -> int:
    from bakery.aws.iam_policy import Scope, policy
    from bakery.aws.keys import is_alias, resolve_key_aliases
    from bakery.aws.session import AwsError
    from bakery.config.catalog import load_catalog

    project = project_of(args)
    # The recipes name the source parameters, build instance profiles and KMS keys.
    recipes = list(load_catalog(project).recipes.values())
    table = None
    if project.state.startswith("dynamodb://"):
        table = project.state.removeprefix("dynamodb://").split("?", 1)[0]
    keys = {(region, key) for region, key in project.kms_key_ids.items()}
    for recipe in recipes:
        if recipe.build.encrypted and recipe.build.kms_key_id:
            keys.add((recipe.region, recipe.build.kms_key_id))
        keys |= set(recipe.distribute.kms_key_ids.items())
    if not args.keys_by_alias and any(is_alias(key) for _, key in keys):
        # Pin each alias to its key's ARN: exact, and what policy linters can check.
        try:
            keys = set(resolve_key_aliases(gateway_of(args, project), keys))
        except AwsError as error:
            raise AwsError(
                f"{error}; give the key's ARN in bakery.yaml or the recipe, or pass "
                "--keys-by-alias to name it by alias",
                error.code,
            ) from error
    test_profile = project.smoke_test.iam_instance_profile
    scope = Scope(
        table=table,
        sns_topic=project.notify_sns_topic,
        role_arns=tuple(sorted(set(project.role_arns.values()))),
        build_profiles=tuple(
            sorted({r.build.iam_instance_profile for r in recipes if r.build.iam_instance_profile})
        ),
        test_profiles=(test_profile,) if test_profile else (),
        kms_keys=tuple(sorted(keys)),
        source_parameters=tuple(
            sorted({r.source.value for r in recipes if r.source.kind == "ssm_parameter"})
        ),
        trusted_owners=project.trusted_owners,
    )
    print_json(policy(args.for_ or ["all"], scope))
    return 0
