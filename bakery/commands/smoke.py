"""`bakery test REF`: smoke test a build's image with its recipe's tests, through SSM."""

from __future__ import annotations

import argparse
import sys
import textwrap
import threading
from dataclasses import asdict

from bakery.commands import gateway_of, print_json, project_of, warn, writable_store_of
from bakery.config.catalog import load_catalog
from bakery.errors import EXIT_CANCELLED
from bakery.lifecycle.smoke import SmokeTestError, resolve_image_ref, smoke_test
from bakery.lineage.records import SmokeTest
from bakery.ui.interrupts import forward_interrupts


def run(args: argparse.Namespace) -> int:
    project = project_of(args)
    catalog = load_catalog(project)
    gateway = gateway_of(args, project)
    with writable_store_of(project, args) as store:
        record = resolve_image_ref(store, args.ref, warn)
        recipe = catalog.get(record.recipe)
        if recipe.version != record.version:
            _note(
                f"build {record.build_id} is version {record.version}; testing it with the "
                f"tests of {recipe.file} (version {recipe.version})"
            )
        cancel = threading.Event()
        restore = forward_interrupts(
            cancel, _note, "stopping the tests and terminating the test instance"
        )
        try:
            result = smoke_test(
                gateway, store, record, recipe, project.smoke_test, cancel, note=_note
            )
        except SmokeTestError as error:
            _report(error.result, args.json, show_error=False)  # the error is printed once, by cli
            raise
        finally:
            restore()
    _report(result, args.json)
    if gateway.settings.local:  # moto answers Success for every command without running it
        _note("(local mode: the emulator reports every test command as passed; nothing ran)")
    if cancel.is_set():
        return EXIT_CANCELLED
    return 0 if result.passed else 1


def _report(result: SmokeTest, as_json: bool, *, show_error: bool = True) -> None:
    if as_json:
        print_json(asdict(result))
        return
    instance = f" on {result.instance_id}" if result.instance_id else ""
    print(f"smoke test of build {result.build_id}: {result.ami_id} in {result.region}{instance}")
    for command in result.commands:
        verdict = "PASS" if command.status == "Success" and command.exit_code == 0 else "FAIL"
        detail = "" if verdict == "PASS" else f"  ({command.status}, exit code {command.exit_code})"
        print(f"{verdict}  {command.command}{detail}")
        if command.output.strip():
            print(textwrap.indent(command.output.rstrip("\n"), "      "))
    ran = sum(1 for c in result.commands if c.status == "Success" and c.exit_code == 0)
    summary = "passed" if result.passed else "failed"
    print(f"{summary}: {ran} of {len(result.commands)} commands passed")
    if result.error and show_error:
        print(f"error: {result.error}")
    sys.stdout.flush()


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
