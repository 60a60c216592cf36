from __future__ import annotations

import io
import json
import os
import posixpath
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import hcl2
import pytest

from bakery.config.catalog import Catalog, load_catalog
from bakery.config.project import load_project
from bakery.config.recipe import Recipe
from bakery.config.secrets import scan_bytes
from bakery.packer import binary as packer
from bakery.render.build_folder import ONLY_17, Rendered, TemplateDialect, render, write
from tests.support.project import REPO, ProjectFactory

GOLDEN = Path(__file__).parents[1] / "golden"
SAMPLES = ["al2023-base", "cis-hardened", "web", "worker"]
SETTINGS_SAMPLES = ["node-base", "node-spot"]
DIALECTS: list[TemplateDialect] = ["1.6", "1.7+"]

# Values that try to break out of an HCL string, a template sequence, or a shell word.
INJECTIONS = [
    'quote " and \\" escaped',
    "back\\slash\\\\double",
    "escapes as text: \\n \\r \\t \\u2028 \\x1b",  # raw control characters are refused (E1016)
    '${file("/etc/passwd")}',
    "%{ for x in [1] }${x}%{ endfor }",
    "$${already escaped} %%{ too }",
    "unicode: ünïcödé ✓ 日本語 🚀",
    "x" * 250,
    "'; rm -rf / #",
    "$(id) `id` $HOME",
]


def catalog_of(root: Path) -> Catalog:
    return load_catalog(load_project(root))


def render_recipe(catalog: Catalog, name: str, dialect: TemplateDialect = "1.6") -> Rendered:
    project = catalog.project
    return render(
        catalog.recipes[name],
        project.tags,
        dialect,
        lambda path: (project.root / path).read_bytes(),
    )


def unquote(raw: Any) -> Any:
    """Undo python-hcl2's raw strings: quotes, HCL escapes and doubled template sequences."""
    if isinstance(raw, str) and raw.startswith('"'):
        return json.loads(raw).replace("$${", "${").replace("%%{", "%{")
    if isinstance(raw, dict):
        return {unquote(key): unquote(value) for key, value in raw.items() if key != "__is_block__"}
    if isinstance(raw, list):
        return [unquote(item) for item in raw]
    return raw


def parse(rendered: Rendered) -> dict[str, Any]:
    return hcl2.loads(rendered.files[rendered.template_name].decode())  # type: ignore[no-any-return]


def source_block(parsed: dict[str, Any], name: str) -> dict[str, Any]:
    return unquote(parsed["source"][0]['"amazon-ebs"'][f'"{name}"'])  # type: ignore[no-any-return]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_renders_to_its_golden_template(
    sample_project: Path, name: str, dialect: TemplateDialect
) -> None:
    check_golden(catalog_of(sample_project), name, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", SETTINGS_SAMPLES)
def test_every_build_setting_and_step_renders_to_its_golden_template(
    name: str, dialect: TemplateDialect
) -> None:
    # recipes/examples/build-settings: every build key and step kind, read where it lies.
    check_golden(catalog_of(REPO / "recipes" / "examples" / "build-settings"), name, dialect)


def check_golden(catalog: Catalog, name: str, dialect: TemplateDialect) -> None:
    rendered = render_recipe(catalog, name, dialect)
    text = rendered.files[rendered.template_name].decode()
    golden = GOLDEN / dialect.replace("+", "") / f"{name}.pkr.hcl"
    relative = golden.relative_to(GOLDEN.parents[1])
    if os.environ.get("BAKERY_UPDATE_GOLDEN") == "1":
        # `make golden`: write the file, and say so instead of passing a comparison with itself
        before = golden.read_text(encoding="utf-8") if golden.exists() else None
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        what = "unchanged" if before == text else "created" if before is None else "rewritten"
        pytest.skip(f"BAKERY_UPDATE_GOLDEN=1: {relative} {what}; review the diff, then commit it")
    if not golden.exists():
        pytest.fail(f"{relative} is missing; run `make golden` and commit it")
    assert text == golden.read_text(encoding="utf-8"), (
        f"rendered output differs from {relative}; run `make golden` if intended"
    )


def test_rendering_is_byte_identical_for_identical_inputs(sample_project: Path) -> None:
    first = render_recipe(catalog_of(sample_project), "web")
    second = render_recipe(catalog_of(sample_project), "web")
    assert first.files == second.files
    assert first.digest == second.digest


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_parses_back_to_the_recipe_values(sample_project: Path, name: str) -> None:
    catalog = catalog_of(sample_project)
    recipe = catalog.recipes[name]
    parsed = parse(render_recipe(catalog, name))
    source = source_block(parsed, name)
    assert source["instance_type"] == recipe.build.instance_type
    assert source["region"] == recipe.region
    assert source["encrypt_boot"] is recipe.build.encrypted
    assert source["launch_block_device_mappings"][0]["volume_size"] == recipe.build.volume_size
    assert source.get("ami_regions", []) == list(recipe.distribute.regions)
    assert source["tags"]["bakery:recipe"] == recipe.name
    assert source["tags"]["bakery:version"] == recipe.version
    assert source["tags"]["bakery:layer"] == recipe.layer
    assert source["tags"]["bakery:managed"] == "true"
    assert source["tags"]["owner"] == "platform-team"
    for key, value in recipe.tags.items():
        assert source["tags"][key] == value
    assert source["snapshot_tags"] == source["tags"]
    assert source["run_tags"]["bakery:build-id"] == "${var.build_id}"
    assert source["source_ami"] == "${var.source_ami}"


def test_provisioners_run_in_recipe_order_then_hygiene(sample_project: Path) -> None:
    catalog = catalog_of(sample_project)
    rendered = render_recipe(catalog, "web")
    build = parse(rendered)["build"][0]
    kinds = [next(iter(p)) for p in build["provisioner"]]
    # A file goes up as an archive bakery unpacks; a script's environment goes up before it.
    assert kinds == ['"file"', '"shell"', '"file"', '"shell"', '"file"', '"shell"', '"shell"']
    scripts = [unquote(p['"shell"']["script"]) for p in build["provisioner"] if '"shell"' in p]
    assert scripts == [
        "${path.root}/steps/01-file.sh",
        "${path.root}/steps/02-install-nginx.sh",
        "${path.root}/steps/03-inline.sh",
        "${path.root}/hygiene.sh",
    ]
    assert (
        rendered.files["steps/02-install-nginx.sh"]
        == (sample_project / "recipes/scripts/web/install-nginx.sh").read_bytes()
    )
    assert '"manifest"' in build["post-processor"][0]


def test_hygiene_skip_drops_the_step_and_records_the_reason(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/b.yaml": """\
        name: b
        layer: base
        version: 1.0.0
        source: {ami: ami-12345678}
        hygiene: {skip: true, reason: "vendor image checks its own keys"}
        """
        }
    )
    rendered = render_recipe(catalog_of(root), "b")
    assert "hygiene.sh" not in rendered.files[rendered.template_name].decode()
    tags = source_block(parse(rendered), "b")["tags"]
    assert tags["bakery:hygiene-skipped"] == "vendor image checks its own keys"


def test_dialects_differ_only_in_the_packer_block_and_the_settings_only_17_has(
    sample_project: Path,
) -> None:
    catalog = catalog_of(sample_project)
    old = parse(render_recipe(catalog, "web", "1.6"))
    new = parse(render_recipe(catalog, "web", "1.7+"))
    assert "required_plugins" not in old["packer"][0]
    plugins = unquote(new["packer"][0]["required_plugins"][0]["amazon"])
    assert plugins == {"source": "github.com/hashicorp/amazon", "version": ">= 1.2.0"}
    new_source = source_block(new, "web")
    assert unquote(new_source["imds_support"]) == "v2.0"
    assert unquote(new_source["metadata_options"][0]["http_tokens"]) == "required"
    raw_source = new["source"][0]['"amazon-ebs"']['"web"']
    for key in ONLY_17:
        raw_source.pop(key, None)
    # The 1.6 template says in a comment what bakery sets through the API instead.
    old["source"][0]['"amazon-ebs"']['"web"'].pop("__comments__")
    assert {k: v for k, v in old.items() if k != "packer"} == {
        k: v for k, v in new.items() if k != "packer"
    }


def test_no_credentials_in_any_rendered_file(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    catalog = catalog_of(sample_project)
    for name in SAMPLES:
        for file, data in render_recipe(catalog, name).files.items():
            assert b"AKIAIOSFODNN7EXAMPLE" not in data and b"EXAMPLEKEY" not in data
            assert scan_bytes(data, file) == []


def injection_recipe() -> str:
    tags = {f"t{i}": value for i, value in enumerate(INJECTIONS)}
    env = {f"V{i}": value for i, value in enumerate(INJECTIONS)}
    return json.dumps(
        {
            "name": "inject",
            "layer": "base",
            "version": "1.0.0-rc.1+build.7",
            "description": INJECTIONS[0][:200],
            "source": {"ami": "ami-12345678"},
            "environment": env,
            "provision": [
                {"inline": INJECTIONS},
                {"file": {"source": "data.txt", "destination": "/tmp/" + INJECTIONS[4]}},
            ],
            "tags": tags,
        },
        ensure_ascii=False,
    )


@pytest.fixture
def injection_project(make_project: ProjectFactory) -> Path:
    return make_project({"recipes/inject.yaml": injection_recipe(), "recipes/data.txt": "data\n"})


def test_injection_corpus_parses_back_to_the_recipe_values(injection_project: Path) -> None:
    catalog = catalog_of(injection_project)
    recipe: Recipe = catalog.recipes["inject"]
    rendered = render_recipe(catalog, "inject")
    source = source_block(parse(rendered), "inject")
    assert source["ami_description"] == recipe.description
    for key, value in recipe.tags.items():
        assert source["tags"][key] == value
    # A file's destination reaches the shell that unpacks it as one quoted word.
    unpack = rendered.files["steps/02-file.sh"].decode()
    target = next(line for line in unpack.splitlines() if line.startswith("target="))
    shown = subprocess.run(
        ["sh", "-c", f'{target}; printf %s "$target"'], capture_output=True, check=True
    ).stdout.decode()
    with tarfile.open(fileobj=io.BytesIO(rendered.files["steps/02-upload.tar.gz"])) as archive:
        (member,) = archive.getnames()
    assert posixpath.join(shown, member) == "/tmp/" + INJECTIONS[4]


def test_injection_corpus_reaches_the_shell_unchanged(
    injection_project: Path, tmp_path: Path
) -> None:
    rendered = render_recipe(catalog_of(injection_project), "inject")
    folder = tmp_path / "build"
    write(rendered, folder)
    names = " ".join(f"V{i}" for i in range(len(INJECTIONS)))
    script = (
        f"set -a; . ./steps/01.env; set +a; for n in {names}; do printf '%s\\0' \"${{!n}}\"; done"
    )
    out = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == INJECTIONS
    inline = rendered.files["steps/01-inline.sh"].decode()
    assert inline.endswith("\n".join(INJECTIONS) + "\n")


def test_injection_corpus_is_accepted_by_packer(
    injection_project: Path, tmp_path: Path, packer_binary: str
) -> None:
    template = write(render_recipe(catalog_of(injection_project), "inject"), tmp_path / "inject")
    packer.fmt_check(packer_binary, template)
    packer.validate(packer_binary, template)


@pytest.mark.parametrize("name", SAMPLES)
def test_real_packer_accepts_each_rendered_sample(
    sample_project: Path, tmp_path: Path, name: str, packer_binary: str
) -> None:
    catalog = catalog_of(sample_project)
    dialect = packer.dialect_of(packer.version(packer_binary))
    template = write(render_recipe(catalog, name, dialect), tmp_path / name)
    packer.fmt_check(packer_binary, template)
    packer.validate(packer_binary, template)
    other = write(
        render_recipe(catalog, name, "1.7+" if dialect == "1.6" else "1.6"),
        tmp_path / "other" / name,
    )
    packer.fmt_check(packer_binary, other)


def test_content_digest_does_not_depend_on_dialect_or_local_mode(sample_project: Path) -> None:
    catalog = catalog_of(sample_project)
    project = catalog.project
    digests = {
        render(
            catalog.recipes["web"],
            project.tags,
            dialect,
            lambda path: (project.root / path).read_bytes(),
            local=local,
        ).digest
        for dialect in DIALECTS
        for local in (False, True)
    }
    assert len(digests) == 1


def test_the_template_refuses_a_value_that_skipped_the_hcl_filter() -> None:
    from bakery.render.build_folder import _environment

    env = _environment()
    assert env.from_string("# from {{ x | hcl }}").render(x='a\n"b"') == '# from "a\\n\\"b\\""'
    assert env.from_string("{{ key }} = {{ n }}").render(key="source", n=2) == "source = 2"
    with pytest.raises(ValueError, match="without the hcl filter"):
        env.from_string("# from {{ x }}").render(x='x.yaml\nprovisioner "shell-local" {}')
