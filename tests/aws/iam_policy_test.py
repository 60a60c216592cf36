from __future__ import annotations

import ast
import fnmatch
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from parliament import analyze_policy_string

from bakery.aws.iam_policy import GROUPS, Scope, policy
from bakery.aws.keys import resolve_key_aliases
from bakery.aws.session import AwsError, Gateway
from bakery.cli import main
from bakery.config.project import load_project
from tests.support.emulator import emulator_client, move_base, use_demo_base
from tests.support.project import BASE_RECIPE, REPO, ProjectFactory, run_bakery
from tests.support.stores import moto_gateway

TABLE = "bakery-lineage"
TOPIC = "arn:aws:sns:us-east-1:123456789012:bakery"
ACCOUNT = "123456789012"  # moto's
SMOKE_PROFILE = "bakery-smoke"
# The services bakery's own code calls (Packer's calls are the bake statements' business).
SERVICES = ("ec2", "ssm", "sts", "autoscaling", "sns", "dynamodb")
# Calls IAM never checks: "No permissions are required to perform this operation."
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# A DynamoDB transaction is authorised item by item, by the action of each part.
TRANSACTION_PARTS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Which `iam-policy --for` group a job running each command asks for.
GROUP_OF_COMMAND = {
    "state": "bake",  # `state init` makes the table; every group gets the table's statement
    "bake": "bake",
    "plan": "plan",
    "rebuild": "rebuild",
    "prune": "prune",
    "promote": "promote",
    "rollback": "promote",
    "channels": "promote",
    "copy": "lifecycle",
    "share": "lifecycle",
    "test": "lifecycle",
    "revoke": "lifecycle",
    "reap": "reap",
}


def actions(document: dict[str, object]) -> set[str]:
    statements = document["Statement"]
    assert isinstance(statements, list)
    return {action for statement in statements for action in statement["Action"]}


def granted(document: dict[str, Any], action: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action, pattern)
        for statement in document["Statement"]
        for pattern in statement["Action"]
    )


def iam_actions(prefix: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one API call needs."""
    if (prefix, operation) == ("dynamodb", "TransactWriteItems"):
        return {TRANSACTION_PARTS[kind] for item in params["TransactItems"] for kind in item}
    action = f"{prefix}:{operation}"
    return set() if action in NEEDS_NO_PERMISSION else {action}


# Everything bakery.yaml and recipes can scope a policy by, to lint and to check.
SCOPE = Scope(
    table=TABLE,
    sns_topic=TOPIC,
    role_arns=("arn:aws:iam::111122223333:role/bakery",),
    build_profiles=("bakery-builder", "arn:aws:iam::123456789012:instance-profile/ci/builder"),
    test_profiles=("bakery-smoke",),
    kms_keys=(
        ("us-east-1", "alias/images"),
        (
            "us-west-2",
            "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("eu-west-1", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    ),
    source_parameters=("/team/base-ami",),
    trusted_owners=("amazon", "self", "099720109477"),
)
# SCOPE as `bakery iam-policy` prints it by default: each alias pinned to its key's ARN.
PINNED = replace(
    SCOPE,
    kms_keys=tuple(
        (region, f"arn:aws:kms:{region}:{ACCOUNT}:key/0000aaaa-00aa-00aa-00aa-000000aaaaaa")
        if key.startswith("alias/")
        else (region, key)
        for region, key in SCOPE.kms_keys
    ),
)


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: an action on one resource, with the call's condition keys."""

    action: str
    resource: str = "*"
    keys: Mapping[str, Any] = field(default_factory=dict)


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_NEGATED = ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")


def condition_holds(operator: str, key: str, expected: Any, keys: Mapping[str, Any]) -> bool:
    """Evaluate one condition key the way IAM does, for the operators bakery's policy uses."""
    wanted = [v.replace("${aws:PrincipalAccount}", ACCOUNT) for v in _values(expected)]
    found = {name.lower(): value for name, value in keys.items()}.get(key.lower())
    if_exists = operator.endswith("IfExists")
    qualifier, _, base = operator.removesuffix("IfExists").rpartition(":")
    if base == "Null":
        return (found is None) == (wanted == ["true"])
    if found is None:
        # A missing key matches nothing: a negated operator (and IfExists) then holds.
        return if_exists or qualifier == "ForAllValues" or (not qualifier and base in _NEGATED)
    tests = {
        "StringEquals": lambda a: a in wanted,
        "StringLike": lambda a: any(fnmatch.fnmatchcase(a, w) for w in wanted),
        "StringNotEquals": lambda a: a not in wanted,
        "Bool": lambda a: a.lower() in wanted,
    }
    test = tests[base]
    actual = _values(found)
    return all(map(test, actual)) if qualifier == "ForAllValues" else any(map(test, actual))


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether the statement's action, resource pattern and every condition match the request."""
    if not any(fnmatch.fnmatchcase(request.action, a) for a in statement["Action"]):
        return False
    if not any(
        fnmatch.fnmatchcase(request.resource, r.replace("${aws:PrincipalAccount}", ACCOUNT))
        for r in _values(statement["Resource"])
    ):
        return False
    return all(
        condition_holds(operator, key, expected, request.keys)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, expected in pairs.items()
    )


def allowed(document: dict[str, Any], request: Request) -> bool:
    """Whether IAM allows the request: an Allow statement applies and no Deny statement does."""
    applying = [s["Effect"] for s in document["Statement"] if _applies(s, request)]
    return "Allow" in applying and "Deny" not in applying


def document_of(*groups: str, scope: Scope = SCOPE) -> dict[str, Any]:
    return policy(groups, scope)


def test_prune_policy_allows_what_prune_calls_and_nothing_to_build() -> None:
    found = actions(document_of("prune"))
    assert {
        "ec2:DeregisterImage",
        "ec2:DeleteSnapshot",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
        "ssm:GetParametersByPath",
    } <= found
    assert "ec2:RunInstances" not in found and "ssm:PutParameter" not in found


def test_every_statement_id_is_unique_and_channels_are_scoped() -> None:
    document = document_of("all")
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    text = json.dumps(document)
    assert "arn:aws:ssm:*:*:parameter/bakery/*" in text
    assert "arn:aws:dynamodb:*:*:table/bakery-lineage" in text
    assert "arn:aws:sns:us-east-1:123456789012:bakery" in text


def test_without_dynamodb_or_sns_their_statements_are_left_out() -> None:
    found = actions(policy(["rebuild"]))
    assert not any(a.startswith(("dynamodb:", "sns:")) for a in found)
    assert {"ec2:CreateImage", "ssm:SendCommand", "ssm:PutParameter"} <= found


def test_nothing_mutating_is_granted_on_every_resource() -> None:
    for statement in document_of("all")["Statement"]:
        if statement["Resource"] == "*":
            assert all(
                a.split(":")[1].startswith(("Describe", "Get")) for a in statement["Action"]
            ), statement


def test_without_roles_profiles_or_keys_there_is_no_passrole_assumerole_or_kms() -> None:
    found = actions(policy(["all"], Scope(table=TABLE, sns_topic=TOPIC)))
    assert not {"iam:PassRole", "sts:AssumeRole"} & found
    assert not any(action.startswith("kms:") for action in found)


def test_passrole_is_only_the_profiles_roles_and_only_to_ec2() -> None:
    passing = [s for s in document_of("all")["Statement"] if "iam:PassRole" in s["Action"]]
    assert {resource for s in passing for resource in s["Resource"]} == {
        "arn:aws:iam::*:role/bakery-builder",
        "arn:aws:iam::123456789012:role/ci/builder",
        "arn:aws:iam::*:role/bakery-smoke",
    }
    for statement in passing:
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
        }
    assert "iam:PassRole" not in actions(policy(["lifecycle"], replace(SCOPE, test_profiles=())))


def test_kms_is_the_configured_keys_through_ec2_of_their_regions() -> None:
    document = document_of("bake")
    using = {s["Sid"]: s for s in document["Statement"] if s["Sid"].startswith("UseImageKeys")}
    assert using["UseImageKeys"]["Resource"] == [
        "arn:aws:kms:eu-west-1:*:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ]
    assert using["UseImageKeys"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "ec2.eu-west-1.amazonaws.com",
        "ec2.us-west-2.amazonaws.com",
    ]
    alias = using["UseImageKeysByAlias"]
    assert alias["Resource"] == ["arn:aws:kms:us-east-1:*:key/*"]
    assert alias["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": ["alias/images"]
    }


def test_only_builders_and_smoke_tests_start_and_only_from_trusted_images() -> None:
    run = "ec2:RunInstances"
    instance = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1"
    image = "arn:aws:ec2:us-east-1::image/ami-1"
    builder = {"aws:RequestTag/bakery:build-id": "b-1"}
    smoke = {"aws:RequestTag/bakery:purpose": "smoke-test"}
    bake, test, rebuild = (document_of(g) for g in ("bake", "lifecycle", "rebuild"))
    for document, starts in [(bake, [builder]), (test, [smoke]), (rebuild, [builder, smoke])]:
        for tags in (builder, smoke, {"aws:RequestTag/team": "x"}, {}):
            assert allowed(document, Request(run, instance, tags)) is (tags in starts), tags
    for owner, trusted in [("amazon", True), (ACCOUNT, True), ("099720109477", True)]:
        assert allowed(bake, Request(run, image, {"ec2:Owner": owner})) is trusted
    assert not allowed(bake, Request(run, image, {"ec2:Owner": "444455556666"}))
    subnet = f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-1"
    assert allowed(bake, Request(run, subnet))
    assert not allowed(bake, Request(run, f"arn:aws:ec2:us-east-1:{ACCOUNT}:key-pair/mine"))
    # CreateImage only of a builder; SendCommand only to a smoke test, only the shell document
    tagged = {"aws:ResourceTag/bakery:build-id": "b-1"}
    assert allowed(bake, Request("ec2:CreateImage", instance, tagged))
    assert not allowed(bake, Request("ec2:CreateImage", instance, {}))
    assert allowed(bake, Request("ec2:CreateImage", image))
    target = {"ssm:resourceTag/bakery:purpose": "smoke-test"}
    assert allowed(test, Request("ssm:SendCommand", instance, target))
    assert not allowed(test, Request("ssm:SendCommand", instance, {"ssm:resourceTag/x": "y"}))
    assert not allowed(test, Request("ssm:SendCommand", instance))
    shell = "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"
    assert allowed(test, Request("ssm:SendCommand", shell))
    other = "arn:aws:ssm:us-east-1:123456789012:document/Mine"
    assert not allowed(test, Request("ssm:SendCommand", other))


def test_an_alias_is_pinned_to_its_keys_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_gateway(monkeypatch) as gateway:
        kms = gateway.client("kms", "eu-west-1")
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName="alias/copies", TargetKeyId=arn)
        key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
        pinned = resolve_key_aliases(
            gateway, [("eu-west-1", "alias/copies"), ("us-east-1", key_id)]
        )
        assert pinned == (("eu-west-1", arn), ("us-east-1", key_id))
        with pytest.raises(AwsError, match=r"kms DescribeKey in eu-west-1 for alias/gone: "):
            resolve_key_aliases(gateway, [("eu-west-1", "alias/gone")])


def test_parameters_read_are_public_sources_and_channels_and_written_only_channels() -> None:
    document = document_of("all")
    for name, readable in [
        ("/aws/service/ami-amazon-linux-latest/al2023", True),
        ("/team/base-ami", True),
        ("/bakery/web/prod", True),
        ("/team/database-password", False),
    ]:
        arn = f"arn:aws:ssm:us-east-1:123456789012:parameter{name}"
        assert allowed(document, Request("ssm:GetParameter", arn)) is readable, name
    for name, writable in [("/bakery/web/prod", True), ("/aws/service/x", False)]:
        arn = f"arn:aws:ssm:us-east-1:123456789012:parameter{name}"
        assert allowed(document, Request("ssm:PutParameter", arn)) is writable


def test_image_mutations_need_the_managed_tag() -> None:
    image = "arn:aws:ec2:us-east-1::image/ami-1"
    managed = {"aws:ResourceTag/bakery:managed": "true"}
    for group, action in [
        ("lifecycle", "ec2:DeregisterImage"),
        ("lifecycle", "ec2:ModifyImageAttribute"),
        ("lifecycle", "ec2:EnableImageDeprecation"),
        ("prune", "ec2:DeleteSnapshot"),
    ]:
        document = document_of(group)
        assert allowed(document, Request(action, image, managed)), (group, action)
        other = {"aws:ResourceTag/team": "data"}
        assert not allowed(document, Request(action, image, other)), (group, action)
    tag = {"aws:RequestTag/bakery:channel:prod": "now", "aws:TagKeys": ["bakery:channel:prod"]}
    promote = document_of("promote")
    assert allowed(promote, Request("ec2:CreateTags", image, {**managed, **tag}))
    assert not allowed(promote, Request("ec2:CreateTags", image, tag))
    unmanage = {**managed, "aws:TagKeys": ["bakery:managed"]}
    assert not allowed(promote, Request("ec2:DeleteTags", image, unmanage))


def test_iam_policy_command_prints_the_policy_of_the_projects_settings(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE},
        "aws:\n"
        "  region: us-east-1\n"
        "  accounts: {'111122223333': {role_arn: 'arn:aws:iam::111122223333:role/bakery'}}\n"
        f"state: dynamodb://{TABLE}?region=us-east-1\n"
        f"notify: {{sns_topic: '{TOPIC}'}}\n"
        "kms_key_ids: {eu-west-1: alias/copies}\n"
        "test: {iam_instance_profile: bakery-smoke}\n",
    )
    source = next(
        line.split(":", 1)[1].strip()
        for line in BASE_RECIPE.splitlines()
        if line.strip().startswith("ssm_parameter:")
    )
    expected = Scope(
        table=TABLE,
        sns_topic=TOPIC,
        role_arns=("arn:aws:iam::111122223333:role/bakery",),
        test_profiles=("bakery-smoke",),
        kms_keys=(("eu-west-1", "alias/copies"),),
        source_parameters=(source,),
        trusted_owners=load_project(root).trusted_owners,
    )
    some = run_bakery(root, "iam-policy", "--for", "prune", "--for", "reap", "--keys-by-alias")
    assert json.loads(some.stdout) == policy(["prune", "reap"], expected)
    everything = json.loads(run_bakery(root, "iam-policy", "--keys-by-alias").stdout)
    assert everything == policy(["all"], expected)
    assert {"dynamodb:Query", "sns:Publish", "sts:AssumeRole", "iam:PassRole"} <= actions(
        everything
    )
    wrong = run_bakery(root, "iam-policy", "--for", "deploy", check=False)
    assert wrong.returncode == 2 and "invalid choice: 'deploy'" in wrong.stderr


def test_iam_policy_command_pins_aliases_unless_told_otherwise(
    make_project: ProjectFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE},
        "aws: {region: us-east-1}\nkms_key_ids: {eu-west-1: alias/copies}\n",
    )
    with moto_gateway(monkeypatch) as gateway:
        kms = gateway.client("kms", "eu-west-1")
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName="alias/copies", TargetKeyId=arn)
        capsys.readouterr()
        assert main(["-C", str(root), "iam-policy", "--for", "lifecycle"]) == 0
        text = capsys.readouterr().out
        assert arn in text and "kms:ResourceAliases" not in text
        assert analyze_policy_string(text).findings == []
        kms.delete_alias(AliasName="alias/copies")
        assert main(["-C", str(root), "iam-policy"]) == 1
        assert "kms DescribeKey in eu-west-1 for alias/copies" in capsys.readouterr().err


def test_iam_policy_command_of_a_sqlite_project_has_no_table_statement(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    document = json.loads(run_bakery(root, "iam-policy", "--for", "bake").stdout)
    assert not any(action.startswith("dynamodb:") for action in actions(document))
    assert "iam:PassRole" not in actions(document)


@pytest.mark.parametrize("group", [*GROUPS, "all"])
def test_parliament_finds_nothing(group: str) -> None:
    for scope in (PINNED, Scope()):
        findings = analyze_policy_string(json.dumps(policy([group], scope))).findings
        assert [(f.issue, f.detail) for f in findings] == []


def test_keys_by_alias_are_the_one_condition_parliament_does_not_know() -> None:
    # kms:ResourceAliases is a condition key of the KMS key resource; parliament's data lists
    # it there but checks conditions only against the actions' own keys. `--keys-by-alias`
    # chooses it knowingly; the default pins the ARN (above).
    findings = analyze_policy_string(json.dumps(policy(["bake"], SCOPE))).findings
    assert findings
    assert {(f.issue, str(f.detail).split(" for ")[0]) for f in findings} == {
        ("UNKNOWN_CONDITION_FOR_ACTION", "Unknown condition kms:ResourceAliases")
    }


def operations_named_in(folder: Path) -> dict[str, tuple[set[str], set[str]]]:
    """Names of operations of SERVICES in FOLDER's code (a method, a paginator, a string).

    Returns each name with the operations it may mean (DeleteTags: in EC2 or in Auto Scaling)
    and the files that hold it.
    """
    session = botocore.session.get_session()
    by_name: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            for name in (operation, xform_name(operation)):
                by_name.setdefault(name, set()).add(f"{model.signing_name}:{operation}")
    found: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(folder.rglob("*.py")):
        if path.parent.name == "local":
            continue  # the emulator's seeding talks to the emulator only
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                word: object = node.attr
            elif isinstance(node, ast.Constant):
                word = node.value
            else:
                continue
            if isinstance(word, str) and word in by_name:
                found.setdefault(xform_name(word), (by_name[word], set()))[1].add(path.name)
    return found


def needed_for(operation: str) -> set[str]:
    prefix, name = operation.split(":")
    if operation == "dynamodb:TransactWriteItems":
        return set(TRANSACTION_PARTS.values())  # table.py builds all four kinds of parts
    return iam_actions(prefix, name, {})


def test_the_whole_policy_grants_every_aws_call_named_in_bakerys_code() -> None:
    document = document_of("all")
    named = operations_named_in(REPO / "bakery")
    assert {"describe_images", "query", "publish", "transact_write_items"} <= set(named)
    missing = {
        name: sorted(files)
        for name, (operations, files) in sorted(named.items())
        if not any(
            all(granted(document, action) for action in needed_for(operation))
            for operation in operations
        )
    }
    assert missing == {}


def test_every_granted_action_of_the_services_only_bakery_calls_is_called() -> None:
    # Packer makes the EC2, KMS and IAM calls of a build; SSM, DynamoDB, SNS and Auto Scaling
    # are bakery's alone, so a grant there that no code makes is more than least privilege.
    named = {
        action
        for operations, _ in operations_named_in(REPO / "bakery").values()
        for operation in operations
        for action in needed_for(operation)
    }
    extra = {
        action
        for action in actions(document_of("all"))
        if action.startswith(("ssm:", "dynamodb:", "sns:", "autoscaling:")) and action not in named
    }
    assert extra == set()


_EC2_KINDS = {
    "ami": "image",
    "snap": "snapshot",
    "i": "instance",
    "vol": "volume",
    "sg": "security-group",
    "key": "key-pair",
}


def ec2_arn(region: str, resource_id: str) -> str:
    kind = _EC2_KINDS.get(resource_id.split("-", 1)[0], "unknown")
    account = "" if kind in ("image", "snapshot") else ACCOUNT
    return f"arn:aws:ec2:{region}:{account}:{kind}/{resource_id}"


class Emulator:
    """The tags and owners of EC2 resources as the emulator holds them before a call."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _ec2(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = emulator_client(self.root, "ec2", region)
            return self._clients[region]

    def keys(self, region: str, resource_id: str, *, ssm: bool = False) -> dict[str, Any]:
        """The resource's condition keys: aws:ResourceTag/* (ssm:resourceTag/*), ec2:Owner."""
        ec2 = self._ec2(region)
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
        keys: dict[str, Any] = {}
        for tag in found["Tags"]:
            keys[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
            if ssm:
                keys[f"ssm:resourceTag/{tag['Key']}"] = tag["Value"]
        if resource_id.startswith("ami-"):
            images = ec2.describe_images(ImageIds=[resource_id])["Images"]
            if images:
                keys["ec2:Owner"] = images[0].get("ImageOwnerAlias") or images[0]["OwnerId"]
        elif resource_id.startswith("snap-"):
            snapshots = ec2.describe_snapshots(SnapshotIds=[resource_id])["Snapshots"]
            if snapshots:
                keys["ec2:Owner"] = snapshots[0]["OwnerId"]
        return keys

    def snapshots_of(self, region: str, ami_id: str) -> list[str]:
        images = self._ec2(region).describe_images(ImageIds=[ami_id])["Images"]
        return [
            m["Ebs"]["SnapshotId"]
            for image in images
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]


def request_tags(tags: list[dict[str, str]]) -> dict[str, Any]:
    keys: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in tags}
    keys["aws:TagKeys"] = [tag["Key"] for tag in tags]
    return keys


def _parameter(region: str, name: str) -> str:
    if name.startswith("arn:"):
        return ":".join(name.split(":")[:6])  # without a :version or :label selector
    return f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name.split(':')[0].lstrip('/')}"


def requests_of(
    prefix: str, operation: str, params: dict[str, Any], region: str, emulator: Emulator
) -> list[Request]:
    """The authorisations one API call needs, with the resources and keys IAM would see."""
    action = f"{prefix}:{operation}"

    def arn(resource_id: str) -> str:
        return ec2_arn(region, resource_id)

    if action in NEEDS_NO_PERMISSION:
        return []
    if action == "dynamodb:TransactWriteItems":
        return [
            Request(TRANSACTION_PARTS[kind], _table(region, part["TableName"]))
            for item in params["TransactItems"]
            for kind, part in item.items()
        ]
    if prefix == "dynamodb" and "TableName" in params:
        table = _table(region, params["TableName"])
        if params.get("IndexName"):
            table += f"/index/{params['IndexName']}"
        return [Request(action, table)]
    if action in ("ec2:CreateTags", "ec2:DeleteTags"):
        call = request_tags(params.get("Tags", []))
        if action == "ec2:DeleteTags":
            call = {"aws:TagKeys": call["aws:TagKeys"]}
        return [
            Request(action, arn(r), {**emulator.keys(region, r), **call})
            for r in params["Resources"]
        ]
    if "ImageId" in params and operation != "RunInstances":
        return [Request(action, arn(params["ImageId"]), emulator.keys(region, params["ImageId"]))]
    if "SnapshotId" in params:
        snapshot = params["SnapshotId"]
        return [Request(action, arn(snapshot), emulator.keys(region, snapshot))]
    if action in ("ec2:TerminateInstances", "ec2:StopInstances"):
        return [Request(action, arn(i), emulator.keys(region, i)) for i in params["InstanceIds"]]
    if action == "ec2:DeleteKeyPair":
        name = params.get("KeyName") or params["KeyPairId"]
        return [Request(action, f"arn:aws:ec2:{region}:{ACCOUNT}:key-pair/{name}")]
    if action == "ec2:DeleteSecurityGroup":
        group = params["GroupId"]
        return [Request(action, arn(group), emulator.keys(region, group))]
    if action == "ec2:CopyImage":
        new = request_tags(
            next(
                (
                    s["Tags"]
                    for s in params.get("TagSpecifications", [])
                    if s["ResourceType"] == "image"
                ),
                [],
            )
        )
        made = [
            Request(action, f"arn:aws:ec2:{region}::image/ami-new", new),
            Request(action, f"arn:aws:ec2:{region}::snapshot/snap-new", new),
        ]
        for spec in params.get("TagSpecifications", []):
            kind = {"image": "image/ami-new", "snapshot": "snapshot/snap-new"}[spec["ResourceType"]]
            keys = {**request_tags(spec["Tags"]), "ec2:CreateAction": "CopyImage"}
            made.append(Request("ec2:CreateTags", f"arn:aws:ec2:{region}::{kind}", keys))
        return made
    if action == "ec2:RunInstances":
        return _run_instances(params, region, emulator)
    if action == "ssm:SendCommand":
        document = f"arn:aws:ssm:{region}::document/{params['DocumentName']}"
        return [Request(action, document)] + [
            Request(action, arn(i), emulator.keys(region, i, ssm=True))
            for i in params["InstanceIds"]
        ]
    if prefix == "ssm" and ("Name" in params or "Names" in params or "Path" in params):
        names = params.get("Names") or [params.get("Name") or params["Path"]]
        return [Request(action, _parameter(region, name)) for name in names]
    if action == "sts:AssumeRole":
        return [Request(action, params["RoleArn"])]
    if action == "sns:Publish":
        return [Request(action, params["TopicArn"])]
    return [Request(action)]


def _table(region: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"


def _run_instances(params: dict[str, Any], region: str, emulator: Emulator) -> list[Request]:
    action = "ec2:RunInstances"
    image = params["ImageId"]
    found = [Request(action, ec2_arn(region, image), emulator.keys(region, image))]
    found += [
        Request(action, ec2_arn(region, s), emulator.keys(region, s))
        for s in emulator.snapshots_of(region, image)
    ]
    specs = {s["ResourceType"]: s["Tags"] for s in params.get("TagSpecifications", [])}
    account = f"arn:aws:ec2:{region}:{ACCOUNT}"
    found += [
        Request(action, f"{account}:instance/i-new", request_tags(specs.get("instance", []))),
        Request(action, f"{account}:volume/vol-new", request_tags(specs.get("volume", []))),
        Request(action, f"{account}:network-interface/eni-new"),
        Request(action, f"{account}:subnet/{params.get('SubnetId', 'subnet-default')}"),
    ]
    groups = params.get("SecurityGroupIds") or ["sg-default"]
    found += [Request(action, f"{account}:security-group/{group}") for group in groups]
    if params.get("KeyName"):
        found.append(Request(action, f"{account}:key-pair/{params['KeyName']}"))
    for kind, tags in specs.items():
        new = {"instance": "instance/i-new", "volume": "volume/vol-new"}[kind]
        keys = {**request_tags(tags), "ec2:CreateAction": "RunInstances"}
        found.append(Request("ec2:CreateTags", f"{account}:{new}", keys))
    profile = params.get("IamInstanceProfile", {})
    if profile:
        name = profile.get("Name") or profile["Arn"].split("/")[-1]
        found.append(
            Request(
                "iam:PassRole",
                f"arn:aws:iam::{ACCOUNT}:role/{name}",  # the role shares the profile's name
                {"iam:PassedToService": "ec2.amazonaws.com"},
            )
        )
    return found


class Recorder:
    """Every authorisation bakery's gateway's calls need, by command (botocore's events)."""

    def __init__(self) -> None:
        self.command = ""
        self.emulator: Emulator | None = None
        self.calls: dict[str, list[Request]] = {}  # command → what its calls need
        self.operations: set[str] = set()  # the API operations themselves
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        region = client.meta.region_name

        # before-parameter-build: the call's own parameters, before they are serialised
        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            prefix = model.service_model.signing_name
            assert self.emulator is not None
            needed = requests_of(prefix, model.name, params, region, self.emulator)
            with self._lock:
                self.operations.add(f"{prefix}:{model.name}")
                self.calls.setdefault(self.command, []).extend(
                    needed or [Request("(no permission)")]
                )

        client.meta.events.register("before-parameter-build", record)
        return client

    def run(self, root: Path, *args: str, codes: tuple[int, ...] = (0,)) -> None:
        self.command = args[0]
        self.emulator = self.emulator or Emulator(root)
        code = main(["-C", str(root), *args])
        assert code in codes, (args, code)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recording = Recorder()
    original = Gateway._new_client

    def new_client(self: Gateway, service: str, region: str) -> Any:
        return recording.attach(original(self, service, region))

    monkeypatch.setattr(Gateway, "_new_client", new_client)
    yield recording


def printed_policy(root: Path, group: str, capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert main(["-C", str(root), "iam-policy", "--for", group]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("packer_binary")
def test_each_command_group_is_granted_every_call_its_commands_make(
    samples_on_emulator: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = samples_on_emulator
    monkeypatch.setenv("BAKERY_LOCAL", "1")
    for name in ("NO_PROXY", "no_proxy"):  # local mode sets them; put them back afterwards
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    topic = emulator_client(root, "sns").create_topic(Name="bakery")["TopicArn"]
    emulator_client(root, "iam").create_instance_profile(InstanceProfileName=SMOKE_PROFILE)
    settings = root / "bakery.yaml"
    text = settings.read_text()
    changed = text.replace(
        "state: sqlite:.bakery/lineage.db", f"state: dynamodb://{TABLE}?region=us-east-1"
    ).replace(
        "  instance_type: t3.micro\nretention",
        f"  instance_type: t3.micro\n  iam_instance_profile: {SMOKE_PROFILE}\nretention",
    )
    assert SMOKE_PROFILE in changed and TABLE in changed
    settings.write_text(changed + f"notify: {{sns_topic: '{topic}'}}\n")
    use_demo_base(root)
    recorder.run(root, "state", "init")
    recorder.run(root, "bake", "--all")
    recorder.run(root, "plan", codes=(0, 10))
    recorder.run(root, "copy", "web", "--to", "eu-west-1")
    recorder.run(root, "share", "web", "--accounts", "111122223333")
    recorder.run(root, "test", "web")
    recorder.run(root, "promote", "web", "--channel", "staging")
    recorder.run(root, "promote", "web", "--channel", "prod")
    recorder.run(root, "channels", "web")
    move_base(root)
    recorder.run(root, "rebuild", "--stale", "--promote", "staging")
    recorder.run(root, "rollback", "web", "--channel", "staging")
    recorder.run(root, "revoke", "cis-hardened", "--reason", "CVE", "--cascade")
    recorder.run(root, "prune", "--keep", "1", "--apply")
    recorder.run(root, "reap", "--apply")
    capsys.readouterr()

    assert set(recorder.calls) == set(GROUP_OF_COMMAND)  # every command made calls
    # transactions are checked by the actions of their parts
    assert "dynamodb:TransactWriteItems" in recorder.operations
    made = {command: {r.action for r in requests} for command, requests in recorder.calls.items()}
    assert "dynamodb:ConditionCheckItem" in made["copy"]
    assert "sns:Publish" in made["rebuild"]
    # the scoped calls were seen with their resources
    assert {"iam:PassRole", "ssm:SendCommand", "ec2:RunInstances"} <= made["test"]
    assert {"ec2:DeregisterImage", "ec2:DeleteSnapshot"} <= made["prune"]
    assert {"ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"} <= made["share"]
    documents = {group: printed_policy(root, group, capsys) for group in GROUPS}
    missing = {
        command: sorted(
            {
                f"{r.action} on {r.resource} {dict(r.keys)}"
                for r in requests
                if r.action != "(no permission)"
                and not allowed(documents[GROUP_OF_COMMAND[command]], r)
            }
        )
        for command, requests in sorted(recorder.calls.items())
    }
    assert {command: gaps for command, gaps in missing.items() if gaps} == {}
    # the keys came from the emulator: the smoke-test instance's tags, the new copies' none
    sent = [r for r in recorder.calls["test"] if r.resource.split(":")[-1].startswith("instance/")]
    assert any(r.keys.get("ssm:resourceTag/bakery:purpose") == "smoke-test" for r in sent)
    copy_tags = [r for r in recorder.calls["copy"] if r.action == "ec2:CreateTags"]
    assert copy_tags and all("aws:ResourceTag/bakery:managed" not in r.keys for r in copy_tags)
    # and the policy would have refused them on another account's or an unmanaged image
    lifecycle = documents["lifecycle"]
    for request in recorder.calls["prune"]:
        if request.action in ("ec2:DeregisterImage", "ec2:DeleteSnapshot"):
            assert not allowed(lifecycle, replace(request, keys={}))
