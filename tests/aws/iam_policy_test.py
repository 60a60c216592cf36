from __future__ import annotations

import ast
import fnmatch
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from parliament import analyze_policy_string

from bakery.aws.iam_policy import GROUPS, policy
from bakery.aws.session import Gateway
from bakery.cli import main
from tests.support.emulator import emulator_client, move_base, use_demo_base
from tests.support.project import BASE_RECIPE, REPO, ProjectFactory, run_bakery

TABLE = "bakery-lineage"
TOPIC = "arn:aws:sns:us-east-1:123456789012:bakery"
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
    document = policy(["all"], table=TABLE, sns_topic=TOPIC)
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    text = json.dumps(document)
    assert "arn:aws:ssm:*:*:parameter/bakery/*" in text
    assert "arn:aws:dynamodb:*:*:table/bakery-lineage*" in text
    assert "arn:aws:sns:us-east-1:123456789012:bakery" in text


def test_without_dynamodb_or_sns_their_statements_are_left_out() -> None:
    found = actions(policy(["rebuild"], table=None, sns_topic=None))
    assert not any(a.startswith(("dynamodb:", "sns:")) for a in found)
    assert {"ec2:CreateImage", "ssm:SendCommand", "ssm:PutParameter"} <= found


def test_iam_policy_command_prints_the_policy_of_the_projects_store_and_topic(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE},
        "aws: {region: us-east-1}\n"
        f"state: dynamodb://{TABLE}?region=us-east-1\n"
        f"notify: {{sns_topic: '{TOPIC}'}}\n",
    )
    some = run_bakery(root, "iam-policy", "--for", "prune", "--for", "reap")
    assert json.loads(some.stdout) == policy(["prune", "reap"], table=TABLE, sns_topic=TOPIC)
    everything = json.loads(run_bakery(root, "iam-policy").stdout)
    assert everything == policy(["all"], table=TABLE, sns_topic=TOPIC)
    assert {"dynamodb:Query", "sns:Publish"} <= actions(everything)
    wrong = run_bakery(root, "iam-policy", "--for", "deploy", check=False)
    assert wrong.returncode == 2 and "invalid choice: 'deploy'" in wrong.stderr


def test_iam_policy_command_of_a_sqlite_project_has_no_table_statement(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    document = json.loads(run_bakery(root, "iam-policy", "--for", "bake").stdout)
    assert document == policy(["bake"], table=None, sns_topic=None)
    assert not any(action.startswith("dynamodb:") for action in actions(document))


@pytest.mark.parametrize("group", [*GROUPS, "all"])
def test_parliament_finds_nothing_but_the_deliberate_star_resources(group: str) -> None:
    # "*" is deliberate where EC2 and friends offer no resource scoping (see iam_policy.py)
    document = policy([group], table=TABLE, sns_topic=TOPIC)
    findings = analyze_policy_string(json.dumps(document)).findings
    assert [(f.issue, f.detail) for f in findings if f.issue != "RESOURCE_STAR"] == []


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
    document = policy(["all"], table=TABLE, sns_topic=TOPIC)
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
        for action in actions(policy(["all"], table=TABLE, sns_topic=TOPIC))
        if action.startswith(("ssm:", "dynamodb:", "sns:", "autoscaling:")) and action not in named
    }
    assert extra == set()


class Recorder:
    """Every call bakery's gateway makes, by the command that made it (botocore's events)."""

    def __init__(self) -> None:
        self.command = ""
        self.calls: dict[str, set[str]] = {}  # command → IAM actions
        self.operations: set[str] = set()  # the API operations themselves
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        # before-parameter-build: the call's own parameters, before they are serialised
        client.meta.events.register("before-parameter-build", self._record)
        return client

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        needed = iam_actions(model.service_model.signing_name, model.name, params)
        with self._lock:
            self.operations.add(f"{model.service_model.signing_name}:{model.name}")
            self.calls.setdefault(self.command, set()).update(needed or {"(no permission)"})

    def run(self, root: Path, *args: str, codes: tuple[int, ...] = (0,)) -> None:
        self.command = args[0]
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
    settings = root / "bakery.yaml"
    settings.write_text(
        settings.read_text().replace(
            "state: sqlite:.bakery/lineage.db", f"state: dynamodb://{TABLE}?region=us-east-1"
        )
        + f"notify: {{sns_topic: '{topic}'}}\n"
    )
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
    assert "dynamodb:ConditionCheckItem" in recorder.calls["copy"]
    assert "sns:Publish" in recorder.calls["rebuild"]
    missing = {
        command: sorted(
            action
            for action in made
            if action != "(no permission)"
            and not granted(
                policy([GROUP_OF_COMMAND[command]], table=TABLE, sns_topic=topic), action
            )
        )
        for command, made in sorted(recorder.calls.items())
    }
    assert {command: gaps for command, gaps in missing.items() if gaps} == {}
