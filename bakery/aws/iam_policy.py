"""The least-privilege IAM policy for the commands a job runs (pure: data in, document out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# command → statements: (sid, actions, resource); "*" where EC2 offers no resource scoping
# for the call (Describe*, RunInstances with a Packer-chosen key pair, ...).
_PARAMETERS = "arn:aws:ssm:*:*:parameter/bakery/*"
# What encrypting an image, or an encrypted copy, with a customer managed key needs.
_KMS = (
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)
_STATEMENTS: Mapping[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "plan": (
        (
            "ReadImagesAndSources",
            (
                "ec2:DescribeImages",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "sts:GetCallerIdentity",
            ),
            "*",
        ),
    ),
    "bake": (
        (
            "ReadImagesAndSources",
            (
                "ec2:DescribeImages",
                "ec2:DescribeImageAttribute",
                "ec2:DescribeSnapshots",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeVolumes",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeKeyPairs",
                "ec2:DescribeRegions",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "sts:GetCallerIdentity",
            ),
            "*",
        ),
        (
            "PackerBuilderInstance",
            (
                "ec2:RunInstances",
                "ec2:StopInstances",
                "ec2:TerminateInstances",
                "ec2:CreateKeyPair",
                "ec2:DeleteKeyPair",
                "ec2:CreateSecurityGroup",
                "ec2:DeleteSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateVolume",
                "ec2:DeleteVolume",
                "ec2:AttachVolume",
                "ec2:DetachVolume",
            ),
            "*",
        ),
        (
            "MakeImages",
            (
                "ec2:CreateImage",
                "ec2:RegisterImage",
                "ec2:CopyImage",
                "ec2:DeregisterImage",
                "ec2:CreateSnapshot",
                "ec2:DeleteSnapshot",
                "ec2:ModifyImageAttribute",
                "ec2:ModifySnapshotAttribute",
                "ec2:CreateTags",
            ),
            "*",
        ),
        (
            "EncryptImages",
            _KMS,
            "*",
        ),
        ("PassBuilderProfile", ("iam:PassRole",), "*"),
    ),
    "reap": (
        (
            "FindLeftovers",
            ("ec2:DescribeInstances", "ec2:DescribeKeyPairs", "ec2:DescribeSecurityGroups"),
            "*",
        ),
        (
            "RemoveLeftovers",
            ("ec2:TerminateInstances", "ec2:DeleteKeyPair", "ec2:DeleteSecurityGroup"),
            "*",
        ),
    ),
    "copy": (
        (
            "CopyImages",
            (
                "ec2:DescribeImages",
                "ec2:CopyImage",
                "ec2:CreateTags",
                *_KMS,
            ),
            "*",
        ),
    ),
    "share": (
        (
            "ShareImages",
            ("ec2:DescribeImages", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"),
            "*",
        ),
    ),
    "test": (
        (
            "SmokeTestInstance",
            (
                "ec2:RunInstances",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:TerminateInstances",
                "ec2:CreateTags",
                "iam:PassRole",
            ),
            "*",
        ),
        ("RunTests", ("ssm:SendCommand", "ssm:GetCommandInvocation"), "*"),
    ),
    "promote": (
        ("ReadImages", ("ec2:DescribeImages",), "*"),
        ("TagChannel", ("ec2:CreateTags", "ec2:DeleteTags"), "*"),
        (
            "WriteChannels",
            ("ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters"),
            _PARAMETERS,
        ),
        ("OtherAccounts", ("sts:AssumeRole",), "arn:aws:iam::*:role/*"),
    ),
    "revoke": (
        (
            "RevokeImages",
            (
                "ec2:DescribeImages",
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:EnableImageDeprecation",
            ),
            "*",
        ),
        ("MoveChannels", ("ssm:PutParameter", "ssm:GetParameters"), _PARAMETERS),
    ),
    "prune": (
        (
            "FindUsage",
            (
                "ec2:DescribeImages",
                "ec2:DescribeImageAttribute",
                "ec2:DescribeInstances",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeLaunchTemplateVersions",
                "autoscaling:DescribeLaunchConfigurations",
                "ssm:GetParametersByPath",
                "ssm:GetParameters",
            ),
            "*",
        ),
        ("DeleteImages", ("ec2:DeregisterImage", "ec2:DeleteSnapshot"), "*"),
    ),
    "state": (
        (
            "LineageTable",
            (
                "dynamodb:DescribeTable",
                "dynamodb:CreateTable",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                # TransactWriteItems has no action of its own: each part needs its item's
                "dynamodb:ConditionCheckItem",
                "dynamodb:Query",
                "dynamodb:Scan",
            ),
            "arn:aws:dynamodb:*:*:table/{table}*",
        ),
    ),
    "notify": (("Notify", ("sns:Publish",), "{sns_topic}"),),
}
# What each command a user runs needs.
GROUPS: Mapping[str, tuple[str, ...]] = {
    "bake": ("bake", "plan", "state"),
    "rebuild": ("bake", "plan", "state", "promote", "test", "notify"),
    "plan": ("plan", "state"),
    "prune": ("prune", "state"),
    "promote": ("promote", "state"),
    "lifecycle": ("copy", "share", "test", "promote", "revoke", "prune", "state"),
    "reap": ("reap", "state"),
}


def policy(commands: Iterable[str], *, table: str | None, sns_topic: str | None) -> dict[str, Any]:
    """Return an IAM policy document allowing exactly what `commands` need."""
    parts: list[str] = []
    for command in commands:
        names = GROUPS if command == "all" else {command: GROUPS[command]}
        for group in names.values():
            parts.extend(part for part in group if part not in parts)
    if table is None:
        parts = [part for part in parts if part != "state"]
    if sns_topic is None:
        parts = [part for part in parts if part != "notify"]
    merged: dict[tuple[str, str], set[str]] = {}
    for part in parts:
        for sid, actions, resource in _STATEMENTS[part]:
            resource = resource.format(table=table or "", sns_topic=sns_topic or "")
            merged.setdefault((sid, resource), set()).update(actions)
    statements = [
        {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}
        for (sid, resource), actions in sorted(merged.items())
    ]
    return {"Version": "2012-10-17", "Statement": statements}
