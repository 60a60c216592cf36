"""Recipe → Packer HCL2 through the Jinja2 templates; every value goes through one HCL filter."""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from bakery.config.params import resolve_build_references
from bakery.config.paths import has_control, shown
from bakery.config.recipe import FileStep, InlineStep, Recipe, ScriptStep, upload_name
from bakery.config.tags import BUILD_TAG_VARIABLES, image_tags, run_tags
from bakery.errors import BakeryError, UsageError
from bakery.render import hcl
from bakery.render.input_hash import content_digest, sha256_hex

TemplateDialect = Literal["1.6", "1.7+"]
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE = "amazon-ebs.pkr.hcl.j2"
HYGIENE_SCRIPT = "hygiene.sh"

# Packer expands {{ .Path }} and {{ .Vars }}; the step's environment comes from the env file
# uploaded before it, so no recipe value ever passes through Packer's Go template engine.
_RUN_WITH_ENV = "sh -c 'set -a; . %s; set +a; exec \"$0\"' {{ .Path }}"
_RUN_AS_ROOT = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E " + _RUN_WITH_ENV
_RUN_AS_USER = "chmod +x {{ .Path }}; {{ .Vars }} " + _RUN_WITH_ENV
_HYGIENE_RUN = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"

VARIABLES: tuple[tuple[str, str, str | None], ...] = (
    ("source_ami", "AMI id the build starts from, resolved by bakery", None),
    ("build_id", "bakery build id", None),
    ("build_timestamp", "build time, YYYYMMDDhhmmss UTC, part of the AMI name", None),
    ("build_date", "build time, ISO 8601 UTC", None),
    ("input_hash", "sha256 of everything the image is built from", None),
    ("git_commit", "git commit of the recipes", "unknown"),
    ("source_ref", "the source as the recipe names it, KIND:REFERENCE", None),
    ("manifest_path", "where the manifest post-processor writes", "packer-manifest.json"),
)
LOCAL_VARIABLES = (("endpoint_url", "EC2 endpoint of the local emulator", None),)


@dataclass(frozen=True)
class Rendered:
    """The files of one recipe's build folder, and the digest of what they came from."""

    recipe: str
    files: Mapping[str, bytes]  # build-folder-relative name → bytes; includes the template
    digest: str

    @property
    def template_name(self) -> str:
        return f"{self.recipe}.pkr.hcl"

    @property
    def template_sha256(self) -> str:
        return sha256_hex(self.files[self.template_name])


def ami_name_prefix(recipe: Recipe) -> str:
    """Return the AMI name up to what a build fills in: NAME-VERSION (`+` is not allowed in AMI
    names), or the text of the recipe's `ami_name` before its first build-time reference."""
    if recipe.ami_name is not None:
        return recipe.ami_name.split("((", 1)[0]
    return name_prefix(recipe.name, recipe.version)


def name_prefix(name: str, version: str) -> str:
    """The AMI name of recipe `name` at `version`, without its timestamp (a build record's)."""
    return f"{name}-{version.replace('+', '_')}"


def ami_name(recipe: Recipe, moment: datetime, build_id: str) -> str:
    """Return the AMI name of a build: NAME-VERSION-YYYYMMDDhhmmss, or the recipe's template."""
    if recipe.ami_name is None:
        return f"{ami_name_prefix(recipe)}-{moment.strftime('%Y%m%d%H%M%S')}"
    return resolve_build_references(recipe.ami_name, build_facts(moment, build_id), moment)


def build_facts(
    moment: datetime, build_id: str, source_ami: str = "", source_ami_name: str = ""
) -> dict[str, str]:
    """The build-time facts references name, by built-in name."""
    return {
        "build_id": build_id,
        "timestamp": moment.strftime("%Y%m%d%H%M%S"),
        "build_date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_ami_id": source_ami,
        "source_ami_name": source_ami_name,
    }


def computed_variables(recipe: Recipe) -> dict[str, str]:
    """The template variables bakery fills in from a recipe's build-time references: the AMI
    name of an `ami_name` template, and each user tag whose value refers to the build. Packer
    gets the finished text; it never sees a reference."""
    found: dict[str, str] = {}
    if recipe.ami_name is not None:
        found["ami_name"] = recipe.ami_name
    for index, (_, value) in enumerate(sorted(recipe.tags.items())):
        if "((" in value:
            found[f"tag_value_{index}"] = value
    return found


def fill_computed(recipe: Recipe, facts: Mapping[str, str], moment: datetime) -> dict[str, str]:
    """The values of `computed_variables` for one build."""
    return {
        name: resolve_build_references(text, facts, moment)
        for name, text in computed_variables(recipe).items()
    }


def filled_tags(recipe: Recipe, facts: Mapping[str, str], moment: datetime) -> dict[str, str]:
    """The recipe's tags with their build-time references filled in."""
    return {
        key: resolve_build_references(value, facts, moment) if "((" in value else value
        for key, value in recipe.tags.items()
    }


def uses_source_name(recipe: Recipe) -> bool:
    """Whether a build must look up its source AMI's name (a tag names ((source_ami_name)))."""
    return any("((source_ami_name))" in text for text in computed_variables(recipe).values())


@cache
def template_texts() -> dict[str, str]:
    """Return the text of every template file, by name."""
    return {
        name: (TEMPLATES_DIR / name).read_text(encoding="utf-8")
        for name in (TEMPLATE, HYGIENE_SCRIPT)
    }


def render(
    recipe: Recipe,
    project_tags: Mapping[str, str],
    dialect: TemplateDialect,
    read: Callable[[str], bytes],
    *,
    local: bool = False,
) -> Rendered:
    """Render `recipe` into its build folder's files; `read` returns a project file's bytes.

    `local` renders for the emulator: no communicator, the EC2 endpoint from `var.endpoint_url`,
    and every remote step replaced by a local check of what it would run.
    """
    texts = template_texts()
    used = {path: read(path) for path in recipe.used_files}
    files: dict[str, bytes] = {HYGIENE_SCRIPT: texts[HYGIENE_SCRIPT].encode()}
    steps = _steps(recipe, used, files, local)
    references = {name: hcl.Reference(f"var.{name}") for name in BUILD_TAG_VARIABLES.values()}
    computed = computed_variables(recipe)
    user_tags: dict[str, str | hcl.Reference] = {
        key: hcl.Reference(f"var.tag_value_{index}") if f"tag_value_{index}" in computed else value
        for index, (key, value) in enumerate(sorted(recipe.tags.items()))
    }
    context: dict[str, Any] = {
        "dialect": dialect,
        "local": local,
        "recipe_file": recipe.file,
        "name": recipe.name,
        "description": recipe.description or f"{recipe.name} {recipe.version} ({recipe.layer})",
        "region": recipe.region,
        "ami_name_prefix": ami_name_prefix(recipe),
        "build": recipe.build,
        "distribute": recipe.distribute,
        "variables": [
            {"name": name, "description": text, "default": default}
            for name, text, default in (
                *VARIABLES,
                *(LOCAL_VARIABLES if local else ()),
                *_computed_declarations(computed),
            )
        ],
        "ami_name_variable": "ami_name" in computed,
        "tags": image_tags(
            recipe,
            project_tags,
            references,
            hcl.Reference("local.ami_name"),
            local=local,
            user_tags=user_tags,
        ),
        "run_tags": run_tags(recipe, hcl.Reference("var.build_id")),
        "steps": steps,
        "manifest_data": {
            "build_id": hcl.Reference("var.build_id"),
            "recipe": recipe.name,
            "version": recipe.version,
            "input_hash": hcl.Reference("var.input_hash"),
        },
    }
    text = hcl.align(_environment().get_template(TEMPLATE).render(context)).rstrip("\n") + "\n"
    files[f"{recipe.name}.pkr.hcl"] = text.encode()
    digest = content_digest(recipe, project_tags, used, texts)
    return Rendered(recipe.name, dict(sorted(files.items())), digest)


def _computed_declarations(computed: Mapping[str, str]) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    for name in computed:
        what = "the AMI name" if name == "ami_name" else "a tag value"
        found.append((name, f"{what}, made by bakery from the recipe's references", None))
    return found


def _steps(
    recipe: Recipe, used: Mapping[str, bytes], files: dict[str, bytes], local: bool
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(recipe.provision, start=1):
        if isinstance(step, FileStep):
            name = upload_name(index, step.source)
            files[name] = used[step.source]
            if local:
                steps.append(
                    _local_step(
                        index,
                        "file",
                        step.source,
                        [
                            f"test -f {name}",
                            _echo(f"would upload {name} to {step.destination}"),
                        ],
                    )
                )
            else:
                steps.append(
                    _step(
                        index,
                        "file",
                        step.source,
                        "file",
                        {
                            "source": hcl.RootPath(name),
                            "destination": step.destination,
                        },
                    )
                )
            continue
        env_name = f"steps/{index:02d}.env"
        remote_env = f"/tmp/bakery-step-{index:02d}.env"
        files[env_name] = _env_file(recipe, index, {**recipe.environment, **step.env})
        if isinstance(step, ScriptStep):
            name, kind, origin = upload_name(index, step.path), "script", step.path
            files[name] = used[step.path]
            command, who = _RUN_AS_ROOT % remote_env, "as root"
        else:
            name, kind, origin = f"steps/{index:02d}-inline.sh", "inline", "inline"
            files[name] = _inline_script(recipe, index, step)
            command, who = _RUN_AS_USER % remote_env, "as the build user"
        if local:
            steps.append(
                _local_step(
                    index,
                    kind,
                    origin,
                    [
                        *_syntax_checks(name, shell="sh" if kind == "inline" else "bash"),
                        f"sh -n {env_name}",
                        _echo(f"would run {name} {who} with {env_name}"),
                    ],
                )
            )
            continue
        steps.append(
            _step(
                index,
                "environment",
                env_name,
                "file",
                {
                    "source": hcl.RootPath(env_name),
                    "destination": remote_env,
                },
            )
        )
        steps.append(
            _step(
                index,
                kind,
                origin,
                "shell",
                {
                    "script": hcl.RootPath(name),
                    "execute_command": command,
                },
            )
        )
    if recipe.hygiene.skip:
        return steps
    index = len(recipe.provision) + 1
    if local:
        steps.append(
            _local_step(
                index,
                "hygiene",
                HYGIENE_SCRIPT,
                [
                    *_syntax_checks(HYGIENE_SCRIPT, shell="bash"),
                    _echo("would run hygiene.sh as root"),
                ],
            )
        )
        return steps
    steps.append(
        _step(
            index,
            "hygiene",
            HYGIENE_SCRIPT,
            "shell",
            {
                "script": hcl.RootPath(HYGIENE_SCRIPT),
                "environment_vars": [f"BAKERY_BUILD_USER={recipe.build.ssh_username}"],
                "execute_command": _HYGIENE_RUN,
            },
        )
    )
    return steps


def _syntax_checks(name: str, shell: str) -> list[str]:
    # Local mode has no instance: check what would run (shell-local runs in the build folder).
    return [
        f"{shell} -n {name}",
        f"if command -v shellcheck >/dev/null 2>&1; then shellcheck -S error {name}; fi",
    ]


def _echo(text: str) -> str:
    return f"echo {shlex.quote('bakery local: ' + text)}"


def _local_step(index: int, kind: str, origin: str, commands: list[str]) -> dict[str, Any]:
    return _step(index, kind, origin, "shell-local", {"inline": commands})


def _step(
    index: int, kind: str, origin: str, type_: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {"index": index, "kind": kind, "origin": origin, "type": type_, "attributes": attributes}


def _env_file(recipe: Recipe, index: int, env: Mapping[str, str]) -> bytes:
    lines = [f"# Environment of step {index} of recipe {recipe.name}, written by bakery."]
    lines += [f"{key}={shell_word(recipe, key, value)}" for key, value in sorted(env.items())]
    return ("\n".join(lines) + "\n").encode()


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shell_word(recipe: Recipe, key: str, value: str) -> str:
    """Return `value` as one single-quoted shell word on one line: `'it'\\''s'`.

    The one quoting of environment values: always quoted (shlex.quote leaves some words bare),
    each `'` written as `'\\''`, nothing else special inside, so every line of an env file is
    `KEY='value'`. Validation refuses control characters in values (E1016); one that gets here
    anyway is refused, as a line break would split the line and no shell holds NUL.
    """
    if not _ENV_NAME.fullmatch(key):
        raise BakeryError(f"recipe {recipe.name}: environment name {shown(key)} is not a name")
    if has_control(value.replace("\t", "")):
        raise BakeryError(
            f"recipe {recipe.name}: the value of environment variable {key} holds a control "
            "character; an env file holds each value on one line"
        )
    return "'" + value.replace("'", "'\\''") + "'"


def _inline_script(recipe: Recipe, index: int, step: InlineStep) -> bytes:
    # Packer runs inline commands with `/bin/sh -e`; this file keeps that meaning.
    header = [
        "#!/bin/sh",
        f"# Inline step {index} of recipe {recipe.name}, written by bakery.",
        "set -e",
    ]
    return ("\n".join([*header, *step.commands]) + "\n").encode()


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["hcl"] = _hcl_filter
    env.finalize = _finalize
    return env


class _Escaped(str):
    """Text the `hcl` filter wrote: the only text `_finalize` lets into a template unchecked."""


def _hcl_filter(value: object, indent: int = 0) -> _Escaped:
    return _Escaped(hcl.literal(value, indent))


# Bakery's own words (attribute names, step kinds) may be written bare; nothing else may.
_BARE = re.compile(r"[A-Za-z0-9_.-]*")


def _finalize(value: object) -> str:
    # Every `{{ }}` of the template ends here: a value that did not go through the one escaper
    # (bakery.render.hcl) and is not a plain word or number is refused, comments included.
    if isinstance(value, _Escaped):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _BARE.fullmatch(value):
        return value
    raise ValueError(f"a value reached the template without the hcl filter: {value!r}")


# Every folder `write` makes holds this file; `write` deletes no folder without it.
MARKER = ".bakery-render"
_MARKER_TEXT = (
    "Written by bakery: `bakery render` and `bakery bake` replace this folder whole.\n"
    "Keep nothing else here; bakery refuses to replace a folder without this file.\n"
)


def output_folder(root: Path, out: str) -> Path:
    """Return the folder `--out` names (relative to the project root, default `build`).

    A folder inside the project must not lead out of it through a symbolic link (a committed
    `build -> /elsewhere`); one outside is used only because the user typed it, and there too
    bakery replaces only the build folders it made.
    """
    if has_control(out):
        raise UsageError(f"--out {shown(out)} holds a control character")
    folder = Path(os.path.normpath(root / out))
    try:
        resolved = folder.resolve()
    except (OSError, RuntimeError) as error:  # a loop of symbolic links
        raise BakeryError(f"--out {out}: cannot resolve: {error}") from None
    if folder.is_relative_to(root) and not resolved.is_relative_to(root):
        raise BakeryError(
            f"{out} leads out of the project through a symbolic link; bakery writes outside "
            "the project only to a folder you name with --out"
        )
    return folder


def check_folder(folder: Path, keep: Sequence[Path] = (), label: str | None = None) -> None:
    """Refuse to write `folder` unless it is missing, empty, or a build folder bakery made.

    Nothing is followed: a symbolic link at `folder` is refused, not replaced. `keep` names what
    the folder must not hold (the recipes, bakery.yaml), however it is marked. `label` is the
    folder as messages name it (as the user wrote it).
    """
    shown_folder = shown(label or str(folder))
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise BakeryError(
            f"{shown_folder} is a symbolic link; bakery writes build folders only where it made "
            "them; remove the link or choose another --out"
        )
    if mode is not None and not stat.S_ISDIR(mode):
        raise BakeryError(
            f"{shown_folder} exists and is not a folder; move it away or choose another --out"
        )
    resolved = folder.resolve()
    for path in keep:
        if path.resolve().is_relative_to(resolved):
            raise BakeryError(
                f"{shown_folder} would hold {shown(str(path))}; bakery replaces a build folder "
                "whole; choose another --out"
            )
    if mode is not None and not _marked(folder) and any(folder.iterdir()):
        raise BakeryError(
            f"{shown_folder} holds files bakery did not write (it has no {MARKER}); "
            "bakery replaces only build folders it made; move them away or choose another --out"
        )


def _marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(folder / MARKER).st_mode)
    except FileNotFoundError:
        return False


def write(
    rendered: Rendered, folder: Path, keep: Sequence[Path] = (), label: str | None = None
) -> Path:
    """Write a build folder, replacing one an earlier render left there (see check_folder)."""
    import shutil

    check_folder(folder, keep, label)
    if folder.exists():
        # rmtree unlinks symbolic links inside the folder, never following them (and refuses
        # a folder that became a link since the check).
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    for name, data in rendered.files.items():
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts or has_control(name):
            raise ValueError(f"not a build folder name: {name!r}")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.endswith(".sh"):
            path.chmod(0o755)
    return folder / rendered.template_name
