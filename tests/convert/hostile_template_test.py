"""A template may be hostile: what it holds reaches the recipe only through the YAML dumper, and
comments only as one escaped line; nothing in it is evaluated or read."""

from __future__ import annotations

import json

import yaml

from tests.support.packer_templates import convert_text, messages, recipe_of

ESC = "\x1b"


def test_control_characters_never_reach_the_recipe_raw() -> None:
    template = {
        "builders": [
            {
                "type": "amazon-ebs",
                "source_ami": "ami-0123456789abcdef0",
                "ami_description": f"red {ESC}[31m text",
                "tags": {
                    "ok": "!!python/object/apply:os.system ['id']",
                    "bidi": "abc\u202edef",
                    f"key{ESC}": "v",
                    "multi": "a\nname: evil",
                },
                "evil\nname: pwned": 1,
                f"shutdown_behavior{ESC}[2J": "terminate",
            }
        ],
        "provisioners": [{"type": "shell", "script": "scripts/a\nb.sh"}],
    }
    conversion = convert_text(json.dumps(template, indent=2), "packer/t.json")
    text = conversion.recipes[0].text
    assert ESC not in text and "\u202e" not in text
    document = recipe_of(conversion)
    assert document["name"] == "t"
    assert document["tags"] == {"ok": "!!python/object/apply:os.system ['id']"}
    assert "description" not in document and "provision" not in document
    for line in text.splitlines():  # every comment stays one line
        assert line.startswith(("#", " ", "-")) or ":" in line, line
    assert ": evil\\nname: pwned -- not an attribute of amazon-ebs" in text
    for line in messages(conversion):
        assert ESC not in line and "\n" not in line


def test_a_reference_looking_text_and_go_templates_are_not_passed_on() -> None:
    conversion = convert_text(
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n'
        '  tags = { a = "((secret))", b = "{{ env `AWS_SECRET_ACCESS_KEY` }}" }\n}\n'
        'build {\n  sources = ["source.amazon-ebs.x"]\n}\n'
    )
    assert "tags" not in recipe_of(conversion) or recipe_of(conversion)["tags"] == {}
    found = messages(conversion)
    assert any("tags: a: the text holds ((" in m for m in found)
    assert any("reads the bake host's environment" in m for m in found)


def test_what_the_recipe_says_is_what_yaml_reads() -> None:
    conversion = convert_text(
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n'
        '  tags = { yes = "no", "on" = "0x10", n = "~", d = "2025-01-01", q = "\'\\"" }\n}\n'
        'build {\n  sources = ["source.amazon-ebs.x"]\n}\n'
    )
    assert yaml.safe_load(conversion.recipes[0].text)["tags"] == {
        "yes": "no",
        "on": "0x10",
        "n": "~",
        "d": "2025-01-01",
        "q": "'\"",
    }
