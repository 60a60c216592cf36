"""`bakery graph`: the recipe tree."""

from __future__ import annotations

import argparse

from bakery.commands import project_of
from bakery.config.catalog import load_catalog
from bakery.ui.diagram import draw


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog(project_of(args))
    fmt = "json" if args.json else args.format
    labels = {
        name: f"{name} {recipe.version} ({recipe.layer})"
        for name, recipe in catalog.recipes.items()
    }
    roots = {
        name: recipe.source.describe()
        for name, recipe in catalog.recipes.items()
        if recipe.source.external
    }
    if fmt == "tree":
        labels = {
            name: label + (f" ← {roots[name]}" if name in roots else "")
            for name, label in labels.items()
        }
    print(
        draw(
            fmt,
            catalog.graph.parents,
            labels,
            {"waves": catalog.graph.waves(), "external_sources": roots},
        )
    )
    return 0
