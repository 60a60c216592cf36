"""`bakery schema`: the recipe format as JSON Schema, for editors and docs/recipe.schema.json."""

from __future__ import annotations

import argparse
import json

from bakery.config.schema import RECIPE_SCHEMA


def schema_text() -> str:
    return json.dumps(RECIPE_SCHEMA, indent=2, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
