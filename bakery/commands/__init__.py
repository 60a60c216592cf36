"""One module per command; each has `run(args) -> int`. Imported only when its command runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bakery.project import Project, find_project, load_project


def project_of(args: argparse.Namespace) -> Project:
    """Load the project named by -C, or the one found from the current folder up."""
    root = Path(args.project) if args.project else find_project(Path.cwd())
    return load_project(root)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
