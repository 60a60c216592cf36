"""`bakery local start|stop|status`: the AWS emulator (moto) on 127.0.0.1."""

from __future__ import annotations

import argparse

from bakery.commands import print_json, project_of


def run(args: argparse.Namespace) -> int:
    from bakery.local import launcher

    project = project_of(args)
    emulator: launcher.LocalEmulator | None
    if args.action == "start":
        emulator = launcher.start(project.root, args.port, fresh=args.fresh)
    elif args.action == "stop":
        stopped = launcher.stop(project.root)
        if args.json:
            print_json({"stopped": stopped})
        else:
            print("emulator stopped" if stopped else "no emulator was running")
        return 0
    else:
        emulator = launcher.status(project.root)
    if args.json:
        print_json(
            None
            if emulator is None
            else {"pid": emulator.pid, "port": emulator.port, "endpoint_url": emulator.endpoint_url}
        )
    elif emulator is None:
        print("emulator not running; start it with `bakery local start`")
    else:
        print(f"emulator running at {emulator.endpoint_url} (pid {emulator.pid})")
    return 0 if emulator is not None or args.action != "status" else 1
