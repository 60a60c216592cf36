"""The tag set every image and its snapshots carry: bakery's identity tags, then the user's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from bakery.config.recipe import Recipe

V = TypeVar("V")

# Tags whose values are known only when a build runs, and the build variable that carries each.
BUILD_TAG_VARIABLES: Mapping[str, str] = {
    "bakery:build-date": "build_date",  # BUILD_DATE_TAG
    "bakery:build-id": "build_id",
    "bakery:source-ami": "source_ami",
    "bakery:input-hash": "input_hash",
    "bakery:git-commit": "git_commit",
    "bakery:source": "source_ref",
}
MANAGED_TAG = "bakery:managed"
RECIPE_TAG = "bakery:recipe"
BUILD_DATE_TAG = "bakery:build-date"
MODE_TAG = "bakery:mode"
REVOKED_TAG = "bakery:revoked"  # its value is the reason
RESERVED_PREFIXES = ("aws:", "bakery:")


PARAMETERS_TAG = "bakery:parameters"
FAMILY_TAG = "bakery:family"
TAG_VALUE_MAX = 256


def image_tags(
    recipe: Recipe,
    project_tags: Mapping[str, str],
    build: Mapping[str, V],
    ami_name: V,
    *,
    local: bool = False,
    user_tags: Mapping[str, str | V] | None = None,
) -> dict[str, str | V]:
    """Return the full tag set; `build` maps each BUILD_TAG_VARIABLES variable to its value.

    The values of build-time tags are whatever the caller passes: real strings after a build,
    HCL references when rendering the template. User tags come last and win, but may not use
    the reserved `bakery:` and `aws:` prefixes (validation refuses them); `user_tags` replaces
    the recipe's (whose build-time references the caller has filled in).
    """
    tags: dict[str, str | V] = {
        "Name": ami_name,
        MANAGED_TAG: "true",
        RECIPE_TAG: recipe.name,
        "bakery:version": recipe.version,
        "bakery:layer": recipe.layer,
    }
    if recipe.parent:
        tags["bakery:parent-recipe"] = recipe.parent
    if recipe.family is not None:
        tags[FAMILY_TAG] = recipe.family
    values = ",".join(f"{name}={value}" for name, value in recipe.parameters.items())
    if values and len(values) <= TAG_VALUE_MAX:
        tags[PARAMETERS_TAG] = values
    if local:
        tags[MODE_TAG] = "local"
    if recipe.hygiene.skip:
        tags["bakery:hygiene-skipped"] = recipe.hygiene.reason or "no reason given"
    for tag, variable in BUILD_TAG_VARIABLES.items():
        tags[tag] = build[variable]
    tags.update(project_tags)
    tags.update(recipe.tags if user_tags is None else user_tags)
    return dict(sorted(tags.items()))


def run_tags(recipe: Recipe, build_id: V) -> dict[str, str | V]:
    """Tags for the builder instance, its volumes, key pair and security group."""
    return {
        "Name": f"bakery-builder {recipe.name} {recipe.version}",
        "bakery:build-id": build_id,
        RECIPE_TAG: recipe.name,
    }
