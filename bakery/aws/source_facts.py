"""Resolve the external sources of many recipes with grouped calls: per region, not per recipe.

Per region: SSM parameters with GetParameters, 10 names a call; every filter source in one
paginated DescribeImages (the union of owners, every name pattern as values of one `name`
filter), each recipe's pattern then matched here; AMI ids (explicit, or read from SSM) through
the `image-id` filter, 200 a call. An `ImageIds` list is not used: one missing id fails the
whole call with InvalidAMIID.NotFound. Trust is checked from the answers.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from bakery.aws.facts import SourceInfo
from bakery.aws.images import Image, find_images
from bakery.aws.session import AwsError, Gateway, calling
from bakery.aws.sources import filter_of
from bakery.config.recipe import Recipe

SSM_BATCH = 10  # the most names one GetParameters takes
FILTER_VALUES = 200  # the most values one EC2 filter takes
PAGE_SIZE = 1000  # the most images one DescribeImages page holds
RECIPE_TAG = "bakery:recipe"

Resolved = SourceInfo | str  # what a source resolves to, or a one-line problem


@dataclass
class CallCounter:
    """AWS calls, one per page, per region and `service:Operation`; safe across threads."""

    calls: dict[str, Counter[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, region: str, operation: str) -> None:
        """Count one call of `operation` in `region`."""
        with self._lock:
            self.calls.setdefault(region, Counter())[operation] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Return the counts as plain data, regions and operations sorted."""
        return {
            region: dict(sorted(counts.items())) for region, counts in sorted(self.calls.items())
        }

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.calls.values())


def resolve_all(
    gateway: Gateway, recipes: Sequence[Recipe], trusted_owners: Sequence[str]
) -> tuple[dict[str, Resolved], CallCounter]:
    """Resolve every external source of `recipes`, by recipe name, counting the calls made."""
    counter = CallCounter()
    by_region: dict[str, list[Recipe]] = defaultdict(list)
    for recipe in recipes:
        if recipe.source.external:
            by_region[recipe.region].append(recipe)
    account = _Account(gateway, counter)
    results: dict[str, Resolved] = {}

    def one(region: str) -> dict[str, Resolved]:
        return _Region(gateway, region, counter, account, trusted_owners).resolve(by_region[region])

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(by_region)))) as pool:
        for found in pool.map(one, sorted(by_region)):
            results.update(found)
    return results, counter


def images_of_recipes(
    gateway: Gateway, names_by_region: Mapping[str, Sequence[str]], counter: CallCounter
) -> dict[tuple[str, str], list[Image]]:
    """Every available image of this account tagged `bakery:recipe` with one of the names,
    by (region, recipe), newest first: one paginated DescribeImages per region.

    What decides whether a recipe is up to date, as `bake` decides it: the images' tags.
    """
    found: dict[tuple[str, str], list[Image]] = defaultdict(list)

    def one(region: str) -> list[Image]:
        # By the tag's key, not its values: EC2 matches a key at once, where each of up to 200
        # values per filter is one more comparison per image (and moto's are slow); the few
        # images of recipes out of scope are dropped here.
        wanted = set(names_by_region[region])
        filters = [
            {"Name": "state", "Values": ["available"]},
            {"Name": "tag-key", "Values": [RECIPE_TAG]},
        ]
        pages = _pages(
            gateway,
            region,
            counter,
            ("ec2", "DescribeImages", "describe_images"),
            Owners=["self"],
            Filters=filters,
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        return [
            image
            for page in pages
            for image in page["Images"]
            if any(t["Key"] == RECIPE_TAG and t["Value"] in wanted for t in image.get("Tags", []))
        ]

    regions = sorted(region for region, names in names_by_region.items() if names)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(regions)))) as pool:
        for region, images in zip(regions, pool.map(one, regions), strict=True):
            for image in images:
                tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
                found[(region, tags.get(RECIPE_TAG, ""))].append(image)
    for images in found.values():
        images.sort(key=_newest_first_key, reverse=True)
    return dict(found)


def _newest_first_key(image: Image) -> tuple[str, str, str]:
    """AWS's CreationDate (to the second), then the build's own date, then the id."""
    tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
    return (image.get("CreationDate", ""), tags.get("bakery:build-date", ""), image["ImageId"])


class _Account:
    """This account's id, asked once and only when `self` must be told apart."""

    def __init__(self, gateway: Gateway, counter: CallCounter) -> None:
        self._gateway, self._counter = gateway, counter
        self._lock = threading.Lock()
        self._id: str | None = None
        self.error: str | None = None  # why the id could not be found

    def get(self) -> str | None:
        with self._lock:
            if self._id is None and self.error is None:
                self._counter.add(self._gateway.region, "sts:GetCallerIdentity")
                try:
                    self._id = self._gateway.account_id()
                except AwsError as error:
                    self.error = str(error)
            return self._id


@dataclass
class _Region:
    gateway: Gateway
    region: str
    counter: CallCounter
    account: _Account
    trusted_owners: Sequence[str]

    def resolve(self, recipes: Sequence[Recipe]) -> dict[str, Resolved]:
        ssm = [r for r in recipes if r.source.kind == "ssm_parameter"]
        parameters = self._parameters(sorted({r.source.value for r in ssm}))
        ids = {r.source.value for r in recipes if r.source.kind == "ami"}
        ids |= {value[0] for value in parameters.values() if not isinstance(value, str)}
        images = self._images_by_id(sorted(ids))
        # Filter sources with EC2 filters of their own are looked up each on its own, filtered
        # on the server; the others share one lookup of their name patterns.
        filters = [r for r in recipes if r.source.kind == "filter" and not _own_lookup(r)]
        candidates = self._filter_candidates(filters)
        results: dict[str, Resolved] = {}
        for recipe in recipes:
            source = recipe.source
            if source.kind == "ssm_parameter":
                found = parameters[source.value]
                if isinstance(found, str):
                    results[recipe.name] = found
                else:
                    ami, version = found
                    what = f"SSM parameter {source.value}"
                    results[recipe.name] = self._info(recipe, images, ami, what, version)
            elif source.kind == "ami":
                results[recipe.name] = self._info(recipe, images, source.value, "source.ami")
            elif _own_lookup(recipe):
                results[recipe.name] = self._own(recipe)
            else:
                results[recipe.name] = self._newest(recipe, candidates)
        return results

    def _own(self, recipe: Recipe) -> Resolved:
        source = recipe.source
        self.counter.add(self.region, "ec2:DescribeImages")
        try:
            matches = find_images(
                self.gateway,
                self.region,
                owners=source.owners,
                name=source.value,
                extra_filters=filter_of(source),
                include_deprecated=source.include_deprecated,
            )
        except AwsError as error:
            return str(error)
        if not matches:
            return (
                f"source filter {source.value} (owners {', '.join(source.owners)}) with its "
                f"filters matches no available image in {self.region}; check the filters"
            )
        return self._trusted(recipe, matches[0], None)

    def _pages(self, service: str, operation: str, method: str, **kwargs: Any) -> Iterator[Any]:
        yield from _pages(
            self.gateway, self.region, self.counter, (service, operation, method), **kwargs
        )

    def _parameters(self, names: Sequence[str]) -> dict[str, tuple[str, int] | str]:
        found: dict[str, tuple[str, int] | str] = {}
        for batch in _batches(names, SSM_BATCH):
            self.counter.add(self.region, "ssm:GetParameters")
            try:
                with calling("ssm", "GetParameters", self.region, ", ".join(batch)):
                    client = self.gateway.client("ssm", self.region)
                    answer = client.get_parameters(Names=list(batch))
            except AwsError as error:
                found.update(dict.fromkeys(batch, str(error)))
                continue
            for parameter in answer["Parameters"]:
                found[parameter["Name"]] = (str(parameter["Value"]), int(parameter["Version"]))
            for name in answer.get("InvalidParameters", []):
                found[name] = (
                    f"SSM parameter {name} not found in {self.region}; "
                    "check the parameter name and the region"
                )
        return found

    def _images_by_id(self, ids: Sequence[str]) -> dict[str, Image | str]:
        found: dict[str, Image | str] = {}
        for batch in _batches(ids, FILTER_VALUES):
            filters = [{"Name": "image-id", "Values": list(batch)}]
            try:
                for page in self._pages(
                    "ec2", "DescribeImages", "describe_images", Filters=filters
                ):
                    found.update({image["ImageId"]: image for image in page["Images"]})
            except AwsError as error:
                found.update(dict.fromkeys(batch, str(error)))
        return found

    def _filter_candidates(self, recipes: Sequence[Recipe]) -> list[Image] | str:
        if not recipes:
            return []
        owners = sorted({owner for r in recipes for owner in r.source.owners})
        patterns = sorted({r.source.value for r in recipes})
        images: list[Image] = []
        try:
            for batch in _batches(patterns, FILTER_VALUES):
                filters = [
                    {"Name": "state", "Values": ["available"]},
                    {"Name": "name", "Values": list(batch)},
                ]
                pages = self._pages(
                    "ec2",
                    "DescribeImages",
                    "describe_images",
                    Owners=owners,
                    Filters=filters,
                    PaginationConfig={"PageSize": PAGE_SIZE},
                )
                for page in pages:
                    images.extend(page["Images"])
        except AwsError as error:
            return str(error)
        return images

    def _newest(self, recipe: Recipe, candidates: list[Image] | str) -> Resolved:
        if isinstance(candidates, str):
            return candidates
        source = recipe.source
        # EC2 name filters know only * and ?; a [ in an AMI name is a plain character.
        pattern = source.value.replace("[", "[[]")
        matches = [
            image
            for image in candidates
            if fnmatchcase(image.get("Name", ""), pattern)
            and (source.architecture is None or image.get("Architecture") == source.architecture)
            and self._owned_by(image, source.owners)
        ]
        if not matches:
            return (
                f"source filter {source.value} (owners {', '.join(source.owners)}) matches no "
                f"available image in {self.region}; check the name pattern and owners"
            )
        # Newest first, ties to the highest image id, as bakery.aws.images.find_images sorts.
        newest = max(matches, key=lambda image: (image.get("CreationDate", ""), image["ImageId"]))
        return self._trusted(recipe, newest, None)

    def _owned_by(self, image: Image, owners: Sequence[str]) -> bool:
        owner, alias = str(image.get("OwnerId", "")), image.get("ImageOwnerAlias")
        if owner in owners or (alias and alias in owners):
            return True
        return "self" in owners and owner == self.account.get()

    def _info(
        self,
        recipe: Recipe,
        images: dict[str, Image | str],
        ami: str,
        what: str,
        version: int | None = None,
    ) -> Resolved:
        image = images.get(ami)
        if isinstance(image, str):
            return image
        if image is None:
            return f"{what}: image {ami} does not exist in {self.region} or is not visible"
        if image.get("State") != "available":
            return f"{what}: image {ami} in {self.region} is {image.get('State')}, not available"
        return self._trusted(recipe, image, version)

    def _trusted(self, recipe: Recipe, image: Image, version: int | None) -> Resolved:
        if not self._owned_by(image, self.trusted_owners):
            owner, alias = image.get("OwnerId", ""), image.get("ImageOwnerAlias")
            if "self" in self.trusted_owners and self.account.error:
                return (
                    f"cannot tell whether source image {image['ImageId']} (account {owner}) is "
                    f"this account's, as trusted_owners allows: {self.account.error}"
                )
            return (
                f"source image {image['ImageId']} belongs to account {owner}"
                f"{f' ({alias})' if alias else ''}, which is not in trusted_owners of "
                "bakery.yaml; add it there if you trust its images"
            )
        return SourceInfo(
            kind=recipe.source.kind,
            reference=recipe.source.value,
            resolved_ami=image["ImageId"],
            ssm_version=version,
            owner=str(image.get("OwnerId", "")),
            product_codes=tuple(code["ProductCodeId"] for code in image.get("ProductCodes", [])),
        )


def _pages(
    gateway: Gateway,
    region: str,
    counter: CallCounter,
    call: tuple[str, str, str],  # service, operation, boto3 method
    **kwargs: Any,
) -> Iterator[Any]:
    service, operation, method = call
    client = gateway.client(service, region)
    with calling(service, operation, region):
        for page in client.get_paginator(method).paginate(**kwargs):
            counter.add(region, f"{service}:{operation}")
            yield page


def _own_lookup(recipe: Recipe) -> bool:
    return bool(recipe.source.filters or recipe.source.include_deprecated)


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
