"""The layout holds: the trust boundary in imports, and no import cycles.

Read from the sources (ast), so the test needs neither root nor the packages' own
dependencies. Only imports at module level count: an import inside a function is
deferred on purpose and cannot form a cycle at import time.
"""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"netwarden": ROOT / "app", "netwarden_helper": ROOT / "helper",
            "netwarden_common": ROOT / "common"}  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The project modules `module` imports at module level."""
    tree = ast.parse(MODULES[module].read_text())
    named: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in named if name in MODULES and name != module}


GRAPH = {module: _imports(module) for module in MODULES}


@pytest.mark.parametrize("side", ["netwarden", "netwarden_common"])
def test_the_app_cli_and_common_import_nothing_from_the_helper(side):
    crossing = {
        module: sorted(name for name in imported if name.startswith("netwarden_helper"))
        for module, imported in GRAPH.items()
        if module.split(".")[0] == side
    }
    assert {module: names for module, names in crossing.items() if names} == {}


def test_common_imports_nothing_from_the_app():
    crossing = {
        module: sorted(name for name in imported if name.split(".")[0] == "netwarden")
        for module, imported in GRAPH.items()
        if module.startswith("netwarden_common")
    }
    assert {module: names for module, names in crossing.items() if names} == {}


def test_no_import_cycles():
    cycles = []
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(GRAPH[module]):
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_flatpak_installs_no_helper_code():
    manifest = json.loads((ROOT / "flatpak" / "io.github.netwarden.json").read_text())
    commands = " ".join(
        command for module in manifest["modules"] if isinstance(module, dict)
        for command in module.get("build-commands", [])
    )  # fmt: skip
    assert "helper" not in commands
    assert "app" in commands and "common" in commands
