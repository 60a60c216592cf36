"""`bakery convert` as a user runs it: what it writes, what it lists, what it refuses.

The lines each fixture build lists are kept beside it (`findings.txt`); after an intended change
of the wording, rewrite them with BAKERY_UPDATE_FIXTURES=1.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support.packer_templates import CONVERT_FIXTURES, FIXTURES
from tests.support.project import ProjectFactory, call_bakery, run_bakery

LISTED = re.compile(r"(?P<file>[^:\s]+):(?P<line>[0-9]+): (?P<kind>not mapped|changed): "
                    r"(?P<setting>.+?): (?P<message>.+)")  # fmt: skip
MINIMAL = """\
source "amazon-ebs" "x" {
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_groups    = ["all"]
}
build {
  sources = ["source.amazon-ebs.x"]
}
"""


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_unmapped_settings_are_listed_with_file_and_line_and_left_as_comments(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = FIXTURES[key]
    root = fixture.copy_to(tmp_path)
    monkeypatch.chdir(root)
    done = call_bakery(root, *fixture.convert_args())
    listed = [line for line in done.stderr.splitlines() if LISTED.fullmatch(line)]
    expected = CONVERT_FIXTURES / fixture.folder / "findings.txt"
    if os.environ.get("BAKERY_UPDATE_FIXTURES") == "1":
        expected.write_text("\n".join(listed) + "\n")
    assert listed == expected.read_text().splitlines()
    recipe = (root / "recipes" / f"{fixture.recipe}.yaml").read_text()
    template_lines = (root / fixture.template).read_text().splitlines()
    for line in listed:
        found = LISTED.fullmatch(line)
        assert found is not None
        # the line named is where the setting stands in the template
        if found["file"] == fixture.template and found["kind"] == "not mapped":
            text = template_lines[int(found["line"]) - 1].strip()
            key = re.split(r"[\s=:]", text.strip('"'), maxsplit=1)[0].strip('"')
            assert key in line or text.endswith(("{", "[")) or key == "provisioner", line
        # and the recipe holds it as a comment, with the same location and words
        comments = [c for c in recipe.splitlines() if c.lstrip().startswith("#")]
        tail = line.rsplit(": ", 1)[-1]
        assert any(
            tail in c and found["kind"] in c and found["file"] in c and found["line"] in c
            for c in comments
        ), line


def test_without_out_the_recipe_goes_to_stdout_and_the_list_to_stderr(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({"packer/node.pkr.hcl": MINIMAL})
    monkeypatch.chdir(root)
    done = call_bakery(root, "convert", "packer/node.pkr.hcl")
    recipe = yaml.safe_load(done.stdout)
    assert recipe["name"] == "node" and recipe["build"]["instance_type"] == "t3.small"
    assert (
        'packer/node.pkr.hcl:5: not mapped: source "amazon-ebs" "x": ami_groups: public '
        "sharing: bakery never makes an image public (EC2's only group is all)"
    ) in done.stderr.splitlines()
    assert not (root / "recipes" / "node.yaml").exists()


def test_an_existing_recipe_is_replaced_only_with_force(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({"packer/node.pkr.hcl": MINIMAL, "recipes/node.yaml": "mine\n"})
    monkeypatch.chdir(root)
    args = ("convert", "packer/node.pkr.hcl", "--out", "recipes/node.yaml")
    done = call_bakery(root, *args, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "bakery: error: recipes/node.yaml exists; pass --force to replace it"
    )
    assert (root / "recipes" / "node.yaml").read_text() == "mine\n"
    call_bakery(root, *args, "--force")
    assert yaml.safe_load((root / "recipes" / "node.yaml").read_text())["name"] == "node"
    assert call_bakery(root, "validate").stdout == "1 recipe valid: node\n"


def test_several_recipes_need_a_folder(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = MINIMAL + 'build {\n  name = "gpu"\n  sources = ["source.amazon-ebs.x"]\n}\n'
    root = make_project({"packer/node.pkr.hcl": two})
    monkeypatch.chdir(root)
    done = call_bakery(
        root, "convert", "packer/node.pkr.hcl", "--out", "recipes/n.yaml", check=False
    )
    assert done.returncode == 2
    assert "--out names a folder for them" in done.stderr
    call_bakery(root, "convert", "packer/node.pkr.hcl", "--out", "recipes/node/")
    assert sorted(p.name for p in (root / "recipes" / "node").iterdir()) == [
        "node-1.yaml",
        "node-gpu.yaml",
    ]


def test_out_outside_the_project_is_refused(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = make_project({"packer/node.pkr.hcl": MINIMAL})
    monkeypatch.chdir(root)
    done = call_bakery(
        root, "convert", "packer/node.pkr.hcl", "--out", str(tmp_path / "x.yaml"), check=False
    )
    assert done.returncode == 2
    assert "is outside the project" in done.stderr


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "broken.pkr.hcl",
            'source "amazon-ebs" "x" {\n  instance_type = = "t3"\n}\n',
            r"bakery: error: broken\.pkr\.hcl:2:\d+: not valid HCL2: .+",
        ),
        (
            "broken.json",
            '{\n  "builders": [\n    {"type": "amazon-ebs",}\n  ]\n}\n',
            r"bakery: error: broken\.json:3:27: not valid JSON: expected a key in double quotes",
        ),
        ("binary.pkr.hcl", "\udcff", r"bakery: error: binary\.pkr\.hcl: not UTF-8 text \(byte 0\)"),
    ],
)
def test_unreadable_input_is_one_line_with_exit_1_and_no_traceback(
    name: str, text: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "bakery.yaml").write_text("aws: {region: us-east-1}\n")
    (tmp_path / "recipes").mkdir()
    (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    done = run_bakery(tmp_path, "convert", name, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert re.fullmatch(message, done.stderr.strip()), done.stderr


def test_a_missing_template_and_a_fifo_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bakery.yaml").write_text("aws: {region: us-east-1}\n")
    done = call_bakery(tmp_path, "convert", str(tmp_path / "nope.pkr.hcl"), check=False)
    assert done.returncode == 1 and "no such template" in done.stderr
    os.mkfifo(tmp_path / "pipe.pkr.hcl")
    done = call_bakery(tmp_path, "convert", str(tmp_path / "pipe.pkr.hcl"), check=False)
    assert done.returncode == 1 and "not a regular file" in done.stderr


def test_convert_is_in_the_command_list(tmp_path: Path) -> None:
    done = run_bakery(tmp_path, "--help")
    assert re.search(r"\n\s+convert\s+turn a Packer amazon-ebs template", done.stdout)
    usage = textwrap.dedent(run_bakery(tmp_path, "convert", "--help").stdout)
    assert "--var-file FILE" in usage and "--force" in usage


def test_a_template_folder_is_read_as_packer_reads_it(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        {
            "packer/variables.pkr.hcl": 'variable "size" {\n  type = number\n  default = 30\n}\n',
            "packer/node.pkr.hcl": MINIMAL.replace(
                '  ami_groups    = ["all"]\n',
                '  launch_block_device_mappings {\n    device_name = "/dev/xvda"\n'
                "    volume_size = var.size\n  }\n",
            ),
            "packer/node.auto.pkrvars.hcl": "size = 40\n",
        }
    )
    monkeypatch.chdir(root)
    done = call_bakery(root, "convert", "packer", "--out", "recipes/node.yaml")
    recipe = yaml.safe_load((root / "recipes" / "node.yaml").read_text())
    assert recipe["parameters"] == {"size": {"type": "integer", "default": 40}}
    assert recipe["build"]["volume_size"] == "((size))"
    assert "wrote recipes/node.yaml" in done.stderr


FILTERED = MINIMAL.replace(
    '  source_ami    = "ami-0123456789abcdef0"\n',
    '  source_ami_filter {\n    filters = { name = "x-*" }\n    owners = ["099720109477"]\n'
    "    most_recent = true\n  }\n",
)


def test_outside_a_project_paths_are_the_current_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "node.pkr.hcl").write_text(MINIMAL)
    monkeypatch.chdir(tmp_path)
    done = call_bakery(tmp_path, "convert", "node.pkr.hcl")
    assert "bakery: note: no bakery.yaml in" in done.stderr
    assert yaml.safe_load(done.stdout)["name"] == "node"


def test_the_owners_of_a_filter_are_named_for_trusted_owners(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = FILTERED + 'build {\n  name = "gpu"\n  sources = ["source.amazon-ebs.x"]\n}\n'
    root = make_project({"packer/node.pkr.hcl": two})
    monkeypatch.chdir(root)
    done = call_bakery(root, "convert", "packer/node.pkr.hcl")
    assert "bakery: hint: add 099720109477 to trusted_owners of bakery.yaml" in done.stderr
    assert done.stdout.count("\n---\n") == 1 and "# recipes/node-gpu.yaml" in done.stdout


def test_what_convert_refuses_to_read_or_write(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = make_project({"packer/node.pkr.hcl": MINIMAL, "empty/.keep": ""})
    monkeypatch.chdir(root)
    cases = [
        (["convert", "empty"], "empty: a folder with no *.pkr.hcl or *.pkr.json file"),
        (["convert", "packer/node.pkr.hcl", "--var-file", "nope.pkrvars.hcl"],
         "nope.pkrvars.hcl: no such var file"),
        (["convert", 'packer/node.pkr.hcl', "--out", "recipes/\x1b.yaml"],
         "holds a control character"),
    ]  # fmt: skip
    (root / "recipes" / "link.yaml").symlink_to(root / "elsewhere.yaml")
    (root / "recipes" / "out.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    cases.append(
        (["convert", "packer/node.pkr.hcl", "--out", "recipes/link.yaml", "--force"],
         "recipes/link.yaml is a symbolic link; bakery writes no file through one")
    )  # fmt: skip
    cases.append(
        (["convert", "packer/node.pkr.hcl", "--out", "recipes/out.yaml"], "is outside the project")
    )
    for args, message in cases:
        done = call_bakery(root, *args, check=False)
        assert done.returncode in (1, 2), args
        assert message in done.stderr, (args, done.stderr)
    assert not (tmp_path / "elsewhere.yaml").exists()
    assert not (root / "elsewhere.yaml").exists()
