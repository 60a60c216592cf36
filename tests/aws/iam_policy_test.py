from __future__ import annotations

import json

from bakery.aws.iam_policy import policy


def actions(document: dict[str, object]) -> set[str]:
    statements = document["Statement"]
    assert isinstance(statements, list)
    return {action for statement in statements for action in statement["Action"]}


def test_prune_policy_allows_what_prune_calls_and_nothing_to_build() -> None:
    found = actions(policy(["prune"], table=None, sns_topic=None))
    assert {
        "ec2:DeregisterImage",
        "ec2:DeleteSnapshot",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
        "ssm:GetParametersByPath",
    } <= found
    assert "ec2:RunInstances" not in found and "ssm:PutParameter" not in found


def test_every_statement_id_is_unique_and_channels_are_scoped() -> None:
    document = policy(
        ["all"], table="bakery-lineage", sns_topic="arn:aws:sns:us-east-1:123456789012:bakery"
    )
    sids = [s["Sid"] for s in document["Statement"]]  # type: ignore[union-attr]
    assert len(sids) == len(set(sids))
    text = json.dumps(document)
    assert "arn:aws:ssm:*:*:parameter/bakery/*" in text
    assert "arn:aws:dynamodb:*:*:table/bakery-lineage*" in text
    assert "arn:aws:sns:us-east-1:123456789012:bakery" in text


def test_without_dynamodb_or_sns_their_statements_are_left_out() -> None:
    found = actions(policy(["rebuild"], table=None, sns_topic=None))
    assert not any(a.startswith(("dynamodb:", "sns:")) for a in found)
    assert {"ec2:CreateImage", "ssm:SendCommand", "ssm:PutParameter"} <= found
