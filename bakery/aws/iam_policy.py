"""The least-privilege IAM policy for the commands a job runs (pure: data in, document out).

Every statement is scoped by what bakery knows from bakery.yaml and the recipes (`Scope`): the
roles it assumes and passes, the KMS keys it encrypts with, the SSM parameters it reads, its
table and topic, and the tags it puts on what it makes (`bakery:managed`, `bakery:build-id`,
`bakery:purpose`). `Resource: "*"` is left only on calls AWS authorises on no resource
(Describe*, GetCommandInvocation); each such statement says so. An Allow names every resource
type its action is authorised on; a rule about one of them (the instance a launch starts) is a
Deny on that one alone. docs/scheduling.md ("Permissions") explains each statement to users.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MANAGED = "bakery:managed"  # bakery.config.tags.MANAGED_TAG
BUILD_ID = "bakery:build-id"  # on the builder instance and volumes (run_tags), smoke tests
PURPOSE, SMOKE_TEST = "bakery:purpose", "smoke-test"  # bakery.aws.smoke
CHANNEL_PARAMETERS = "arn:aws:ssm:*:*:parameter/bakery/*"  # bakery.aws.channels.CHANNEL_PREFIX
PUBLIC_PARAMETERS = "arn:aws:ssm:*:*:parameter/aws/service/*"
# AWS-owned documents have no account in their ARN; `*` matches the empty one.
RUN_SHELL_SCRIPT = "arn:aws:ssm:*:*:document/AWS-RunShellScript"
# Packer's temporary key pair is `packer_<uuid>` (temporary_key_pair_name, not set by bakery).
PACKER_KEY_PAIRS = "arn:aws:ec2:*:*:key-pair/packer_*"
# What encrypting an image, or an encrypted copy, with a customer managed key needs.
_KMS = (
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)


def _ec2(kind: str) -> str:
    """ARN of every EC2 resource of `kind`; images and snapshots have no account in theirs."""
    account = "" if kind in ("image", "snapshot") else "*"
    return f"arn:aws:ec2:*:{account}:{kind}/*"


IMAGES = (_ec2("image"), _ec2("snapshot"))
INSTANCES = _ec2("instance")
_IS_MANAGED = {"StringEquals": {f"aws:ResourceTag/{MANAGED}": "true"}}
_HAS_BUILD_ID = {"Null": {f"aws:ResourceTag/{BUILD_ID}": "false"}}


@dataclass(frozen=True)
class Scope:
    """What bakery.yaml and the recipes say the policy may reach (plain values)."""

    table: str | None = None  # DynamoDB lineage table, when the store is DynamoDB
    sns_topic: str | None = None
    role_arns: tuple[str, ...] = ()  # aws.accounts.*.role_arn: AssumeRole
    build_profiles: tuple[str, ...] = ()  # recipes' build.iam_instance_profile (name or ARN)
    test_profiles: tuple[str, ...] = ()  # test.iam_instance_profile
    kms_keys: tuple[tuple[str, str], ...] = ()  # (region, key id, key ARN or alias)
    source_parameters: tuple[str, ...] = ()  # recipes' source.ssm_parameter names
    trusted_owners: tuple[str, ...] = ("amazon", "self")


Statement = dict[str, Any]


def role_of_profile(profile: str) -> str:
    """The ARN of the role an instance profile carries, taken to share the profile's name.

    IAM cannot say which role a profile holds without a call; the console, CloudFormation's
    usual pattern and Terraform examples give both one name, and bakery stays pure.
    """
    if profile.startswith("arn:"):
        head, _, path = profile.partition(":instance-profile/")
        return f"{head}:role/{path}"
    return f"arn:aws:iam::*:role/{profile}"


def key_resources(kms_keys: Iterable[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
    """Split keys into key ARNs, alias names (`alias/x`) and the regions aliases are used in."""
    arns: set[str] = set()
    aliases: set[str] = set()
    alias_regions: set[str] = set()
    for region, key in kms_keys:
        if key.startswith("arn:"):
            _, _, _, region, _, name = key.split(":", 5)
            if not name.startswith("alias/"):
                arns.add(key)
                continue
            key = name
        if key.startswith("alias/"):
            alias_regions.add(region)
            aliases.add(key)
        else:  # a bare key id: its region is the one it is named for
            arns.add(f"arn:aws:kms:{region}:*:key/{key}")
    return sorted(arns), sorted(aliases), sorted(alias_regions)


def _reads(scope: Scope) -> list[str]:
    """The parameters bakery reads: public AMI parameters, the recipes' sources, channels."""
    named = {f"arn:aws:ssm:*:*:parameter/{name.lstrip('/')}" for name in scope.source_parameters}
    return sorted({PUBLIC_PARAMETERS, CHANNEL_PARAMETERS, *named})


def _owners(scope: Scope) -> list[str]:
    # ec2:Owner is an account id or `amazon`; bakery's `self` is the caller's own account.
    return sorted(
        "${aws:PrincipalAccount}" if owner == "self" else owner for owner in scope.trusted_owners
    )


def _statement(
    sid: str,
    actions: Sequence[str],
    resources: str | Sequence[str],
    condition: Any = None,
    effect: str = "Allow",
) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": effect, "Action": list(actions)}
    statement["Resource"] = resources if isinstance(resources, str) else list(resources)
    if condition:
        statement["Condition"] = condition
    return statement


def _read_launch_permissions() -> Statement:
    # Who may launch an image or make volumes of its snapshots (prune, share, revoke).
    return _statement(
        "ReadLaunchPermissions",
        ["ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute"],
        IMAGES,
    )


def _share_managed_images() -> Statement:
    # Launch and create-volume permission, added (share) or taken away (revoke).
    return _statement(
        "ShareManagedImages",
        ["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"],
        IMAGES,
        _IS_MANAGED,
    )


def _tag_new_images() -> Statement:
    # Packer (any version) tags its AMI and snapshots with CreateTags after CreateImage or
    # CopyImage, and bakery tags its CopyImage copies the same way: the image carries no tag yet.
    # Allowed only while it has no bakery:managed tag and only when the call sets it to true.
    return _statement(
        "TagNewImages",
        ["ec2:CreateTags"],
        IMAGES,
        {
            "StringEquals": {f"aws:RequestTag/{MANAGED}": "true"},
            "Null": {f"aws:ResourceTag/{MANAGED}": "true"},
        },
    )


def _tag_managed_images() -> Statement:
    # Channel, revocation and the full tag set on images bakery made; bakery:managed, if given,
    # stays true.
    return _statement(
        "TagManagedImages",
        ["ec2:CreateTags"],
        IMAGES,
        {
            **_IS_MANAGED,
            "StringEqualsIfExists": {f"aws:RequestTag/{MANAGED}": "true"},
        },
    )


def _untag_managed_images() -> Statement:
    # Moving a channel takes its tag off the image it leaves; bakery:managed itself stays.
    return _statement(
        "UntagManagedImages",
        ["ec2:DeleteTags"],
        IMAGES,
        {**_IS_MANAGED, "ForAllValues:StringNotEquals": {"aws:TagKeys": [MANAGED]}},
    )


def _tag_at_creation(create_actions: Sequence[str]) -> Statement:
    return _statement(
        "TagAtCreation",
        ["ec2:CreateTags"],
        [
            *IMAGES,
            INSTANCES,
            _ec2("volume"),
            _ec2("network-interface"),
            _ec2("security-group"),
            _ec2("key-pair"),
        ],
        {"StringEquals": {"ec2:CreateAction": list(create_actions)}},
    )


def _read_parameters(scope: Scope, actions: Sequence[str] = ()) -> Statement:
    return _statement(
        "ReadParameters", ["ssm:GetParameter", "ssm:GetParameters", *actions], _reads(scope)
    )


# Every resource type RunInstances is authorised on (each one on its own, against every
# statement); the subnet, security group and network interface a recipe or the default VPC
# gives carry no tag or owner bakery knows, and Packer's key pair has its temporary name.
LAUNCH_RESOURCES = (
    *IMAGES,
    INSTANCES,
    _ec2("volume"),
    _ec2("network-interface"),
    _ec2("security-group"),
    _ec2("subnet"),
    PACKER_KEY_PAIRS,
)


def _launch(scope: Scope) -> Statement:
    """RunInstances from images of the trusted owners (bakery's own among them).

    ec2:Owner is a key of the image and its snapshots only, so `IfExists` leaves the other
    resources of the launch to the statement's ARNs; which instances may start at all is the
    Deny of `_launch_guard`.
    """
    owners = sorted({*_owners(scope), "${aws:PrincipalAccount}"})
    return _statement(
        "LaunchFromTrustedImages",
        ["ec2:RunInstances"],
        LAUNCH_RESOURCES,
        {"StringEqualsIfExists": {"ec2:Owner": owners}},
    )


# What a new instance (and its volumes) must be launched with, by part: a builder its
# bakery:build-id (Packer's run_tags), a smoke test its bakery:purpose. Each is a condition
# under which the launch is *refused*; the guard refuses a launch that meets none of them.
_LAUNCH_TAGS: Mapping[str, tuple[str, str, str]] = {
    "bake": ("Null", f"aws:RequestTag/{BUILD_ID}", "true"),
    "test": ("StringNotEquals", f"aws:RequestTag/{PURPOSE}", SMOKE_TEST),
}


def _launch_guard(parts: Sequence[str]) -> list[Statement]:
    """Deny launching an instance or volume without the tags of one of `parts`' launches.

    IAM authorises a launch resource by resource: the request's tags are on the instance and
    its volumes, not on the image or subnet, so the tag rule cannot sit in the statement that
    allows the launch (every resource type in one statement, as linters expect) and is a Deny
    on the new instance and volumes instead. Conditions of one statement all hold for it to
    apply: "no build id and not a smoke test".
    """
    rules = [_LAUNCH_TAGS[part] for part in parts if part in _LAUNCH_TAGS]
    if not rules:
        return []
    condition: dict[str, dict[str, str]] = {}
    for operator, key, value in rules:
        condition.setdefault(operator, {})[key] = value
    return [
        _statement(
            "LaunchOnlyTaggedInstances",
            ["ec2:RunInstances"],
            [INSTANCES, _ec2("volume")],
            condition,
            effect="Deny",
        )
    ]


def _pass_role(sid: str, profiles: Sequence[str]) -> list[Statement]:
    if not profiles:
        return []
    return [
        _statement(
            sid,
            ["iam:PassRole"],
            sorted({role_of_profile(profile) for profile in profiles}),
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        )
    ]


def _kms(scope: Scope) -> list[Statement]:
    """The configured keys, used only by EC2 (EBS) in their regions."""
    arns, aliases, alias_regions = key_resources(scope.kms_keys)

    def via(regions: Iterable[str]) -> dict[str, Any]:
        names = [f"ec2.{region}.amazonaws.com" for region in sorted(set(regions))]
        return {"StringEquals": {"kms:ViaService": names}}

    # EBS keeps a grant for the volumes it makes from the image.
    grant = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    found: list[Statement] = []
    if arns:
        by_arn = via(arn.split(":")[3] for arn in arns)
        found += [
            _statement("UseImageKeys", _KMS, arns, by_arn),
            _statement("GrantImageKeysToEbs", ["kms:CreateGrant"], arns, {**by_arn, **grant}),
        ]
    if aliases:
        # A key named by alias is authorised on its key ARN; kms:ResourceAliases names it.
        named = {**via(alias_regions), "ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}}
        keys = [f"arn:aws:kms:{region}:*:key/*" for region in alias_regions]
        found += [
            _statement("UseImageKeysByAlias", _KMS, keys, named),
            _statement("GrantImageKeysByAliasToEbs", ["kms:CreateGrant"], keys, {**named, **grant}),
        ]
    return found


def _bake(scope: Scope) -> list[Statement]:
    return [
        # Describe* calls are authorised on no resource: "*" is all IAM accepts for them.
        _statement(
            "DescribeForBuilds",
            [
                "ec2:DescribeImages",
                "ec2:DescribeSnapshots",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeVolumes",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeKeyPairs",
                "ec2:DescribeRegions",
            ],
            "*",
        ),
        _read_parameters(scope),
        _launch(scope),
        _statement(
            "StopAndEndBuilders",
            ["ec2:StopInstances", "ec2:TerminateInstances"],
            INSTANCES,
            _HAS_BUILD_ID,
        ),
        # New images and snapshots have no tags to condition on (Packer tags them afterwards);
        # the instance imaged is only a builder (the Deny below).
        _statement("ImageTheBuilder", ["ec2:CreateImage"], [*IMAGES, INSTANCES]),
        _statement(
            "ImageOnlyBuilders",
            ["ec2:CreateImage"],
            INSTANCES,
            {"Null": {f"aws:ResourceTag/{BUILD_ID}": "true"}},
            effect="Deny",
        ),
        _statement("CopyImages", ["ec2:CopyImage"], IMAGES),
        _statement("PackerKeyPair", ["ec2:CreateKeyPair", "ec2:DeleteKeyPair"], PACKER_KEY_PAIRS),
        # Packer 1.6 does not tag its temporary security group: no condition can single it out.
        _statement(
            "PackerSecurityGroup",
            [
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            [_ec2("security-group"), _ec2("vpc")],
        ),
        # Before Packer tags the image it shares it (ami_users), and with encrypt_boot it
        # deregisters the unencrypted intermediate image and its snapshots (and a failed
        # build's image): only images without bakery:managed, never a released one.
        _statement(
            "PackerFinishesNewImages",
            [
                "ec2:ModifyImageAttribute",
                "ec2:ModifySnapshotAttribute",
                "ec2:DeregisterImage",
                "ec2:DeleteSnapshot",
            ],
            IMAGES,
            {"Null": {f"aws:ResourceTag/{MANAGED}": "true"}},
        ),
        _tag_new_images(),
        _tag_managed_images(),
        # With Packer 1.6, bakery itself sets what that Packer cannot on the tagged image:
        # IMDSv2 support, its deprecation time, sharing with organizations.
        _statement(
            "FinishManagedImages",
            ["ec2:ModifyImageAttribute", "ec2:EnableImageDeprecation"],
            IMAGES,
            _IS_MANAGED,
        ),
        *_kms(scope),
        *_pass_role("PassBuilderRole", scope.build_profiles),
    ]


def _statements(part: str, scope: Scope) -> list[Statement]:
    """The statements of one part of a group (see GROUPS)."""
    if part == "bake":
        return _bake(scope)
    if part == "plan":
        return [
            _statement("DescribeImages", ["ec2:DescribeImages"], "*"),  # no resource-level
            _read_parameters(scope),
        ]
    if part == "reap":
        return [
            # Describe* calls are authorised on no resource.
            _statement(
                "FindLeftovers",
                [
                    "ec2:DescribeInstances",
                    "ec2:DescribeKeyPairs",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeImages",
                    "ec2:DescribeSnapshots",
                ],
                "*",
            ),
            # Only builder instances (tagged at launch), and Packer's key pairs by name.
            _statement("RemoveLeftovers", ["ec2:TerminateInstances"], INSTANCES, _HAS_BUILD_ID),
            _statement("RemoveLeftoverKeyPairs", ["ec2:DeleteKeyPair"], PACKER_KEY_PAIRS),
            # Packer 1.6 does not tag its temporary security group: no condition can single it
            # out (reap itself deletes only `packer_` groups tied to a finished build).
            _statement(
                "RemoveLeftoverSecurityGroups", ["ec2:DeleteSecurityGroup"], _ec2("security-group")
            ),
            # A failed build's untagged image and snapshots: never a released one.
            _statement(
                "RemoveLeftoverImages",
                ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
                IMAGES,
                {"Null": {f"aws:ResourceTag/{MANAGED}": "true"}},
            ),
        ]
    if part == "copy":
        return [
            _statement("DescribeImages", ["ec2:DescribeImages"], "*"),  # no resource-level
            _statement("CopyImages", ["ec2:CopyImage"], IMAGES),
            _tag_new_images(),
            _tag_managed_images(),
            *_kms(scope),
        ]
    if part == "share":
        return [
            _statement("DescribeImages", ["ec2:DescribeImages"], "*"),  # no resource-level
            _read_launch_permissions(),
            _share_managed_images(),
        ]
    if part == "test":
        return [
            # Describe* calls are authorised on no resource.
            _statement(
                "DescribeForBuilds", ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"], "*"
            ),
            _launch(scope),
            _statement(
                "EndSmokeTests",
                ["ec2:TerminateInstances"],
                INSTANCES,
                {"StringEquals": {f"aws:ResourceTag/{PURPOSE}": SMOKE_TEST}},
            ),
            # The shell-script document on instances; only smoke tests (the Deny below).
            _statement("SendRunShellScript", ["ssm:SendCommand"], [INSTANCES, RUN_SHELL_SCRIPT]),
            _statement(
                "SendCommandOnlyToSmokeTests",
                ["ssm:SendCommand"],
                INSTANCES,
                {"StringNotEquals": {f"ssm:resourceTag/{PURPOSE}": SMOKE_TEST}},
                effect="Deny",
            ),
            # GetCommandInvocation is authorised on no resource.
            _statement("ReadCommandResults", ["ssm:GetCommandInvocation"], "*"),
            *_pass_role("PassSmokeTestRole", scope.test_profiles),
        ]
    if part == "promote":
        return [
            _statement("DescribeImages", ["ec2:DescribeImages"], "*"),  # no resource-level
            _tag_managed_images(),
            _untag_managed_images(),
            _read_parameters(scope),
            _statement("WriteChannels", ["ssm:PutParameter"], CHANNEL_PARAMETERS),
            *(
                [_statement("OtherAccounts", ["sts:AssumeRole"], sorted(set(scope.role_arns)))]
                if scope.role_arns
                else []
            ),
        ]
    if part == "revoke":
        return [
            _statement("DescribeImages", ["ec2:DescribeImages"], "*"),  # no resource-level
            _tag_managed_images(),
            _untag_managed_images(),
            _statement(
                "DeprecateManagedImages", ["ec2:EnableImageDeprecation"], IMAGES[0], _IS_MANAGED
            ),
            # A revoked image is unshared from every account.
            _read_launch_permissions(),
            _share_managed_images(),
            _read_parameters(scope),
            _statement("WriteChannels", ["ssm:PutParameter"], CHANNEL_PARAMETERS),
        ]
    if part == "prune":
        return [
            # Describe* calls are authorised on no resource.
            _statement(
                "FindUsage",
                [
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeLaunchTemplateVersions",
                    "autoscaling:DescribeLaunchConfigurations",
                ],
                "*",
            ),
            _read_launch_permissions(),
            _read_parameters(scope, ["ssm:GetParametersByPath"]),
            _statement(
                "DeleteManagedImages",
                ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
                IMAGES,
                _IS_MANAGED,
            ),
        ]
    if part == "state":
        if scope.table is None:
            return []
        table = f"arn:aws:dynamodb:*:*:table/{scope.table}"
        return [
            _statement(
                "LineageTable",
                [
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
                ],
                [table, f"{table}/index/*"],
            )
        ]
    if part == "notify":
        if scope.sns_topic is None:
            return []
        return [_statement("Notify", ["sns:Publish"], scope.sns_topic)]
    raise ValueError(f"unknown part {part}")


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
# The ec2:CreateAction each part tags at creation with (Packer's run_tags, smoke tests).
_CREATE_ACTIONS = {
    "bake": ("RunInstances", "CreateImage", "CopyImage", "CreateKeyPair", "CreateSecurityGroup"),
    "test": ("RunInstances",),
    "copy": ("CopyImage",),  # bakery's copies carry their tags from creation
}


def policy(commands: Iterable[str], scope: Scope | None = None) -> dict[str, Any]:
    """Return an IAM policy document allowing exactly what `commands` need within `scope`."""
    scope = scope or Scope()
    parts: list[str] = []
    for command in commands:
        names = GROUPS if command == "all" else {command: GROUPS[command]}
        for group in names.values():
            parts.extend(part for part in group if part not in parts)
    merged: dict[str, Statement] = {}
    for part in parts:
        for statement in _statements(part, scope):
            _merge(merged, statement)
    create_actions = sorted({a for part in parts for a in _CREATE_ACTIONS.get(part, ())})
    if create_actions:
        _merge(merged, _tag_at_creation(create_actions))
    for statement in _launch_guard(parts):
        _merge(merged, statement)
    return {"Version": "2012-10-17", "Statement": [merged[sid] for sid in sorted(merged)]}


def _merge(merged: dict[str, Statement], statement: Statement) -> None:
    """Add a statement; one of a Sid seen before adds its actions (same resources, condition)."""
    sid = statement["Sid"]
    if sid not in merged:
        merged[sid] = {**statement, "Action": sorted(set(statement["Action"]))}
        return
    known = merged[sid]
    if (known["Resource"], known.get("Condition")) != (
        statement["Resource"],
        statement.get("Condition"),
    ):
        raise ValueError(f"statement {sid} is given two scopes")
    known["Action"] = sorted({*known["Action"], *statement["Action"]})
