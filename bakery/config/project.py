"""Find and load bakery.yaml, the project file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bakery.config import rule_codes as rc
from bakery.config.marks import MarkedDocument, PathKey, load_marked
from bakery.config.params import Parameter, declarations
from bakery.config.paths import has_control, inside, is_regular_file, shown
from bakery.config.recipe import parse_duration
from bakery.config.rules import channel_problems, ignore_problems, project_key_problems
from bakery.config.schema import PROJECT_SCHEMA
from bakery.config.schema_check import check_shape
from bakery.config.secrets import SecretAllow
from bakery.errors import InvalidInputError, Problem, ProjectError

PROJECT_FILE = "bakery.yaml"
DEFAULT_RECIPES = "recipes"
DEFAULT_STATE = "sqlite:.bakery/lineage.db"
DEFAULT_TRUSTED_OWNERS = ("amazon", "self")

Dialect = Literal["auto", "1.6", "1.7+"]


@dataclass(frozen=True)
class BakeSettings:
    """How `bake` runs builds: parallelism, retries of transient failures, cancellation."""

    jobs: int = 4
    attempts: int = 3
    retry_delay: str = "30s"
    cancel_grace: str = "2m"
    lease_ttl: str = "5m"  # a runner renews its lease on a recipe every third of this

    @property
    def lease_ttl_seconds(self) -> int:
        return parse_duration(self.lease_ttl)

    @property
    def retry_delay_seconds(self) -> int:
        return parse_duration(self.retry_delay)

    @property
    def cancel_grace_seconds(self) -> int:
        return parse_duration(self.cancel_grace)


@dataclass(frozen=True)
class Retention:
    """How many images of a recipe to keep per region, and from what age others may go."""

    keep: int = 3
    max_age_days: int | None = None

    def __post_init__(self) -> None:
        if self.keep < 0:
            raise ValueError(f"keep must be 0 or more, not {self.keep}")
        if self.max_age_days is not None and self.max_age_days < 0:
            raise ValueError(f"max age must be 0 days or more, not {self.max_age_days}")

    def describe(self) -> str:
        """Say the retention in words: `keep 3, max age 90 days`."""
        age = "no max age" if self.max_age_days is None else f"max age {self.max_age_days} days"
        return f"keep {self.keep}, {age}"


@dataclass(frozen=True)
class Channel:
    """A channel consumers read (an SSM parameter per recipe), with its promotion gates."""

    name: str
    requires: str | None = None  # a channel the image must have been promoted to first
    smoke_test: bool = False  # a passing `bakery test` is needed
    regions: tuple[str, ...] = ()  # regions it serves (default: the build region)
    accounts: tuple[str, ...] = ()  # other accounts that get the parameter too (AssumeRole)


@dataclass(frozen=True)
class SmokeTestSettings:
    subnet_id: str | None = None
    instance_type: str = "t3.micro"
    iam_instance_profile: str | None = None
    security_group_ids: tuple[str, ...] = ()
    timeout: str = "15m"


@dataclass(frozen=True)
class Project:
    """The settings of one bakery project (a folder holding bakery.yaml)."""

    root: Path
    recipes_dir: str = DEFAULT_RECIPES
    state: str = DEFAULT_STATE
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    trusted_owners: tuple[str, ...] = DEFAULT_TRUSTED_OWNERS
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dialect: Dialect = "auto"
    packer_binary: str = "packer"
    bake: BakeSettings = field(default_factory=lambda: BakeSettings())
    role_arns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    kms_key_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    share_allowlist: tuple[str, ...] = ()
    channels: Mapping[str, Channel] = field(default_factory=lambda: MappingProxyType({}))
    smoke_test: SmokeTestSettings = field(default_factory=lambda: SmokeTestSettings())
    retention: Retention = field(default_factory=lambda: Retention())
    max_age: str | None = None  # rebuild a recipe whose newest image is older (plan, rebuild)
    notify_webhook: str | None = None
    notify_sns_topic: str | None = None
    # rules.ignore: warning code -> why it does not apply; validation drops those warnings
    ignored_rules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # secrets.allow: reviewed secret findings (a file or folder, why, optionally finding ids)
    secrets_allow: tuple[SecretAllow, ...] = ()
    # parameters: shared by every recipe; var_files: project-relative, read in order
    parameters: Mapping[str, Parameter] = field(default_factory=lambda: MappingProxyType({}))
    var_files: tuple[str, ...] = ()

    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    def relative(self, path: Path) -> str:
        """Return `path` relative to the project root, as written in messages."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError, RuntimeError):  # outside, or a loop of symbolic links
            pass
        try:  # a symbolic link in the project that leads out of it
            return path.absolute().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def find_project(start: Path) -> Path:
    """Return the folder holding bakery.yaml: `start` or its nearest parent, like git."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ProjectError(
        f"no {PROJECT_FILE} in {start} or any parent folder; "
        f"run bakery inside a project or name one with -C DIR"
    )


def load_project(root: Path) -> Project:
    """Read and validate `root`/bakery.yaml."""
    root = root.resolve()
    path = root / PROJECT_FILE
    # Checked before opening: a FIFO would hang the read, a link could lead out of the project.
    if path.is_symlink() and not inside(path, root):
        raise ProjectError(
            f"{path}: a symbolic link that leads out of the project; keep bakery.yaml inside it"
        )
    if path.exists() and not is_regular_file(path):
        raise ProjectError(f"{path}: not a regular file; bakery reads bakery.yaml from a file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(
            f"{path}: not found; create it or name the project folder with -C DIR"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: cannot read: {error}") from error
    doc, problems = load_marked(text, PROJECT_FILE)
    if doc is not None and doc.data is None:
        doc.data = {}
    if doc is not None and not problems:
        problems = check_shape(doc, PROJECT_SCHEMA)
    if doc is not None and not problems:
        problems = list(ignore_problems(doc)) + list(_path_setting_problems(doc, root))
        problems += _packer_binary_problems(doc, root)
        problems += channel_problems(doc)
        problems += project_key_problems(doc)
        declared, found = declarations(doc, doc.data.get("parameters", {}), ("parameters",))
        problems += found
    # Every finding about bakery.yaml is an error (there are no project-file warnings yet).
    if problems or doc is None:
        raise InvalidInputError(problems)
    data: dict[str, Any] = doc.data
    declared, _ = declarations(doc, data.get("parameters", {}), ("parameters",))
    aws = data.get("aws", {})
    packer = data.get("packer", {})
    return Project(
        root=root,
        recipes_dir=data.get("recipes", DEFAULT_RECIPES),
        state=data.get("state", DEFAULT_STATE),
        region=aws.get("region", "us-east-1"),
        profile=aws.get("profile"),
        endpoint_url=aws.get("endpoint_url"),
        defaults=MappingProxyType(dict(data.get("defaults", {}))),
        trusted_owners=tuple(data.get("trusted_owners", DEFAULT_TRUSTED_OWNERS)),
        tags=MappingProxyType(dict(data.get("tags", {}))),
        dialect=packer.get("dialect", "auto"),
        packer_binary=packer.get("binary", "packer"),
        bake=BakeSettings(**data.get("bake", {})),
        role_arns=MappingProxyType(
            {account: spec["role_arn"] for account, spec in aws.get("accounts", {}).items()}
        ),
        kms_key_ids=MappingProxyType(dict(data.get("kms_key_ids", {}))),
        share_allowlist=tuple(data.get("share_allowlist", ())),
        channels=MappingProxyType(
            {
                name: Channel(
                    name,
                    spec.get("requires"),
                    bool(spec.get("smoke_test", False)),
                    tuple(spec.get("regions", ())),
                    tuple(spec.get("accounts", ())),
                )
                for name, spec in data.get("channels", {}).items()
            }
        ),
        smoke_test=_smoke_test_settings(data.get("test", {})),
        retention=Retention(**data.get("retention", {})),
        max_age=data.get("max_age"),
        notify_webhook=data.get("notify", {}).get("webhook"),
        notify_sns_topic=data.get("notify", {}).get("sns_topic"),
        ignored_rules=MappingProxyType(
            {entry["code"]: entry["reason"] for entry in data.get("rules", {}).get("ignore", [])}
        ),
        secrets_allow=tuple(
            SecretAllow(entry["path"], entry["reason"], tuple(entry.get("findings", ())))
            for entry in data.get("secrets", {}).get("allow", [])
        ),
        parameters=MappingProxyType(declared),
        var_files=tuple(data.get("var_files", ())),
    )


def _path_setting_problems(doc: MarkedDocument, root: Path) -> Iterator[Problem]:
    """Yield what is wrong with the paths bakery.yaml names: each must stay in the project."""
    settings: list[tuple[PathKey, str]] = []
    recipes = doc.data.get("recipes", DEFAULT_RECIPES)
    state = doc.data.get("state", DEFAULT_STATE)
    if isinstance(recipes, str):
        settings.append((("recipes",), recipes))
    if isinstance(state, str) and state.startswith("sqlite:"):
        settings.append((("state",), state.removeprefix("sqlite:")))
    for index, var_file in enumerate(doc.data.get("var_files", ())):
        settings.append((("var_files", index), var_file))
    for where, raw in settings:
        # A default is checked too: a committed link `.bakery -> /elsewhere` moves it.
        if has_control(raw):
            yield doc.problem(
                rc.CONTROL_IN_PATH, where, f"{shown(raw)} holds a control character; rename it"
            )
        elif raw.startswith("~") or Path(raw).is_absolute():
            yield doc.problem(
                rc.PATH_SETTING_OUTSIDE,
                where,
                f"absolute path {raw}; write it relative to the project folder",
            )
        elif not inside(root / raw, root):
            yield doc.problem(
                rc.PATH_SETTING_OUTSIDE,
                where,
                f"{raw} leads out of the project folder (through .. or a symbolic link); "
                "keep it inside",
            )


def _packer_binary_problems(doc: MarkedDocument, root: Path) -> Iterator[Problem]:
    """Yield a problem if `packer.binary` could name a program a pull request chose."""
    binary = doc.data.get("packer", {}).get("binary")
    if not isinstance(binary, str):
        return
    name = Path(binary).name
    if has_control(binary) or "packer" not in name.lower():
        why = f"{shown(binary)} is not a Packer (its file name has no 'packer')"
    elif "/" in binary and not Path(binary).is_absolute():
        why = f"{binary} is a relative path; name a command on PATH or an absolute path"
    elif Path(binary).is_absolute() and inside(Path(binary), root):
        why = f"{binary} lies inside the project, where a pull request could put a program"
    else:
        return
    yield doc.problem(
        rc.PACKER_BINARY_UNTRUSTED,
        ("packer", "binary"),
        f"{why}; install Packer outside the project and name it here",
    )


def _smoke_test_settings(data: Mapping[str, Any]) -> SmokeTestSettings:
    return SmokeTestSettings(
        subnet_id=data.get("subnet_id"),
        instance_type=data.get("instance_type", "t3.micro"),
        iam_instance_profile=data.get("iam_instance_profile"),
        security_group_ids=tuple(data.get("security_group_ids", ())),
        timeout=data.get("timeout", "15m"),
    )
