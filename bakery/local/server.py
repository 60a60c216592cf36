"""Run the emulator: a corrected, seeded moto server on 127.0.0.1 until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bakery.errors import BakeryError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; a host other than loopback is a usage error."""
    parser = argparse.ArgumentParser(
        prog="python -m bakery.local.server", description="Serve moto on 127.0.0.1 for bakery."
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or localhost only")
    parser.add_argument("--ready-file", type=Path, help="file to write the port to once ready")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="file to restore moto's state from at start (when it exists) and save it to at stop",
    )
    parser.add_argument(
        "--no-corrections",
        action="store_true",
        help="serve stock moto, without bakery's corrections (shows why they exist)",
    )
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK_HOSTS:
        parser.error(f"--host {args.host}: the emulator listens on 127.0.0.1 only")
    return args


def write_ready_file(path: Path, port: int) -> None:
    """Write PORT to PATH in one step so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{port}\n")
    partial.replace(path)


def serve(
    port: int, ready_file: Path | None, corrections: bool, state_file: Path | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop the server cleanly and save STATE_FILE."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from bakery.local.corrections import apply_corrections
    from bakery.local.launcher import loopback_proxy_bypass
    from bakery.local.seed import seed

    if corrections:
        apply_corrections()
    # Seeding calls this server over HTTP; an HTTP proxy in the environment must not take it.
    os.environ.update(loopback_proxy_bypass(os.environ))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if state_file is not None:
        restore(state_file)
    # Bound here, in the main thread, so a taken port ends the process at once: moto's
    # ThreadedMotoServer binds in its thread and waits forever when that fails.
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    serving = False
    try:
        seed(f"http://127.0.0.1:{server.server_port}")
        if ready_file is not None:
            write_ready_file(ready_file, server.server_port)
        serving = True
        print(f"bakery local emulator (pid {os.getpid()}) on port {server.server_port}", flush=True)
        stop.wait()
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        # Only a server that started saves: one that failed to seed keeps the earlier file.
        if serving and state_file is not None:
            save(state_file)
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
    print("bakery local emulator stopped", flush=True)


def restore(state_file: Path) -> None:
    """Restore moto's state from STATE_FILE before any request and before seeding.

    Seeding then sees what an earlier run made and adds nothing twice. Whatever goes wrong is
    logged and the emulator starts: a lost state is better than no emulator.
    """
    from bakery.local.persistence import restore_state

    try:
        restore_state(state_file)
    except Exception as error:
        _log_error(f"could not restore the state from {state_file}", error)


def save(state_file: Path, attempts: int = 3) -> None:
    """Save moto's state to STATE_FILE; a failure is logged, never raised, so the server ends."""
    from bakery.local.persistence import save_state

    for attempt in range(1, attempts + 1):
        try:
            save_state(state_file)
            return
        except RuntimeError as error:
            # A request still running after shutdown changed a dict while it was pickled.
            if attempt == attempts:
                _log_error(f"could not save the state to {state_file}", error)
        except Exception as error:  # the earlier file stays intact: writing is atomic
            _log_error(f"could not save the state to {state_file}", error)
            return


def _log_error(what: str, error: Exception) -> None:
    message = f"bakery local emulator: error: {what}: {type(error).__name__}: {error}"
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator server; return the exit code."""
    args = parse_args(argv)
    try:
        serve(
            args.port,
            args.ready_file,
            corrections=not args.no_corrections,
            state_file=args.state_file,
        )
    except BakeryError as error:
        print(f"bakery local emulator: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The server has stopped; skip freeing moto's many thousand objects one by one (about a second).
    os._exit(code)
