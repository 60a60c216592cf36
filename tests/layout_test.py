"""The package layout holds: imports run one way, as each package's docstring says."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import bakery

PACKAGE = Path(bakery.__file__).parent
STAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
TOP_MODULES = {"__init__", "__main__", "cli", "errors"}
# The outside systems and the only packages (or modules) that may reach each.
BOUNDARIES = {
    "boto3": ("bakery.aws.session", "bakery.local"),
    "botocore": ("bakery.aws.session", "bakery.local"),
    "moto": ("bakery.local",),
    "subprocess": (
        "bakery.packer.binary",
        "bakery.packer.guard",
        "bakery.config.git",
        "bakery.local",
    ),
    "psutil": ("bakery.lineage.leases",),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at the top, inside functions and under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "bakery" or len(parts) < 2 or parts[1] not in STAGES:
        return None
    return parts[1]


def declared(stage: str) -> set[str]:
    """The stages a package's docstring allows it to import (`May import: bakery.x, ...`)."""
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text())) or ""
    match = re.search(r"May import: (.*?)\.\s*\Z", doc, re.S)
    assert match, f"bakery/{stage}/__init__.py: docstring must end with 'May import: ...'"
    names = {name.strip() for name in match.group(1).replace("\n", " ").split(",")}
    return {name.removeprefix("bakery.") for name in names} - {"errors"}


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and len(doc.split()) > 20, f"bakery/{stage}: say what lives here"
        assert declared(stage) <= set(STAGES), f"bakery/{stage}: unknown packages named"


def test_the_declared_imports_run_one_way() -> None:
    graph = {stage: declared(stage) for stage in STAGES}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the message names the cycle
        raise AssertionError(
            f"the packages import each other in a cycle: {error.args[1]}"
        ) from None
    assert order.index("config") < order.index("render") < order.index("bake")
    assert order.index("bake") < order.index("schedule") < order.index("commands")


def test_no_module_imports_beyond_what_its_package_declares() -> None:
    wrong = []
    for module, path in modules().items():
        own = stage_of(module)
        allowed = declared(own) | {own} if own else set(STAGES)
        if module == "bakery.cli" or module.split(".")[-1] in TOP_MODULES - {"__init__"}:
            allowed = set()  # cli reaches commands by name only, so --help imports none of them
        for target in imports_of(path):
            stage = stage_of(target)
            if stage is not None and stage not in allowed:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_command_imports_another() -> None:
    known = modules()
    wrong = [
        f"{module} imports {target}"
        for module, path in known.items()
        if module.startswith("bakery.commands.")
        for target in imports_of(path)
        if target.startswith("bakery.commands.") and target in known and target != module
    ]
    assert wrong == []


def test_outside_systems_are_reached_through_their_one_boundary() -> None:
    wrong = []
    for module, path in modules().items():
        for target in imports_of(path):
            root = target.split(".")[0]
            if root in BOUNDARIES and not module.startswith(BOUNDARIES[root]):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_a_wrong_import_is_found(tmp_path: Path) -> None:
    """The check sees imports inside functions, not only at the top of a module."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from bakery.commands import bake\n    import subprocess\n")
    assert {"bakery.commands", "bakery.commands.bake", "subprocess"} <= imports_of(source)
    assert stage_of("bakery.commands.bake") == "commands"
    assert "commands" not in declared("config")


def test_the_test_tree_mirrors_the_packages() -> None:
    """Every folder of tests is a package's (or the shared support, fixtures, golden files)."""
    tests = Path(__file__).parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders - {"support", "fixtures", "golden"} <= set(STAGES)
    for folder in sorted(folders & set(STAGES)):
        for test in (tests / folder).glob("*_test.py"):
            text = test.read_text(encoding="utf-8")
            assert "from tests." not in text.replace("from tests.support", ""), (
                f"{test.relative_to(tests)} imports another test file: share through tests/support"
            )


def test_the_packer_guard_runs_on_the_standard_library_alone() -> None:
    # It is started as a script (python -I guard.py) for every build: no bakery, no packages.
    tree = ast.parse((PACKAGE / "packer" / "guard.py").read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    }
    import sys

    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
