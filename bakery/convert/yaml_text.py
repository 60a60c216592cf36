"""Recipe documents written as YAML, with comments where the findings belong.

Every value is written by PyYAML's safe dumper, one top-level key (and one step) at a time, so
comments can stand between them; a comment is one escaped line. The text is read back and
compared with the document before it is returned: what is written is what was meant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bakery.convert.findings import one_line


def _dump(data: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )
    return text


def _comment(text: str, indent: str = "") -> str:
    return f"{indent}# {one_line(text)}"


def recipe_text(
    document: Mapping[str, Any], comments: Mapping[str, Sequence[str]], header: Sequence[str]
) -> str:
    """The recipe as YAML: `header` lines first, then each key with the comments anchored to it
    (`KEY`, `provision:INDEX`, `provision:end`, `top`, `end`) above it."""
    import yaml

    lines = [_comment(text) for text in header]
    lines += [_comment(text) for text in comments.get("top", ())]
    # comments anchored to a key the document does not have stand at the top
    for anchor, texts in comments.items():
        if (
            anchor not in document
            and anchor not in ("top", "end")
            and not (anchor.startswith("provision:") and "provision" in document)
        ):
            lines += [_comment(text) for text in texts]
    for key, value in document.items():
        lines += [_comment(text) for text in comments.get(key, ())]
        if key == "provision" and isinstance(value, list):
            lines.append("provision:")
            for index, step in enumerate(value):
                lines += [_comment(text, "  ") for text in comments.get(f"provision:{index}", ())]
                lines += ["  " + line for line in _dump([step]).splitlines()]
            lines += [_comment(text, "  ") for text in comments.get("provision:end", ())]
        else:
            lines += _dump({key: value}).splitlines()
    lines += [_comment(text) for text in comments.get("end", ())]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != dict(document):
        raise AssertionError("unreachable: the YAML written reads as another document")
    return text


def var_file_text(values: Mapping[str, Any]) -> str:
    """A bakery var file (a flat mapping of parameter values) as JSON: bakery reads it as YAML,
    and never takes a `.json` file of the recipes folder for a recipe."""
    import json

    return json.dumps(dict(values), indent=2, ensure_ascii=True) + "\n"
