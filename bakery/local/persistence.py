"""Keep the emulator's state across restarts: EC2 of every region used, and SSM parameters.

moto keeps everything in memory. On a clean stop the server pickles, for moto's default
account, the whole EC2 backend of each region that was used (images, snapshots, tags, VPCs,
with their ids) and the SSM parameters outside /aws/ with their version history and tags,
as plain records: the SSM backend itself does not pickle (a lambda in its `__init__`). On
start, before serving and before seeding, it puts them back into moto's backend dictionaries.

A state file that cannot be used (corrupt, another format, another moto) is moved aside and
the emulator starts empty: pickled moto objects are only trusted by the moto that wrote them.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
UNREADABLE_SUFFIX = ".unreadable"
# moto serves these itself (the public AMI and region parameters) and refuses writes there.
_SSM_SERVED_PREFIX = "/aws/"
_PARAMETER_FIELDS = (
    "name",
    "parameter_type",
    "description",
    "allowed_pattern",
    "keyid",
    "last_modified_date",
    "version",
    "data_type",
    "labels",
    "source_result",
    "tier",
    "policies",
)


class UnusableState(Exception):
    """The state file exists but cannot be restored by this moto."""


def moto_version() -> str:
    """Return the version of the moto this process runs."""
    import moto

    return str(moto.__version__)


def capture() -> dict[str, Any]:
    """Return the state to save: moto's EC2 backends and SSM parameters, default account."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    # dict.get and .items do not create backends (moto's __getitem__ would), so only the
    # regions that requests or seeding used are saved.
    ec2_account = ec2_backends.get(DEFAULT_ACCOUNT_ID)
    ssm_account = ssm_backends.get(DEFAULT_ACCOUNT_ID)
    return {
        "format": FORMAT_VERSION,
        "moto_version": moto_version(),
        "account_id": DEFAULT_ACCOUNT_ID,
        "ec2": dict(ec2_account.items()) if ec2_account is not None else {},
        "ssm": {
            region: _parameter_records(backend)
            for region, backend in (ssm_account.items() if ssm_account is not None else ())
        },
    }


def save_state(path: Path) -> None:
    """Write the current state to PATH in one step, so a reader never sees half a file."""
    began = time.monotonic()
    state = capture()
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as output:
        output.write(data)
        output.flush()
        os.fsync(output.fileno())
    partial.replace(path)
    _log(
        f"saved state to {path} ({len(data) // 1024} KiB, {_summary(state)}) "
        f"in {time.monotonic() - began:.2f}s"
    )


def restore_state(path: Path) -> bool:
    """Put the state saved in PATH back into moto; False when there is none or it is unusable.

    An unusable file is moved to PATH.unreadable with a warning, and moto stays empty.
    """
    if not path.exists():
        return False
    began = time.monotonic()
    try:
        state = read_state(path)
        prepared = _prepare(state)
    except UnusableState as error:
        aside = path.with_name(path.name + UNREADABLE_SUFFIX)
        try:
            path.replace(aside)
            kept = f"the file is now {aside}"
        except OSError as failure:
            kept = f"it could not be moved aside ({failure}) and will be overwritten at stop"
        _log(
            f"warning: cannot restore the emulator state from {path}: {error}; "
            f"starting with an empty emulator ({kept})"
        )
        return False
    _apply(prepared)
    _log(f"restored state from {path} ({_summary(state)}) in {time.monotonic() - began:.2f}s")
    return True


def read_state(path: Path) -> dict[str, Any]:
    """Load and check the state in PATH; raise UnusableState saying why it cannot be used."""
    try:
        with path.open("rb") as source:
            state = pickle.load(source)
    except Exception as error:  # a corrupt or foreign pickle fails in many ways
        raise UnusableState(f"it does not load ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise UnusableState(f"format {found!r} is not {FORMAT_VERSION}")
    if state.get("moto_version") != moto_version():
        raise UnusableState(
            f"it was saved by moto {state.get('moto_version')}, this is moto {moto_version()}"
        )
    return state


def _parameter_records(backend: Any) -> dict[str, dict[str, Any]]:
    """Return {name: {"versions": [...], "tags": {...}}} for the parameters users wrote."""
    # moto keeps every version of a parameter, oldest first, in `_parameters[name]`, and the
    # tags in `_resource_tags["Parameter"][name]` (moto/ssm/models.py); dict.items skips the
    # lazy loading of /aws/ parameters that ParameterDict does on lookups.
    tags = backend._resource_tags.get("Parameter", {})
    records: dict[str, dict[str, Any]] = {}
    for key, versions in dict.items(backend._parameters):
        if not versions or str(key).startswith(_SSM_SERVED_PREFIX):
            continue  # an empty list is left by a lookup of a missing name
        records[key] = {
            "versions": [_version_record(parameter) for parameter in versions],
            "tags": dict(tags.get(versions[-1].name, {})),
        }
    return records


def _version_record(parameter: Any) -> dict[str, Any]:
    record = {field: getattr(parameter, field) for field in _PARAMETER_FIELDS}
    # moto stores a SecureString "encrypted" and encrypts again in Parameter.__init__.
    plain = parameter.decrypt(parameter.value)
    record["value"] = plain if plain is not None else parameter.value
    record["labels"] = list(parameter.labels)
    return record


def _prepare(state: dict[str, Any]) -> dict[str, Any]:
    """Build every moto object the state needs, so a failure leaves moto untouched."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import Parameter

    # moto's models leave CloudFormation's abstract methods out; only the type checker minds.
    parameter_class: Any = Parameter
    try:
        account_id = str(state["account_id"])
        ec2 = dict(state["ec2"])
        for region, backend in ec2.items():
            if not isinstance(backend, ec2_backends.backend):
                raise UnusableState(f"EC2 of {region} is a {type(backend).__name__}")
        ssm = {
            region: {
                name: (
                    [
                        parameter_class(account_id=account_id, **version)
                        for version in record["versions"]
                    ],
                    dict(record["tags"]),
                )
                for name, record in records.items()
            }
            for region, records in dict(state["ssm"]).items()
        }
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise UnusableState(f"its content is not as expected ({error!r})") from error
    return {"account_id": account_id, "ec2": ec2, "ssm": ssm}


def _apply(prepared: dict[str, Any]) -> None:
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    account_id = prepared["account_id"]
    # Requests look their backend up as ec2_backends[account][region] each time
    # (moto/ec2/responses/_base_response.py), so the stored object is the one they use.
    for region, backend in prepared["ec2"].items():
        ec2_backends[account_id][region] = backend
    for region, parameters in prepared["ssm"].items():
        ssm = ssm_backends[account_id][region]
        for name, (versions, tags) in parameters.items():
            ssm._parameters[name] = versions
            if tags:
                ssm._resource_tags["Parameter"][versions[-1].name].update(tags)


def _summary(state: dict[str, Any]) -> str:
    parameters = sum(len(records) for records in state["ssm"].values())
    return f"EC2 in {', '.join(sorted(state['ec2'])) or 'no region'}; {parameters} SSM parameters"


def _log(message: str) -> None:
    print(f"bakery local emulator: {message}", file=sys.stderr, flush=True)
