from __future__ import annotations

import pytest

from bakery.convert.hcl_reader import read_hcl_template, read_hcl_values
from bakery.convert.template import Body, Expression, Text
from bakery.errors import BakeryError

TEMPLATE = """\
variable "size" {
  type    = number
  default = 20
}
variable "token" {
  type      = string
  sensitive = true
}
source "amazon-ebs" "base" {
  instance_type = "t3.small"
  tags = {
    os   = "al2023"
    size = var.size
  }
  launch_block_device_mappings {
    device_name = "/dev/xvda"
  }
}
build {
  name    = "node"
  sources = ["source.amazon-ebs.base"]
  source "source.amazon-ebs.base" {
    name          = "big"
    instance_type = "m6i.large"
  }
  provisioner "shell" {
    inline = ["echo hi"]
  }
  post-processors {
    post-processor "manifest" {}
  }
}
"""


def test_attributes_blocks_and_object_keys_keep_their_lines() -> None:
    template = read_hcl_template(TEMPLATE, "t.pkr.hcl")
    size, token = template.variables
    assert (size.type, size.where.line, token.sensitive) == ("number", 1, True)
    (source,) = template.sources
    assert source.where.line == 9
    tags = source.body.get("tags")
    assert isinstance(tags, Body)
    assert [(e.key, e.where.line) for e in tags.entries] == [("os", 12), ("size", 13)]
    size_tag = tags.get("size")
    assert isinstance(size_tag, Expression) and size_tag.code == "var.size"
    (mapping,) = source.body.blocks("launch_block_device_mappings")
    assert mapping.where.line == 15


def test_a_build_names_its_sources_and_their_settings_there() -> None:
    (build,) = read_hcl_template(TEMPLATE, "t.pkr.hcl").builds
    assert build.name == "node"
    first, second = build.sources
    assert (first.builder, first.name, first.rename) == ("amazon-ebs", "base", None)
    assert (second.name, second.rename) == ("base", "big")
    assert second.settings is not None and second.settings.get("instance_type") == Text(
        ("m6i.large",), second.settings.entries[0].where
    )
    assert [p.labels for p in build.provisioners] == [("shell",)]
    assert [p.labels for p in build.post_processors] == [("manifest",)]


def test_invalid_hcl_is_reported_at_its_line_and_column() -> None:
    with pytest.raises(BakeryError, match=r"^t\.pkr\.hcl:2:\d+: not valid HCL2: "):
        read_hcl_template('source "amazon-ebs" "x" {\n  instance_type = = 1\n}\n', "t.pkr.hcl")


def test_a_var_file_holds_attributes_only() -> None:
    values = read_hcl_values('a = "x"\nb = ["y"]\n', "v.pkrvars.hcl")
    assert [(e.key, e.where.line) for e in values] == [("a", 1), ("b", 2)]
    with pytest.raises(BakeryError, match=r"v\.pkrvars\.hcl:1:1: a var file holds only"):
        read_hcl_values("locals {\n  a = 1\n}\n", "v.pkrvars.hcl")


def test_the_other_top_level_forms_of_hcl2() -> None:
    template = read_hcl_template(
        'variables {\n  a = "x"\n}\n'
        'local "secret" {\n  expression = "y"\n  sensitive  = true\n}\n'
        "top = 1\n"
        'mystery "a" {}\n'
        'build {\n  sources = [1, "amazon-ebs.x", "source.amazon-ebs.y"]\n'
        '  source "nonsense" {}\n  description = "d"\n'
        '  post-processor "manifest" {}\n}\n',
        "t.pkr.hcl",
    )
    assert [(v.name, v.default) for v in template.variables] == [
        ("a", Text(("x",), template.variables[0].where))
    ]
    local = template.local("secret")
    assert local is not None and isinstance(local.value, Text) and local.value.literal == "y"
    assert [e.key for e in template.others] == ["top", "mystery"]
    (build,) = template.builds
    assert [u.name for u in build.sources] == ["y"]
    assert [e.key for e in build.others] == ["sources", "sources", "source", "description"]


def test_lines_are_found_in_the_text_when_the_parse_tree_has_none() -> None:
    from bakery.convert.hcl_reader import _Lines, _position

    lines = _Lines('a = 1\nblock {\n  "key" = 2\n}\n')
    assert lines.find("key", 1) == 3
    assert lines.find("block", 1) == 2
    assert lines.find("missing", 2) == 2
    assert _position(object(), lines, "key", 1) == (3, 1)


def test_a_json_var_file_is_an_object() -> None:
    from bakery.convert.var_files import VarFile, read_var_file

    assert [e.key for e in read_var_file(VarFile("v.json", '{"a": 1}'))] == ["a"]
    with pytest.raises(BakeryError, match=r"v\.json:1:1: a JSON var file is an object"):
        read_var_file(VarFile("v.json", "[1]"))
