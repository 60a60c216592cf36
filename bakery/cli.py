"""The `bakery` command line: parse arguments, dispatch, turn errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from bakery import __version__
from bakery.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_USAGE,
    BakeryError,
    InvalidInputError,
    safe_message,
)


def _positive_int(text: str) -> int:
    """An argument type: a whole number of at least 1 (builds at once)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _port(text: str) -> int:
    """An argument type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, not {value}")
    return value


def _path(text: str) -> str:
    """An argument type: a file path, which the operating system takes only without NUL."""
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"a path cannot hold a NUL character: {text!r}")
    return text


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def _var_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter's value (over BAKERY_VAR_NAME, var files and defaults); repeatable",
    )
    parser.add_argument(
        "--var-file",
        action="append",
        default=[],
        type=_path,
        metavar="FILE",
        help="a YAML file of parameter values, after bakery.yaml's var_files; repeatable",
    )


def _validate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=_path, metavar="PATH", help="recipe files (default: all)"
    )
    _var_flags(parser)
    _json_flag(parser)


def _render_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="recipes, families or FAMILY[param=value] (default: all)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="build",
        help="folder for the build folders, relative to the project (default: build)",
    )
    parser.add_argument(
        "--dialect",
        choices=("auto", "1.6", "1.7+"),
        help="Packer dialect (default: packer.dialect of bakery.yaml)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="also run `packer fmt -check` and `packer validate` on each template",
    )
    _var_flags(parser)
    _json_flag(parser)


def _convert_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "template",
        type=_path,
        metavar="TEMPLATE",
        help="a Packer template: HCL2 (.pkr.hcl) or legacy JSON (.json) with amazon-ebs sources",
    )
    parser.add_argument(
        "--var-file",
        action="append",
        default=[],
        type=_path,
        metavar="FILE",
        help="a Packer var file (.pkrvars.hcl or JSON), as `packer build -var-file`; "
        "repeatable (*.auto.pkrvars.hcl beside the template are read too)",
    )
    parser.add_argument(
        "--out",
        type=_path,
        metavar="PATH",
        help="write the recipe here (relative to the project), or into this folder when the "
        "template makes several; default: print it",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace files --out would write that exist"
    )


def _graph_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("tree", "mermaid", "dot", "json"), default="tree")
    _json_flag(parser)


def _no_args(parser: argparse.ArgumentParser) -> None:
    return None


def _local_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local", action="store_true", help="use the local AWS emulator (also BAKERY_LOCAL=1)"
    )


def _bake_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="recipes, families or FAMILY[param=value]"
    )
    parser.add_argument("--all", action="store_true", help="bake every recipe")
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="builds at once (default: bake.jobs of bakery.yaml, 4)",
    )
    parser.add_argument(
        "--force", action="store_true", help="build named recipes even if up to date"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be built and why")
    _local_flag(parser)
    _var_flags(parser)
    _json_flag(parser)


def _reap_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true", help="remove them (default: dry run)")
    _local_flag(parser)
    _json_flag(parser)


def _state_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("import", "init", "migrate"),
        help="import: recreate the store from the tags of managed images; init: create the "
        "DynamoDB table of the store (or of --to); migrate: copy every record to --to",
    )
    parser.add_argument(
        "--to",
        metavar="URL",
        help="the other store: sqlite:PATH or dynamodb://TABLE?region=REGION",
    )
    _local_flag(parser)
    _json_flag(parser)


def _ref_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="recipe name, AMI id or build id")


def _lineage_args(parser: argparse.ArgumentParser) -> None:
    _ref_args(parser)
    parser.add_argument("--format", choices=("tree", "json", "mermaid", "dot"), default="tree")
    _json_flag(parser)


def _history_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="recipe")
    _json_flag(parser)


def _copy_args(parser: argparse.ArgumentParser) -> None:
    _image_ref(parser)
    parser.add_argument(
        "--to",
        nargs="+",
        required=True,
        metavar="REGION",
        help="regions to copy to (encrypted with kms_key_ids of the region)",
    )
    _local_flag(parser)
    _json_flag(parser)


def _share_args(parser: argparse.ArgumentParser) -> None:
    _image_ref(parser)
    parser.add_argument(
        "--accounts",
        nargs="+",
        required=True,
        metavar="ID",
        help="accounts to share with (must be in share_allowlist)",
    )
    _local_flag(parser)
    _json_flag(parser)


def _promote_args(parser: argparse.ArgumentParser) -> None:
    _image_ref(parser)
    parser.add_argument("--channel", required=True, help="a channel declared in bakery.yaml")
    _local_flag(parser)
    _json_flag(parser)


def _rollback_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="recipe")
    parser.add_argument("--channel", required=True)
    _local_flag(parser)
    _json_flag(parser)


def _channels_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="recipe (default: all)")
    _local_flag(parser)
    _json_flag(parser)


def _revoke_args(parser: argparse.ArgumentParser) -> None:
    _image_ref(parser)
    parser.add_argument("--reason", required=True, help="why (recorded and tagged)")
    parser.add_argument(
        "--cascade",
        action="store_true",
        help="also revoke every build made on it, down the lineage",
    )
    parser.add_argument(
        "--keep-shares",
        action="store_true",
        help="leave the accounts it is shared with their launch permission (default: unshare)",
    )
    _local_flag(parser)
    _json_flag(parser)


def _test_args(parser: argparse.ArgumentParser) -> None:
    _image_ref(parser)
    _local_flag(parser)
    _json_flag(parser)


def _prune_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="recipes, families or FAMILY[param=value] (default: all)",
    )
    parser.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="images of each recipe to keep per region, newest first "
        "(default: retention.keep of the recipe or bakery.yaml, 3)",
    )
    parser.add_argument(
        "--max-age",
        type=int,
        metavar="DAYS",
        help="beyond the newest N, delete only images older than DAYS "
        "(default: retention.max_age_days; none)",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="deregister the images and delete their snapshots (default: dry run)",
    )
    parser.add_argument(
        "--include-shared",
        action="store_true",
        help="also delete images shared with other accounts or public",
    )
    _local_flag(parser)
    _json_flag(parser)


def _plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="recipes (with their descendants; default: all)"
    )
    _local_flag(parser)
    _var_flags(parser)
    _json_flag(parser)


def _rebuild_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="recipes (with their descendants; default: all)"
    )
    parser.add_argument(
        "--stale", action="store_true", help="rebuild what `bakery plan` finds stale (required)"
    )
    parser.add_argument(
        "--promote", metavar="CHANNEL", help="move this channel to the new images whose gates pass"
    )
    parser.add_argument("--jobs", type=_positive_int, metavar="N", help="builds at once")
    _local_flag(parser)
    _var_flags(parser)
    _json_flag(parser)


def _iam_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--for",
        dest="for_",
        action="append",
        metavar="COMMAND",
        choices=("bake", "rebuild", "plan", "prune", "promote", "lifecycle", "reap", "all"),
        help="commands the job runs (repeatable; default: all)",
    )
    parser.add_argument(
        "--keys-by-alias",
        action="store_true",
        help="name KMS keys given by alias with kms:ResourceAliases instead of resolving each "
        "alias to its key's ARN (no AWS call; follows an alias that is moved to another key)",
    )
    _local_flag(parser)
    _json_flag(parser)


def _image_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref", metavar="REF", help="AMI id, build id, NAME (its newest build) or NAME@VERSION"
    )


def _local_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--port", type=_port, help="port on 127.0.0.1, 1 to 65535 (default: a free one)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start: forget the images and parameters kept from earlier runs",
    )
    _json_flag(parser)


# command name → (one-line help, how to add its arguments); its code is bakery.commands.<name>
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "validate": ("check recipes; report every problem as FILE:LINE:COLUMN", _validate_args),
    "render": ("render recipes into Packer HCL2 build folders", _render_args),
    "graph": ("show the recipe tree (base → hardening → apps)", _graph_args),
    "schema": ("print the JSON Schema of the recipe format", _no_args),
    "rules": ("list the validation rules and their codes (Markdown, or --json)", _json_flag),
    "bake": ("build recipes (and ancestors that are out of date) with Packer", _bake_args),
    "lineage": ("show where an image came from and what was built on it", _lineage_args),
    "history": ("list the builds of a recipe, newest first", _history_args),
    "provenance": ("print the SLSA provenance (in-toto statement) of a build", _ref_args),
    "state": (
        "the lineage store: init (create the DynamoDB table), migrate --to URL, import (rebuild "
        "it from AWS tags)",
        _state_args,
    ),
    "reap": ("find (and with --apply remove) leftovers of finished builds", _reap_args),
    "local": ("start, stop or check the local AWS emulator", _local_args),
    "copy": ("copy an image to more regions, encrypted, recorded as the same build", _copy_args),
    "share": ("give accounts launch permission on an image and its snapshots", _share_args),
    "promote": ("point a channel at an image, after its gates", _promote_args),
    "rollback": ("point a channel back at its previous image", _rollback_args),
    "channels": ("show what each channel points to", _channels_args),
    "test": (
        "smoke test an image: run its recipe's tests on an instance through SSM",
        _test_args,
    ),
    "plan": ("say which images are stale and why (exit 10 when any is)", _plan_args),
    "rebuild": ("rebuild exactly what is stale, unattended (--stale)", _rebuild_args),
    "iam-policy": ("print the least-privilege IAM policy for the commands a job runs", _iam_args),
    "convert": (
        "turn a Packer amazon-ebs template (HCL2 or JSON) into recipes; list what has no "
        "equivalent",
        _convert_args,
    ),
    "prune": (
        "delete images beyond retention that nothing uses (a dry run unless --apply)",
        _prune_args,
    ),
    "revoke": (
        "revoke an image (and with --cascade its descendants); move channels back",
        _revoke_args,
    ),
}


# Commands whose module has another name (a module named `test` would read as a test).
_MODULES = {"test": "smoke", "iam-policy": "iam_policy"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bakery",
        description="Bake layered AWS machine images with Packer from YAML recipes.",
    )
    parser.add_argument("--version", action="version", version=f"bakery {__version__}")
    parser.add_argument(
        "-C",
        "--project",
        type=_path,
        metavar="DIR",
        help="project folder holding bakery.yaml (default: found from here up)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (text, add_arguments) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=text, description=text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run bakery with `argv`; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) if exit_.code in (0, None) else EXIT_USAGE
    debug = args.debug or os.environ.get("BAKERY_DEBUG") == "1"
    restore = _sigterm_as_interrupt()
    try:
        name = _MODULES.get(args.command, args.command)
        module = importlib.import_module(f"bakery.commands.{name}")
        code = int(module.run(args))
        sys.stdout.flush()  # here, so a closed pipe is noticed here and not at exit
        return code
    except InvalidInputError as error:
        for problem in error.problems:
            print(safe_message(str(problem)), file=sys.stderr)
        print(f"bakery: {safe_message(str(error))}", file=sys.stderr)
        return error.exit_code
    except BakeryError as error:
        # A message may quote input: a URL from bakery.yaml (an endpoint, a webhook) shows no
        # credentials, and a name given on the command line no raw escape sequence.
        print(f"bakery: error: {safe_message(str(error))}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return _output_closed()
    except KeyboardInterrupt:
        print("bakery: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: say so plainly, keep the traceback for --debug
        if debug:
            raise
        print(
            f"bakery: internal error: {type(error).__name__}: {safe_message(str(error))}; "
            "rerun with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        restore()


def _sigterm_as_interrupt() -> Callable[[], object]:
    """SIGTERM (CI cancellation, `docker stop`, `kill`) takes Ctrl-C's path in every command.

    Commands with work to wind down (bake, rebuild, test) handle both signals themselves
    (bakery.ui.interrupts); the others stop with KeyboardInterrupt, as on Ctrl-C.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _output_closed() -> int:
    """The reader of our output went away (`bakery graph | head -1`): stop quietly, as git does.

    Python would otherwise complain again when it flushes stdout at exit, so point stdout at
    /dev/null first (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is no file (tests capture it)
        pass
    return EXIT_FAILED
