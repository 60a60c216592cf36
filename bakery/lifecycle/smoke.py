"""Smoke-test a build's image: launch it, run the recipe's tests through SSM, always clean up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bakery.aws.facts import CommandResult
from bakery.aws.session import Gateway
from bakery.config.project import SmokeTestSettings
from bakery.config.recipe import Recipe, parse_duration
from bakery.errors import BakeryError
from bakery.lifecycle.refs import resolve_image_ref
from bakery.lineage.records import BuildRecord, RegionImage, SmokeTest, Status, iso_utc
from bakery.lineage.store import LineageStore

__all__ = ["SmokeTestError", "passed", "refusal", "resolve_image_ref", "smoke_test"]

CANCELLED = "cancelled (Ctrl-C) before the tests finished"


class SmokeTestError(BakeryError):
    """The smoke test could not run to the end; its failed result is stored and attached."""

    def __init__(self, message: str, result: SmokeTest) -> None:
        super().__init__(message)
        self.result = result


def refusal(record: BuildRecord, recipe: Recipe) -> str | None:
    """Return why a build's image may not be smoke tested with `recipe`, or None."""
    ref = f"build {record.build_id} of {record.recipe} {record.version}"
    if record.status is not Status.SUCCEEDED:
        return f"{ref} is {record.status}, not succeeded; only a succeeded build can be tested"
    if record.revoked:
        reason = f" ({record.revoked_reason})" if record.revoked_reason else ""
        return f"{ref} is revoked{reason}; test a newer build"
    if record.image_in(record.region) is None:
        return f"{ref} has no image in its build region {record.region}; nothing to test"
    if not recipe.tests:
        return (
            f"recipe {recipe.name} has no tests; add a tests: list of shell commands "
            f"to {recipe.file} to smoke test its images"
        )
    return None


def passed(commands: Sequence[CommandResult], expected: int) -> bool:
    """Tell whether every one of the `expected` commands ran and succeeded with exit code 0."""
    return len(commands) == expected and all(
        c.status == "Success" and c.exit_code == 0 for c in commands
    )


def smoke_test(
    gateway: Gateway,
    store: LineageStore,
    record: BuildRecord,
    recipe: Recipe,
    settings: SmokeTestSettings,
    cancel: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    note: Callable[[str], object] = lambda _: None,
) -> SmokeTest:
    """Test the build's image in its own region, terminate the instance, store the result."""
    from bakery.aws import smoke as aws

    problem = refusal(record, recipe)
    if problem:
        raise BakeryError(problem)
    image = record.image_in(record.region)
    assert image is not None  # refusal() checked it
    deadline = time.monotonic() + parse_duration(settings.timeout)
    started = iso_utc(clock())
    instance_id: str | None = None
    commands: list[CommandResult] = []
    errors: list[str] = []
    unexpected: BaseException | None = None
    try:
        note(f"launching {settings.instance_type} from {image.ami_id} in {image.region}")
        instance_id = aws.launch_test_instance(
            gateway, image.region, image.ami_id, settings, record.build_id
        )
        note(f"waiting for {instance_id} to run and pass its status checks")
        if aws.wait_ready(gateway, image.region, instance_id, _left(deadline), cancel=cancel):
            for index, command in enumerate(recipe.tests, 1):
                note(f"running test {index}/{len(recipe.tests)}: {command}")
                aws.run_commands(
                    gateway,
                    image.region,
                    instance_id,
                    [command],
                    _left(deadline),
                    cancel=cancel,
                    on_result=commands.append,
                )
                if cancel.is_set():
                    break
        if cancel.is_set():
            errors.append(CANCELLED)
    except BakeryError as error:
        errors.append(str(error))
    except KeyboardInterrupt as error:  # no SIGINT handler: clean up, record, then stop
        errors.append(CANCELLED)
        unexpected = error
    except Exception as error:  # a bug: still clean up and record, then show the traceback
        errors.append(f"internal error: {error!r}")
        unexpected = error
    finally:
        if instance_id is not None:
            errors += _terminate(gateway, image, instance_id, note)
    result = SmokeTest(
        build_id=record.build_id,
        region=image.region,
        ami_id=image.ami_id,
        started_at=started,
        ended_at=iso_utc(clock()),
        passed=not errors and passed(commands, len(recipe.tests)),
        instance_id=instance_id,
        commands=tuple(commands),
        error="; ".join(errors) or None,
    )
    store.add_smoke_test(result)
    if unexpected is not None:
        raise unexpected
    if errors and not cancel.is_set():
        raise SmokeTestError(f"smoke test of {record.build_id} failed: {result.error}", result)
    return result


def _terminate(
    gateway: Gateway, image: RegionImage, instance_id: str, note: Callable[[str], object]
) -> list[str]:
    from bakery.aws import smoke as aws

    note(f"terminating {instance_id}")
    try:
        aws.terminate(gateway, image.region, instance_id)
    except BakeryError as error:
        return [
            f"{error}; instance {instance_id} in {image.region} may still run: terminate it "
            "in the EC2 console (it is tagged bakery:purpose=smoke-test)"
        ]
    return []


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
