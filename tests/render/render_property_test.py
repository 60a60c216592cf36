"""Any recipe, however hostile its strings: a valid catalog or a clear refusal, and when valid a
template that reads back to exactly the recipe's values.

Every string field of a generated recipe (names, paths, descriptions, tags, environments,
commands, destinations, reasons) is either an ordinary value or arbitrary text rich in what breaks
HCL, shells and terminals: quotes, backslashes, `${`, `%{`, `{{`, control characters, line
separators, unicode. Examples are derandomized, so a run is the same every time.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import hcl2
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.config.recipe import FileStep, Recipe
from bakery.errors import InvalidInputError
from bakery.render.build_folder import Rendered, render
from bakery.render.hcl import escape_string
from tests.support.packer_reading import python_hcl2_cannot_read

FRAGMENTS = [
    '"',
    "'",
    "\\",
    "${",
    "%{",
    "{{",
    "}}",
    "}",
    "$",
    "%",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "ü",
    "日本",
    "🚀",
    "`id`",
    "$(id)",
    " ",
    "#",
    "=",
    "\\n",
    "/*",
    "<<EOF",
    "'\\''",
    "../",
    "/",
]
hostile = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=6).map("".join)
# Text without what validation refuses (control characters, line separators, `{{`), rich in what
# HCL and shells treat specially, so that most examples get as far as the template.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
printable = hostile.map(lambda text: _CONTROL.sub("", text).replace("{{", "{")).map(
    lambda text: text if text.strip() else text + "x"  # blank values are refused too
)


def mostly(ordinary: st.SearchStrategy[str], one_in: int = 10) -> st.SearchStrategy[str]:
    """`ordinary`, or one time in `one_in` hostile text."""
    # not the first or last number: Hypothesis draws those more often than the others
    return st.integers(1, one_in).flatmap(lambda n: hostile if n == 2 else ordinary)


def field(ordinary: str) -> st.SearchStrategy[str]:
    """An ordinary value of a field with a fixed format, or (one time in 20) hostile text."""
    return mostly(st.just(ordinary), 20)


def closed(text: str) -> str:
    # python-hcl2 cannot read an escaped `${`/`%{` that no `}` follows (packer_reading.py);
    # hcl_test.py checks that Packer reads such text right, so here it gets a closing brace.
    return text + "}" if python_hcl2_cannot_read(text) else text


texts = mostly(printable).map(closed)
ENV_NAMES = mostly(st.sampled_from(["A", "PATH_X", "_under", "x1"]))


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["script", "inline", "file"]))
    env = draw(st.dictionaries(ENV_NAMES, texts, max_size=2))
    if kind == "script":
        name = draw(mostly(st.just("setup.sh") | printable.map(lambda t: t + ".sh")).map(closed))
        step: dict[str, Any] = {"script": "scripts/" + name}
    elif kind == "inline":
        step = {"inline": draw(st.lists(texts, min_size=1, max_size=3))}
    else:
        source = draw(field("data.txt").map(closed))
        return {"file": {"source": source, "destination": "/tmp/" + draw(texts)}}
    if env:
        step["env"] = env
    return step


@st.composite
def recipes(draw: st.DrawFn) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "name": draw(field("web")),
        "layer": draw(field("base")),
        "version": draw(field("1.0.0")),
        "source": {"ami": draw(field("ami-12345678"))},
    }
    if draw(st.booleans()):
        recipe["description"] = draw(texts)
    if draw(st.booleans()):
        recipe["environment"] = draw(st.dictionaries(ENV_NAMES, texts, max_size=3))
    if draw(st.booleans()):
        recipe["tags"] = draw(st.dictionaries(texts, texts, max_size=3))
    recipe["provision"] = draw(st.lists(steps(), max_size=3))
    if draw(st.booleans()):
        recipe["hygiene"] = {"skip": True, "reason": draw(texts)}
    return recipe


def can_be_a_file_name(name: str) -> bool:
    return (
        name not in ("", ".", "..")
        and "/" not in name
        and "\x00" not in name
        and len(name.encode()) < 200
    )


_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _one_escape(pair: re.Match[str]) -> str:
    high, low = int(pair[2], 16) - 0xD800, int(pair[3], 16) - 0xDC00
    return pair[1] + f"\\U{0x10000 + high * 0x400 + low:08x}"


def write_project(root: Path, recipe: dict[str, Any], ascii_only: bool, file: str) -> None:
    (root / "bakery.yaml").write_text("aws: {region: us-east-1}\n", encoding="utf-8")
    scripts = root / "recipes" / "scripts"
    scripts.mkdir(parents=True)
    # JSON is YAML: with ascii_only every character arrives as an escape, else as itself.
    text = json.dumps(recipe, ensure_ascii=ascii_only)
    # YAML writes a character beyond U+FFFF as one \UXXXXXXXX escape; PyYAML reads JSON's
    # surrogate pair as two surrogates (refused in values, E0006, but not yet in keys).
    text = _PAIR.sub(_one_escape, text)
    name = file + ".yaml" if can_be_a_file_name(file + ".yaml") else "web.yaml"
    (root / "recipes" / name).write_text(text, encoding="utf-8")
    for step in recipe["provision"]:
        if "script" in step and can_be_a_file_name(step["script"].removeprefix("scripts/")):
            (root / "recipes" / step["script"]).write_text("#!/bin/sh\necho hi\n")
        if "file" in step and can_be_a_file_name(step["file"]["source"]):
            (root / "recipes" / step["file"]["source"]).write_text("data\n")


def unquote(raw: Any) -> Any:
    """Undo python-hcl2's raw strings: quotes, HCL escapes and doubled template sequences."""
    if isinstance(raw, str) and raw.startswith('"'):
        return json.loads(raw).replace("$${", "${").replace("%%{", "%{")
    if isinstance(raw, dict):
        return {unquote(key): unquote(value) for key, value in raw.items() if key != "__is_block__"}
    if isinstance(raw, list):
        return [unquote(item) for item in raw]
    return raw


ENV_LINE = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<word>'[^']*'(?:\\''[^']*')*)")


def env_values(data: bytes) -> dict[str, str]:
    """Read an env file, checking that every line but the first is exactly KEY='value'."""
    header, *lines = data.decode().split("\n")
    assert header.startswith("# Environment of step ")
    assert lines[-1] == "", "the file ends with a newline"
    values = {}
    for line in lines[:-1]:
        match = ENV_LINE.fullmatch(line)
        assert match, f"not KEY='value': {line!r}"
        values[match["key"]] = match["word"][1:-1].replace("'\\''", "'")
    return values


def unpacked_path(rendered: Rendered, index: int) -> str:
    """Where the file of upload step `index` lands: the unpack script's target, as the shell
    reads it, joined with the archive's one member."""
    script = rendered.files[f"steps/{index:02d}-file.sh"].decode()
    target = next(line for line in script.splitlines() if line.startswith("target="))
    shown = subprocess.run(
        ["sh", "-c", f'{target}; printf %s "$target"'], capture_output=True, check=True
    ).stdout.decode()
    with tarfile.open(
        fileobj=io.BytesIO(rendered.files[f"steps/{index:02d}-upload.tar.gz"])
    ) as tar:
        (member,) = tar.getnames()
    return posixpath.join(shown, member)


def check_rendered(recipe: Recipe, root: Path) -> None:
    rendered = render(recipe, {}, "1.6", lambda path: (root / path).read_bytes())
    text = rendered.files[rendered.template_name].decode()
    first = text.split("\n", 1)[0]
    header = f"# Rendered by bakery from {escape_string(recipe.file)};"
    assert first == header + " do not edit, edit the recipe."
    parsed = hcl2.loads(text)
    assert list(parsed["source"][0]['"amazon-ebs"']) == [f'"{recipe.name}"']
    source = unquote(parsed["source"][0]['"amazon-ebs"'][f'"{recipe.name}"'])
    assert source["ami_description"] == (
        recipe.description or f"{recipe.name} {recipe.version} ({recipe.layer})"
    )
    for key, value in recipe.tags.items():
        assert source["tags"][key] == value
        assert source["snapshot_tags"][key] == value
    provisioners = unquote(parsed["build"][0].get("provisioner", []))
    kinds = [kind for block in provisioners for kind in block]
    scripts = len(recipe.provision) - sum(isinstance(s, FileStep) for s in recipe.provision)
    files = len(recipe.provision) - scripts
    hygiene = 0 if recipe.hygiene.skip else 1
    # Each step is two provisioners: an upload (an archive, or the step's env file), then the
    # shell that unpacks or runs it; hygiene is one.
    assert kinds.count("file") == files + scripts, "one upload per file, one env file per step"
    assert kinds.count("shell") == files + scripts + hygiene
    assert len(kinds) == 2 * (files + scripts) + hygiene, "no provisioner but bakery's"
    for index, step in enumerate(recipe.provision, start=1):
        if isinstance(step, FileStep):
            landed = unpacked_path(rendered, index)
            assert posixpath.normpath(landed) == posixpath.normpath(step.destination)
    for index, step in enumerate(recipe.provision, start=1):
        env = rendered.files.get(f"steps/{index:02d}.env")
        if env is not None:
            assert env_values(env) == {**recipe.environment, **step.env}


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recipe=recipes(), ascii_only=st.booleans(), file=mostly(st.just("web") | printable))
def test_any_recipe_is_refused_clearly_or_renders_to_exactly_its_values(
    recipe: dict[str, Any], ascii_only: bool, file: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(os.path.realpath(folder))
        write_project(root, recipe, ascii_only, file)
        try:
            catalog = load_catalog(load_project(root))
        except InvalidInputError as error:
            event("refused")
            assert error.problems, "a refusal names its problems"
            for problem in error.problems:
                assert "\n" not in str(problem) and "\x1b" not in str(problem)
            return
        event("valid")
        for loaded in catalog.recipes.values():
            check_rendered(loaded, root)
