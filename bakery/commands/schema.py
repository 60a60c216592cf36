"""`bakery schema`: the recipe format as JSON Schema, for editors and docs/recipe.schema.json."""

from __future__ import annotations

import argparse
import json

from bakery.config.schema import RECIPE_SCHEMA


def schema_text() -> str:
    """Return the recipe schema as editors read it: patterns in ECMA-262, as JSON Schema says.

    bakery's patterns are anchored `\\A...\\Z` for Python (where `$` matches before a final
    newline); in ECMA-262 without the m flag, `^...$` means exactly that.
    """
    text = json.dumps(RECIPE_SCHEMA, indent=2, ensure_ascii=False) + "\n"
    return text.replace("\\\\A", "^").replace("\\\\Z", "$")


def run(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
