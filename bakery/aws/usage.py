"""Facts for a prune plan, gathered per region with paginated, server-side-filtered calls."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bakery.aws.facts import (
    PUBLIC,
    ImageFacts,
    InstanceUse,
    TemplateUse,
    UsageFacts,
    parse_build_date,
)
from bakery.aws.images import snapshot_ids, tags_of
from bakery.aws.session import AwsError, Gateway, calling
from bakery.config.tags import MANAGED_TAG, RECIPE_TAG

CHANNEL_PATH = "/bakery/"
RESOLVE_SSM = "resolve:ssm:"
FILTER_VALUES = 200  # the most values one EC2 filter takes
SSM_BATCH = 10  # the most names one GetParameters takes
PAGE_SIZE = 200  # launch templates and versions; moto drops the rest of a longer answer
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


@dataclass(frozen=True)
class Gathered:
    """The facts of every region and the API calls it took, per region per `service:Operation`."""

    images: tuple[ImageFacts, ...]
    usage: Mapping[str, UsageFacts]
    calls: Mapping[str, Mapping[str, int]]


class _Counted:
    """A client that counts its calls, one per page."""

    def __init__(self, client: Any, service: str, region: str, calls: Counter[str]) -> None:
        self._client, self._service, self._region, self._calls = client, service, region, calls

    def _operation(self, method: str) -> str:
        return str(self._client.meta.method_to_api_mapping[method])

    def call(self, method: str, resource: str = "", **kwargs: Any) -> Any:
        operation = self._operation(method)
        self._calls[f"{self._service}:{operation}"] += 1
        with calling(self._service, operation, self._region, resource):
            return getattr(self._client, method)(**kwargs)

    def pages(self, method: str, **kwargs: Any) -> Iterator[Any]:
        operation = self._operation(method)
        with calling(self._service, operation, self._region):
            for page in self._client.get_paginator(method).paginate(**kwargs):
                self._calls[f"{self._service}:{operation}"] += 1
                yield page


# Given a region's images and the usage known so far, the AMI ids that would still be deleted.
# Facts only ever add protections, so a plan on what is known so far is a superset of the final
# deletions: instances and launch permissions are read for those images only.
Candidates = Callable[[Sequence[ImageFacts], UsageFacts], Sequence[str]]


class Deletion(Protocol):
    """An image to deregister with its snapshots (a prune decision to delete)."""

    @property
    def region(self) -> str: ...
    @property
    def ami_id(self) -> str: ...
    @property
    def snapshot_ids(self) -> tuple[str, ...]: ...


def gather(
    gateway: Gateway,
    regions: Iterable[str],
    candidates: Candidates,
    *,
    recipes: set[str] | None = None,
    workers: int = 8,
) -> Gathered:
    """Gather the image and usage facts of `regions` in parallel, counting calls per region."""
    account = gateway.account_id()
    ordered = sorted(set(regions))

    def one(region: str) -> tuple[list[ImageFacts], UsageFacts, dict[str, int]]:
        return _gather_region(gateway, region, account, candidates, recipes)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ordered)))) as pool:
        results = list(pool.map(one, ordered))
    return Gathered(
        images=tuple(image for images, _, _ in results for image in images),
        usage={usage.region: usage for _, usage, _ in results},
        calls={region: calls for region, (_, _, calls) in zip(ordered, results, strict=True)},
    )


def _gather_region(
    gateway: Gateway,
    region: str,
    account: str,
    candidates: Candidates,
    recipes: set[str] | None,
) -> tuple[list[ImageFacts], UsageFacts, dict[str, int]]:
    calls: Counter[str] = Counter()
    ec2 = _Counted(gateway.client("ec2", region), "ec2", region, calls)
    ssm = _Counted(gateway.client("ssm", region), "ssm", region, calls)
    autoscaling = _Counted(gateway.client("autoscaling", region), "autoscaling", region, calls)
    images = _images(ec2, region, account, recipes)
    usage = UsageFacts(
        region,
        launch_templates=_launch_templates(ec2, ssm),
        launch_configurations=_launch_configurations(autoscaling),
        channels=_channels(ssm),
    )
    usage = replace(usage, instances=_instances(ec2, candidates(images, usage)))
    shared = {ami: _launch_permissions(ec2, ami) for ami in candidates(images, usage)}
    images = [
        replace(image, shared_with=tuple(sorted({*image.shared_with, *shared[image.ami_id]})))
        if shared.get(image.ami_id)
        else image
        for image in images
    ]
    return images, usage, dict(sorted(calls.items()))


def _images(ec2: _Counted, region: str, account: str, recipes: set[str] | None) -> list[ImageFacts]:
    """List our available images: managed ones, or all tagged with the named recipes."""
    wanted = (
        {"Name": f"tag:{RECIPE_TAG}", "Values": sorted(recipes)}
        if recipes  # names given: unmanaged images of those recipes are reported too
        else {"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]}
    )
    filters = [{"Name": "state", "Values": ["available"]}, wanted]
    found = []
    for page in ec2.pages("describe_images", Owners=["self"], Filters=filters):
        for image in page["Images"]:
            tags = tags_of(image)
            owner = str(image.get("OwnerId", ""))
            found.append(
                ImageFacts(
                    region=region,
                    ami_id=image["ImageId"],
                    recipe=tags.get(RECIPE_TAG),
                    managed=tags.get(MANAGED_TAG) == "true",
                    owner_id=owner,
                    own_account=owner == account,
                    build_date=parse_build_date(tags, image.get("CreationDate")),
                    snapshot_ids=snapshot_ids(image),
                    shared_with=(PUBLIC,) if image.get("Public") else (),
                    tags=tags,
                )
            )
    return found


def _launch_templates(ec2: _Counted, ssm: _Counted) -> dict[str, tuple[TemplateUse, ...]]:
    """Read every version of every launch template; resolve resolve:ssm: image ids."""
    direct: dict[str, list[TemplateUse]] = defaultdict(list)
    through: dict[str, list[TemplateUse]] = defaultdict(list)
    paging = {"PaginationConfig": {"PageSize": PAGE_SIZE}}
    for page in ec2.pages("describe_launch_templates", **paging):
        for template in page["LaunchTemplates"]:
            template_id = template["LaunchTemplateId"]
            # Every version, not just $Latest/$Default: any of them can be launched.
            versions = ec2.pages(
                "describe_launch_template_versions", LaunchTemplateId=template_id, **paging
            )
            for version_page in versions:
                for version in version_page["LaunchTemplateVersions"]:
                    image_id = str(version.get("LaunchTemplateData", {}).get("ImageId", ""))
                    number = int(version["VersionNumber"])
                    if image_id.startswith(RESOLVE_SSM):
                        reference = image_id.removeprefix(RESOLVE_SSM)
                        through[reference].append(TemplateUse(template_id, number, reference))
                    elif image_id:
                        direct[image_id].append(TemplateUse(template_id, number))
    for reference, ami in _resolve(ssm, sorted(through)).items():
        direct[ami].extend(through[reference])
    return {ami: tuple(uses) for ami, uses in sorted(direct.items())}


def _resolve(ssm: _Counted, references: Sequence[str]) -> dict[str, str]:
    """Return the AMI id each parameter reference (`name`, `name:version`, `name:label`) holds."""
    resolved: dict[str, str] = {}
    for start in range(0, len(references), SSM_BATCH):
        batch = references[start : start + SSM_BATCH]
        answer = ssm.call("get_parameters", ", ".join(batch), Names=batch)
        for parameter in answer["Parameters"]:
            for reference in _references_of(parameter, batch):
                resolved[reference] = str(parameter["Value"])
    return resolved


def _references_of(parameter: Mapping[str, Any], batch: Sequence[str]) -> list[str]:
    selector = str(parameter.get("Selector", ""))
    exact = {f"{parameter['Name']}{selector}", f"{parameter.get('ARN', '')}{selector}"}
    matches = [reference for reference in batch if reference in exact]
    if matches or selector:
        return matches
    # No Selector in the answer (moto): match a version by number, else every reference to the
    # name, which can only protect more images than needed, never fewer.
    version = f"{parameter['Name']}:{parameter.get('Version', '')}"
    if version in batch:
        return [version]
    return [r for r in batch if r.split(":")[0] == parameter["Name"] and r != parameter["Name"]]


def _launch_configurations(autoscaling: _Counted) -> dict[str, tuple[str, ...]]:
    used: dict[str, list[str]] = defaultdict(list)
    for page in autoscaling.pages("describe_launch_configurations"):
        for configuration in page["LaunchConfigurations"]:
            used[configuration["ImageId"]].append(configuration["LaunchConfigurationName"])
    return {ami: tuple(sorted(names)) for ami, names in sorted(used.items())}


def _channels(ssm: _Counted) -> dict[str, tuple[str, ...]]:
    """Map AMI ids to the parameters under /bakery/ that hold them (channels)."""
    pointed: dict[str, list[str]] = defaultdict(list)
    for page in ssm.pages("get_parameters_by_path", Path=CHANNEL_PATH, Recursive=True):
        for parameter in page["Parameters"]:
            value = str(parameter.get("Value", ""))
            if value.startswith("ami-"):
                pointed[value].append(parameter["Name"])
    return {ami: tuple(sorted(names)) for ami, names in sorted(pointed.items())}


def _instances(ec2: _Counted, ami_ids: Sequence[str]) -> dict[str, tuple[InstanceUse, ...]]:
    """Find instances in any state but terminated that run one of `ami_ids`."""
    used: dict[str, list[InstanceUse]] = defaultdict(list)
    for start in range(0, len(ami_ids), FILTER_VALUES):
        filters = [
            {"Name": "image-id", "Values": list(ami_ids[start : start + FILTER_VALUES])},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
        for page in ec2.pages("describe_instances", Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    use = InstanceUse(instance["InstanceId"], instance["State"]["Name"])
                    used[instance["ImageId"]].append(use)
    return {ami: tuple(uses) for ami, uses in sorted(used.items())}


def _launch_permissions(ec2: _Counted, ami_id: str) -> tuple[str, ...]:
    """Return whom the image is shared with: account ids, organization ARNs, PUBLIC."""
    answer = ec2.call(
        "describe_image_attribute", ami_id, ImageId=ami_id, Attribute="launchPermission"
    )
    found = set()
    for permission in answer.get("LaunchPermissions", []):
        for key in ("UserId", "OrganizationArn", "OrganizationalUnitArn"):
            if permission.get(key):
                found.add(str(permission[key]))
        if permission.get("Group") == "all":
            found.add(PUBLIC)
    return tuple(sorted(found))


def apply_prune(gateway: Gateway, deletions: Iterable[Deletion], *, workers: int = 8) -> list[str]:
    """Deregister the images, then delete their snapshots; return the problems."""
    by_region: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for decision in deletions:
        by_region[decision.region].append((decision.ami_id, decision.snapshot_ids))

    def one(region: str) -> list[str]:
        ec2 = gateway.client("ec2", region)
        problems = []
        for ami_id, snapshots in by_region[region]:
            try:
                with calling("ec2", "DeregisterImage", region, ami_id):
                    ec2.deregister_image(ImageId=ami_id)
            except AwsError as error:  # its snapshots stay: the image may still use them
                problems.append(str(error))
                continue
            for snapshot in snapshots:
                try:
                    with calling("ec2", "DeleteSnapshot", region, snapshot):
                        ec2.delete_snapshot(SnapshotId=snapshot)
                except AwsError as error:
                    problems.append(str(error))
        return problems

    regions = sorted(by_region)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(regions)))) as pool:
        return [problem for problems in pool.map(one, regions) for problem in problems]
