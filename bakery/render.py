"""Recipe → Packer HCL2 through the Jinja2 templates; every value goes through one HCL filter."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from bakery import hcl
from bakery.inputhash import content_digest, sha256_hex
from bakery.recipe import FileStep, InlineStep, Recipe, ScriptStep, upload_name
from bakery.tags import BUILD_TAG_VARIABLES, image_tags, run_tags

TemplateDialect = Literal["1.6", "1.7+"]
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
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
    ("manifest_path", "where the manifest post-processor writes", "packer-manifest.json"),
)


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
) -> Rendered:
    """Render `recipe` into its build folder's files; `read` returns a project file's bytes."""
    texts = template_texts()
    used = {path: read(path) for path in recipe.used_files}
    files: dict[str, bytes] = {HYGIENE_SCRIPT: texts[HYGIENE_SCRIPT].encode()}
    steps = _steps(recipe, used, files)
    references = {name: hcl.Reference(f"var.{name}") for name in BUILD_TAG_VARIABLES.values()}
    context: dict[str, Any] = {
        "dialect": dialect,
        "recipe_file": recipe.file,
        "name": recipe.name,
        "description": recipe.description or f"{recipe.name} {recipe.version} ({recipe.layer})",
        "region": recipe.region,
        "ami_name_prefix": f"{recipe.name}-{recipe.version.replace('+', '_')}",
        "build": recipe.build,
        "distribute": recipe.distribute,
        "variables": [
            {"name": name, "description": text, "default": default}
            for name, text, default in VARIABLES
        ],
        "tags": image_tags(recipe, project_tags, references, hcl.Reference("local.ami_name")),
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


def _steps(
    recipe: Recipe, used: Mapping[str, bytes], files: dict[str, bytes]
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(recipe.provision, start=1):
        if isinstance(step, FileStep):
            name = upload_name(index, step.source)
            files[name] = used[step.source]
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
        env = {**recipe.environment, **step.env}
        env_name = f"steps/{index:02d}.env"
        remote_env = f"/tmp/bakery-step-{index:02d}.env"
        files[env_name] = _env_file(recipe, index, env)
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
        if isinstance(step, ScriptStep):
            name = upload_name(index, step.path)
            files[name] = used[step.path]
            command, origin = _RUN_AS_ROOT % remote_env, step.path
        else:
            name = f"steps/{index:02d}-inline.sh"
            files[name] = _inline_script(recipe, index, step)
            command, origin = _RUN_AS_USER % remote_env, "inline"
        steps.append(
            _step(
                index,
                "script" if isinstance(step, ScriptStep) else "inline",
                origin,
                "shell",
                {"script": hcl.RootPath(name), "execute_command": command},
            )
        )
    if recipe.hygiene.skip:
        return steps
    steps.append(
        _step(
            len(recipe.provision) + 1,
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


def _step(
    index: int, kind: str, origin: str, type_: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {"index": index, "kind": kind, "origin": origin, "type": type_, "attributes": attributes}


def _env_file(recipe: Recipe, index: int, env: Mapping[str, str]) -> bytes:
    lines = [f"# Environment of step {index} of recipe {recipe.name}, written by bakery."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return ("\n".join(lines) + "\n").encode()


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
    env.filters["hcl"] = hcl.literal
    return env


def write(rendered: Rendered, folder: Path) -> Path:
    """Write a build folder, replacing what an earlier render left there."""
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    for name, data in rendered.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.endswith(".sh"):
            path.chmod(0o755)
    return folder / rendered.template_name
